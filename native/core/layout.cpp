#include "layout.h"

#include <string>
#include <unordered_set>

#include "error.h"

namespace bs {

Layout::Layout(std::vector<int32_t> cuSeqlens, std::vector<int32_t> imageIds, std::vector<uint8_t> isSink)
    : cuSeqlens_(std::move(cuSeqlens)), imageId_(std::move(imageIds)), isSink_(std::move(isSink)) {
  const size_t n = imageId_.size();
  if (n == 0) throw Error(ErrorCode::EMPTY_LAYOUT, "layout has no tokens");
  if (n > static_cast<size_t>(kMaxTokens)) throw Error(ErrorCode::TOO_MANY_TOKENS, "a layout holds at most 2^30 tokens");
  if (isSink_.size() != n) throw Error(ErrorCode::LAYOUT_MISMATCH, "isSink length differs from imageIds length");
  if (cuSeqlens_.size() < 2 || cuSeqlens_.front() != 0 || static_cast<size_t>(cuSeqlens_.back()) != n)
    throw Error(ErrorCode::BAD_CU_SEQLENS, "cuSeqlens must start at 0 and end at numTokens");
  for (size_t s = 1; s < cuSeqlens_.size(); ++s)
    if (cuSeqlens_[s] <= cuSeqlens_[s - 1]) throw Error(ErrorCode::BAD_CU_SEQLENS, "cuSeqlens must be strictly increasing");

  const auto nt = static_cast<int32_t>(n);
  segOf_.resize(n);
  seqOf_.resize(n);
  prefixText_.assign(n + 1, 0);
  prefixSink_.assign(n + 1, 0);
  prefixTextSink_.assign(n + 1, 0);
  std::unordered_set<int32_t> seenImages;
  for (int32_t s = 0; s + 1 < static_cast<int32_t>(cuSeqlens_.size()); ++s) {
    for (int32_t t = cuSeqlens_[s]; t < cuSeqlens_[s + 1]; ++t) {
      const int32_t id = imageId_[t];
      if (id < -1) throw Error(ErrorCode::BAD_IMAGE_ID, "image ids must be >= -1 (-1 marks text)");
      // A new segment starts at every sequence start and wherever the image id changes.
      if (t == cuSeqlens_[s] || id != imageId_[t - 1]) {
        if (id >= 0 && !seenImages.insert(id).second)
          throw Error(ErrorCode::BAD_IMAGE_ID, "image id " + std::to_string(id) + " labels two separate spans");
        if (!segments_.empty()) segments_.back().end = t;
        segments_.push_back({t, nt, id});
      }
      segOf_[t] = static_cast<int32_t>(segments_.size()) - 1;
      seqOf_[t] = s;
    }
  }
  for (int32_t t = 0; t < nt; ++t) {
    const bool text = imageId_[t] < 0;
    const bool sink = isSink_[t] != 0;
    prefixText_[t + 1] = prefixText_[t] + text;
    prefixSink_[t + 1] = prefixSink_[t] + sink;
    prefixTextSink_[t + 1] = prefixTextSink_[t] + (text && sink);
    if (sink) sinkTokens_.push_back(t);
    if (text || sink) sharedTokens_.push_back(t);
  }
}

size_t Layout::bytes() const {
  const auto size = [](const auto& v) { return v.capacity() * sizeof(v[0]); };
  return size(cuSeqlens_) + size(imageId_) + size(isSink_) + size(segments_) + size(segOf_) + size(seqOf_) +
         size(sinkTokens_) + size(sharedTokens_) + size(prefixText_) + size(prefixSink_) + size(prefixTextSink_);
}

}  // namespace bs
