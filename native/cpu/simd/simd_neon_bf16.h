// The FEAT_BF16 products (BFDOT: each 32-bit lane accumulates a.lo*b.lo + a.hi*b.hi of two bf16 pairs, the semantics
// of AVX512_BF16's vdpbf16ps, so the kernel's pair products map onto it one to one), on top of the NEON level. P holds
// 4 lanes of bf16 pairs; rounding to bf16 is BFCVTN (nearest even).
#pragma once
#include <arm_neon.h>

namespace bs::cpu::BS_ISA_NS::simd {

#define BS_SIMD_DOT_BF16 1

using P = uint32x4_t;
inline P loadP(const uint32_t* p) { return vld1q_u32(p); }
inline void storeP(uint32_t* p, P v) { vst1q_u32(p, v); }
inline P set1P(uint32_t pair) { return vdupq_n_u32(pair); }
inline V dotPairs(V acc, P a, P b) { return vbfdotq_f32(acc, vreinterpretq_bf16_u32(a), vreinterpretq_bf16_u32(b)); }
// The same on 8 lanes of words already in registers (the query prologue's self pairs).
inline V8 dotPairs8(V8 acc, V8 a, V8 b) {
  return {vbfdotq_f32(acc.lo, vreinterpretq_bf16_f32(a.lo), vreinterpretq_bf16_f32(b.lo)),
          vbfdotq_f32(acc.hi, vreinterpretq_bf16_f32(a.hi), vreinterpretq_bf16_f32(b.hi))};
}

// 8 words of bf16 pairs with both halves' signs flipped (a negative score scale folded into Q^T, exactly).
inline V8 flipPairSigns8(V8 a) {
  const uint32x4_t sign = vdupq_n_u32(0x80008000u);
  return {vreinterpretq_f32_u32(veorq_u32(vreinterpretq_u32_f32(a.lo), sign)),
          vreinterpretq_f32_u32(veorq_u32(vreinterpretq_u32_f32(a.hi), sign))};
}
// Finiteness of bf16 rows read as 8 words of pairs: acc keeps, per 16-bit element, the largest exponent field seen;
// a row holds a NaN or an infinity when some element of its acc reaches the all-ones exponent.
inline V8 exponentMax8(V8 acc, V8 a) {
  const uint16x8_t mask = vdupq_n_u16(0x7f80);
  const auto half = [&](float32x4_t x, float32x4_t y) {
    return vreinterpretq_f32_u16(vmaxq_u16(vreinterpretq_u16_f32(x), vandq_u16(vreinterpretq_u16_f32(y), mask)));
  };
  return {half(acc.lo, a.lo), half(acc.hi, a.hi)};
}
inline bool exponentAllOnes8(V8 acc) {
  const uint16x8_t all = vdupq_n_u16(0x7f80);
  return vmaxvq_u16(vorrq_u16(vceqq_u16(vreinterpretq_u16_f32(acc.lo), all), vceqq_u16(vreinterpretq_u16_f32(acc.hi), all))) != 0;
}

// Two f32 vectors rounded to bf16 (nearest even) and paired lane by lane: lo from a, hi from b.
inline P packPairs(V a, V b) {
  return vreinterpretq_u32_u16(
      vzip1q_u16(vreinterpretq_u16_bf16(vcvtq_low_bf16_f32(a)), vreinterpretq_u16_bf16(vcvtq_low_bf16_f32(b))));
}

// Two bf16 rows of d elements (d a multiple of 8; b may be null: zeros) interleaved element-wise into d pairs,
// zero-padded to a multiple of 32 pairs.
inline void interleaveRows(const uint16_t* a, const uint16_t* b, int d, uint32_t* out) {
  const uint16x8_t z = vdupq_n_u16(0);
  int c = 0;
  for (; c < d; c += 8) {
    const uint16x8_t x = vld1q_u16(a + c);
    const uint16x8_t y = b ? vld1q_u16(b + c) : z;
    vst1q_u32(out + c, vreinterpretq_u32_u16(vzip1q_u16(x, y)));
    vst1q_u32(out + c + 4, vreinterpretq_u32_u16(vzip2q_u16(x, y)));
  }
  for (; c % 32 != 0; c += 4) vst1q_u32(out + c, vdupq_n_u32(0));
}

}  // namespace bs::cpu::BS_ISA_NS::simd
