// The block plan: for every query block and head category, which key tiles a kernel must visit.
//
// Derived analytically from segment boundaries, never from an N x N mask. Per (category, query block) the plan holds
//  - runs: block-aligned key ranges near the query block, each either Full (every pair visible: no element test) or
//    Partial (the element rule of mask_rule.h decides per pair); blocks outside the runs are skipped;
//  - gathers: ranges of Layout::sinkTokens(), sharedTokens() or textTokens() lying before the runs. Scattered sinks and
//    text tokens that a sparse head sees across images are visited as compact gathered tiles, so a query block pays
//    for those few keys instead of for every block that contains one. Gathered tiles are always Partial.
// Runs are run-length encoded, so the plan is O(numQueryBlocks + segments near each block) in time and memory,
// and never more than the number of visited blocks.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "layout.h"
#include "mask_rule.h"
#include "plan_types.h"
#include "plan_walk.h"
#include "range_stats.h"

namespace bs {

struct PlanOptions {
  MaskOptions mask;
  int32_t blockM = 64;  // query tokens per block
  int32_t blockN = 64;  // key tokens per block
  // Verification mode: visit every key block from the sequence start as Partial and gather nothing, so the kernel
  // evaluates the element rule on every pair (the "dense-masked" computation the benchmark compares against).
  bool exhaustive = false;
};

struct CategoryStats {
  int64_t visiblePairs = 0;   // exact count of (q, k) pairs the mask keeps, for one head of this category
  int64_t fullBlocks = 0;
  int64_t partialBlocks = 0;
  int64_t gatheredKeys = 0;   // sum over query blocks of gathered keys
  int64_t computedPairs = 0;  // pairs a kernel computes: block areas plus |query block| x gathered keys
};

struct PlanStats {
  int64_t denseCausalPairs = 0;  // sum over sequences of L(L+1)/2
  int64_t gridBlocks = 0;        // all (query block, key block) pairs inside sequences
  int64_t causalBlocks = 0;      // of those, the blocks holding at least one k <= q pair
  std::array<CategoryStats, kNumCategories> category;
};

class Plan {
 public:
  Plan(std::shared_ptr<const Layout> layout, const PlanOptions& options);

  const Layout& layout() const { return *layout_; }
  const PlanOptions& options() const { return options_; }
  const std::vector<QueryBlock>& queryBlocks() const { return queryBlocks_; }
  // FLOP accounting, computed on first use (an O(N) pass per category that kernels never need, so it is not part of
  // the plan build's time); thread-safe.
  const PlanStats& stats() const {
    std::call_once(statsOnce_, [this] { computeCategoryStats(); });
    return stats_;
  }

  struct CategoryPlan {
    std::vector<int32_t> runOffsets;     // numQueryBlocks + 1
    std::vector<KeyRun> runs;
    std::vector<int32_t> gatherOffsets;  // numQueryBlocks + 1
    std::vector<GatherRange> gathers;
  };
  const CategoryPlan& category(HeadCategory c) const { return categories_[static_cast<int>(c)]; }
  const int32_t* gatherList(GatherList l) const {
    switch (l) {
      case GatherList::Sinks: return layout_->sinkTokens().data();
      case GatherList::Shared: return layout_->sharedTokens().data();
      default: return layout_->textTokens().data();
    }
  }
  // The plan walk's views (plan_walk.h): one category's arrays, the gather lists, and one query block's spans.
  CategoryPlanView view(HeadCategory c) const {
    const CategoryPlan& cp = category(c);
    return {cp.runOffsets.data(), cp.runs.data(), cp.gatherOffsets.data(), cp.gathers.data()};
  }
  GatherLists gatherLists() const {
    return {{gatherList(GatherList::Sinks), gatherList(GatherList::Shared), gatherList(GatherList::Text)}};
  }
  // Visible pairs of category c between query tokens `queries` and key tokens `keys` (range_stats.h), in
  // O(segments); the counter's tables are built on first use, thread-safely.
  int64_t visiblePairs(HeadCategory c, TokenRange queries, TokenRange keys) const {
    std::call_once(counterOnce_, [this] { counter_ = std::make_unique<PairCounter>(*layout_, options_.mask); });
    return counter_->visiblePairs(c, queries, keys);
  }
  BlockSpans spans(HeadCategory c, int32_t queryBlock) const { return BlockSpans(view(c), gatherLists(), queryBlock); }
  // The same spans cut to the keys of a call's key range (clip false: the whole walk).
  BlockSpans spans(HeadCategory c, int32_t queryBlock, TokenRange keys, bool clip) const {
    return BlockSpans(view(c), gatherLists(), queryBlock, keys, clip);
  }
  size_t bytes() const;

 private:
  std::shared_ptr<const Layout> layout_;
  PlanOptions options_;
  std::vector<QueryBlock> queryBlocks_;
  std::array<CategoryPlan, kNumCategories> categories_;
  void computeCategoryStats() const;
  mutable std::once_flag statsOnce_;
  mutable PlanStats stats_;
  mutable std::once_flag counterOnce_;
  mutable std::unique_ptr<PairCounter> counter_;
};

}  // namespace bs
