// The online softmax over one tile, lane-wise: S^T holds one key per row of kLanes lanes, so the running max, exp2
// and sums down the key axis are plain vertical vector operations with no horizontal reductions.
#pragma once
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>

#include "../dtype_convert.h"
#include "../kernel.h"
#include "constants.h"

namespace bs::cpu::BS_ISA_NS::kernel {
namespace {

// st holds S^T[n][kLanes] in log2 units (times sScale when kScale); on return it holds P^T, and m, l, alpha are
// updated for the first `vecs` row vectors.
template <bool kScale>
inline void softmaxTile(float* st, int n, int vecs, float sScale, float* m, float* l, float* alpha) {
  const V scale = simd::set1(sScale);
  // A row with nothing visible yet keeps m = -inf; measuring against -FLT_MAX instead keeps exp2 at 0 (not NaN).
  const V lowest = simd::set1(-FLT_MAX);
  for (int u = 0; u < vecs; ++u) {
    float* col = st + u * W;
    V mx = simd::set1(kNegInf);
    for (int j = 0; j < n; ++j) {
      V s = simd::load(col + j * kLanes);
      if constexpr (kScale) {
        s = simd::mul(s, scale);
        simd::store(col + j * kLanes, s);
      }
      mx = simd::max(mx, s);
    }
    const V mOld = simd::load(m + u * W);
    const V mNew = simd::max(mOld, mx);
    const V mRef = simd::max(mNew, lowest);
    const V a = simd::exp2(simd::sub(mOld, mRef));
    V sum = simd::zero();
    for (int j = 0; j < n; ++j) {
      const V p = simd::exp2(simd::sub(simd::load(col + j * kLanes), mRef));
      simd::store(col + j * kLanes, p);
      sum = simd::add(sum, p);
    }
    simd::store(l + u * W, simd::fma(simd::load(l + u * W), a, sum));
    simd::store(m + u * W, mNew);
    simd::store(alpha + u * W, a);
  }
}

// Hidden pairs of a partial tile become -inf (the element rule's verdicts come precomputed as row bits), on the row
// vectors [v0, vecs) of S^T.
inline void applyMask(float* st, const uint64_t* bits, int n, int v0, int vecs) {
  const V hidden = simd::set1(kNegInf);
  for (int j = 0; j < n; ++j) {
    const uint64_t b = bits[j];
    float* srow = st + j * kLanes;
    for (int u = v0; u < vecs; ++u)
      simd::store(srow + u * W, simd::keepLanes(simd::load(srow + u * W), static_cast<uint32_t>(b >> (u * W)), hidden));
  }
}

// 2^x for one value, as simd::exp2 computes it per lane (the pair-by-pair path of sparse tiles).
inline float exp2Scalar(float x) {
  x = std::max(x, simd::kExpFloor);
  const float r = std::nearbyint(x);
  const float f = x - r;
  float p = simd::kP6;
  p = p * f + simd::kP5;
  p = p * f + simd::kP4;
  p = p * f + simd::kP3;
  p = p * f + simd::kP2;
  p = p * f + simd::kP1;
  p = p * f + 1.0f;
  return p * bitsToFloat(static_cast<uint32_t>(static_cast<int32_t>(r) + 127) << 23);
}

}  // namespace
}  // namespace bs::cpu::BS_ISA_NS::kernel
