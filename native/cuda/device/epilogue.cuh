// The epilogue: normalises a finished row (divide by the softmax sum), writes the output in the requested element
// type and the row's log-sum-exp. Both mainloops hand over pairs of adjacent output columns.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "kernel_params.h"
#include "softmax.cuh"
#include "tile_scheduler.cuh"

namespace bs::cuda {

struct Epilogue {
  const KernelParams& p;
  const WorkTile& w;

  // Columns col, col+1 of the output row of `token`; col is even, so the pair is 4- or 8-byte aligned (strides are
  // multiples of 16 bytes, cuda_backend.cu).
  __device__ __forceinline__ void store2(int32_t token, int32_t col, float a, float b) const {
    const int64_t i = w.outAt(p, token) + col;
    switch (p.outputType) {
      case DType::F32:
        *reinterpret_cast<float2*>(static_cast<float*>(p.out) + i) = make_float2(a, b);
        break;
      case DType::F16:
        *reinterpret_cast<__half2*>(static_cast<__half*>(p.out) + i) = __floats2half2_rn(a, b);
        break;
      case DType::BF16:
        *reinterpret_cast<__nv_bfloat162*>(static_cast<__nv_bfloat16*>(p.out) + i) = __floats2bfloat162_rn(a, b);
        break;
    }
  }

  __device__ __forceinline__ void storeLse(int32_t token, const RowState& row, float totalSum, bool poisoned) const {
    if (!p.lse) return;
    p.lse[w.lseAt(p, token)] = totalSum == 0.0f ? kNegInf : poisoned ? kNaN : row.lse(totalSum, p.absScale);
  }

  // How a finished row's accumulator becomes its output: times 1 / sum. A zero sum — the row sees no key of the call's
  // key range, or only keys of score -inf — writes zeros (even where a weight-0 key's value was infinite) and the lse
  // is -inf: the partial result that merges as nothing. A row whose q holds a NaN or an infinity (poisoned) that sees
  // a key is NaN throughout, as in the float64 reference. A NaN sum gives NaN.
  struct Finish {
    float inv;
    bool zero;
  };
  __device__ __forceinline__ static Finish finish(float totalSum, bool poisoned) {
    if (totalSum == 0.0f) return {0.0f, true};
    return {poisoned ? kNaN : 1.0f / totalSum, false};
  }
  __device__ __forceinline__ static float apply(const Finish& f, float x) { return f.zero ? 0.0f : x * f.inv; }
};

}  // namespace bs::cuda
