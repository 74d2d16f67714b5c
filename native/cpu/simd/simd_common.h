// Row operations every level builds from its V the same way: dot products, axpy, scaling, bf16 narrowing, and the
// lane sums of eight vectors.
#pragma once
#include <cstddef>
#include <cstdint>
#if defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
#include <xmmintrin.h>
#endif

namespace bs::cpu::BS_ISA_NS::simd {

// Asks for the cache lines of [p, p + bytes) ahead of their loads (a hint: no fault, no effect on results).
inline void prefetchBytes(const void* p, size_t bytes) {
  const auto* c = static_cast<const char*>(p);
  const auto first = reinterpret_cast<uintptr_t>(c) & ~uintptr_t{63};
  const auto last = reinterpret_cast<uintptr_t>(c + bytes - 1);
  // GCC deletes a loop of __builtin_prefetch alone at -O2 (it has no side effect, so the loop may be assumed to end
  // and do nothing): the hint is an asm statement there.
  for (uintptr_t a = first; a <= last; a += 64) {
#if defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
    _mm_prefetch(reinterpret_cast<const char*>(a), _MM_HINT_T0);
#elif (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
    __asm__ volatile("prefetcht0 %0" : : "m"(*reinterpret_cast<const char*>(a)));
#elif (defined(__GNUC__) || defined(__clang__)) && defined(__aarch64__)
    __asm__ volatile("prfm pldl1keep, %0" : : "Q"(*reinterpret_cast<const char*>(a)));
#endif
  }
}

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

// sums[j] = the sum of the lanes of v[j] (eight dot products finished at once).
inline void laneSums8(V8 (&v)[8], float (&sums)[8]) {
  transpose8(v);
  V8 sum = v[0];
  for (int x = 1; x < 8; ++x) sum = add8(sum, v[x]);
  store8(sums, sum);
}

}  // namespace bs::cpu::BS_ISA_NS::simd
