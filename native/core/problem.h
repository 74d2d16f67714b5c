// One attention call as every backend receives it: token-major tensors, per-head categories, and the plan.
// Backends consume the plan; they never re-derive the mask beyond applying mask_rule.h inside partial tiles.
#pragma once
#include <cstdint>

#include "mask_rule.h"

namespace bs {

struct AttentionProblem {
  const float* q;  // [numTokens, numHeads, headDim]
  const float* k;  // [numTokens, numKvHeads, headDim]
  const float* v;  // [numTokens, numKvHeads, headDim]
  float* out;      // [numTokens, numHeads, headDim]
  float* lse;      // [numTokens, numHeads], natural log; may be null
  int32_t numHeads;
  int32_t numKvHeads;
  int32_t headDim;
  float scale;
  const HeadCategory* heads;  // numHeads entries
};

}  // namespace bs
