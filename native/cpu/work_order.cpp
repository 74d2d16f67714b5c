#include "work_order.h"

#include <algorithm>
#include <array>

#include "../core/plan_cost.h"
#include "kernel.h"

namespace bs::cpu {
namespace {

// Whether categories a and b visit the same keys of a query piece, as the same spans.
bool samePlanRow(const Plan& plan, HeadCategory a, HeadCategory b, const QueryPiece& piece) {
  if (a == b) return true;
  const BlockSpans sa = piece.spans(plan, a), sb = piece.spans(plan, b);
  if (sa.numRuns() != sb.numRuns() || sa.numGathers() != sb.numGathers()) return false;
  for (int32_t i = 0; i < sa.size(); ++i) {
    const KeySpan x = sa[i], y = sb[i];
    if (x.list != y.list || x.begin != y.begin || x.end != y.end || x.kind != y.kind) return false;
  }
  return true;
}

}  // namespace

WorkList orderWork(const Plan& plan, const AttentionProblem& problem, const std::vector<QueryPiece>& pieces,
                   StackItems split) {
  const size_t numBlocks = pieces.size();
  // Cost of one head's item per (category, query block); categories, not heads, so this is O(4 * plan) however many
  // heads.
  std::array<std::vector<int64_t>, kNumCategories> cost;
  std::array<bool, kNumCategories> used{};
  for (int h = 0; h < problem.numHeads; ++h) used[static_cast<int>(problem.heads[h])] = true;
  for (int c = 0; c < kNumCategories; ++c) {
    if (!used[c]) continue;
    cost[c].resize(numBlocks);
    for (size_t b = 0; b < numBlocks; ++b) {
      const BlockTotals t = blockTotals(pieces[b].spans(plan, static_cast<HeadCategory>(c)), kKeyTile);
      // The kernel concatenates gathered ranges into whole tiles (kernel/key_tiles.h).
      const int64_t tiles = t.runTiles + (t.gatheredKeys + kKeyTile - 1) / kKeyTile;
      cost[c][b] = estimatedCost(pieces[b].rows(), t.runKeys + t.gatheredKeys, tiles);
    }
  }

  WorkList out;
  out.items.reserve(numBlocks * static_cast<size_t>(problem.numKvHeads));
  out.heads.reserve(numBlocks * static_cast<size_t>(problem.numHeads));
  std::vector<int64_t> itemCost;
  const int group = problem.numHeads / problem.numKvHeads;
  const int32_t* imageIds = plan.layout().imageIds().data();
  const int32_t* segmentOf = plan.layout().segmentOf().data();
  std::vector<bool> taken(group);
  for (size_t b = 0; b < numBlocks; ++b) {
    const QueryPiece& qb = pieces[b];
    const bool text = imageIds[qb.begin] < 0 && segmentOf[qb.begin] == segmentOf[qb.end - 1];
    const bool image = imageIds[qb.begin] >= 0;
    for (int kv = 0; kv < problem.numKvHeads; ++kv) {
      const int h0 = kv * group;
      std::fill(taken.begin(), taken.end(), false);
      for (int i = 0; i < group; ++i) {
        if (taken[i]) continue;
        const HeadCategory cat = problem.heads[h0 + i];
        // A sparse head's image rows see few keys, so what each row costs besides its pairs (its q row in, its out row
        // back) weighs: their blocks stack the group's heads token-major (kernel.h, HeadStack), and a pass reads and
        // writes each token's heads as one contiguous run instead of 64 pieces a whole token apart. Otherwise a block
        // of a whole pass or more fills the lanes already; stacking it head-major measured no faster.
        const bool tokenMajor = image && cat != HeadCategory::Dense && qb.rows() <= kLanes;
        const int32_t cap = tokenMajor || qb.rows() < kLanes ? kMaxStackedHeads : 1;
        WorkItem w{static_cast<int32_t>(b), static_cast<int32_t>(out.heads.size()), 0, cat, tokenMajor};
        for (int j = i; j < group && w.numHeads < cap; ++j) {
          if (taken[j]) continue;
          const HeadCategory cj = problem.heads[h0 + j];
          // Text rows see the same keys under every category (the element rule ignores the category for them), so
          // their stacks mix categories when the plan agrees, as it does by construction.
          if (cj != cat && !(text && samePlanRow(plan, cat, cj, qb))) continue;
          taken[j] = true;
          out.heads.push_back(h0 + j);
          ++w.numHeads;
        }
        const int64_t headCost = cost[static_cast<int>(cat)][b];
        const int32_t lanes = w.numHeads * qb.rows();
        if (split == StackItems::PerPass && !tokenMajor && lanes > kLanes) {
          for (int32_t g = 0; g < lanes; g += kLanes) {
            WorkItem x = w;
            x.firstLane = g;
            x.numLanes = std::min(kLanes, lanes - g);
            out.items.push_back(x);
            itemCost.push_back(headCost * x.numLanes / qb.rows());
          }
        } else {
          out.items.push_back(w);
          itemCost.push_back(headCost * w.numHeads);
        }
      }
    }
  }

  std::vector<int32_t> order(out.items.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int32_t>(i);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    const int ga = out.heads[out.items[a].firstHead] / group, gb = out.heads[out.items[b].firstHead] / group;
    return ga != gb ? ga < gb : itemCost[a] > itemCost[b];
  });
  std::vector<WorkItem> sorted(order.size());
  for (size_t i = 0; i < order.size(); ++i) sorted[i] = out.items[order[i]];
  out.items = std::move(sorted);
  return out;
}

}  // namespace bs::cpu
