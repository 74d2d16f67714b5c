// The element rule's per-row verdicts on partial keys, evaluated once per call and stored as bits.
//
// A partial tile's mask depends on the query block, the key and the head's category, never on the head itself, so it
// is computed once per (category, query block) and shared by every head of that category (28 heads of a layer would
// otherwise evaluate the same 64 x 64 pairs 28 times). Only the keys whose verdict differs between the block's rows
// are stored (core/block_verdicts.h: the block's own keys and the window's band); every other partial or gathered
// key is seen alike by all rows, and the kernel reads its verdict from the block's BlockVerdicts as it builds a tile.
// So the bits stay O(numTokens) however many sinks and text tokens the plan gathers.
//
// Layout: for each used category and query block, for each kLanes-row pass, one 64-bit row mask per stored key, in
// the order the kernel visits the keys (partial runs, then gathered ranges).
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "../core/block_verdicts.h"
#include "../core/plan.h"
#include "../core/problem.h"
#include "thread_pool.h"

namespace bs::cpu {

// The verdict classes of query block b's keys under category c.
BlockVerdicts blockVerdicts(const Plan& plan, HeadCategory c, int32_t b);

class TileMasks {
 public:
  // Evaluates mask_visible for the categories `problem.heads` uses, on up to `threads` threads of `pool`.
  TileMasks(const Plan& plan, const AttentionProblem& problem, ThreadPool& pool, int threads);
  // Masks of query block qb under category c: pass p (rows [begin + p*kLanes, ...)) starts at
  // masks(c, qb) + p * storedKeys(c, qb); null when the block stores none.
  const uint64_t* masks(HeadCategory c, int32_t qb) const {
    const int ci = static_cast<int>(c);
    return keys_[ci][qb] ? bits_.data() + offset_[ci][qb] : nullptr;
  }
  int32_t storedKeys(HeadCategory c, int32_t qb) const { return keys_[static_cast<int>(c)][qb]; }

 private:
  std::array<std::vector<int64_t>, kNumCategories> offset_;
  std::array<std::vector<int32_t>, kNumCategories> keys_;
  std::vector<uint64_t> bits_;
};

}  // namespace bs::cpu
