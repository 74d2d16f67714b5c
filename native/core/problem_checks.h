// The checks every door applies to an attention problem before a backend runs it (the addon, the C ABI, the CUDA
// backend, the attention-mass pass), written once so the same mistake raises the same code wherever it comes in.
#pragma once
#include <cstddef>
#include <cmath>
#include <cstdint>
#include <string>

#include "error.h"
#include "problem.h"

namespace bs {

// numHeads and numKvHeads in [1, 65536], numHeads a multiple of numKvHeads (grouped-query attention).
inline void checkHeadCounts(int64_t numHeads, int64_t numKvHeads) {
  if (numHeads < 1 || numHeads > 65536 || numKvHeads < 1 || numKvHeads > 65536)
    throw Error(ErrorCode::BAD_HEAD_COUNT, "numHeads and numKvHeads must be in [1, 65536], got " + std::to_string(numHeads) +
                                               " and " + std::to_string(numKvHeads));
  if (numHeads % numKvHeads != 0)
    throw Error(ErrorCode::BAD_GQA, "numHeads (" + std::to_string(numHeads) + ") must be a multiple of numKvHeads (" +
                                        std::to_string(numKvHeads) + ")");
}

// The attention kernels take head dims that are a multiple of 8 in [8, 512].
inline void checkAttentionHeadDim(int64_t headDim) {
  if (headDim < 8 || headDim > 512 || headDim % 8 != 0)
    throw Error(ErrorCode::BAD_HEAD_DIM, "headDim must be a multiple of 8 in [8, 512], got " + std::to_string(headDim));
}

// The score scale of a call: 0 means 1/sqrt(headDim) at every door (the C ABI's zero-initialised default, and the
// TS layer's when `scale` is left out). Throws BAD_ARGUMENT unless it is finite in f32.
inline float resolveScale(double scale, int32_t headDim) {
  if (!(scale >= -3.4028234663852886e38 && scale <= 3.4028234663852886e38))
    throw Error(ErrorCode::BAD_ARGUMENT, "scale must be a finite f32 number (0 means 1/sqrt(headDim))");
  return scale != 0 ? static_cast<float>(scale) : 1.0f / std::sqrt(static_cast<float>(headDim));
}

inline size_t dtypeBytes(DType t) { return t == DType::F32 ? 4 : 2; }

// Host memory only: out and lse must not overlap q, k, v or each other (the kernels read inputs after writing outputs).
inline void checkOutputsDisjoint(const AttentionProblem& p, int64_t numTokens) {
  const auto overlaps = [](const void* a, size_t aBytes, const void* b, size_t bBytes) {
    const auto pa = reinterpret_cast<uintptr_t>(a), pb = reinterpret_cast<uintptr_t>(b);
    return aBytes > 0 && bBytes > 0 && pa < pb + bBytes && pb < pa + aBytes;
  };
  const size_t n = static_cast<size_t>(numTokens);
  const size_t qBytes = n * p.numHeads * p.headDim * dtypeBytes(p.inputType);
  const size_t kvBytes = n * p.numKvHeads * p.headDim * dtypeBytes(p.inputType);
  const size_t outBytes = n * p.numHeads * p.headDim * dtypeBytes(p.outputType);
  const size_t lseBytes = p.lse ? n * p.numHeads * sizeof(float) : 0;
  const std::pair<const void*, size_t> inputs[] = {{p.q, qBytes}, {p.k, kvBytes}, {p.v, kvBytes}};
  for (const auto& [in, bytes] : inputs) {
    if (overlaps(p.out, outBytes, in, bytes))
      throw Error(ErrorCode::ALIASED_OUTPUT, "out overlaps q, k or v; pass a separate output buffer");
    if (p.lse && overlaps(p.lse, lseBytes, in, bytes)) throw Error(ErrorCode::ALIASED_OUTPUT, "lse overlaps q, k or v");
  }
  if (p.lse && overlaps(p.lse, lseBytes, p.out, outBytes)) throw Error(ErrorCode::ALIASED_OUTPUT, "lse overlaps out");
}

}  // namespace bs
