// The BlindSight element rule, written once. Host code (planner, CPU kernel, tests through the addon) and device
// code (CUDA kernels) include this header, so every backend applies exactly the same semantics (README, "Mask
// semantics"). The planner decides which tiles need the rule at all; kernels apply it only inside partial tiles.
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define BS_HD __host__ __device__ __forceinline__
#else
#define BS_HD inline
#endif

namespace bs {

// Numeric values are part of the ABI (the TS layer and the C header use the same numbers).
enum class HeadCategory : uint8_t { Dense = 0, Sink = 1, IntraImage = 2, IntraImageSink = 3 };
constexpr int kNumCategories = 4;

struct MaskOptions {
  int32_t window = 0;  // 0 = off; otherwise keys with q - k >= window are hidden (sinks too, unless windowKeepsSinks)
  bool textKeys = true;
  bool bidirectionalImages = false;
  // Sinks stay visible beyond the window (StreamingLLM-style attention sinks). False gives a plain sliding window, as
  // Gemma 3's local layers have.
  bool windowKeepsSinks = true;
};

// Whether the window hides key k (k <= q) from query q: older than the window, and not a sink the window keeps.
BS_HD bool window_hides(const MaskOptions& o, int32_t q, int32_t k, bool kSink) {
  return o.window > 0 && q - k >= o.window && !(kSink && o.windowKeepsSinks);
}

BS_HD bool category_sees_sinks(HeadCategory c) {
  return c == HeadCategory::Sink || c == HeadCategory::IntraImageSink;
}
BS_HD bool category_sees_own_image(HeadCategory c) {
  return c == HeadCategory::IntraImage || c == HeadCategory::IntraImageSink;
}

// Rules 2-5 of the semantics for a query q and key k of the same sequence (rule 1, sequence separation, holds by
// construction: tiles never cross sequences). imageId is -1 for text tokens.
BS_HD bool mask_visible(HeadCategory c, const MaskOptions& o, int32_t q, int32_t k, int32_t qImage, int32_t kImage,
                        bool kSink) {
  const bool sameImage = qImage >= 0 && kImage == qImage;
  if (k > q) {
    if (!(o.bidirectionalImages && sameImage)) return false;  // rule 2; the window never hides future keys
  } else if (window_hides(o, q, k, kSink)) {
    return false;  // rule 3
  }
  if (qImage < 0 || c == HeadCategory::Dense) return true;  // rule 4
  if (k == q) return true;                                  // rule 5: a row is never empty
  if (kSink && category_sees_sinks(c)) return true;
  if (sameImage && category_sees_own_image(c)) return true;
  return o.textKeys && kImage < 0;
}

}  // namespace bs
