// The attention-mass pass: for every query head and image query token, how the softmax mass of its dense row (the
// plan's base mask: causal, bidirectional images, window) splits over the buckets of core/mass_buckets.h. Head
// calibration turns these into each category's retained mass.
//
// It walks the plan's dense-category tiles (core/plan_walk.h) (exactly the base mask's visible keys; partial tiles apply
// mask_rule.h) with an online max and rescaled per-bucket sums, like a FlashAttention pass without the PV product:
// O(blockM * headDim + tile) scratch per worker, never an N x N buffer. Compiled once per ISA level like the kernel
// (levels/<name>.cpp).
#pragma once
#include <cstdint>
#include <vector>

#include "../../core/mass_buckets.h"
#include "../../core/plan.h"
#include "../../core/problem.h"
#include "../isa.h"

namespace bs::cpu {

struct MassProblem {
  const void* q;  // [numTokens, numHeads, headDim] of inputType
  const void* k;  // [numTokens, numKvHeads, headDim] of inputType
  DType inputType = DType::F32;
  int32_t numHeads;
  int32_t numKvHeads;
  int32_t headDim;
  float scale;
  // Optional: [numTokens, numHeads, kMassBuckets] fractions of each image query's row mass; text query rows are
  // written as NaN (they are not image queries).
  float* perToken = nullptr;
};

struct MassResult {
  // [numHeads, kMassBuckets]: per head, the sum over image queries of each bucket's fraction (divide by
  // imageQueries for the mean).
  std::vector<double> perHead;
  int64_t imageQueries = 0;
};

struct MassScratch {
  std::vector<float> q, s, p, kt, m;
  std::vector<double> acc;  // [rows][kMassBuckets]
  void ensure(int32_t rows, int32_t headDim);
};

constexpr int32_t kMassKeyTile = 64;

// One (head, query block) work item: writes perToken rows (when requested) and the block's per-bucket sums of
// fractions into blockSums[kMassBuckets]. The block must hold image queries.
using MassBlockFn = void (*)(const Plan&, const MassProblem&, int head, int32_t qbIndex, MassScratch&,
                             double* blockSums);


// Runs the pass over every head and image query block on the CPU pool. Throws bs::Error on a bad problem.
MassResult attentionMass(const Plan& plan, const MassProblem& problem, int threads, Isa isa);

}  // namespace bs::cpu
