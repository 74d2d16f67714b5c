#include "work_schedule.h"

#include <algorithm>
#include <array>
#include <numeric>

#include "../../core/error.h"
#include "../../core/plan_cost.h"
#include "../../core/query_pieces.h"

namespace bs::cuda {
namespace {
// Every mainloop's tile is 64 keys or fewer; the schedule only needs the relative order of items.
constexpr int32_t kCostTileKeys = 64;
}  // namespace

WorkSchedule buildSchedule(const Plan& plan, const CallRanges& ranges, const HeadCategory* heads, int32_t numHeads,
                           int32_t rowsPerCta) {
  WorkSchedule s;
  for (const QueryPiece& piece : queryPieces(plan, ranges))
    for (int32_t r = piece.begin; r < piece.end; r += rowsPerCta)
      s.chunks.push_back({piece.block, r, std::min(piece.end, r + rowsPerCta), piece.clipKeys ? 1 : 0, piece.keys.begin,
                          piece.keys.end, piece.queryDelta, piece.keyDelta});

  std::array<std::vector<int32_t>, kNumCategories> headsOf;
  for (int32_t h = 0; h < numHeads; ++h) headsOf[static_cast<int>(heads[h])].push_back(h);
  const int64_t total = static_cast<int64_t>(s.chunks.size()) * numHeads;
  if (total > INT32_MAX) throw Error(ErrorCode::SIZE_OVERFLOW, "too many (query chunk, head) work items for one launch");
  s.items.reserve(static_cast<size_t>(total));

  // Per used category: each chunk's estimated cost, and the chunks sorted by it, heaviest first.
  std::array<std::vector<int64_t>, kNumCategories> cost;
  std::array<std::vector<int32_t>, kNumCategories> order;
  for (int c = 0; c < kNumCategories; ++c) {
    if (headsOf[c].empty()) continue;
    // The one cost model (core/plan_cost.h), with the tiles this kernel cuts: each span on its own.
    cost[c].resize(s.chunks.size());
    for (size_t i = 0; i < s.chunks.size(); ++i) {
      const QueryChunk& q = s.chunks[i];
      const BlockTotals t =
          blockTotals(plan.spans(static_cast<HeadCategory>(c), q.queryBlock, {q.keyBegin, q.keyEnd}, q.clipKeys != 0),
                      kCostTileKeys);
      cost[c][i] = estimatedCost(q.end - q.begin, t.runKeys + t.gatheredKeys, t.runTiles + t.gatherTiles);
    }
    order[c].resize(s.chunks.size());
    std::iota(order[c].begin(), order[c].end(), 0);
    std::stable_sort(order[c].begin(), order[c].end(), [&](int32_t a, int32_t b) { return cost[c][a] > cost[c][b]; });
  }

  // Merge the per-category orders; each step emits the heaviest remaining chunk for every head of its category.
  std::array<size_t, kNumCategories> next{};
  for (;;) {
    int best = -1;
    for (int c = 0; c < kNumCategories; ++c) {
      if (headsOf[c].empty() || next[c] == order[c].size()) continue;
      if (best < 0 || cost[c][order[c][next[c]]] > cost[best][order[best][next[best]]]) best = c;
    }
    if (best < 0) break;
    const int32_t chunk = order[best][next[best]++];
    for (int32_t h : headsOf[best]) s.items.push_back({chunk, h});
  }
  return s;
}

}  // namespace bs::cuda
