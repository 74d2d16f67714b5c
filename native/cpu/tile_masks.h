// The element rule, evaluated once per call for every partial tile of the plan and stored as bits.
//
// A partial tile's mask depends on the query block, the key and the head's category, never on the head itself, so
// it is computed once per (category, query block) and shared by every head of that category (28 heads of a layer
// would otherwise evaluate the same 64 x 64 pairs 28 times). The bits also tell the kernel how many pairs of a tile
// are visible, so a nearly empty partial tile (the diagonal block of a `sink` head sees one key per row) is computed
// pair by pair instead of as a dense product.
//
// Layout: for each used category and query block, for each kLanes-row pass, one 64-bit row mask per partial key in
// the order the kernel visits them: the keys of partial runs, then all gathered keys. Memory is O(partial keys).
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "../core/plan.h"
#include "../core/problem.h"
#include "thread_pool.h"

namespace bs::cpu {

class TileMasks {
 public:
  // Evaluates mask_visible for the categories `problem.heads` uses, on up to `threads` threads of `pool`.
  TileMasks(const Plan& plan, const AttentionProblem& problem, ThreadPool& pool, int threads);
  // Masks of query block qb under category c: pass p (rows [begin + p*kLanes, ...)) starts at
  // masks(c, qb) + p * (the block's partial keys: blockTotals(...).partialKeys).
  const uint64_t* masks(HeadCategory c, int32_t qb) const {
    return bits_.data() + offset_[static_cast<int>(c)][qb];
  }

 private:
  std::array<std::vector<int64_t>, kNumCategories> offset_;
  std::vector<uint64_t> bits_;
};

}  // namespace bs::cpu
