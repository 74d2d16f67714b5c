// The online softmax over one tile, lane-wise: S^T holds one key per row of kLanes lanes, so the running max, exp2
// and sums down the key axis are plain vertical vector operations with no horizontal reductions. The element rule's
// masks are applied here too, in the same pass as the running max.
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

// The scores are raw (sign(scale) * q.k, in f32) and c = |scale| * log2(e), so the weights are 2^(c (s - m)): the
// scale is applied to differences, which never overflow, rather than to the scores (a huge scale or a huge q.k
// would). Scores beyond the f32 range saturate at +-FLT_MAX (q.k of finite inputs that overflows), NaN stays NaN.
//
// st holds S^T[n][kLanes] for the first `vecs` row vectors; `bits` (null on a full tile) holds one row mask per key,
// whose bit laneShift + i is lane i's verdict. On return st holds P^T, and m (the running max of the scores), l
// (the running sum of weights) and alpha (this tile's rescale of the earlier sums) are updated. A NaN score leaves m
// alone (max ignores it) and makes its weight, hence l and the row's output, NaN — as the float64 reference does.
inline void softmaxTile(float* st, int n, int vecs, float c, float* m, float* l, float* alpha, const uint64_t* bits,
                        int laneShift) {
  const V expScale = simd::set1(c);
  const V lowest = simd::set1(-FLT_MAX), highest = simd::set1(FLT_MAX), hidden = simd::set1(kNegInf);
  for (int u = 0; u < vecs; ++u) {
    float* col = st + u * W;
    V mx = simd::set1(kNegInf);
    const int shift = laneShift + u * W;
    for (int j = 0; j < n; ++j) {
      V s = simd::min(highest, simd::max(lowest, simd::load(col + j * kLanes)));
      if (bits) s = simd::keepLanes(s, static_cast<uint32_t>(bits[j] >> shift), hidden);
      simd::store(col + j * kLanes, s);
      mx = simd::max(s, mx);
    }
    const V mOld = simd::load(m + u * W);
    const V mNew = simd::max(mx, mOld);
    // A row with nothing visible yet keeps m = -inf; measuring against -FLT_MAX instead keeps the weights at 0.
    const V mRef = simd::max(mNew, lowest);
    const V a = simd::exp2(simd::mul(expScale, simd::sub(mOld, mRef)));
    V sum = simd::zero();
    for (int j = 0; j < n; ++j) {
      const V p = simd::exp2(simd::mul(expScale, simd::sub(simd::load(col + j * kLanes), mRef)));
      simd::store(col + j * kLanes, p);
      sum = simd::add(sum, p);
    }
    simd::store(l + u * W, simd::fma(simd::load(l + u * W), a, sum));
    simd::store(m + u * W, mNew);
    simd::store(alpha + u * W, a);
  }
}

// 2^x for one value, as simd::exp2 computes it per lane (the pair-by-pair path of sparse tiles).
inline float exp2Scalar(float x) {
  if (x != x) return x;  // NaN stays NaN
  x = std::min(std::max(x, simd::kExpFloor), 0.0f);
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
