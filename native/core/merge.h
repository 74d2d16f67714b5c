// Merging partial attention results: the outputs and log-sum-exps of calls over disjoint key ranges of the same
// query rows (KV shards, ring-attention steps) combine into the result over all their keys, exactly:
//   lse = log(sum_i e^lse_i),   out = sum_i e^(lse_i - lse) out_i
// computed against the largest lse, in double precision. A partial with lse -inf (its rows saw no key of the shard)
// weighs nothing; when every partial has lse -inf the row saw no key at all: out 0, lse -inf. A NaN lse makes the
// row NaN. Partials whose lse is +inf (scores beyond the f32 range, README "Mask semantics") are weighed equally
// among themselves, as the kernel weighs saturated scores.
#pragma once
#include <cstdint>
#include <vector>

#include "error.h"
#include "problem.h"

namespace bs {

struct PartialResult {
  const void* out;   // [rows, numHeads, headDim] of MergeProblem::inputType
  const float* lse;  // [rows, numHeads]
};

struct MergeProblem {
  std::vector<PartialResult> partials;
  int64_t rows = 0;
  int32_t numHeads = 0;
  int32_t headDim = 0;
  DType inputType = DType::F32;
  DType outputType = DType::F32;
  void* out = nullptr;    // [rows, numHeads, headDim] of outputType; may be one of the partials' outs (same type)
  float* lse = nullptr;   // [rows, numHeads], or null; may be one of the partials' lse
};

// The checks every door applies (null pointers, counts, overlaps other than exact reuse of a partial's memory).
void checkMergeProblem(const MergeProblem& p);

}  // namespace bs
