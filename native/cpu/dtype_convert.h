// Scalar conversions between f32 and the 16-bit input/output types, bit-exact with the hardware instructions
// (F16C vcvtph2ps/vcvtps2ph with round-to-nearest-even, and bf16 as the top half of an f32 with RNE on the way down).
// Used by the portable kernel and for odd tails; the SIMD kernels convert whole vectors with F16C / shifts.
#pragma once
#include <cstdint>
#include <cstring>

namespace bs::cpu {
// Internal linkage: translation units built with different -m flags each keep their own copy (see simd.h).
namespace {

inline float bitsToFloat(uint32_t b) {
  float f;
  std::memcpy(&f, &b, sizeof f);
  return f;
}
inline uint32_t floatToBits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, sizeof b);
  return b;
}

inline float bf16ToF32(uint16_t h) { return bitsToFloat(static_cast<uint32_t>(h) << 16); }

inline uint16_t f32ToBf16(float f) {
  const uint32_t b = floatToBits(f);
  if ((b & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((b >> 16) | 0x40);  // NaN stays a (quiet) NaN
  return static_cast<uint16_t>((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
}

inline float f16ToF32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f) return bitsToFloat(sign | 0x7f800000u | (mant << 13));  // inf / NaN
  if (exp != 0) return bitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
  if (mant == 0) return bitsToFloat(sign);
  // subnormal: value = mant * 2^-24
  const float v = static_cast<float>(mant) * 5.9604644775390625e-08f;
  return sign ? -v : v;
}

inline uint16_t f32ToF16(float f) {
  const uint32_t b = floatToBits(f);
  const uint32_t sign = (b >> 16) & 0x8000u;
  const uint32_t absb = b & 0x7fffffffu;
  if (absb > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);  // NaN
  if (absb >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to >= 65520: inf
  if (absb < 0x38800000u) {
    // below the smallest normal f16 (2^-14): subnormal f16 = round(|f| * 2^24), ties to even
    const float a = bitsToFloat(absb) * 16777216.0f;
    const float r = (a + 12582912.0f) - 12582912.0f;  // RNE for 0 <= a < 2^22
    return static_cast<uint16_t>(sign | static_cast<uint32_t>(r));
  }
  // normal: rebias the exponent, round the 23-bit mantissa to 10 bits (ties to even; a carry bumps the exponent)
  const uint32_t rounded = absb + 0xfffu + ((absb >> 13) & 1u);
  return static_cast<uint16_t>(sign | ((rounded - (112u << 23)) >> 13));
}

}  // namespace
}  // namespace bs::cpu
