// The f32 P.V microkernel: O[row][d] = alpha[row] * O[row][d] + sum_j P^T[j][row] * V[j][d], with R rows x DV
// d-vectors of accumulators in registers, each V row read as whole vectors (so gathered keys cost what contiguous ones
// do).
#pragma once
#include <algorithm>
#include <cstdint>

#include "../kernel.h"
#include "constants.h"

namespace bs::cpu::BS_ISA_NS::kernel {
namespace {

// O[r][c0 .. c0 + DV*W) = alpha[r] * O[r][..] + sum_j P^T[j][r] * V[j][..], for R rows.
template <int R, int DV>
inline void pvBlock(float* o, int dp, const float* alpha, const float* pt, const float* const* vrow, int n, int c0) {
  V acc[R][DV];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) {
    const V a = simd::set1(alpha[r]);
#pragma GCC unroll 4
    for (int v = 0; v < DV; ++v) acc[r][v] = simd::mul(simd::load(o + r * dp + c0 + v * W), a);
  }
  for (int j = 0; j < n; ++j) {
    const float* vr = vrow[j] + c0;
    V vv[DV];
#pragma GCC unroll 4
    for (int v = 0; v < DV; ++v) vv[v] = simd::load(vr + v * W);
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const V p = simd::set1(pt[j * kLanes + r]);
#pragma GCC unroll 4
      for (int v = 0; v < DV; ++v) acc[r][v] = simd::fma(p, vv[v], acc[r][v]);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < DV; ++v) simd::store(o + r * dp + c0 + v * W, acc[r][v]);
}

template <int R>
inline void pvRows(float* o, int dp, const float* alpha, const float* pt, const float* const* vrow, int n) {
  const int dvecs = dp / W;
  int v0 = 0;
  for (; v0 + kPvVecs <= dvecs; v0 += kPvVecs) pvBlock<R, kPvVecs>(o, dp, alpha, pt, vrow, n, v0 * W);
  if (v0 < dvecs)
    withCount<kPvVecs>(dvecs - v0, [&](auto dv) { pvBlock<R, decltype(dv)::value>(o, dp, alpha, pt, vrow, n, v0 * W); });
}

inline void pvF32(float* o, int dp, const float* alpha, const float* pt, const float* const* vrow, int n, int rows) {
  int r = 0;
  for (; r + kPvRows <= rows; r += kPvRows) pvRows<kPvRows>(o + r * dp, dp, alpha + r, pt + r, vrow, n);
  for (; r < rows; ++r) pvRows<1>(o + r * dp, dp, alpha + r, pt + r, vrow, n);
}

}  // namespace
}  // namespace bs::cpu::BS_ISA_NS::kernel
