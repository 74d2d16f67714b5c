// The checks every door applies to an attention problem before a backend runs it (the addon, the C ABI, the CUDA
// backend, the attention-mass pass), written once so the same mistake raises the same code wherever it comes in.
#pragma once
#include <cstddef>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>

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

// Elements a rows x heads x headDim tensor spans at its strides: its highest element's index + 1 (0 when empty).
inline int64_t tensorExtent(int64_t rows, int64_t heads, int64_t headDim, TensorStrides s) {
  if (rows == 0 || heads == 0) return 0;
  return (rows - 1) * s.token + (heads - 1) * s.head + headDim;
}

// A tensor's strides with the defaults filled in: {0, 0} means packed token-major (token = heads x headDim, head =
// headDim). Other strides must be >= 0, below 2^48 elements, and keep every element in memory of its own: the inner
// dimension's stride at least headDim and the outer one's at least the inner dimension's extent (a dimension of size
// 1 takes any stride). Throws BAD_STRIDE otherwise.
inline TensorStrides resolveStrides(TensorStrides s, int64_t rows, int64_t heads, int64_t headDim, const char* name) {
  if (s.token == 0 && s.head == 0) return {heads * headDim, headDim};
  const auto fail = [&](const std::string& why) {
    throw Error(ErrorCode::BAD_STRIDE, std::string(name) + " strides (token " + std::to_string(s.token) + ", head " +
                                           std::to_string(s.head) + ") " + why);
  };
  constexpr int64_t kMaxStride = int64_t{1} << 48;
  if (s.token < 0 || s.head < 0) fail("must be >= 0");
  if (s.token >= kMaxStride || s.head >= kMaxStride) fail("must be below 2^48 elements");
  struct Dim {
    int64_t stride, count;
  };
  Dim a{s.token, rows}, b{s.head, heads};
  if (a.count <= 1) a.stride = 0;  // a dimension of one entry takes any stride
  if (b.count <= 1) b.stride = 0;
  if (a.count > 1 && b.count > 1 && b.stride < a.stride) std::swap(a, b);  // a: the inner dimension
  const Dim* inner = a.count > 1 ? &a : b.count > 1 ? &b : nullptr;
  if (!inner) return s;
  // rows <= 2^30 and heads <= 2^16, so with strides below 2^48 these products are exact in double.
  if (inner->stride < headDim) fail("let rows of headDim " + std::to_string(headDim) + " elements overlap");
  if (a.count > 1 && b.count > 1 && b.stride < (a.count - 1) * a.stride + headDim)
    fail("let the token and head dimensions overlap (the outer stride must cover the inner dimension's extent)");
  if (static_cast<double>(rows - 1) * static_cast<double>(s.token) + static_cast<double>(heads - 1) * static_cast<double>(s.head) +
          static_cast<double>(headDim) >= 9007199254740992.0)
    throw Error(ErrorCode::SIZE_OVERFLOW, std::string(name) + " spans 2^53 elements or more");
  return s;
}

// The call's tensors with their strides resolved (see resolveStrides) for queryRows query rows and keyRows key rows.
inline void resolveProblemStrides(AttentionProblem& p, int64_t queryRows, int64_t keyRows) {
  p.qStrides = resolveStrides(p.qStrides, queryRows, p.numHeads, p.headDim, "q");
  p.kStrides = resolveStrides(p.kStrides, keyRows, p.numKvHeads, p.headDim, "k");
  p.vStrides = resolveStrides(p.vStrides, keyRows, p.numKvHeads, p.headDim, "v");
  p.outStrides = resolveStrides(p.outStrides, queryRows, p.numHeads, p.headDim, "out");
}

// Host memory only: out and lse must not overlap q, k, v or each other (the kernels read inputs after writing
// outputs). Compares the byte spans the tensors' strides reach (resolved strides).
inline void checkOutputsDisjoint(const AttentionProblem& p, int64_t queryRows, int64_t keyRows) {
  const auto overlaps = [](const void* a, size_t aBytes, const void* b, size_t bBytes) {
    const auto pa = reinterpret_cast<uintptr_t>(a), pb = reinterpret_cast<uintptr_t>(b);
    return aBytes > 0 && bBytes > 0 && pa < pb + bBytes && pb < pa + aBytes;
  };
  const auto span = [&](int64_t rows, int64_t heads, TensorStrides s, DType t) {
    return static_cast<size_t>(tensorExtent(rows, heads, p.headDim, s)) * dtypeBytes(t);
  };
  const size_t qBytes = span(queryRows, p.numHeads, p.qStrides, p.inputType);
  const size_t kBytes = span(keyRows, p.numKvHeads, p.kStrides, p.inputType);
  const size_t vBytes = span(keyRows, p.numKvHeads, p.vStrides, p.inputType);
  const size_t outBytes = span(queryRows, p.numHeads, p.outStrides, p.outputType);
  const size_t lseBytes = p.lse ? static_cast<size_t>(queryRows) * p.numHeads * sizeof(float) : 0;
  const std::pair<const void*, size_t> inputs[] = {{p.q, qBytes}, {p.k, kBytes}, {p.v, vBytes}};
  for (const auto& [in, bytes] : inputs) {
    if (overlaps(p.out, outBytes, in, bytes))
      throw Error(ErrorCode::ALIASED_OUTPUT, "out overlaps q, k or v; pass a separate output buffer");
    if (p.lse && overlaps(p.lse, lseBytes, in, bytes)) throw Error(ErrorCode::ALIASED_OUTPUT, "lse overlaps q, k or v");
  }
  if (p.lse && overlaps(p.lse, lseBytes, p.out, outBytes)) throw Error(ErrorCode::ALIASED_OUTPUT, "lse overlaps out");
}

}  // namespace bs
