// Row operations every level builds from its V the same way: dot products, axpy, scaling, bf16 narrowing, and the
// lane sums of eight vectors.
#pragma once
#include <cstdint>

namespace bs::cpu::BS_ISA_NS::simd {

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
