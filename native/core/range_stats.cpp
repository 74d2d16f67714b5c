#include "range_stats.h"

#include <algorithm>
#include <climits>

namespace bs {
namespace {
constexpr int64_t kNone = INT64_MAX / 4;  // an unbounded clamp side
}

PairCounter::PairCounter(const Layout& layout, const MaskOptions& options) : layout_(layout), options_(options) {
  const int32_t n = layout.numTokens();
  for (auto* v : {&text2_, &sink2_, &textSink2_}) v->assign(static_cast<size_t>(n) + 2, 0);
  for (int32_t x = 0; x <= n; ++x) {
    text2_[x + 1] = text2_[x] + layout.textCount(0, x);
    sink2_[x + 1] = sink2_[x] + layout.sinkCount(0, x);
    textSink2_[x + 1] = textSink2_[x] + layout.textSinkCount(0, x);
  }
}

size_t PairCounter::bytes() const { return (text2_.capacity() + sink2_.capacity() + textSink2_.capacity()) * sizeof(int64_t); }

int64_t PairCounter::Bound::at(int64_t q) const { return std::min(std::max(q + offset, lo), hi); }

int64_t PairCounter::prefix(const Count& w, int64_t x) const {
  const auto t = static_cast<int32_t>(x);
  return w.text * layout_.textCount(0, t) + w.sink * layout_.sinkCount(0, t) + w.textSink * layout_.textSinkCount(0, t) +
         w.all * x;
}

int64_t PairCounter::prefixSum(const Count& w, int64_t x) const {
  return w.text * text2_[x] + w.sink * sink2_[x] + w.textSink * textSink2_[x] + w.all * (x * (x - 1) / 2);
}

int64_t PairCounter::sumCounts(const Count& w, int64_t a, int64_t b, const Bound& L, const Bound& R) const {
  if (a >= b) return 0;
  // L and R are affine (slope 0 or 1) between their kinks; so is R - L, whose sign changes at most once per piece.
  int64_t cuts[6] = {a, b, L.lo - L.offset, L.hi - L.offset, R.lo - R.offset, R.hi - R.offset};
  for (int64_t& c : cuts) c = std::clamp(c, a, b);
  std::sort(cuts, cuts + 6);
  int64_t total = 0;
  for (int i = 0; i + 1 < 6; ++i) {
    const int64_t u = cuts[i], v = cuts[i + 1];
    if (u >= v) continue;
    const auto slope = [&](const Bound& f) { return v - 1 > u && f.at(v - 1) - f.at(u) == v - 1 - u ? 1 : 0; };
    const int sl = slope(L), sr = slope(R);
    // R(q) - L(q) = d0 + (sr - sl)(q - u) on [u, v): keep the rows where it is > 0.
    const int64_t d0 = R.at(u) - L.at(u);
    int64_t lo = u, hi = v;
    if (sr - sl == 0) {
      if (d0 <= 0) continue;
    } else if (sr - sl > 0) {
      lo = std::max(u, u + 1 - d0);
    } else {
      hi = std::min(v, u + d0);
    }
    if (lo >= hi) continue;
    const auto sum = [&](const Bound& f, int s) {  // sum of prefix(f(q)) over q in [lo, hi)
      if (s == 0) return (hi - lo) * prefix(w, f.at(lo));
      const int64_t d = f.at(lo) - lo;  // f(q) = q + d here
      return prefixSum(w, hi + d) - prefixSum(w, lo + d);
    };
    total += sum(R, sr) - sum(L, sl);
  }
  return total;
}

int64_t PairCounter::segmentPairs(HeadCategory c, const Segment& seg, int32_t a, int32_t b, int32_t k0, int32_t k1) const {
  const MaskOptions& m = options_;
  const int64_t W = m.window;
  const bool keeps = W > 0 && m.windowKeepsSinks;
  const int32_t s0 = layout_.cuSeqlens()[layout_.sequenceOf()[seg.begin]];
  const Count all{0, 0, 0, 1}, sinks{0, 1, 0, 0};
  // lo(q) = max(s0, q - W + 1): the window's first key (s0 without a window).
  const int64_t wOff = W > 0 ? 1 - W : -kNone;
  const auto clamp = [](int64_t off, int64_t lo, int64_t hi) { return Bound{off, lo, hi}; };
  const auto constant = [](int64_t x) { return Bound{0, x, x}; };
  int64_t n = 0;
  if (seg.imageId < 0 || c == HeadCategory::Dense) {
    // [lo(q), q] inside the keys; sinks before the window when it keeps them; a bidirectional image's later tokens.
    n += sumCounts(all, a, b, clamp(wOff, std::max<int64_t>(s0, k0), kNone), clamp(1, -kNone, k1));
    if (keeps) n += sumCounts(sinks, a, b, constant(std::max(s0, k0)), clamp(wOff, s0, k1));
    if (seg.imageId >= 0 && m.bidirectionalImages)
      n += sumCounts(all, a, b, clamp(1, k0, kNone), constant(std::min(seg.end, k1)));
    return n;
  }
  const int64_t A = seg.begin, B = seg.end;
  const bool tk = m.textKeys, sc = category_sees_sinks(c);
  // Other tokens inside the window, before the image: text (textKeys) and sinks (sink categories).
  const Count other{tk ? 1 : 0, sc ? 1 : 0, tk && sc ? -1 : 0, 0};
  n += sumCounts(other, a, b, clamp(wOff, std::max<int64_t>(s0, k0), kNone), constant(std::min<int64_t>(A, k1)));
  // Before the window: only sinks survive, when the window keeps them (text-and-sink tokens for textKeys alone).
  if (keeps) {
    const Count old = sc ? sinks : Count{0, 0, tk ? 1 : 0, 0};
    n += sumCounts(old, a, b, constant(std::max(s0, k0)), clamp(wOff, s0, std::min<int64_t>(A, k1)));
  }
  // The own image from ownLo(q) = max(lo(q), A), and its sinks before ownLo when the window keeps them.
  const Bound ownLo = clamp(wOff, std::max<int64_t>(A, k0), kNone);
  if (keeps) n += sumCounts(sinks, a, b, constant(std::max<int64_t>(A, k0)), clamp(wOff, A, k1));
  if (category_sees_own_image(c)) {
    n += sumCounts(all, a, b, ownLo, clamp(1, -kNone, k1));
    if (m.bidirectionalImages) n += sumCounts(all, a, b, clamp(1, k0, kNone), constant(std::min<int64_t>(B, k1)));
  } else {
    n += std::max<int64_t>(0, std::min<int64_t>(b, k1) - std::max<int64_t>(a, k0));  // q itself
    if (sc) {
      n += sumCounts(sinks, a, b, ownLo, clamp(0, -kNone, k1));  // own sinks in [ownLo, q)
      if (m.bidirectionalImages) n += sumCounts(sinks, a, b, clamp(1, k0, kNone), constant(std::min<int64_t>(B, k1)));
    }
  }
  return n;
}

int64_t PairCounter::visiblePairs(HeadCategory c, TokenRange queries, TokenRange keys) const {
  const int32_t n = layout_.numTokens();
  const int32_t q0 = std::clamp(queries.begin, 0, n), q1 = std::clamp(queries.end, 0, n);
  const int32_t k0 = std::clamp(keys.begin, 0, n), k1 = std::clamp(keys.end, 0, n);
  if (q0 >= q1 || k0 >= k1) return 0;
  int64_t total = 0;
  const auto& segs = layout_.segments();
  const auto& cu = layout_.cuSeqlens();
  for (int32_t g = layout_.segmentOf()[q0]; g < static_cast<int32_t>(segs.size()) && segs[g].begin < q1; ++g) {
    const Segment& seg = segs[g];
    const int32_t seq = layout_.sequenceOf()[seg.begin];
    // Keys of the segment's sequence only (rule 1).
    const int32_t kb = std::max(k0, cu[seq]), ke = std::min(k1, cu[seq + 1]);
    if (kb >= ke) continue;
    total += segmentPairs(c, seg, std::max(seg.begin, q0), std::min(seg.end, q1), kb, ke);
  }
  return total;
}

}  // namespace bs
