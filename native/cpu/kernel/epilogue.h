// The epilogue of a pass: each lane's output row normalised by its softmax sum and written in the output type, and
// its log-sum-exp. f32 outputs stream their rows' whole cache lines past the caches (item_state.h, streamOut). A row
// whose weights sum to 0 — it sees no key of the call's key range (a shard of the keys), or only keys of score -inf —
// has output 0 and lse -inf: the partial result that merges as nothing.
#pragma once
#include <cfloat>
#include <algorithm>
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
    const int64_t row = s.queryRow(s.laneToken[i]);
    const int head = s.laneHead[i];
    // A poisoned lane (a non-finite q row) that sees a key is NaN throughout. l == 0: no weight at all, so the
    // output is 0 (even where a weight-0 key's value was infinite).
    const bool empty = s.l[i] == 0.0f;
    const bool poisoned = ((s.poisoned >> i) & 1) && !empty;
    const float inv = poisoned ? std::numeric_limits<float>::quiet_NaN() : empty ? 0.0f : 1.0f / s.l[i];
    float* acc = s.o + static_cast<size_t>(i) * s.dp;
    if (empty) std::fill(acc, acc + s.d, 0.0f);
    const int64_t at = row * s.outStrides.token + head * s.outStrides.head;
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
      s.p.lse[row * s.p.numHeads + head] = poisoned ? inv
                                           : empty ? -INFINITY
                                           : std::fabs(m) == FLT_MAX ? std::copysign(INFINITY, m)
                                                                     : std::fabs(s.p.scale) * m + std::log(s.l[i]);
    }
  }
}

}  // namespace
}  // namespace bs::cpu::BS_ISA_NS::kernel
