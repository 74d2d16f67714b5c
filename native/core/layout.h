// A packed batch of token sequences with their text/image structure, as the planner and kernels need it:
// per-token image ids and sink flags, maximal segments, and prefix counts that let the planner count or locate
// text tokens and sinks in any range in O(1).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace bs {

// The most tokens a layout holds: 2^30. Token positions, segment and block boundaries are int32; every sum the planner
// and the kernels form from them is a position plus at most two block sizes (<= 2 x 256) or a difference of two
// positions, so with positions below 2^30 none comes near INT32_MAX (2^31 - 1). The window (up to INT32_MAX) only
// enters differences q - k (>= -2^30) and q - W + 1 (>= -2^31 + 2). Counts of pairs are int64.
constexpr int64_t kMaxTokens = int64_t{1} << 30;

struct Segment {
  int32_t begin;
  int32_t end;      // exclusive
  int32_t imageId;  // -1: a maximal run of text tokens; otherwise one whole image span
};

class Layout {
 public:
  // Validates and takes the arrays the TS layer produces. Throws bs::Error on malformed input.
  Layout(std::vector<int32_t> cuSeqlens, std::vector<int32_t> imageIds, std::vector<uint8_t> isSink);

  int32_t numTokens() const { return static_cast<int32_t>(imageId_.size()); }
  int32_t numSequences() const { return static_cast<int32_t>(cuSeqlens_.size()) - 1; }
  const std::vector<int32_t>& cuSeqlens() const { return cuSeqlens_; }
  const std::vector<int32_t>& imageIds() const { return imageId_; }
  const std::vector<uint8_t>& sinkFlags() const { return isSink_; }
  const std::vector<Segment>& segments() const { return segments_; }
  const std::vector<int32_t>& segmentOf() const { return segOf_; }
  const std::vector<int32_t>& sequenceOf() const { return seqOf_; }

  // Tokens that a sparse head may see outside its own image, in position order: all sinks, and text-or-sink tokens.
  // Kernels read gathered key tiles through these lists.
  const std::vector<int32_t>& sinkTokens() const { return sinkTokens_; }
  const std::vector<int32_t>& sharedTokens() const { return sharedTokens_; }

  // Counts over the token range [b, e).
  int64_t textCount(int32_t b, int32_t e) const { return prefixText_[e] - prefixText_[b]; }
  int64_t sinkCount(int32_t b, int32_t e) const { return prefixSink_[e] - prefixSink_[b]; }
  int64_t textSinkCount(int32_t b, int32_t e) const { return prefixTextSink_[e] - prefixTextSink_[b]; }
  // Index into sinkTokens() / sharedTokens() of the first entry at or after token position x.
  int32_t sinkIndexAt(int32_t x) const { return prefixSink_[x]; }
  int32_t sharedIndexAt(int32_t x) const { return prefixText_[x] + prefixSink_[x] - prefixTextSink_[x]; }

  // Memory the layout holds (its per-token tables).
  size_t bytes() const;

 private:
  std::vector<int32_t> cuSeqlens_;
  std::vector<int32_t> imageId_;
  std::vector<uint8_t> isSink_;
  std::vector<Segment> segments_;
  std::vector<int32_t> segOf_;
  std::vector<int32_t> seqOf_;
  std::vector<int32_t> sinkTokens_;
  std::vector<int32_t> sharedTokens_;
  std::vector<int32_t> prefixText_, prefixSink_, prefixTextSink_;  // numTokens + 1 entries each
};

}  // namespace bs
