// Online softmax in base 2 for rows spread over the four lanes of a quad (lanes 4i..4i+3), the layout of both
// mainloops: the m16n8 accumulator fragment gives each quad two rows, and the SIMT path gives each quad one row.
// Scores arrive as qSign * q.k (kernel_params.h), saturated where the inputs are finite; hidden scores are -inf.
// Non-finite inputs follow the README's rules, as the CPU kernel does: a NaN or +inf score makes the row NaN (the
// running maximum ignores NaN while exp2 keeps it; +inf - +inf is NaN), a -inf score weighs nothing.
#pragma once
#include <cstdint>
#include <limits>

namespace bs::cuda {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr float kFloatMax = std::numeric_limits<float>::max();
constexpr float kPosInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// A score of finite inputs beyond the f32 range (q.k overflowed) stands at +-FLT_MAX; NaN stays NaN.
__device__ __forceinline__ float saturate(float x) { return x > kFloatMax ? kFloatMax : x < -kFloatMax ? -kFloatMax : x; }

__device__ __forceinline__ bool nonFinite(float x) { return !(x - x == 0.0f); }  // NaN or +-inf

__device__ __forceinline__ float exp2Approx(float x) {
#if defined(__CUDA_ARCH__)
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));  // ex2(-inf) = +0
  return y;
#else
  return exp2f(x);  // the host build of this header (emulation/) only
#endif
}

__device__ __forceinline__ float quadMax(float x) {
  x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 1));
  return fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 2));
}
__device__ __forceinline__ float quadSum(float x) {
  x += __shfl_xor_sync(0xffffffffu, x, 1);
  return x + __shfl_xor_sync(0xffffffffu, x, 2);
}

// One row's running maximum and (this lane's part of the) sum of exponentials. The lane sums are added across the
// quad only once, at the end: every lane of a quad rescales by the same factor, so partial sums stay consistent.
struct RowState {
  float max = kNegInf;
  float sum = 0.0f;

  // Takes the quad-wide maximum of this tile's scores for the row; returns the factor by which earlier partial
  // results must be scaled, and sets `reference`, the value to subtract from this tile's scores before exp2.
  __device__ __forceinline__ float update(float tileMax, float expScale, float& reference) {
    const float newMax = fmaxf(max, quadMax(tileMax));
    // A row with nothing visible yet keeps max = -inf; subtracting 0 instead keeps exp2 at exactly 0 (not NaN).
    reference = newMax == kNegInf ? 0.0f : newMax;
    const float alpha = exp2Approx(expScale * (max - reference));
    max = newMax;
    sum *= alpha;
    return alpha;
  }
  // Natural-log log-sum-exp of the row (after the final quad sum): absScale * max + ln(sum). A maximum saturated at
  // +-FLT_MAX stands for a score beyond the f32 range, whose lse is too: +-inf.
  __device__ __forceinline__ float lse(float totalSum, float absScale) const {
    if (max == kFloatMax || max == -kFloatMax) return max > 0 ? kPosInf : kNegInf;
    return absScale * max + log2f(totalSum) * 0.6931471805599453f;
  }
};

}  // namespace bs::cuda
