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

  __device__ __forceinline__ void storeLse(int32_t token, const RowState& row, float totalSum) const {
    if (p.lse) p.lse[w.lseAt(p, token)] = row.lse(totalSum);
  }

  // 1 / sum for a finished row. A zero sum — the row sees no key of the call's key range — writes zeros (and the lse
  // is -inf), the partial result that merges as nothing.
  __device__ __forceinline__ static float normaliser(float totalSum) { return totalSum > 0.0f ? 1.0f / totalSum : 0.0f; }
};

}  // namespace bs::cuda
