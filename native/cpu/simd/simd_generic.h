// The portable level: a fixed 8-lane struct of plain loops, which the compiler vectorises for whatever the target
// has (SSE2 on x86-64, NEON on arm64).
#pragma once
#include <cstdint>
#include <cstring>

namespace bs::cpu::BS_ISA_NS::simd {

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
BS_SIMD_LANEWISE(max, a.v[i] > b.v[i] ? a.v[i] : b.v[i])  // b when either is NaN, as x86 max does
BS_SIMD_LANEWISE(min, a.v[i] < b.v[i] ? a.v[i] : b.v[i])
#undef BS_SIMD_LANEWISE
inline V fma(const V& a, const V& b, const V& c) {
  V r;
  for (int i = 0; i < 8; ++i) r.v[i] = a.v[i] * b.v[i] + c.v[i];
  return r;
}
inline V exp2(const V& a) {
  V out;
  for (int i = 0; i < 8; ++i) {
    const float in = a.v[i];
    if (in != in) {  // NaN stays NaN (and never reaches the integer conversion below)
      out.v[i] = in;
      continue;
    }
    const float x = in < kExpFloor ? kExpFloor : in > 0.0f ? 0.0f : in;
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

inline void stream(float* p, const V& v) { store(p, v); }
inline void streamFence() {}

// V8: the 8-lane V itself, with the 8 x 8 transposes as plain loops the compiler vectorises.
using V8 = V;
inline V8 zero8() { return zero(); }
inline V8 load8(const float* p) { return load(p); }
inline void store8(float* p, const V8& v) { store(p, v); }
inline V8 set18(float x) { return set1(x); }
inline V8 mul8(const V8& a, const V8& b) { return mul(a, b); }
inline V8 add8(const V8& a, const V8& b) { return add(a, b); }
inline V8 fma8(const V8& a, const V8& b, const V8& c) { return fma(a, b, c); }
inline void transpose8(V8 (&r)[8]) {
  V8 t[8];
  for (int i = 0; i < 8; ++i)
    for (int j = 0; j < 8; ++j) t[i].v[j] = r[j].v[i];
  for (int i = 0; i < 8; ++i) r[i] = t[i];
}

}  // namespace bs::cpu::BS_ISA_NS::simd
