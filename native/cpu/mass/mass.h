// The attention-mass pass: for every query head and image query token, how the softmax mass of its dense row (the
// plan's base mask: causal, bidirectional images, window) splits over the buckets of core/mass_buckets.h. Head
// calibration turns these into each category's retained mass.
//
// It is the attention kernel without its P.V product: the same work items (work_order.h: a query block for a stack
// of heads), the same partial-tile row masks (tile_masks.h), the same head-major K copy and non-finite scan
// (packed_kv.h), the same transposed queries and register-blocked Q.K^T tiles (kernel/), and, instead of an output
// accumulator, one online-softmax sum per bucket. So it runs at the attention kernel's speed on every ISA level,
// O(kLanes * headDim + tile) scratch per worker, never an N x N buffer. Compiled once per ISA level like the kernel
// (levels/<name>.cpp).
#pragma once
#include <cstdint>
#include <vector>

#include "../../core/mass_buckets.h"
#include "../../core/plan.h"
#include "../../core/problem.h"
#include "../isa.h"
#include "../kernel.h"

namespace bs::cpu {

struct MassProblem {
  const void* q;  // [numTokens, numHeads, headDim] of inputType
  const void* k;  // [numTokens, numKvHeads, headDim] of inputType
  DType inputType = DType::F32;
  int32_t numHeads;
  int32_t numKvHeads;
  int32_t headDim;  // any in [1, 1024]; dims the kernel's tiles do not take are zero-padded
  float scale;
  // Optional: [numTokens, numHeads, kMassBuckets] fractions of each image query's row mass. Text query rows are NaN
  // (they are not image queries), and so are the rows whose softmax is undefined (see MassResult::rows).
  float* perToken = nullptr;
};

struct MassResult {
  // [numHeads, kMassBuckets]: per head, the sum over its measured image query rows of each bucket's fraction.
  std::vector<double> perHead;
  // [numHeads]: the image query rows each head measured. A row whose softmax is undefined, as the attention kernel
  // defines it (a NaN or an infinity in its q row, a NaN or +inf score: the attention output row is NaN), has no
  // fractions and is left out of the sums; every other row counts. Without non-finite inputs every head measures
  // all imageQueries rows.
  std::vector<int64_t> rows;
  int64_t imageQueries = 0;
};

// One work item's result for one of its heads.
struct MassItemSums {
  double sums[kMassBuckets];
  int64_t rows;
};

// What one worker reuses between work items besides the kernel's Scratch: the per-lane bucket sums of a pass.
struct MassScratch {
  AlignedBuffer<double> acc;  // [kMassBuckets][kLanes]
};

// One work item (a query block of image queries for a stack of heads, as the attention kernel's items): for stack
// head i, writes its sums to out[heads[i] * headStride], and the rows' fractions to perToken when it is not null.
// The problem is the pass as an attention problem: every head dense, v unused.
using MassBlockFn = void (*)(const Plan&, const AttentionProblem&, const KvView&, const HeadStack&,
                             const QueryPiece& piece, const BlockMasks&, Scratch&, MassScratch&, MassItemSums* out,
                             int64_t headStride, float* perToken);

// Runs the pass over every head and image query block on the CPU pool. Throws bs::Error on a bad problem. The sums
// are reduced in a fixed order: they do not depend on the thread count.
MassResult attentionMass(const Plan& plan, const MassProblem& problem, int threads, Isa isa);

}  // namespace bs::cpu
