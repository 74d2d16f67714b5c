#include "work_order.h"

#include <algorithm>
#include <array>

#include "kernel.h"

namespace bs::cpu {

std::vector<WorkItem> orderWork(const Plan& plan, const AttentionProblem& problem) {
  const auto& qbs = plan.queryBlocks();
  const size_t numBlocks = qbs.size();
  // Cost of one item per (category, query block); categories, not heads, so this is O(4 * plan) however many heads.
  std::array<std::vector<int64_t>, kNumCategories> cost;
  std::array<bool, kNumCategories> used{};
  for (int h = 0; h < problem.numHeads; ++h) used[static_cast<int>(problem.heads[h])] = true;
  for (int c = 0; c < kNumCategories; ++c) {
    if (!used[c]) continue;
    const Plan::CategoryPlan& cp = plan.category(static_cast<HeadCategory>(c));
    cost[c].resize(numBlocks);
    for (size_t b = 0; b < numBlocks; ++b) {
      int64_t keys = 0, tiles = 0;
      for (int32_t r = cp.runOffsets[b]; r < cp.runOffsets[b + 1]; ++r) {
        keys += cp.runs[r].end - cp.runs[r].begin;
        tiles += (cp.runs[r].end - cp.runs[r].begin + kKeyTile - 1) / kKeyTile;
      }
      int64_t gathered = 0;
      for (int32_t g = cp.gatherOffsets[b]; g < cp.gatherOffsets[b + 1]; ++g) gathered += cp.gathers[g].end - cp.gathers[g].begin;
      tiles += (gathered + kKeyTile - 1) / kKeyTile;
      const int64_t rows = qbs[b].end - qbs[b].begin;
      // A tile costs about as much as 8 keys more (softmax bookkeeping, output rescale), and a row as much as 16 keys
      // (loading, storing).
      cost[c][b] = rows * (keys + gathered + 8 * tiles + 16);
    }
  }
  std::vector<WorkItem> items;
  items.reserve(numBlocks * static_cast<size_t>(problem.numHeads));
  for (size_t b = 0; b < numBlocks; ++b)
    for (int h = 0; h < problem.numHeads; ++h) items.push_back({static_cast<int32_t>(b), h});
  auto costOf = [&](const WorkItem& w) { return cost[static_cast<int>(problem.heads[w.head])][w.queryBlock]; };
  const int group = problem.numHeads / problem.numKvHeads;
  std::stable_sort(items.begin(), items.end(), [&](const WorkItem& a, const WorkItem& b) {
    const int ga = a.head / group, gb = b.head / group;
    return ga != gb ? ga < gb : costOf(a) > costOf(b);
  });
  return items;
}

}  // namespace bs::cpu
