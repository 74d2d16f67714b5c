// One attention call as every backend receives it: strided tensors, per-head categories, the call's query and key
// ranges, and the plan. Backends consume the plan; they never re-derive the mask beyond applying mask_rule.h inside
// partial tiles.
#pragma once
#include <cstdint>

#include "call_ranges.h"
#include "mask_rule.h"

namespace bs {

// Element types of q/k/v and of out. Numeric values are part of the ABI (TS layer, C header).
enum class DType : uint8_t { F32 = 0, F16 = 1, BF16 = 2 };

// Where a tensor's elements are: element (row, head, c) at row * token + head * head + c, in elements. The head dim
// is always contiguous. problem_checks.h fills in the token-major defaults and rejects strides that make elements
// share memory.
struct TensorStrides {
  int64_t token = 0;
  int64_t head = 0;
};

struct AttentionProblem {
  const void* q;  // query rows x numHeads x headDim of inputType, at qStrides
  const void* k;  // key rows x numKvHeads x headDim of inputType, at kStrides
  const void* v;  // key rows x numKvHeads x headDim of inputType, at vStrides
  void* out;      // query rows x numHeads x headDim of outputType, at outStrides
  float* lse;     // [query rows, numHeads], natural log, always f32, contiguous; may be null
  DType inputType = DType::F32;
  DType outputType = DType::F32;
  int32_t numHeads;
  int32_t numKvHeads;
  int32_t headDim;
  float scale;
  const HeadCategory* heads;  // numHeads entries
  TensorStrides qStrides, kStrides, vStrides, outStrides;
  // The call's query and key tokens (call_ranges.h); null: every token of the layout, as query and as key.
  const CallRanges* ranges = nullptr;
};

// The softmax's weights are 2^(expScale (s - max)) with s = sign(scale) q.k: the scale multiplies score differences,
// so no finite scale overflows (a product beyond the f32 range stands at FLT_MAX). Both backends use this.
inline float softmaxExpScale(float scale) {
  const float a = scale < 0 ? -scale : scale;
  const float x = a * 1.4426950408889634f;  // |scale| log2 e; inf past the f32 range
  return x < 3.40282347e38f ? x : 3.40282347e38f;
}

}  // namespace bs
