// Layouts from the arrays the TypeScript layer uses, or from segment metadata (Layout.fromSegments' rules).
#include <algorithm>
#include <string>
#include <vector>

#include "guard.h"
#include "handles.h"

namespace bs::capi {
namespace {

// The core Layout trusts its caller on sinks (the TS layer builds them); C callers pass their own flags, so the spec's
// invariant that every image span starts with a sink is checked here.
void requireImageStartSinks(const std::vector<int32_t>& cuSeqlens, const std::vector<int32_t>& imageIds,
                            const std::vector<uint8_t>& sinks) {
  for (size_t s = 0; s + 1 < cuSeqlens.size(); ++s)
    for (int32_t t = cuSeqlens[s]; t < cuSeqlens[s + 1]; ++t) {
      const bool spanStart = imageIds[t] >= 0 && (t == cuSeqlens[s] || imageIds[t - 1] != imageIds[t]);
      if (spanStart && sinks[t] == 0)
        throw Error(ErrorCode::BAD_SINKS, "token " + std::to_string(t) + " starts image " + std::to_string(imageIds[t]) +
                                     " but is not marked as a sink (every image's first token is a sink)");
    }
}

blindsight_layout* makeLayout(std::vector<int32_t> cuSeqlens, std::vector<int32_t> imageIds,
                              std::vector<uint8_t> sinks) {
  for (uint8_t& f : sinks) f = f != 0;
  auto layout = std::make_shared<const Layout>(std::move(cuSeqlens), std::move(imageIds), std::move(sinks));
  requireImageStartSinks(layout->cuSeqlens(), layout->imageIds(), layout->sinkFlags());
  return new blindsight_layout{std::move(layout)};
}

}  // namespace
}  // namespace bs::capi

using namespace bs::capi;

extern "C" {

blindsight_status blindsight_layout_create(const int32_t* cu_seqlens, int32_t num_sequences, const int32_t* image_ids,
                                           const uint8_t* sink_flags, int32_t num_tokens,
                                           blindsight_layout** out_layout) {
  return guarded([&] {
    requireNonNull(out_layout, "out_layout");
    *out_layout = nullptr;
    requireNonNull(cu_seqlens, "cu_seqlens");
    requireNonNull(image_ids, "image_ids");
    requireNonNull(sink_flags, "sink_flags");
    if (num_sequences < 1) throw bs::Error(bs::ErrorCode::BAD_CU_SEQLENS, "num_sequences must be >= 1");
    if (num_tokens < 1) throw bs::Error(bs::ErrorCode::EMPTY_LAYOUT, "num_tokens must be >= 1");
    *out_layout = makeLayout(std::vector<int32_t>(cu_seqlens, cu_seqlens + num_sequences + 1),
                             std::vector<int32_t>(image_ids, image_ids + num_tokens),
                             std::vector<uint8_t>(sink_flags, sink_flags + num_tokens));
  });
}

blindsight_status blindsight_layout_from_segments(const blindsight_segment* segments,
                                                  const int32_t* segments_per_sequence, int32_t num_sequences,
                                                  int32_t global_sinks, blindsight_layout** out_layout) {
  return guarded([&] {
    requireNonNull(out_layout, "out_layout");
    *out_layout = nullptr;
    requireNonNull(segments, "segments");
    requireNonNull(segments_per_sequence, "segments_per_sequence");
    if (num_sequences < 1) throw bs::Error(bs::ErrorCode::BAD_SEGMENTS, "num_sequences must be >= 1");
    if (global_sinks < 0) invalid("global_sinks must be >= 0");
    std::vector<int32_t> cuSeqlens{0}, imageIds;
    std::vector<uint8_t> sinks;
    int32_t image = 0;
    const blindsight_segment* seg = segments;
    for (int32_t s = 0; s < num_sequences; ++s) {
      if (segments_per_sequence[s] < 1)
        throw bs::Error(bs::ErrorCode::BAD_SEGMENTS, "sequence " + std::to_string(s) + " has no segments");
      const size_t start = imageIds.size();
      for (int32_t i = 0; i < segments_per_sequence[s]; ++i, ++seg) {
        const std::string where = "sequence " + std::to_string(s) + ", segment " + std::to_string(i);
        if (seg->kind != BLINDSIGHT_TEXT && seg->kind != BLINDSIGHT_IMAGE)
          throw bs::Error(bs::ErrorCode::BAD_SEGMENTS, where + ": kind must be BLINDSIGHT_TEXT or BLINDSIGHT_IMAGE");
        if (seg->length < 1) throw bs::Error(bs::ErrorCode::BAD_SEGMENTS, where + ": length must be >= 1");
        if (imageIds.size() + seg->length > static_cast<size_t>(bs::kMaxTokens))
          throw bs::Error(bs::ErrorCode::TOO_MANY_TOKENS, "a layout holds at most 2^30 tokens");
        const bool isImage = seg->kind == BLINDSIGHT_IMAGE;
        sinks.push_back(isImage);
        sinks.resize(sinks.size() + seg->length - 1, 0);
        imageIds.resize(imageIds.size() + seg->length, isImage ? image++ : -1);
      }
      const size_t globalEnd = std::min(imageIds.size(), start + static_cast<size_t>(global_sinks));
      for (size_t t = start; t < globalEnd; ++t) sinks[t] = 1;
      cuSeqlens.push_back(static_cast<int32_t>(imageIds.size()));
    }
    *out_layout = makeLayout(std::move(cuSeqlens), std::move(imageIds), std::move(sinks));
  });
}

int32_t blindsight_layout_num_tokens(const blindsight_layout* layout) {
  return layout ? layout->layout->numTokens() : 0;
}

int32_t blindsight_layout_num_sequences(const blindsight_layout* layout) {
  return layout ? layout->layout->numSequences() : 0;
}

void blindsight_layout_destroy(blindsight_layout* layout) { delete layout; }

}  // extern "C"
