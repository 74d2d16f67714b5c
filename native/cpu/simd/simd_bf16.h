// The AVX512_BF16 products (vdpbf16ps: each 32-bit lane accumulates a.lo*b.lo + a.hi*b.hi of two bf16 pairs), on
// top of the AVX-512 level. P holds 16 lanes of bf16 pairs.
#pragma once
#include <immintrin.h>

namespace bs::cpu::BS_ISA_NS::simd {

#define BS_SIMD_DOT_BF16 1

using P = __m512i;
inline P loadP(const uint32_t* p) { return _mm512_loadu_si512(p); }
inline void storeP(uint32_t* p, P v) { _mm512_storeu_si512(p, v); }
inline P set1P(uint32_t pair) {
  P r = _mm512_set1_epi32(static_cast<int>(pair));
#if defined(__clang__)
  // clang 16's VectorCombine pass recurses without end (and crashes at -O1 and up) on this splat once it is bitcast to
  // a bf16 vector for vdpbf16ps in the register-blocked products; an empty asm hides the splat from it. The broadcast
  // stays one load-broadcast per key; GCC sees no change.
  __asm__("" : "+v"(r));
#endif
  return r;
}
inline V dotPairs(V acc, P a, P b) {
  return _mm512_dpbf16_ps(acc, reinterpret_cast<__m512bh>(a), reinterpret_cast<__m512bh>(b));
}
// The same on 8 lanes of words already in ymm registers (the query prologue's self pairs).
inline V8 dotPairs8(V8 acc, V8 a, V8 b) {
  return _mm256_dpbf16_ps(acc, reinterpret_cast<__m256bh>(a), reinterpret_cast<__m256bh>(b));
}

// 8 words of bf16 pairs with both halves' signs flipped (a negative score scale folded into Q^T, exactly).
inline V8 flipPairSigns8(V8 a) { return _mm256_xor_ps(a, _mm256_castsi256_ps(_mm256_set1_epi32(static_cast<int>(0x80008000u)))); }
// Finiteness of bf16 rows read as 8 words of pairs: acc keeps, per 16-bit element, the largest exponent field seen;
// a row holds a NaN or an infinity when some element of its acc reaches the all-ones exponent.
inline V8 exponentMax8(V8 acc, V8 a) {
  const __m256i e = _mm256_and_si256(_mm256_castps_si256(a), _mm256_set1_epi16(0x7f80));
  return _mm256_castsi256_ps(_mm256_max_epu16(_mm256_castps_si256(acc), e));
}
inline bool exponentAllOnes8(V8 acc) {
  return _mm256_movemask_epi8(_mm256_cmpeq_epi16(_mm256_castps_si256(acc), _mm256_set1_epi16(0x7f80))) != 0;
}

// Two f32 vectors rounded to bf16 (nearest even) and paired lane by lane: lo from a, hi from b.
inline P packPairs(V a, V b) {
  const __m512i lo = _mm512_cvtepu16_epi32(reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(a)));
  const __m512i hi = _mm512_cvtepu16_epi32(reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(b)));
  return _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16));
}

// Two bf16 rows of d elements (b may be null: zeros) interleaved element-wise into d pairs, zero-padded to a multiple
// of 32 pairs.
inline void interleaveRows(const uint16_t* a, const uint16_t* b, int d, uint32_t* out) {
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

}  // namespace bs::cpu::BS_ISA_NS::simd
