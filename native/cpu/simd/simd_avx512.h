// The AVX-512 level: 16 lanes in a zmm register (AVX-512 F/BW/VL/DQ, F16C).
#pragma once
#include <immintrin.h>

#include "simd_x86_v8.h"

namespace bs::cpu::BS_ISA_NS::simd {

using V = __m512;
constexpr int W = 16;
inline V zero() { return _mm512_setzero_ps(); }
inline V load(const float* p) { return _mm512_loadu_ps(p); }
inline void store(float* p, V v) { _mm512_storeu_ps(p, v); }
inline void stream(float* p, V v) { _mm512_stream_ps(p, v); }  // p 64-byte aligned
inline V set1(float x) { return _mm512_set1_ps(x); }
inline V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
inline V mul(V a, V b) { return _mm512_mul_ps(a, b); }
inline V add(V a, V b) { return _mm512_add_ps(a, b); }
inline V sub(V a, V b) { return _mm512_sub_ps(a, b); }
inline V max(V a, V b) { return _mm512_max_ps(a, b); }
inline V min(V a, V b) { return _mm512_min_ps(a, b); }
inline V exp2(V x) {
  x = _mm512_min_ps(_mm512_set1_ps(0.0f), _mm512_max_ps(_mm512_set1_ps(kExpFloor), x));  // NaN stays NaN
  const V r = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const V f = _mm512_sub_ps(x, r);
  V p = _mm512_set1_ps(kP6);
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(kP5));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(kP4));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(kP3));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(kP2));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(kP1));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
  // 2^r built in the exponent field; r = -127 gives the bit pattern 0, i.e. exactly 0.
  const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(r), _mm512_set1_epi32(127)), 23);
  return _mm512_mul_ps(p, _mm512_castsi512_ps(e));
}
// Lanes whose bit is set keep s, the others become fill.
inline V keepLanes(V s, uint32_t bits, V fill) { return _mm512_mask_blend_ps(static_cast<__mmask16>(bits), fill, s); }
inline float hsum(V v) { return _mm512_reduce_add_ps(v); }
// n (a multiple of 8) 16-bit values widened to f32 into dst.
inline void widenF16(const uint16_t* src, float* dst, int n) {
  int i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i))));
  for (; i < n; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
}
inline void widenBf16(const uint16_t* src, float* dst, int n) {
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i)));
    _mm512_storeu_ps(dst + i, _mm512_castsi512_ps(_mm512_slli_epi32(w, 16)));
  }
  for (; i < n; ++i) dst[i] = bf16ToF32(src[i]);
}
inline void narrowF16(const float* src, uint16_t* dst, int n) {
  int i = 0;
  for (; i + 16 <= n; i += 16)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i),
                        _mm512_cvtps_ph(_mm512_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  for (; i < n; ++i) dst[i] = f32ToF16(src[i]);
}

// H: a half vector (8 rows in a ymm), for passes whose row count ends in 8 rows past a whole vector.
#define BS_SIMD_HALF 1
using H = __m256;
inline H zeroH() { return _mm256_setzero_ps(); }
inline H loadH(const float* p) { return _mm256_loadu_ps(p); }
inline void storeH(float* p, H v) { _mm256_storeu_ps(p, v); }
inline H lowHalf(V v) { return _mm512_castps512_ps256(v); }
inline H fmaH(H a, H b, H c) { return _mm256_fmadd_ps(a, b, c); }

}  // namespace bs::cpu::BS_ISA_NS::simd
