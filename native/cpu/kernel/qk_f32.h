// The f32 Q.K^T microkernel: S^T[key][lanes] = sum_c K[key][c] * Q^T[c][lanes], with R keys x VC row vectors of
// accumulators in registers (constants.h), a K element broadcast per step, and a half vector for a pass that ends in
// 8 rows past a whole vector (AVX-512: a 24-row text block costs 1.5 vectors, not 2).
#pragma once
#include <algorithm>
#include <cstdint>

#include "../kernel.h"
#include "constants.h"

namespace bs::cpu::BS_ISA_NS::kernel {
namespace {

// S^T[r][lanes of VC vectors] = sum_c K[r][c] * Q^T[c][lanes], for R keys.
template <int VC, int R>
inline void qkBlock(const float* qt, int d, const float* const* krow, float* st) {
  V acc[R][VC];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int u = 0; u < VC; ++u) acc[r][u] = simd::zero();
  for (int c = 0; c < d; ++c) {
    V q[VC];
#pragma GCC unroll 4
    for (int u = 0; u < VC; ++u) q[u] = simd::load(qt + c * kLanes + u * W);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const V kb = simd::set1(krow[r][c]);
#pragma GCC unroll 4
      for (int u = 0; u < VC; ++u) acc[r][u] = simd::fma(kb, q[u], acc[r][u]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int u = 0; u < VC; ++u) simd::store(st + r * kLanes + u * W, acc[r][u]);
}

template <int VC>
inline void qkKeysLoop(const float* qt, int d, const float* const* krow, int n, float* st) {
  constexpr int R = qkKeys(VC);
  int j = 0;
  for (; j + R <= n; j += R) qkBlock<VC, R>(qt, d, krow + j, st + j * kLanes);
  for (; j < n; ++j) qkBlock<VC, 1>(qt, d, krow + j, st + j * kLanes);
}

#if BS_SIMD_HALF
// As qkBlock, for VC full row vectors plus one half vector (8 rows in a ymm): a query block of 24 rows (the text
// between two images) then costs 1.5 vectors, not 2. The K broadcast is shared by both widths.
template <int VC, int R>
inline void qkHalfBlock(const float* qt, int d, const float* const* krow, float* st) {
  V acc[R][VC > 0 ? VC : 1];
  simd::H half[R];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    half[r] = simd::zeroH();
#pragma GCC unroll 4
    for (int u = 0; u < VC; ++u) acc[r][u] = simd::zero();
  }
  for (int c = 0; c < d; ++c) {
    V q[VC > 0 ? VC : 1];
#pragma GCC unroll 4
    for (int u = 0; u < VC; ++u) q[u] = simd::load(qt + c * kLanes + u * W);
    const simd::H qh = simd::loadH(qt + c * kLanes + VC * W);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const V kb = simd::set1(krow[r][c]);
#pragma GCC unroll 4
      for (int u = 0; u < VC; ++u) acc[r][u] = simd::fma(kb, q[u], acc[r][u]);
      half[r] = simd::fmaH(simd::lowHalf(kb), qh, half[r]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int u = 0; u < VC; ++u) simd::store(st + r * kLanes + u * W, acc[r][u]);
    simd::storeH(st + r * kLanes + VC * W, half[r]);
  }
}

template <int VC>
inline void qkHalfKeys(const float* qt, int d, const float* const* krow, int n, float* st) {
  constexpr int R = VC >= 3 ? 4 : 8;
  int j = 0;
  for (; j + R <= n; j += R) qkHalfBlock<VC, R>(qt, d, krow + j, st + j * kLanes);
  for (; j < n; ++j) qkHalfBlock<VC, 1>(qt, d, krow + j, st + j * kLanes);
}
#endif

inline void qkF32(const float* qt, int d, const float* const* krow, int n, float* st, int vecs, int rows) {
#if BS_SIMD_HALF
  if (rows % W != 0 && rows % W <= W / 2) {
    switch (vecs - 1) {
      case 0: return qkHalfKeys<0>(qt, d, krow, n, st);
      case 1: return qkHalfKeys<1>(qt, d, krow, n, st);
      case 2: return qkHalfKeys<2>(qt, d, krow, n, st);
      default: return qkHalfKeys<3>(qt, d, krow, n, st);
    }
  }
#else
  (void)rows;
#endif
  for (int u0 = 0; u0 < vecs; u0 += kQkMaxVecs) {
    withCount<kQkMaxVecs>(std::min(kQkMaxVecs, vecs - u0), [&](auto vc) {
      qkKeysLoop<decltype(vc)::value>(qt + u0 * W, d, krow, n, st + u0 * W);
    });
  }
}

}  // namespace
}  // namespace bs::cpu::BS_ISA_NS::kernel
