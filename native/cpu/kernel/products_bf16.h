// The bf16 products on AVX512_BF16, both as vdpbf16ps pair products (simd_bf16.h): Q.K^T over headDim pairs (Q^T
// stored as [d/2][kLanes] pairs, K rows read as pairs), and P.V over key pairs (P rounded to bf16 as GPU flash kernels
// do, V rows interleaved as key pairs). Accumulation is f32. Only levels with BS_SIMD_DOT_BF16 compile this.
#pragma once
#include <algorithm>
#include <cstdint>

#include "../kernel.h"
#include "constants.h"

#if BS_SIMD_DOT_BF16
namespace bs::cpu::BS_ISA_NS::kernel {
namespace {

// qp: Q^T as headDim pairs, [d/2][kLanes] of (Q[row][2c], Q[row][2c+1]); krow: K rows read as bf16 pairs.
template <int VC, int R>
inline void qkBf16Block(const uint32_t* qp, int d2, const uint32_t* const* krow, float* st) {
  V acc[R][VC];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int u = 0; u < VC; ++u) acc[r][u] = simd::zero();
  for (int c = 0; c < d2; ++c) {
    simd::P q[VC];
#pragma GCC unroll 4
    for (int u = 0; u < VC; ++u) q[u] = simd::loadP(qp + c * kLanes + u * W);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const simd::P kb = simd::set1P(krow[r][c]);
#pragma GCC unroll 4
      for (int u = 0; u < VC; ++u) acc[r][u] = simd::dotPairs(acc[r][u], q[u], kb);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int u = 0; u < VC; ++u) simd::store(st + r * kLanes + u * W, acc[r][u]);
}

template <int VC>
inline void qkBf16Keys(const uint32_t* qp, int d2, const uint32_t* const* krow, int n, float* st) {
  constexpr int R = qkKeys(VC);
  int j = 0;
  for (; j + R <= n; j += R) qkBf16Block<VC, R>(qp, d2, krow + j, st + j * kLanes);
  for (; j < n; ++j) qkBf16Block<VC, 1>(qp, d2, krow + j, st + j * kLanes);
}

inline void qkBf16(const uint32_t* qp, int d2, const uint32_t* const* krow, int n, float* st, int vecs) {
  if constexpr (kLanes / W <= 4) {
    withCount<4>(vecs, [&](auto vc) { qkBf16Keys<decltype(vc)::value>(qp, d2, krow, n, st); });
  } else {
    // Narrower vectors (NEON: 16 per pass) take the pass in groups of kQkMaxVecs row vectors, as qkF32 does.
    for (int u0 = 0; u0 < vecs; u0 += kQkMaxVecs)
      withCount<kQkMaxVecs>(std::min(kQkMaxVecs, vecs - u0), [&](auto vc) {
        qkBf16Keys<decltype(vc)::value>(qp + u0 * W, d2, krow, n, st + u0 * W);
      });
  }
}

// pp: P^T as key pairs, [n/2][kLanes] of (P[2j][row], P[2j+1][row]); vp: V as key pairs, [n/2][vpStride].
template <int R, int DV>
inline void pvBf16Block(float* o, int dp, const float* alpha, const uint32_t* pp, const uint32_t* vp, int vpStride,
                        int n2, int c0) {
  V acc[R][DV];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) {
    const V a = simd::set1(alpha[r]);
#pragma GCC unroll 4
    for (int v = 0; v < DV; ++v) acc[r][v] = simd::mul(simd::load(o + r * dp + c0 + v * W), a);
  }
  for (int j = 0; j < n2; ++j) {
    simd::P vv[DV];
#pragma GCC unroll 4
    for (int v = 0; v < DV; ++v) vv[v] = simd::loadP(vp + j * vpStride + c0 + v * W);
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const simd::P p = simd::set1P(pp[j * kLanes + r]);
#pragma GCC unroll 4
      for (int v = 0; v < DV; ++v) acc[r][v] = simd::dotPairs(acc[r][v], vv[v], p);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < DV; ++v) simd::store(o + r * dp + c0 + v * W, acc[r][v]);
}

template <int R>
inline void pvBf16Rows(float* o, int dp, const float* alpha, const uint32_t* pp, const uint32_t* vp, int vpStride, int n2) {
  const int dvecs = dp / W;
  int v0 = 0;
  for (; v0 + 4 <= dvecs; v0 += 4) pvBf16Block<R, 4>(o, dp, alpha, pp, vp, vpStride, n2, v0 * W);
  if (v0 < dvecs)
    withCount<4>(dvecs - v0, [&](auto dv) {
      pvBf16Block<R, decltype(dv)::value>(o, dp, alpha, pp, vp, vpStride, n2, v0 * W);
    });
}

inline void pvBf16(float* o, int dp, const float* alpha, const uint32_t* pp, const uint32_t* vp, int vpStride, int n2, int rows) {
  int r = 0;
  for (; r + 4 <= rows; r += 4) pvBf16Rows<4>(o + r * dp, dp, alpha + r, pp + r, vp, vpStride, n2);
  for (; r < rows; ++r) pvBf16Rows<1>(o + r * dp, dp, alpha + r, pp + r, vp, vpStride, n2);
}

// P^T (f32, [n][kLanes]) to bf16 key pairs; an odd last key pairs with 0.
inline void packPairsP(const float* pt, int n, int vecs, uint32_t* pp) {
  for (int j = 0; j < n; j += 2) {
    for (int u = 0; u < vecs; ++u) {
      const V a = simd::load(pt + j * kLanes + u * W);
      const V b = j + 1 < n ? simd::load(pt + (j + 1) * kLanes + u * W) : simd::zero();
      simd::storeP(pp + (j / 2) * kLanes + u * W, simd::packPairs(a, b));
    }
  }
}

}  // namespace
}  // namespace bs::cpu::BS_ISA_NS::kernel
#endif
