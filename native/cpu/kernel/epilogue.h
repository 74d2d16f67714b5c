// The epilogue of a pass: each lane's output row normalised by its softmax sum and written in the output type, and
// its log-sum-exp. Large f32 outputs stream their rows' whole cache lines past the caches (constants.h,
// kStreamOutBytes).
#pragma once
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <limits>

#include "constants.h"
#include "item_state.h"

namespace bs::cpu::BS_ISA_NS::kernel {
namespace {

template <class S>
inline void storeRows(S& s) {
  for (int i = 0; i < s.rows; ++i) {
    const int64_t token = s.laneToken[i];
    const int head = s.laneHead[i];
    // l > 0: every row sees at least itself. A poisoned lane (a non-finite q row) is NaN throughout.
    const bool poisoned = (s.poisoned >> i) & 1;
    const float inv = poisoned ? std::numeric_limits<float>::quiet_NaN() : 1.0f / s.l[i];
    float* acc = s.o + static_cast<size_t>(i) * s.dp;
    const int64_t at = token * s.qStride + static_cast<int64_t>(head) * s.d;
    const int d = s.d;
    if (s.p.outputType == DType::F32) {
      // Scaled on the way out: one pass over the accumulator, which the short items of sparse heads notice.
      float* dst = static_cast<float*>(s.p.out) + at;
      const V vinv = simd::set1(inv);
      int c = 0;
      if (s.streamOut) {
        // The row's whole cache lines bypass the caches (no read for ownership of lines written once); the partial
        // lines at either end, which the neighbouring heads' rows share, get plain stores.
        const auto addr = reinterpret_cast<uintptr_t>(dst);
        const int lead = static_cast<int>(((64 - (addr & 63)) & 63) / sizeof(float));
        const int lines = (d - lead) / 16;
        if ((addr & 3) == 0 && lines > 0) {
          for (; c < lead; ++c) dst[c] = acc[c] * inv;
          for (const int end = c + lines * 16; c < end; c += W) simd::stream(dst + c, simd::mul(simd::load(acc + c), vinv));
          s.streamed = true;
        }
      }
      for (; c + W <= d; c += W) simd::store(dst + c, simd::mul(simd::load(acc + c), vinv));
      for (; c < d; ++c) dst[c] = acc[c] * inv;
    } else {
      for (int c = 0; c < d; ++c) acc[c] *= inv;
      if (s.p.outputType == DType::F16) {
        simd::narrowF16(acc, static_cast<uint16_t*>(s.p.out) + at, d);
      } else {
        simd::narrowBf16(acc, static_cast<uint16_t*>(s.p.out) + at, d);
      }
    }
    // The natural log of the sum of e^(scale q.k): the scores are sign(scale) q.k, so scale q.k = |scale| s. A max
    // saturated at +-FLT_MAX stands for a score beyond the f32 range, whose lse is too: +-inf.
    if (s.p.lse) {
      const float m = s.m[i];
      s.p.lse[token * s.p.numHeads + head] = poisoned ? inv
                                             : std::fabs(m) == FLT_MAX ? std::copysign(INFINITY, m)
                                                                       : std::fabs(s.p.scale) * m + std::log(s.l[i]);
    }
  }
}

}  // namespace
}  // namespace bs::cpu::BS_ISA_NS::kernel
