// The FlashAttention-style CPU kernel for one (head, query block) work item, written once in the vector operations of
// simd.h and compiled per ISA level (kernel_generic.cpp, kernel_avx2.cpp, kernel_avx512.cpp, kernel_avx512bf16.cpp)
// under its own namespace and -m flags; cpu_backend.cpp picks one at run time, so a single x86-64 binary is fast on
// new CPUs and never executes an unsupported instruction on old ones.
//
// Query rows live in vector lanes. Per pass of up to kLanes rows the query block is transposed once into
// Q^T[d][row] (scaled by scale*log2e), and every key tile computes the transposed scores S^T[key][row]:
//   Q.K^T  acc[key r][row vector u] += broadcast(K[key r][c]) * Q^T[c][u]   (R keys x VC row vectors in registers)
//   softmax  column-wise over keys, i.e. lane-wise: max, exp2, sum are plain vertical vector ops, no reductions
//   P.V    acc[row r][d vector v] += broadcast(P^T[key][row r]) * V[key][v] (R rows x DV d-vectors in registers)
// Each K row is read contiguously (broadcasts) and each V row as whole vectors, so a tile of gathered keys (sinks and
// text scattered over many earlier blocks) costs the same as a contiguous one: a query block pays for the keys it
// visits, never for the blocks they came from. Nothing transposes K or V per tile.
//
// bf16 inputs on CPUs with AVX512_BF16 use vdpbf16ps for both products (pairs along headDim for Q.K^T, pairs of keys
// for P.V, with P rounded to bf16 as GPU flash kernels do); f16 and bf16 elsewhere are widened to f32 once per tile.
// Accumulation is always f32. The element rule (mask_rule.h) runs only on the plan's partial tiles.
#ifndef BS_ISA_NS
#error "define BS_ISA_NS before including kernel_impl.h"
#endif
#include <algorithm>
#include <bit>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "../core/plan.h"
#include "../core/problem.h"
#include "dtype_convert.h"
#include "kernel.h"
#include "simd.h"

#if defined(__AVX512BF16__)
#define BS_KERNEL_DPBF16 1
#else
#define BS_KERNEL_DPBF16 0
#endif

namespace bs::cpu::BS_ISA_NS {
namespace {

using simd::V;
constexpr int W = simd::W;
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Register blocking. AVX-512 (32 zmm): Q.K^T holds 4 keys x 4 row vectors (16 accumulators + 4 Q^T vectors; a K
// element is an embedded broadcast), fewer row vectors take 8 keys; P.V holds 4 rows x 4 d-vectors (16 + 4 V).
// AVX2 (16 ymm): 2 keys x 4 row vectors or 4 x 2 or 8 x 1 (8 accumulators + Q^T + one broadcast register);
// P.V 2 rows x 4 d-vectors. Key groups of 4 / 8 divide the 64-key tile, so full tiles have no remainder.
#if defined(__AVX512F__)
constexpr int kQkMaxVecs = 4;
constexpr int qkKeys(int vecs) { return vecs >= 4 ? 4 : 8; }
constexpr int kPvRows = 4, kPvVecs = 4;
#elif defined(__AVX2__)
constexpr int kQkMaxVecs = 4;
constexpr int qkKeys(int vecs) { return vecs >= 3 ? 2 : vecs == 2 ? 4 : 8; }
constexpr int kPvRows = 2, kPvVecs = 4;
#else
constexpr int kQkMaxVecs = 2;
constexpr int qkKeys(int) { return 4; }
constexpr int kPvRows = 2, kPvVecs = 2;
#endif

int32_t roundUp(int32_t x, int32_t m) { return (x + m - 1) / m * m; }

// Calls f(std::integral_constant<int, N>) for a run-time n in [1, Max].
template <int Max, class F>
inline void withCount(int n, F&& f) {
  if constexpr (Max >= 1) {
    if (n == Max) return f(std::integral_constant<int, Max>{});
    if constexpr (Max > 1) withCount<Max - 1>(n, f);
  }
}

#if defined(__AVX2__) || defined(__AVX512F__)
// In place: row j becomes column j of the 8 x 8 block.
inline void transpose8(__m256 (&r)[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0] = _mm256_permute2f128_ps(u0, u4, 0x20), r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  r[2] = _mm256_permute2f128_ps(u2, u6, 0x20), r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  r[4] = _mm256_permute2f128_ps(u0, u4, 0x31), r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  r[6] = _mm256_permute2f128_ps(u2, u6, 0x31), r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

// sums[j] = the sum of the lanes of v[j] (eight dot products finished at once).
inline void laneSums8(__m256 (&v)[8], float (&sums)[8]) {
  transpose8(v);
  __m256 sum = v[0];
  for (int x = 1; x < 8; ++x) sum = _mm256_add_ps(sum, v[x]);
  _mm256_storeu_ps(sums, sum);
}
#endif

// ---- Q.K^T, f32 ----

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

#if defined(__AVX512F__)
// As qkBlock, for VC full row vectors plus one half vector (8 rows in a ymm): a query block of 24 rows (the text
// between two images) then costs 1.5 vectors, not 2. The K broadcast is shared by both widths.
template <int VC, int R>
inline void qkHalfBlock(const float* qt, int d, const float* const* krow, float* st) {
  __m512 acc[R][VC > 0 ? VC : 1];
  __m256 half[R];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    half[r] = _mm256_setzero_ps();
#pragma GCC unroll 4
    for (int u = 0; u < VC; ++u) acc[r][u] = _mm512_setzero_ps();
  }
  for (int c = 0; c < d; ++c) {
    __m512 q[VC > 0 ? VC : 1];
#pragma GCC unroll 4
    for (int u = 0; u < VC; ++u) q[u] = _mm512_loadu_ps(qt + c * kLanes + u * 16);
    const __m256 qh = _mm256_loadu_ps(qt + c * kLanes + VC * 16);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512 kb = _mm512_set1_ps(krow[r][c]);
#pragma GCC unroll 4
      for (int u = 0; u < VC; ++u) acc[r][u] = _mm512_fmadd_ps(kb, q[u], acc[r][u]);
      half[r] = _mm256_fmadd_ps(_mm512_castps512_ps256(kb), qh, half[r]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int u = 0; u < VC; ++u) _mm512_storeu_ps(st + r * kLanes + u * 16, acc[r][u]);
    _mm256_storeu_ps(st + r * kLanes + VC * 16, half[r]);
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

void qkF32(const float* qt, int d, const float* const* krow, int n, float* st, int vecs, int rows) {
#if defined(__AVX512F__)
  if (rows % 16 != 0 && rows % 16 <= 8) {
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

// ---- P.V, f32 ----

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

void pvF32(float* o, int dp, const float* alpha, const float* pt, const float* const* vrow, int n, int rows) {
  int r = 0;
  for (; r + kPvRows <= rows; r += kPvRows) pvRows<kPvRows>(o + r * dp, dp, alpha + r, pt + r, vrow, n);
  for (; r < rows; ++r) pvRows<1>(o + r * dp, dp, alpha + r, pt + r, vrow, n);
}

// ---- online softmax over one tile, lane-wise ----

// st holds S^T[n][kLanes] in log2 units (times sScale when kScale); on return it holds P^T, and m, l, alpha are
// updated for the first `vecs` row vectors.
template <bool kScale>
void softmaxTile(float* st, int n, int vecs, float sScale, float* m, float* l, float* alpha) {
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

#if BS_KERNEL_DPBF16
// ---- bf16 products with vdpbf16ps (each 32-bit lane: acc += a.lo*b.lo + a.hi*b.hi) ----

inline __m512bh asBh(__m512i x) { return reinterpret_cast<__m512bh>(x); }

// qp: Q^T as headDim pairs, [d/2][kLanes] of (Q[row][2c], Q[row][2c+1]); krow: K rows read as bf16 pairs.
template <int VC, int R>
inline void qkBf16Block(const uint32_t* qp, int d2, const uint32_t* const* krow, float* st) {
  __m512 acc[R][VC];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int u = 0; u < VC; ++u) acc[r][u] = _mm512_setzero_ps();
  for (int c = 0; c < d2; ++c) {
    __m512i q[VC];
#pragma GCC unroll 4
    for (int u = 0; u < VC; ++u) q[u] = _mm512_loadu_si512(qp + c * kLanes + u * 16);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512i kb = _mm512_set1_epi32(static_cast<int>(krow[r][c]));
#pragma GCC unroll 4
      for (int u = 0; u < VC; ++u) acc[r][u] = _mm512_dpbf16_ps(acc[r][u], asBh(q[u]), asBh(kb));
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int u = 0; u < VC; ++u) _mm512_storeu_ps(st + r * kLanes + u * 16, acc[r][u]);
}

template <int VC>
inline void qkBf16Keys(const uint32_t* qp, int d2, const uint32_t* const* krow, int n, float* st) {
  constexpr int R = qkKeys(VC);
  int j = 0;
  for (; j + R <= n; j += R) qkBf16Block<VC, R>(qp, d2, krow + j, st + j * kLanes);
  for (; j < n; ++j) qkBf16Block<VC, 1>(qp, d2, krow + j, st + j * kLanes);
}

void qkBf16(const uint32_t* qp, int d2, const uint32_t* const* krow, int n, float* st, int vecs) {
  withCount<4>(vecs, [&](auto vc) { qkBf16Keys<decltype(vc)::value>(qp, d2, krow, n, st); });
}

// pp: P^T as key pairs, [n/2][kLanes] of (P[2j][row], P[2j+1][row]); vp: V as key pairs, [n/2][vpStride].
template <int R, int DV>
inline void pvBf16Block(float* o, int dp, const float* alpha, const uint32_t* pp, const uint32_t* vp, int vpStride,
                        int n2, int c0) {
  __m512 acc[R][DV];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) {
    const __m512 a = _mm512_set1_ps(alpha[r]);
#pragma GCC unroll 4
    for (int v = 0; v < DV; ++v) acc[r][v] = _mm512_mul_ps(_mm512_loadu_ps(o + r * dp + c0 + v * 16), a);
  }
  for (int j = 0; j < n2; ++j) {
    __m512i vv[DV];
#pragma GCC unroll 4
    for (int v = 0; v < DV; ++v) vv[v] = _mm512_loadu_si512(vp + j * vpStride + c0 + v * 16);
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const __m512i p = _mm512_set1_epi32(static_cast<int>(pp[j * kLanes + r]));
#pragma GCC unroll 4
      for (int v = 0; v < DV; ++v) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], asBh(vv[v]), asBh(p));
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < DV; ++v) _mm512_storeu_ps(o + r * dp + c0 + v * 16, acc[r][v]);
}

template <int R>
inline void pvBf16Rows(float* o, int dp, const float* alpha, const uint32_t* pp, const uint32_t* vp, int vpStride, int n2) {
  const int dvecs = dp / 16;
  int v0 = 0;
  for (; v0 + 4 <= dvecs; v0 += 4) pvBf16Block<R, 4>(o, dp, alpha, pp, vp, vpStride, n2, v0 * 16);
  if (v0 < dvecs)
    withCount<4>(dvecs - v0, [&](auto dv) {
      pvBf16Block<R, decltype(dv)::value>(o, dp, alpha, pp, vp, vpStride, n2, v0 * 16);
    });
}

void pvBf16(float* o, int dp, const float* alpha, const uint32_t* pp, const uint32_t* vp, int vpStride, int n2, int rows) {
  int r = 0;
  for (; r + 4 <= rows; r += 4) pvBf16Rows<4>(o + r * dp, dp, alpha + r, pp + r, vp, vpStride, n2);
  for (; r < rows; ++r) pvBf16Rows<1>(o + r * dp, dp, alpha + r, pp + r, vp, vpStride, n2);
}

// P^T (f32, [n][kLanes]) to bf16 key pairs; an odd last key pairs with 0.
void packPairsP(const float* pt, int n, int vecs, uint32_t* pp) {
  for (int j = 0; j < n; j += 2) {
    for (int u = 0; u < vecs; ++u) {
      const __m512 a = _mm512_loadu_ps(pt + j * kLanes + u * 16);
      const __m512 b = j + 1 < n ? _mm512_loadu_ps(pt + (j + 1) * kLanes + u * 16) : _mm512_setzero_ps();
      const __m512i lo = _mm512_cvtepu16_epi32(reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(a)));
      const __m512i hi = _mm512_cvtepu16_epi32(reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(b)));
      _mm512_storeu_si512(pp + (j / 2) * kLanes + u * 16, _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
    }
  }
}

// Two bf16 V rows (b may be null: zeros) interleaved element-wise into one row of pairs, zero-padded to vpStride.
void interleaveRows(const uint16_t* a, const uint16_t* b, int d, uint32_t* out) {
  alignas(64) static const uint16_t kLo[32] = {0, 32, 1, 33, 2, 34, 3, 35, 4, 36, 5, 37, 6, 38, 7, 39,
                                               8, 40, 9, 41, 10, 42, 11, 43, 12, 44, 13, 45, 14, 46, 15, 47};
  alignas(64) static const uint16_t kHi[32] = {16, 48, 17, 49, 18, 50, 19, 51, 20, 52, 21, 53, 22, 54, 23, 55,
                                               24, 56, 25, 57, 26, 58, 27, 59, 28, 60, 29, 61, 30, 62, 31, 63};
  const __m512i lo = _mm512_load_si512(kLo), hi = _mm512_load_si512(kHi);
  for (int c = 0; c < d; c += 32) {
    const __mmask32 m = d - c >= 32 ? ~__mmask32{0} : static_cast<__mmask32>((1u << (d - c)) - 1);
    const __m512i x = _mm512_maskz_loadu_epi16(m, a + c);
    const __m512i y = b ? _mm512_maskz_loadu_epi16(m, b + c) : _mm512_setzero_si512();
    _mm512_storeu_si512(out + c, _mm512_permutex2var_epi16(x, lo, y));
    _mm512_storeu_si512(out + c + 16, _mm512_permutex2var_epi16(x, hi, y));
  }
}
#endif

// The keys of one tile: a contiguous run from the plan, or up to kKeyTile entries of the gathered lists. A partial
// tile carries one row mask per key (bit i: row i of this pass sees the key), precomputed by TileMasks.
struct TileKeys {
  int32_t key[kKeyTile];
  int n = 0;
  bool full = false;
  const uint64_t* bits = nullptr;
};

// An f32 output at least this large is written with streaming stores: it cannot stay in a cache until the caller
// reads it anyway (q, of the same size, and K/V pass through the last-level cache during the call), and each row is
// a headDim piece (8 or 9 cache lines) at a stride of numHeads x headDim, whose reads for ownership the short items of
// sparse heads waited on. Measured on the Zen 4 VM (32 MiB L3), streamed against plain stores: 3 % of a sink-head
// call at 8K tokens; at 2K tokens (29 MiB of output) sink 0.982x, intra-image 0.977x, dense 0.998x; at 1K tokens
// (15 MiB) sink 0.978x, dense 0.983x. Smaller outputs stay in cache for the caller.
constexpr int64_t kStreamOutBytes = int64_t{8} << 20;

// A partial tile with at most this fraction of visible pairs is computed pair by pair (see sparseTile).
constexpr int kSparseTileDensityInv = 4;

template <DType In, bool Dot>
class BlockKernel {
  using Elem = std::conditional_t<In == DType::F32, float, uint16_t>;

 public:
  BlockKernel(const Plan& plan, const AttentionProblem& p, const KvView& kv, const HeadStack& stack, int32_t qbIndex,
              const uint64_t* masks, Scratch& s)
      : plan_(plan), p_(p), kv_(kv), d_(p.headDim), cat_(stack.category), qbIndex_(qbIndex),
        qb_(plan.queryBlocks()[qbIndex]), stack_(stack), masks_(masks) {
    kvHead_ = stack.heads[0] / (p.numHeads / p.numKvHeads);
    blockRows_ = qb_.end - qb_.begin;
    qStride_ = static_cast<int64_t>(p.numHeads) * d_;
    kvStride_ = kv.tokenStride;
    kvHeadOffset_ = kvHead_ * kv.headStride;
    dp_ = roundUp(d_, W);
    vpStride_ = roundUp(d_, 32);
    // f32 rows are read in place unless the head dim is not a whole number of vectors (then P.V needs padded rows).
    direct_ = In == DType::F32 && d_ % W == 0;
    const size_t tileRows = static_cast<size_t>(kKeyTile) * std::max(dp_, vpStride_);
    partialKeys_ = 0;
    {
      const Plan::CategoryPlan& cp = plan.category(cat_);
      for (int32_t r = cp.runOffsets[qbIndex]; r < cp.runOffsets[qbIndex + 1]; ++r)
        if (!cp.runs[r].full) partialKeys_ += cp.runs[r].end - cp.runs[r].begin;
      for (int32_t g = cp.gatherOffsets[qbIndex]; g < cp.gatherOffsets[qbIndex + 1]; ++g)
        partialKeys_ += cp.gathers[g].end - cp.gathers[g].begin;
    }
    streamOut_ = p.outputType == DType::F32 &&
                 static_cast<int64_t>(plan.layout().numTokens()) * qStride_ * 4 >= kStreamOutBytes;
    if (stack.count > 1 && partialKeys_ > 0) laneMasks_ = s.laneMasks.get(static_cast<size_t>(partialKeys_));
    float* base = s.floats.get(static_cast<size_t>(d_) * kLanes + static_cast<size_t>(kKeyTile) * kLanes +
                           static_cast<size_t>(kLanes) * dp_ + 3 * kLanes + 2 * tileRows +
                           static_cast<size_t>(kKeyTile / 2) * kLanes + 17 * static_cast<size_t>(std::max(dp_, vpStride_)));
    qt_ = base;
    st_ = qt_ + static_cast<size_t>(d_) * kLanes;
    o_ = st_ + static_cast<size_t>(kKeyTile) * kLanes;
    m_ = o_ + static_cast<size_t>(kLanes) * dp_;
    l_ = m_ + kLanes;
    alpha_ = l_ + kLanes;
    kc_ = alpha_ + kLanes;
    vc_ = kc_ + tileRows;
    pp_ = reinterpret_cast<uint32_t*>(vc_ + tileRows);
    rowTmp_ = reinterpret_cast<float*>(pp_ + static_cast<size_t>(kKeyTile / 2) * kLanes);
  }

  // Passes of up to kLanes lanes over the stack's (head, row) pairs, head-major: lane g of the item is row
  // g % blockRows of head g / blockRows. A single head's passes are the block's rows in kLanes steps.
  void run() {
    const Plan::CategoryPlan& cp = plan_.category(cat_);
    const int32_t lanes = stack_.count * blockRows_;
    for (int32_t g0 = 0; g0 < lanes; g0 += kLanes) {
      rows_ = std::min(kLanes, lanes - g0);
      vecs_ = (rows_ + W - 1) / W;
      for (int i = 0; i < rows_; ++i) {
        laneHead_[i] = stack_.heads[(g0 + i) / blockRows_];
        laneToken_[i] = qb_.begin + (g0 + i) % blockRows_;
      }
      const uint64_t* bits = passMasks(g0);
      // A sparse head's image rows see no key of their own block but themselves: those pairs are done with the
      // queries' transposition, one per row, and the runs skip the block's own keys.
      const bool selfOnly = ownKeysSelfOnly(cp, bits);
      loadQueries(selfOnly);
      TileKeys t;
      for (int32_t r = cp.runOffsets[qbIndex_]; r < cp.runOffsets[qbIndex_ + 1]; ++r) {
        const KeyRun& run = cp.runs[r];
        t.full = run.full;
        const auto visit = [&](int32_t begin, int32_t end) {
          for (int32_t k0 = begin; k0 < end; k0 += kKeyTile) {
            t.n = std::min(kKeyTile, end - k0);
            for (int j = 0; j < t.n; ++j) t.key[j] = k0 + j;
            t.bits = run.full ? nullptr : bits;
            if (!run.full) bits += t.n;
            tile(t);
          }
        };
        if (selfOnly && !run.full && run.begin < qb_.end && qb_.begin < run.end) {
          visit(run.begin, qb_.begin);
          bits += std::min(run.end, qb_.end) - std::max(run.begin, qb_.begin);
          visit(qb_.end, run.end);
        } else {
          visit(run.begin, run.end);
        }
      }
      // Gathered ranges are concatenated into full tiles, so many short ranges cost like their total length.
      t.full = false;
      t.n = 0;
      t.bits = bits;
      for (int32_t g = cp.gatherOffsets[qbIndex_]; g < cp.gatherOffsets[qbIndex_ + 1]; ++g) {
        const GatherRange& range = cp.gathers[g];
        const int32_t* list = plan_.gatherList(range.list);
        for (int32_t i = range.begin; i < range.end; ++i) {
          t.key[t.n++] = list[i];
          if (t.n == kKeyTile) {
            tile(t);
            t.bits += t.n;
            t.n = 0;
          }
        }
      }
      if (t.n > 0) tile(t);
      store();
    }
#if defined(__AVX2__) || defined(__AVX512F__)
    // Streaming stores are weakly ordered: fence them before the item counts as done.
    if (streamed_) _mm_sfence();
#endif
  }

 private:
  const Elem* qRow(int i) const {
    return static_cast<const Elem*>(p_.q) + laneToken_[i] * qStride_ + static_cast<int64_t>(laneHead_[i]) * d_;
  }

  // The partial-tile masks of the pass starting at lane g0, one bit per lane. TileMasks holds them per kLanes rows of
  // the block. Only blocks shorter than one pass are stacked (work_order.cpp), so TileMasks has a single piece for
  // them, and a stacked pass's lanes repeat its rows once per head: each key's row mask is copied into every head's
  // lane range.
  const uint64_t* passMasks(int32_t g0) {
    if (!masks_) return nullptr;
    if (stack_.count == 1) return masks_ + static_cast<int64_t>(g0 / kLanes) * partialKeys_;
    struct Piece {
      int32_t row, lane;
      uint64_t keep;
    };
    Piece pieces[kLanes];
    int np = 0;
    for (int32_t a = g0; a < g0 + rows_;) {
      const int32_t row = a % blockRows_;
      const int32_t len = std::min(blockRows_ - row, g0 + rows_ - a);  // < kLanes, as blockRows_ is
      pieces[np++] = {row, a - g0, (uint64_t{1} << len) - 1};
      a += len;
    }
    for (int64_t j = 0; j < partialKeys_; ++j) {
      const uint64_t rowBits = masks_[j];
      uint64_t m = 0;
      for (int x = 0; x < np; ++x) m |= ((rowBits >> pieces[x].row) & pieces[x].keep) << pieces[x].lane;
      laneMasks_[j] = m;
    }
    return laneMasks_;
  }
  // True when every token of the query block lies in a partial run and only the lanes of that token see it (a
  // sparse head's image rows: the rest of their own image is hidden). bits: the pass's partial-tile masks.
  bool ownKeysSelfOnly(const Plan::CategoryPlan& cp, const uint64_t* bits) const {
    if (!bits) return false;
    uint64_t lanesOf[256] = {};  // blockM <= 256 (plan.cpp)
    for (int i = 0; i < rows_; ++i) lanesOf[laneToken_[i] - qb_.begin] |= uint64_t{1} << i;
    int32_t seen = 0;
    for (int32_t r = cp.runOffsets[qbIndex_]; r < cp.runOffsets[qbIndex_ + 1]; ++r) {
      const KeyRun& run = cp.runs[r];
      const int32_t b = std::max(run.begin, qb_.begin), e = std::min(run.end, qb_.end);
      if (run.full) {
        if (b < e) return false;
        continue;
      }
      for (int32_t k = b; k < e; ++k)
        if (bits[k - run.begin] != lanesOf[k - qb_.begin]) return false;
      seen += std::max(0, e - b);
      bits += run.end - run.begin;
    }
    return seen == blockRows_;
  }

  // Each lane's pair with its own token as the first key it sees: m = its score, l = 1, o = its value row.
  void selfPairs() {
    const float sc = p_.scale * kLog2e;
    for (int i = 0; i < rows_; ++i) {
      const float* qr = widen(qRow(i), rowTmp_);
      m_[i] = simd::dot(qr, widen(kRow(laneToken_[i]), kc_), d_) * sc;
      selfValue(i);
    }
  }

  void selfValue(int i) {
    l_[i] = 1.0f;
    copyRow(vRow(laneToken_[i]), o_ + static_cast<size_t>(i) * dp_);
  }

  const Elem* kRow(int32_t token) const {
    return static_cast<const Elem*>(kv_.k) + token * kvStride_ + kvHeadOffset_;
  }
  const Elem* vRow(int32_t token) const {
    return static_cast<const Elem*>(kv_.v) + token * kvStride_ + kvHeadOffset_;
  }

  // One input row as f32: the row itself for f32 inputs, else widened into dst.
  const float* widen(const Elem* src, float* dst) const {
    if constexpr (In == DType::F32) {
      return src;
    } else if constexpr (In == DType::F16) {
      simd::widenF16(src, dst, d_);
      return dst;
    } else {
      simd::widenBf16(src, dst, d_);
      return dst;
    }
  }

  // Fills Q^T for the pass and resets its softmax state; with `self`, also computes each lane's pair with its own
  // token (see selfPairs) while its q row is loaded.
  void loadQueries(bool self) {
    std::fill(m_, m_ + kLanes, kNegInf);
    std::fill(l_, l_ + kLanes, 0.0f);
    if (!self) std::fill(o_, o_ + static_cast<size_t>(rows_) * dp_, 0.0f);
    if constexpr (Dot) {
      // headDim pairs of raw bf16, one 32-bit word per (pair, row); the score scale is applied in the softmax.
      auto* qp = reinterpret_cast<uint32_t*>(qt_);
      const int d2 = d_ / 2;
      if (rows_ < kLanes) std::fill(qp, qp + static_cast<size_t>(d2) * kLanes, 0u);
#if BS_KERNEL_DPBF16  // Dot is only instantiated where vdpbf16ps exists (attendBlock)
      // As the f32 path below: 8 x 8 transposes of 32-bit words (bf16 pairs) in ymm registers, with the self pairs
      // as vdpbf16ps dot products on the words already loaded (a scalar scatter of 4096 words per pass cost bf16
      // sparse heads more than the pass's products at a few hundred keys).
      const int d8 = d2 / 8 * 8;
      const auto* zero = reinterpret_cast<const uint32_t*>(zeroRow());
      for (int i0 = 0; i0 < rows_; i0 += 8) {
        const uint32_t* r[8];
        const uint32_t* k[8];
        for (int x = 0; x < 8; ++x) {
          const bool live = i0 + x < rows_;
          r[x] = live ? reinterpret_cast<const uint32_t*>(qRow(i0 + x)) : zero;
          k[x] = live && self ? reinterpret_cast<const uint32_t*>(kRow(laneToken_[i0 + x])) : zero;
        }
        __m256 dots[8];
        for (int x = 0; x < 8; ++x) dots[x] = _mm256_setzero_ps();
        for (int c = 0; c < d8; c += 8) {
          __m256 a[8];
#pragma GCC unroll 8
          for (int x = 0; x < 8; ++x) a[x] = _mm256_loadu_ps(reinterpret_cast<const float*>(r[x] + c));
          if (self) {
#pragma GCC unroll 8
            for (int x = 0; x < 8; ++x)
              dots[x] = _mm256_dpbf16_ps(dots[x], reinterpret_cast<__m256bh>(a[x]),
                                         reinterpret_cast<__m256bh>(_mm256_loadu_ps(reinterpret_cast<const float*>(k[x] + c))));
          }
          transpose8(a);
#pragma GCC unroll 8
          for (int x = 0; x < 8; ++x) _mm256_storeu_ps(qt_ + (c + x) * kLanes + i0, a[x]);
        }
        for (int c = d8; c < d2; ++c)
          for (int x = 0; x < 8; ++x) qp[c * kLanes + i0 + x] = r[x][c];
        if (self) {
          float score[8];
          laneSums8(dots, score);
          const float sc = p_.scale * kLog2e;
          for (int x = 0; x < 8 && i0 + x < rows_; ++x) {
            float rest = 0;  // the words past the last whole group of 8
            for (int c = d8; c < d2; ++c)
              rest += bf16ToF32(static_cast<uint16_t>(r[x][c])) * bf16ToF32(static_cast<uint16_t>(k[x][c])) +
                      bf16ToF32(static_cast<uint16_t>(r[x][c] >> 16)) * bf16ToF32(static_cast<uint16_t>(k[x][c] >> 16));
            m_[i0 + x] = (score[x] + rest) * sc;
            selfValue(i0 + x);
          }
        }
      }
#endif
    } else {
      const float qscale = p_.scale * kLog2e;
      if (rows_ < kLanes) std::fill(qt_, qt_ + static_cast<size_t>(d_) * kLanes, 0.0f);
#if defined(__AVX2__) || defined(__AVX512F__)
      // 8 x 8 transposes in ymm registers (48 instructions per 64 elements; 4 x 4 SSE transposes take 80), which
      // matters for the short work items of sparse heads (a 64-row block that visits only a few hundred keys). The
      // self pairs ride along: eight independent dot products per group of rows, on the scaled q values already in
      // registers.
      const __m256 sc = _mm256_set1_ps(qscale);
      const size_t rowBuf = static_cast<size_t>(std::max(dp_, vpStride_));
      for (int i0 = 0; i0 < rows_; i0 += 8) {
        const float* r[8];
        const float* k[8];
        for (int x = 0; x < 8; ++x) {
          const bool live = i0 + x < rows_;
          r[x] = live ? widen(qRow(i0 + x), rowTmp_ + x * rowBuf) : zeroRow();
          if (self) k[x] = live ? widen(kRow(laneToken_[i0 + x]), rowTmp_ + (9 + x) * rowBuf) : zeroRow();
        }
        __m256 dots[8];
        for (int x = 0; x < 8; ++x) dots[x] = _mm256_setzero_ps();
        for (int c = 0; c < d_; c += 8) {
          __m256 a[8];
#pragma GCC unroll 8
          for (int x = 0; x < 8; ++x) a[x] = _mm256_mul_ps(_mm256_loadu_ps(r[x] + c), sc);
          if (self) {
#pragma GCC unroll 8
            for (int x = 0; x < 8; ++x) dots[x] = _mm256_fmadd_ps(a[x], _mm256_loadu_ps(k[x] + c), dots[x]);
          }
          transpose8(a);
#pragma GCC unroll 8
          for (int x = 0; x < 8; ++x) _mm256_storeu_ps(qt_ + (c + x) * kLanes + i0, a[x]);
        }
        if (self) {
          float score[8];
          laneSums8(dots, score);
          for (int x = 0; x < 8 && i0 + x < rows_; ++x) {
            m_[i0 + x] = score[x];
            selfValue(i0 + x);
          }
        }
      }
#else
      for (int i = 0; i < rows_; ++i) {
        const float* src = widen(qRow(i), rowTmp_);
        for (int c = 0; c < d_; ++c) qt_[c * kLanes + i] = src[c] * qscale;
      }
      if (self) selfPairs();
#endif
    }
  }

  // headDim zeros (the padding rows of a query pass).
  const float* zeroRow() {
    float* z = rowTmp_ + 8 * static_cast<size_t>(std::max(dp_, vpStride_));
    std::fill(z, z + d_, 0.0f);
    return z;
  }

  void tile(const TileKeys& t) {
    bool masked = !t.full;
    int j0 = 0, j1 = t.n;
    if (masked) {
      // Keys no row sees at either end of the tile are not computed: the first block of an image under `sink` starts
      // with the previous image's tail (hidden) before the text between the images.
      while (j0 < j1 && t.bits[j0] == 0) ++j0;
      while (j1 > j0 && t.bits[j1 - 1] == 0) --j1;
      if (j0 == j1) return;
      int64_t pairs = 0;
      for (int j = j0; j < j1; ++j) pairs += std::popcount(t.bits[j]);
      const int64_t area = static_cast<int64_t>(j1 - j0) * rows_;
      if (pairs * kSparseTileDensityInv <= area) return sparseTile(t);
      // A partial tile whose rows all see all its keys (gathered text and sinks, for most sparse heads) needs no mask.
      masked = pairs != area;
    }
    if (masked) {
      // Keys that the first row vectors do not see need not be computed for them: on a causal diagonal tile the
      // last 32 keys are hidden from the first 32 rows. Pick the split [j0, j) on every vector + [j, j1) on vectors
      // from v that saves the most (j1 - j) x v, and take it when that is at least 1/8 of the range.
      int suffixMin = vecs_, bestJ = j1, bestV = 0;
      int64_t bestSave = 0;
      for (int j = j1 - 1; j >= j0; --j) {
        suffixMin = std::min(suffixMin, t.bits[j] ? std::countr_zero(t.bits[j]) / W : vecs_);
        const int64_t save = static_cast<int64_t>(j1 - j) * suffixMin;
        if (save > bestSave) bestSave = save, bestJ = j, bestV = suffixMin;
      }
      if (bestSave * 8 >= static_cast<int64_t>(j1 - j0) * vecs_) {
        if (bestJ > j0) keyRange(t, j0, bestJ, 0, true);
        if (bestV < vecs_) keyRange(t, bestJ, j1, bestV, true);
        return;
      }
    }
    keyRange(t, j0, j1, 0, masked);
  }

  // The products and the softmax update for keys [j0, j1) of a tile, on the row vectors from v0 on (the lanes below
  // v0 * W see none of these keys and keep their state).
  void keyRange(const TileKeys& t, int j0, int j1, int v0, bool masked) {
    const int n = j1 - j0, vecs = vecs_ - v0, lane0 = v0 * W, rows = rows_ - lane0;
    if (n <= 0 || vecs <= 0) return;
    const int32_t* keys = t.key + j0;
    if constexpr (Dot) {
#if BS_KERNEL_DPBF16
      const uint32_t* krow[kKeyTile];
      for (int j = 0; j < n; ++j) krow[j] = reinterpret_cast<const uint32_t*>(kRow(keys[j]));
      qkBf16(reinterpret_cast<const uint32_t*>(qt_) + lane0, d_ / 2, krow, n, st_ + lane0, vecs);
      if (masked) applyMask(t.bits + j0, n, v0);
      softmaxTile<true>(st_ + lane0, n, vecs, p_.scale * kLog2e, m_ + lane0, l_ + lane0, alpha_ + lane0);
      const int n2 = (n + 1) / 2;
      auto* vp = reinterpret_cast<uint32_t*>(vc_);
      for (int j = 0; j < n; j += 2)
        interleaveRows(vRow(keys[j]), j + 1 < n ? vRow(keys[j + 1]) : nullptr, d_, vp + (j / 2) * vpStride_);
      packPairsP(st_ + lane0, n, vecs, pp_ + lane0);
      pvBf16(o_ + static_cast<size_t>(lane0) * dp_, dp_, alpha_ + lane0, pp_ + lane0, vp, vpStride_, n2, rows);
#endif
    } else {
      const float* krow[kKeyTile];
      const float* vrow[kKeyTile];
      if (direct_) {
        for (int j = 0; j < n; ++j) {
          krow[j] = reinterpret_cast<const float*>(kRow(keys[j]));
          vrow[j] = reinterpret_cast<const float*>(vRow(keys[j]));
        }
      } else {
        // Widen (or pad) the rows once into compact f32 rows of dp_ floats.
        for (int j = 0; j < n; ++j) {
          float* kd = kc_ + static_cast<size_t>(j) * dp_;
          float* vd = vc_ + static_cast<size_t>(j) * dp_;
          copyRow(kRow(keys[j]), kd);
          copyRow(vRow(keys[j]), vd);
          krow[j] = kd;
          vrow[j] = vd;
        }
      }
      qkF32(qt_ + lane0, d_, krow, n, st_ + lane0, vecs, rows);
      if (masked) applyMask(t.bits + j0, n, v0);
      softmaxTile<false>(st_ + lane0, n, vecs, 1.0f, m_ + lane0, l_ + lane0, alpha_ + lane0);
      pvF32(o_ + static_cast<size_t>(lane0) * dp_, dp_, alpha_ + lane0, st_ + lane0, vrow, n, rows);
    }
  }

  void copyRow(const Elem* src, float* dst) const {
    if constexpr (In == DType::F32) {
      std::memcpy(dst, src, sizeof(float) * d_);
    } else if constexpr (In == DType::F16) {
      simd::widenF16(src, dst, d_);
    } else {
      simd::widenBf16(src, dst, d_);
    }
    std::fill(dst + d_, dst + dp_, 0.0f);
  }

  // Hidden pairs of a partial tile become -inf (the element rule's verdicts come precomputed as row bits).
  void applyMask(const uint64_t* bits, int n, int v0) {
    const V hidden = simd::set1(kNegInf);
    for (int j = 0; j < n; ++j) {
      const uint64_t b = bits[j];
      float* srow = st_ + j * kLanes;
      for (int u = v0; u < vecs_; ++u)
        simd::store(srow + u * W, simd::keepLanes(simd::load(srow + u * W), static_cast<uint32_t>(b >> (u * W)), hidden));
    }
  }

  // A nearly empty partial tile (e.g. the diagonal block of a sink head: each row sees only itself) is computed row
  // by row over its visible pairs only: one dot product per pair, a scalar online-softmax update per row, and one
  // axpy per pair, so the tile costs its visible pairs rather than rows x keys.
  void sparseTile(const TileKeys& t) {
    const float sc = p_.scale * kLog2e;
    uint8_t count[kLanes] = {};
    uint8_t keysOf[kLanes][kKeyTile];
    for (int j = 0; j < t.n; ++j)
      for (uint64_t b = t.bits[j]; b; b &= b - 1) {
        const int i = std::countr_zero(b);
        keysOf[i][count[i]++] = static_cast<uint8_t>(j);
      }
    float score[kKeyTile];
    for (int i = 0; i < rows_; ++i) {
      if (!count[i]) continue;
      const float* qr = widen(qRow(i), rowTmp_);
      float mx = m_[i];
      for (int x = 0; x < count[i]; ++x) {
        score[x] = simd::dot(qr, widen(kRow(t.key[keysOf[i][x]]), kc_), d_) * sc;
        mx = std::max(mx, score[x]);
      }
      float* o = o_ + static_cast<size_t>(i) * dp_;
      if (count[i] == 1 && m_[i] == kNegInf && score[0] > kNegInf) {
        // A row's first and only key here (a sparse head's own token on the diagonal): weight exp2(0) = 1, so the
        // accumulator is that key's value row, as the general update below would make it.
        m_[i] = score[0];
        l_[i] = 1.0f;
        std::memcpy(o, widen(vRow(t.key[keysOf[i][0]]), vc_), sizeof(float) * d_);
        continue;
      }
      if (mx > m_[i]) {
        const float alpha = m_[i] == kNegInf ? 0.0f : exp2Scalar(m_[i] - mx);
        l_[i] *= alpha;
        simd::scale(alpha, o, d_);
        m_[i] = mx;
      }
      for (int x = 0; x < count[i]; ++x) {
        const float p = exp2Scalar(score[x] - mx);
        l_[i] += p;
        simd::axpy(p, widen(vRow(t.key[keysOf[i][x]]), vc_), o, d_);
      }
    }
  }

  static float exp2Scalar(float x) {
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

  void store() {
    for (int i = 0; i < rows_; ++i) {
      const int64_t token = laneToken_[i];
      const int head = laneHead_[i];
      const float inv = 1.0f / l_[i];  // l > 0: every row sees at least itself
      float* acc = o_ + static_cast<size_t>(i) * dp_;
      const int64_t at = token * qStride_ + static_cast<int64_t>(head) * d_;
      if (p_.outputType == DType::F32) {
        // Scaled on the way out: one pass over the accumulator, which the short items of sparse heads notice.
        float* dst = static_cast<float*>(p_.out) + at;
        const V vinv = simd::set1(inv);
        int c = 0;
#if defined(__AVX2__) || defined(__AVX512F__)
        if (streamOut_) {
          // The row's whole cache lines bypass the caches (no read for ownership of lines written once); the partial
          // lines at either end, which the neighbouring heads' rows share, get plain stores.
          const auto addr = reinterpret_cast<uintptr_t>(dst);
          const int lead = static_cast<int>(((64 - (addr & 63)) & 63) / sizeof(float));
          const int lines = (d_ - lead) / 16;
          if ((addr & 3) == 0 && lines > 0) {
            for (; c < lead; ++c) dst[c] = acc[c] * inv;
            for (const int end = c + lines * 16; c < end; c += W) simd::stream(dst + c, simd::mul(simd::load(acc + c), vinv));
            streamed_ = true;
          }
        }
#endif
        for (; c + W <= d_; c += W) simd::store(dst + c, simd::mul(simd::load(acc + c), vinv));
        for (; c < d_; ++c) dst[c] = acc[c] * inv;
      } else {
        for (int c = 0; c < d_; ++c) acc[c] *= inv;
        if (p_.outputType == DType::F16) {
          simd::narrowF16(acc, static_cast<uint16_t*>(p_.out) + at, d_);
        } else {
          simd::narrowBf16(acc, static_cast<uint16_t*>(p_.out) + at, d_);
        }
      }
      if (p_.lse) p_.lse[token * p_.numHeads + head] = m_[i] * kLn2 + std::log(l_[i]);
    }
  }

  const Plan& plan_;
  const AttentionProblem& p_;
  const KvView& kv_;
  int32_t d_;
  HeadCategory cat_;
  int32_t qbIndex_;
  const QueryBlock& qb_;
  const HeadStack& stack_;
  int32_t blockRows_ = 0;
  int kvHead_ = 0;
  int64_t qStride_ = 0, kvStride_ = 0, kvHeadOffset_ = 0;
  int32_t dp_ = 0, vpStride_ = 0;
  bool direct_ = false;
  const uint64_t* masks_;
  int64_t partialKeys_ = 0;
  int32_t rows_ = 0, vecs_ = 0;
  int32_t laneToken_[kLanes];
  int32_t laneHead_[kLanes];
  uint64_t* laneMasks_ = nullptr;
  bool streamOut_ = false;
  bool streamed_ = false;
  float *qt_, *st_, *o_, *m_, *l_, *alpha_, *kc_, *vc_, *rowTmp_;
  uint32_t* pp_;
};

}  // namespace

void attendBlock(const Plan& plan, const AttentionProblem& p, const KvView& kv, const HeadStack& stack, int32_t qbIndex,
                 const uint64_t* masks, Scratch& scratch) {
  switch (p.inputType) {
    case DType::F32: BlockKernel<DType::F32, false>(plan, p, kv, stack, qbIndex, masks, scratch).run(); break;
    case DType::F16: BlockKernel<DType::F16, false>(plan, p, kv, stack, qbIndex, masks, scratch).run(); break;
    case DType::BF16:
      BlockKernel<DType::BF16, BS_KERNEL_DPBF16 != 0>(plan, p, kv, stack, qbIndex, masks, scratch).run();
      break;
  }
}

double fmaLoop(int64_t iterations) {
  constexpr int kChains = 12;  // > FMA latency x throughput on every target, and fits 16 ymm registers with b and c
  // Operands the compiler cannot see, so it can neither fold nor drop the loop.
  volatile float seed[3] = {1.0f, 0.9999999f, 1e-7f};
  V acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = simd::set1(seed[0] + 0.001f * i);
  const V b = simd::set1(seed[1]), c = simd::set1(seed[2]);
  for (int64_t it = 0; it < iterations; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) acc[i] = simd::fma(acc[i], b, c);
  }
  V sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum = simd::add(sum, acc[i]);
  // Every lane is observed, so no part of the loop can be dropped.
  alignas(64) float lanes[W];
  simd::store(lanes, sum);
  volatile float sink = 0;
  for (float x : lanes) sink = sink + x;
  return static_cast<double>(iterations) * kChains * W * 2.0;
}

}  // namespace bs::cpu::BS_ISA_NS

#undef BS_KERNEL_DPBF16
