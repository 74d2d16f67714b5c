// One attention call as every backend receives it: token-major tensors, per-head categories, and the plan.
// Backends consume the plan; they never re-derive the mask beyond applying mask_rule.h inside partial tiles.
#pragma once
#include <cstdint>

#include "mask_rule.h"

namespace bs {

// Element types of q/k/v and of out. Numeric values are part of the ABI (TS layer, C header).
enum class DType : uint8_t { F32 = 0, F16 = 1, BF16 = 2 };

struct AttentionProblem {
  const void* q;  // [numTokens, numHeads, headDim] of inputType
  const void* k;  // [numTokens, numKvHeads, headDim] of inputType
  const void* v;  // [numTokens, numKvHeads, headDim] of inputType
  void* out;      // [numTokens, numHeads, headDim] of outputType
  float* lse;     // [numTokens, numHeads], natural log, always f32; may be null
  DType inputType = DType::F32;
  DType outputType = DType::F32;
  int32_t numHeads;
  int32_t numKvHeads;
  int32_t headDim;
  float scale;
  const HeadCategory* heads;  // numHeads entries
};

}  // namespace bs
