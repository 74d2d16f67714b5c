// The AArch64 NEON level: 4 lanes in a 128-bit q register (Advanced SIMD, part of every AArch64 CPU). f16 rows are
// widened with FCVTL (base Advanced SIMD, no FEAT_FP16 needed), bf16 rows with a shift. AArch64 has 32 vector
// registers; the register blocking for them is in kernel/constants.h.
#pragma once
#include <arm_neon.h>

namespace bs::cpu::BS_ISA_NS::simd {

using V = float32x4_t;
constexpr int W = 4;
inline V zero() { return vdupq_n_f32(0.0f); }
inline V load(const float* p) { return vld1q_f32(p); }
inline void store(float* p, V v) { vst1q_f32(p, v); }
// AArch64 has no single-register streaming store (STNP takes pairs and is only a hint): plain stores, no fence.
inline void stream(float* p, V v) { vst1q_f32(p, v); }
inline void streamFence() {}
inline V set1(float x) { return vdupq_n_f32(x); }
inline V fma(V a, V b, V c) { return vfmaq_f32(c, a, b); }
inline V mul(V a, V b) { return vmulq_f32(a, b); }
inline V add(V a, V b) { return vaddq_f32(a, b); }
inline V sub(V a, V b) { return vsubq_f32(a, b); }
// b when either is NaN, as x86 maxps / minps (simd.h): NEON's FMAX / FMIN would return the NaN.
inline V max(V a, V b) { return vbslq_f32(vcgtq_f32(a, b), a, b); }
inline V min(V a, V b) { return vbslq_f32(vcltq_f32(a, b), a, b); }
inline V exp2(V x) {
  x = min(vdupq_n_f32(0.0f), max(vdupq_n_f32(kExpFloor), x));  // NaN stays NaN
  const V r = vrndnq_f32(x);  // round to nearest, ties to even
  const V f = vsubq_f32(x, r);
  V p = vdupq_n_f32(kP6);
  p = vfmaq_f32(vdupq_n_f32(kP5), p, f);
  p = vfmaq_f32(vdupq_n_f32(kP4), p, f);
  p = vfmaq_f32(vdupq_n_f32(kP3), p, f);
  p = vfmaq_f32(vdupq_n_f32(kP2), p, f);
  p = vfmaq_f32(vdupq_n_f32(kP1), p, f);
  p = vfmaq_f32(vdupq_n_f32(1.0f), p, f);
  // 2^r built in the exponent field; r = -127 gives the bit pattern 0, i.e. exactly 0. (A NaN x converts to 0 and
  // stays NaN through p.)
  const int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(r), vdupq_n_s32(127)), 23);
  return vmulq_f32(p, vreinterpretq_f32_s32(e));
}
// Lanes whose bit is set keep s, the others become fill.
inline V keepLanes(V s, uint32_t bits, V fill) {
  static const uint32_t kSel[4] = {1, 2, 4, 8};
  return vbslq_f32(vtstq_u32(vdupq_n_u32(bits), vld1q_u32(kSel)), s, fill);
}
inline float hsum(V v) { return vaddvq_f32(v); }
// n (a multiple of 8) 16-bit values widened to f32 into dst.
inline void widenF16(const uint16_t* src, float* dst, int n) {
  for (int i = 0; i < n; i += 8) {
    const float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(src + i));
    vst1q_f32(dst + i, vcvt_f32_f16(vget_low_f16(h)));
    vst1q_f32(dst + i + 4, vcvt_high_f32_f16(h));
  }
}
inline void widenBf16(const uint16_t* src, float* dst, int n) {
  for (int i = 0; i < n; i += 8) {
    const uint16x8_t h = vld1q_u16(src + i);
    vst1q_f32(dst + i, vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16)));
    vst1q_f32(dst + i + 4, vreinterpretq_f32_u32(vshll_high_n_u16(h, 16)));
  }
}
inline void narrowF16(const float* src, uint16_t* dst, int n) {
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    const float16x8_t h = vcvt_high_f16_f32(vcvt_f16_f32(vld1q_f32(src + i)), vld1q_f32(src + i + 4));
    vst1q_u16(dst + i, vreinterpretq_u16_f16(h));
  }
  for (; i < n; ++i) dst[i] = f32ToF16(src[i]);
}

// V8: 8 lanes as a pair of q registers, and the 8 x 8 transposes built from four 4 x 4 ones.
struct V8 {
  float32x4_t lo, hi;
};
inline V8 zero8() { return {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)}; }
inline V8 load8(const float* p) { return {vld1q_f32(p), vld1q_f32(p + 4)}; }
inline void store8(float* p, V8 v) {
  vst1q_f32(p, v.lo);
  vst1q_f32(p + 4, v.hi);
}
inline V8 set18(float x) { return {vdupq_n_f32(x), vdupq_n_f32(x)}; }
inline V8 mul8(V8 a, V8 b) { return {vmulq_f32(a.lo, b.lo), vmulq_f32(a.hi, b.hi)}; }
inline V8 add8(V8 a, V8 b) { return {vaddq_f32(a.lo, b.lo), vaddq_f32(a.hi, b.hi)}; }
inline V8 fma8(V8 a, V8 b, V8 c) { return {vfmaq_f32(c.lo, a.lo, b.lo), vfmaq_f32(c.hi, a.hi, b.hi)}; }

// In place: rows a..d become the columns of the 4 x 4 block they form.
inline void transpose4(float32x4_t& a, float32x4_t& b, float32x4_t& c, float32x4_t& d) {
  const float32x4_t t0 = vtrn1q_f32(a, b), t1 = vtrn2q_f32(a, b), t2 = vtrn1q_f32(c, d), t3 = vtrn2q_f32(c, d);
  a = vreinterpretq_f32_f64(vtrn1q_f64(vreinterpretq_f64_f32(t0), vreinterpretq_f64_f32(t2)));
  b = vreinterpretq_f32_f64(vtrn1q_f64(vreinterpretq_f64_f32(t1), vreinterpretq_f64_f32(t3)));
  c = vreinterpretq_f32_f64(vtrn2q_f64(vreinterpretq_f64_f32(t0), vreinterpretq_f64_f32(t2)));
  d = vreinterpretq_f32_f64(vtrn2q_f64(vreinterpretq_f64_f32(t1), vreinterpretq_f64_f32(t3)));
}

// In place: row j becomes column j of the 8 x 8 block. With the block as [A B; C D] in 4 x 4 quarters, the result is
// [A^T C^T; B^T D^T].
inline void transpose8(V8 (&r)[8]) {
  transpose4(r[0].lo, r[1].lo, r[2].lo, r[3].lo);  // A
  transpose4(r[0].hi, r[1].hi, r[2].hi, r[3].hi);  // B
  transpose4(r[4].lo, r[5].lo, r[6].lo, r[7].lo);  // C
  transpose4(r[4].hi, r[5].hi, r[6].hi, r[7].hi);  // D
  for (int i = 0; i < 4; ++i) {
    const float32x4_t b = r[i].hi;
    r[i].hi = r[4 + i].lo;  // C^T
    r[4 + i].lo = b;        // B^T
  }
}

}  // namespace bs::cpu::BS_ISA_NS::simd
