#include "work_order.h"

#include <algorithm>
#include <array>

#include "kernel.h"

namespace bs::cpu {
namespace {

// Whether categories a and b visit the same keys of query block `block`, as the same runs and gathers.
bool samePlanRow(const Plan& plan, HeadCategory a, HeadCategory b, size_t block) {
  if (a == b) return true;
  const Plan::CategoryPlan& pa = plan.category(a);
  const Plan::CategoryPlan& pb = plan.category(b);
  const int32_t ra = pa.runOffsets[block], rb = pb.runOffsets[block];
  const int32_t nr = pa.runOffsets[block + 1] - ra;
  if (nr != pb.runOffsets[block + 1] - rb) return false;
  for (int32_t i = 0; i < nr; ++i) {
    const KeyRun &x = pa.runs[ra + i], &y = pb.runs[rb + i];
    if (x.begin != y.begin || x.end != y.end || x.full != y.full) return false;
  }
  const int32_t ga = pa.gatherOffsets[block], gb = pb.gatherOffsets[block];
  const int32_t ng = pa.gatherOffsets[block + 1] - ga;
  if (ng != pb.gatherOffsets[block + 1] - gb) return false;
  for (int32_t i = 0; i < ng; ++i) {
    const GatherRange &x = pa.gathers[ga + i], &y = pb.gathers[gb + i];
    if (x.list != y.list || x.begin != y.begin || x.end != y.end) return false;
  }
  return true;
}

}  // namespace

WorkList orderWork(const Plan& plan, const AttentionProblem& problem) {
  const auto& qbs = plan.queryBlocks();
  const size_t numBlocks = qbs.size();
  // Cost of one head's item per (category, query block); categories, not heads, so this is O(4 * plan) however many
  // heads.
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

  WorkList out;
  out.items.reserve(numBlocks * static_cast<size_t>(problem.numKvHeads));
  out.heads.reserve(numBlocks * static_cast<size_t>(problem.numHeads));
  std::vector<int64_t> itemCost;
  const int group = problem.numHeads / problem.numKvHeads;
  const int32_t* imageIds = plan.layout().imageIds().data();
  const int32_t* segmentOf = plan.layout().segmentOf().data();
  std::vector<bool> taken(group);
  for (size_t b = 0; b < numBlocks; ++b) {
    const QueryBlock& qb = qbs[b];
    // A block of a whole pass or more fills the lanes already; stacking it measured no faster and would make the
    // items coarser.
    const int32_t cap = qb.end - qb.begin < kLanes ? kMaxStackedHeads : 1;
    const bool text = imageIds[qb.begin] < 0 && segmentOf[qb.begin] == segmentOf[qb.end - 1];
    for (int kv = 0; kv < problem.numKvHeads; ++kv) {
      const int h0 = kv * group;
      std::fill(taken.begin(), taken.end(), false);
      for (int i = 0; i < group; ++i) {
        if (taken[i]) continue;
        const HeadCategory cat = problem.heads[h0 + i];
        WorkItem w{static_cast<int32_t>(b), static_cast<int32_t>(out.heads.size()), 0, cat};
        for (int j = i; j < group && w.numHeads < cap; ++j) {
          if (taken[j]) continue;
          const HeadCategory cj = problem.heads[h0 + j];
          // Text rows see the same keys under every category (the element rule ignores the category for them), so
          // their stacks mix categories when the plan agrees, as it does by construction.
          if (cj != cat && !(text && samePlanRow(plan, cat, cj, b))) continue;
          taken[j] = true;
          out.heads.push_back(h0 + j);
          ++w.numHeads;
        }
        out.items.push_back(w);
        itemCost.push_back(cost[static_cast<int>(cat)][b] * w.numHeads);
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
