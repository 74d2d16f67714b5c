// The prologue of a pass: the pass's query rows transposed into lanes (Q^T[d][lane] times sign(scale); for the bf16
// pair products, Q^T as [d/2][lane] pairs with the sign flipped likewise; |scale| is applied in the softmax), the
// softmax state reset, and the lanes whose q row is not finite marked as poisoned.
//
// 8 x 8 transposes (48 instructions per 64 elements on x86; 4 x 4 SSE transposes take 80), which matters for the short
// work items of sparse heads (a 64-row block that visits only a few hundred keys). With `self`, each lane's pair with
// its own token rides along as the pass's first key: eight independent dot products per group of rows, on the q
// values already in registers (m = its score, l = 1, o = its value row, as exp2(0) = 1 makes it).
#pragma once
#include <algorithm>
#include <cfloat>
#include <cstdint>

#include "../dtype_convert.h"
#include "constants.h"
#include "item_state.h"

namespace bs::cpu::BS_ISA_NS::kernel {
namespace {

// A lane's pair with its own token as the first key it sees: m = its score, l = 1, o = its value row.
template <class S>
inline void selfPair(S& s, int i, float score) {
  ++s.computedPairs;
  const float m = std::min(FLT_MAX, std::max(-FLT_MAX, score));
  const bool nan = m != m;  // only from overflowing finite products (a non-finite q row is poisoned anyway)
  s.m[i] = nan ? -FLT_MAX : m;
  s.l[i] = nan ? m : 1.0f;
  s.copyRow(s.vRow(s.laneToken[i]), s.o + static_cast<size_t>(i) * s.dp);
}

// Marks lanes i0 .. i0 + 7 poisoned where finite[x] (the sum of a row's elements times 0) is NaN, i.e. the row holds
// a NaN or an infinity.
template <class S>
inline void markNonFinite(S& s, int i0, simd::V8 (&finite)[8]) {
  float f[8];
  simd::laneSums8(finite, f);
  for (int x = 0; x < 8 && i0 + x < s.rows; ++x)
    if (f[x] != f[x]) s.poisoned |= uint64_t{1} << (i0 + x);
}

// The q rows of the group of 8 that is kQueryPrefetchRows after the group at i0 (i0 = -kQueryPrefetchRows: the
// pass's first rows). A pass's rows are headDim pieces a whole token apart, each on its own page, which the hardware
// prefetchers do not follow: asked for one group ahead, their misses overlap the transposition of the group before.
template <class S>
inline void prefetchQueryRows(const S& s, int i0) {
  const size_t bytes = sizeof(typename S::Elem) * static_cast<size_t>(s.d);
  for (int i = std::max(0, i0 + kQueryPrefetchRows); i < std::min(s.rows, i0 + 2 * kQueryPrefetchRows); ++i)
    simd::prefetchBytes(s.qRow(i), bytes);
}

#if BS_SIMD_DOT_BF16
// bf16 inputs for the pair products: headDim pairs of raw bf16, one 32-bit word per (pair, lane); the self pairs as
// pair dot products on the words already loaded (a scalar scatter of 4096 words per pass cost bf16 sparse heads more
// than the pass's products at a few hundred keys).
template <class S>
inline void loadQueryPairs(S& s, bool self) {
  auto* qp = reinterpret_cast<uint32_t*>(s.qt);
  const int d2 = s.d / 2;
  const bool negative = s.qSign < 0;
  if (s.rows < kLanes) std::fill(qp, qp + static_cast<size_t>(d2) * kLanes, 0u);
  const int d8 = d2 / 8 * 8;
  const auto* zero = reinterpret_cast<const uint32_t*>(s.zeroRow());
  prefetchQueryRows(s, -kQueryPrefetchRows);
  for (int i0 = 0; i0 < s.rows; i0 += 8) {
    prefetchQueryRows(s, i0);
    const uint32_t* r[8];
    const uint32_t* k[8];
    for (int x = 0; x < 8; ++x) {
      const bool live = i0 + x < s.rows;
      r[x] = live ? reinterpret_cast<const uint32_t*>(s.qRow(i0 + x)) : zero;
      k[x] = live && self ? reinterpret_cast<const uint32_t*>(s.kRow(s.laneToken[i0 + x])) : zero;
    }
    simd::V8 dots[8], exponents[8];
    for (int x = 0; x < 8; ++x) dots[x] = exponents[x] = simd::zero8();
    for (int c = 0; c < d8; c += 8) {
      simd::V8 a[8];
#pragma GCC unroll 8
      for (int x = 0; x < 8; ++x) {
        a[x] = simd::load8(reinterpret_cast<const float*>(r[x] + c));
        exponents[x] = simd::exponentMax8(exponents[x], a[x]);
        if (negative) a[x] = simd::flipPairSigns8(a[x]);
      }
      if (self) {
#pragma GCC unroll 8
        for (int x = 0; x < 8; ++x)
          dots[x] = simd::dotPairs8(dots[x], a[x], simd::load8(reinterpret_cast<const float*>(k[x] + c)));
      }
      simd::transpose8(a);
#pragma GCC unroll 8
      for (int x = 0; x < 8; ++x) simd::store8(s.qt + (c + x) * kLanes + i0, a[x]);
    }
    const uint32_t flip = negative ? 0x80008000u : 0u;
    for (int c = d8; c < d2; ++c)
      for (int x = 0; x < 8; ++x) qp[c * kLanes + i0 + x] = r[x][c] ^ flip;
    for (int x = 0; x < 8 && i0 + x < s.rows; ++x) {
      bool bad = simd::exponentAllOnes8(exponents[x]);
      for (int c = d8; c < d2; ++c) bad = bad || (r[x][c] & 0x7f80u) == 0x7f80u || (r[x][c] & 0x7f800000u) == 0x7f800000u;
      if (bad) s.poisoned |= uint64_t{1} << (i0 + x);
    }
    if (self) {
      float score[8];
      simd::laneSums8(dots, score);
      for (int x = 0; x < 8 && i0 + x < s.rows; ++x) {
        float rest = 0;  // the words past the last whole group of 8
        for (int c = d8; c < d2; ++c)
          rest += bf16ToF32(static_cast<uint16_t>(r[x][c])) * bf16ToF32(static_cast<uint16_t>(k[x][c])) +
                  bf16ToF32(static_cast<uint16_t>(r[x][c] >> 16)) * bf16ToF32(static_cast<uint16_t>(k[x][c] >> 16));
        selfPair(s, i0 + x, score[x] + rest * s.qSign);  // the words loaded as vectors had their signs flipped
      }
    }
  }
}
#endif

// f32, f16 and bf16 inputs widened to f32 (kNegative: a negative scale, whose sign is folded into Q^T).
template <bool kNegative, class S>
inline void loadQueryRows(S& s, bool self) {
  if (s.rows < kLanes) std::fill(s.qt, s.qt + static_cast<size_t>(s.d) * kLanes, 0.0f);
  const simd::V8 minusOne = simd::set18(-1.0f), zero = simd::zero8();
  const size_t rowBuf = s.rowBufferFloats();
  prefetchQueryRows(s, -kQueryPrefetchRows);
  for (int i0 = 0; i0 < s.rows; i0 += 8) {
    prefetchQueryRows(s, i0);
    const float* r[8];
    const float* k[8];
    for (int x = 0; x < 8; ++x) {
      const bool live = i0 + x < s.rows;
      r[x] = live ? s.widen(s.qRow(i0 + x), s.rowTmp + x * rowBuf) : s.zeroRow();
      if (self) k[x] = live ? s.widen(s.kRow(s.laneToken[i0 + x]), s.rowTmp + (9 + x) * rowBuf) : s.zeroRow();
    }
    simd::V8 dots[8], finite[8];
    for (int x = 0; x < 8; ++x) dots[x] = finite[x] = simd::zero8();
    for (int c = 0; c < s.d; c += 8) {
      simd::V8 a[8];
#pragma GCC unroll 8
      for (int x = 0; x < 8; ++x) {
        a[x] = simd::load8(r[x] + c);
        finite[x] = simd::fma8(a[x], zero, finite[x]);  // a * 0 is NaN for a NaN or an infinity, else 0
        if constexpr (kNegative) a[x] = simd::mul8(a[x], minusOne);
      }
      if (self) {
#pragma GCC unroll 8
        for (int x = 0; x < 8; ++x) dots[x] = simd::fma8(a[x], simd::load8(k[x] + c), dots[x]);
      }
      simd::transpose8(a);
#pragma GCC unroll 8
      for (int x = 0; x < 8; ++x) simd::store8(s.qt + (c + x) * kLanes + i0, a[x]);
    }
    markNonFinite(s, i0, finite);
    if (self) {
      float score[8];
      simd::laneSums8(dots, score);
      for (int x = 0; x < 8 && i0 + x < s.rows; ++x) selfPair(s, i0 + x, score[x]);
    }
  }
}

// Fills Q^T for the pass and resets its softmax state; with `self`, also computes each lane's pair with its own token.
template <class S>
inline void loadQueries(S& s, bool self) {
  s.poisoned = 0;
  std::fill(s.m, s.m + kLanes, kNegInf);
  std::fill(s.l, s.l + kLanes, 0.0f);
  if (!self) std::fill(s.o, s.o + static_cast<size_t>(s.rows) * s.dp, 0.0f);
  if constexpr (S::kDot) {
#if BS_SIMD_DOT_BF16
    loadQueryPairs(s, self);
#endif
  } else if (s.qSign < 0) {
    loadQueryRows<true>(s, self);
  } else {
    loadQueryRows<false>(s, self);
  }
}

}  // namespace
}  // namespace bs::cpu::BS_ISA_NS::kernel
