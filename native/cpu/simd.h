// The vector operations the CPU kernel is written in, for the ISA level of the translation unit that includes this
// header (each kernel_<isa>.cpp is compiled with its own -m flags, so __AVX512F__ / __AVX2__ tell which one this is).
// Every level offers the same names, so kernel_impl.h is written once:
//   V, W (lanes), zero, load, store, set1, fma(a, b, c) = a*b + c, mul, sub, max, exp2 (for arguments <= 0),
//   and loads that widen f16 / bf16 rows to f32.
// The portable level is a fixed 8-lane struct of plain loops, which the compiler vectorises for whatever the target
// has (SSE2 on x86-64, NEON on arm64).
#pragma once
#include <cstdint>
#include <cstring>

#include "dtype_convert.h"

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#ifndef BS_ISA_NS
#error "simd.h belongs inside an ISA translation unit (define BS_ISA_NS)"
#endif

// Inside the ISA's own namespace: the same inline names compiled with different -m flags must never be merged by the
// linker (an AVX-512 body chosen for the portable kernel would fault on an older CPU).
namespace bs::cpu::BS_ISA_NS::simd {

// 2^f on [-0.5, 0.5]: Taylor series of e^(f ln 2) to degree 6; truncation error <= 1.2e-7 relative (about 1 ulp).
constexpr float kP1 = 6.931471805599453e-01f, kP2 = 2.402265069591007e-01f, kP3 = 5.550410866482158e-02f,
                kP4 = 9.618129107628477e-03f, kP5 = 1.3333558146428443e-03f, kP6 = 1.5403530393381609e-04f;
// Softmax arguments at or below this give exactly 0 (and -inf, a masked score, too): 2^-127 is below the smallest
// normal float, so clamping there avoids both denormals and the inf - inf of a fully masked row.
constexpr float kExpFloor = -127.0f;

#if defined(__AVX512F__)

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
inline V exp2(V x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(kExpFloor));
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

#elif defined(__AVX2__)

using V = __m256;
constexpr int W = 8;
inline V zero() { return _mm256_setzero_ps(); }
inline V load(const float* p) { return _mm256_loadu_ps(p); }
inline void store(float* p, V v) { _mm256_storeu_ps(p, v); }
inline void stream(float* p, V v) { _mm256_stream_ps(p, v); }  // p 32-byte aligned
inline V set1(float x) { return _mm256_set1_ps(x); }
inline V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
inline V mul(V a, V b) { return _mm256_mul_ps(a, b); }
inline V add(V a, V b) { return _mm256_add_ps(a, b); }
inline V sub(V a, V b) { return _mm256_sub_ps(a, b); }
inline V max(V a, V b) { return _mm256_max_ps(a, b); }
inline V exp2(V x) {
  x = _mm256_max_ps(x, _mm256_set1_ps(kExpFloor));
  const V r = _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const V f = _mm256_sub_ps(x, r);
  V p = _mm256_set1_ps(kP6);
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(kP5));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(kP4));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(kP3));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(kP2));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(kP1));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(r), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}
inline V keepLanes(V s, uint32_t bits, V fill) {
  const __m256i sel = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  const __m256i on = _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(static_cast<int>(bits)), sel), sel);
  return _mm256_blendv_ps(fill, s, _mm256_castsi256_ps(on));
}
inline float hsum(V v) {
  __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  x = _mm_add_ss(x, _mm_movehdup_ps(x));
  return _mm_cvtss_f32(x);
}
inline void widenF16(const uint16_t* src, float* dst, int n) {
  for (int i = 0; i < n; i += 8)
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
}
inline void widenBf16(const uint16_t* src, float* dst, int n) {
  for (int i = 0; i < n; i += 8) {
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i)));
    _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
  }
}
inline void narrowF16(const float* src, uint16_t* dst, int n) {
  int i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  for (; i < n; ++i) dst[i] = f32ToF16(src[i]);
}

#else

struct V {
  float v[8];
};
constexpr int W = 8;
inline V zero() { return V{}; }
inline V load(const float* p) {
  V r;
  std::memcpy(r.v, p, sizeof r.v);
  return r;
}
inline void store(float* p, const V& a) { std::memcpy(p, a.v, sizeof a.v); }
inline V set1(float x) {
  V r;
  for (float& e : r.v) e = x;
  return r;
}
#define BS_SIMD_LANEWISE(name, expr)           \
  inline V name(const V& a, const V& b) {      \
    V r;                                       \
    for (int i = 0; i < 8; ++i) r.v[i] = expr; \
    return r;                                  \
  }
BS_SIMD_LANEWISE(mul, a.v[i] * b.v[i])
BS_SIMD_LANEWISE(add, a.v[i] + b.v[i])
BS_SIMD_LANEWISE(sub, a.v[i] - b.v[i])
BS_SIMD_LANEWISE(max, a.v[i] > b.v[i] ? a.v[i] : b.v[i])
#undef BS_SIMD_LANEWISE
inline V fma(const V& a, const V& b, const V& c) {
  V r;
  for (int i = 0; i < 8; ++i) r.v[i] = a.v[i] * b.v[i] + c.v[i];
  return r;
}
inline V exp2(const V& a) {
  V out;
  for (int i = 0; i < 8; ++i) {
    const float x = a.v[i] > kExpFloor ? a.v[i] : kExpFloor;
    const float r = (x + 12582912.0f) - 12582912.0f;  // round to nearest integer (|x| < 2^22)
    const float f = x - r;
    float p = kP6;
    p = p * f + kP5;
    p = p * f + kP4;
    p = p * f + kP3;
    p = p * f + kP2;
    p = p * f + kP1;
    p = p * f + 1.0f;
    out.v[i] = p * bitsToFloat(static_cast<uint32_t>(static_cast<int32_t>(r) + 127) << 23);
  }
  return out;
}
inline V keepLanes(const V& s, uint32_t bits, const V& fill) {
  V r;
  for (int i = 0; i < 8; ++i) r.v[i] = (bits >> i) & 1u ? s.v[i] : fill.v[i];
  return r;
}
inline float hsum(const V& a) {
  float s = 0;
  for (float x : a.v) s += x;
  return s;
}
inline void widenF16(const uint16_t* src, float* dst, int n) {
  for (int i = 0; i < n; ++i) dst[i] = f16ToF32(src[i]);
}
inline void widenBf16(const uint16_t* src, float* dst, int n) {
  for (int i = 0; i < n; ++i) dst[i] = bf16ToF32(src[i]);
}
inline void narrowF16(const float* src, uint16_t* dst, int n) {
  for (int i = 0; i < n; ++i) dst[i] = f32ToF16(src[i]);
}

#endif

inline void narrowBf16(const float* src, uint16_t* dst, int n) {
  for (int i = 0; i < n; ++i) dst[i] = f32ToBf16(src[i]);
}

inline float dot(const float* a, const float* b, int n) {
  V acc = zero();
  int i = 0;
  for (; i + W <= n; i += W) acc = fma(load(a + i), load(b + i), acc);
  float s = hsum(acc);
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// y[0, n) += a * x[0, n)
inline void axpy(float a, const float* x, float* y, int n) {
  const V av = set1(a);
  int i = 0;
  for (; i + W <= n; i += W) store(y + i, fma(av, load(x + i), load(y + i)));
  for (; i < n; ++i) y[i] += a * x[i];
}

inline void scale(float a, float* y, int n) {
  const V av = set1(a);
  int i = 0;
  for (; i + W <= n; i += W) store(y + i, mul(av, load(y + i)));
  for (; i < n; ++i) y[i] *= a;
}

}  // namespace bs::cpu::BS_ISA_NS::simd
