// Visible pairs of a rectangle of the attention matrix — query tokens [q0, q1) x key tokens [k0, k1) of the layout —
// under a head category, counted analytically: O(segments in the query range), never from a mask.
//
// Per query segment, each term of a row's visible keys (its window, its own image, sinks and text before it, future
// keys of a bidirectional image) is a count of some token class over [L(q), R(q)), where L and R are clamped affine
// functions of q. Summing such a count over a segment's rows is O(1) with prefix sums of the prefix counts, which
// this counter builds once (3 x (numTokens + 2) int64s, on first use). So a ring-attention schedule can ask, per (query
// shard, key shard) step, whether a head sees anything at all, at no cost proportional to the shard's size.
#pragma once
#include <cstdint>
#include <vector>

#include "layout.h"
#include "mask_rule.h"
#include "plan_types.h"

namespace bs {

class PairCounter {
 public:
  PairCounter(const Layout& layout, const MaskOptions& options);
  // (q, k) pairs with q in queries and k in keys that category c keeps. Ranges are clipped to the layout.
  int64_t visiblePairs(HeadCategory c, TokenRange queries, TokenRange keys) const;
  size_t bytes() const;

  // A token class as prefix counts: text, sink, text-and-sink tokens and every token, with coefficients.
  struct Count {
    int64_t text = 0, sink = 0, textSink = 0, all = 0;
  };

 private:
  // Sum over q in [a, b) of the number of keys of class `what` in [L(q), R(q)).
  struct Bound {
    int64_t offset;  // q + offset, clamped to [lo, hi]
    int64_t lo, hi;
    int64_t at(int64_t q) const;
  };
  int64_t sumCounts(const Count& what, int64_t a, int64_t b, const Bound& L, const Bound& R) const;
  int64_t prefix(const Count& what, int64_t x) const;       // tokens of the class before x
  int64_t prefixSum(const Count& what, int64_t x) const;    // sum of prefix(y) for y < x
  int64_t segmentPairs(HeadCategory c, const Segment& seg, int32_t a, int32_t b, int32_t k0, int32_t k1) const;

  const Layout& layout_;
  MaskOptions options_;
  std::vector<int64_t> text2_, sink2_, textSink2_;  // second-order prefix sums, numTokens + 2 each
};

}  // namespace bs
