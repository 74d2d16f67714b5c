#include "plan.h"

#include <algorithm>
#include <climits>

#include "error.h"

namespace bs {
namespace {

// What the rows of one query block are: the planner needs this once per block, not per key block.
struct QuerySummary {
  int32_t q0, q1, s0, s1;
  bool hasText = false;
  int32_t numImages = 0;
  int32_t imgBegin = 0, imgEnd = 0;  // the image span, when numImages == 1
  int32_t segFirst = 0, segLast = 0;
  bool allInOneImage() const { return !hasText && numImages == 1; }
};

int32_t alignDown(int32_t x, int32_t base, int32_t step) { return base + ((x - base) / step) * step; }
int32_t alignUp(int32_t x, int32_t base, int32_t step) { return base + ((x - base + step - 1) / step) * step; }

class Builder {
 public:
  Builder(const Layout& L, const PlanOptions& o)
      : L_(L), o_(o), W_(o.mask.window), keepsSinks_(o.mask.window > 0 && o.mask.windowKeepsSinks) {}

  QuerySummary summarize(const QueryBlock& qb) const {
    QuerySummary s;
    s.q0 = qb.begin;
    s.q1 = qb.end;
    s.s0 = L_.cuSeqlens()[qb.sequence];
    s.s1 = L_.cuSeqlens()[qb.sequence + 1];
    s.segFirst = L_.segmentOf()[qb.begin];
    s.segLast = L_.segmentOf()[qb.end - 1];
    for (int32_t g = s.segFirst; g <= s.segLast; ++g) {
      const Segment& seg = L_.segments()[g];
      if (seg.imageId < 0) {
        s.hasText = true;
      } else {
        ++s.numImages;
        s.imgBegin = seg.begin;
        s.imgEnd = seg.end;
      }
    }
    return s;
  }

  int32_t lo(const QuerySummary& s, int32_t q) const { return W_ > 0 ? std::max(s.s0, q - W_ + 1) : s.s0; }

  // Conservative: true only when every (q, k) pair of the tile is visible. A false "partial" costs time, never
  // correctness, because partial tiles apply the element rule.
  bool isFull(HeadCategory c, const QuerySummary& s, int32_t k0, int32_t k1) const {
    const auto& m = o_.mask;
    const bool insideOwnImage = s.numImages == 1 && k0 >= s.imgBegin && k1 <= s.imgEnd;
    if (k1 - 1 > s.q0 && !(m.bidirectionalImages && s.allInOneImage() && insideOwnImage)) return false;
    if (W_ > 0 && s.q1 - 1 - k0 >= W_ && !(keepsSinks_ && L_.sinkCount(k0, k1) == k1 - k0)) return false;
    if (c != HeadCategory::Dense && s.numImages > 0) {
      const bool tk = m.textKeys, sc = category_sees_sinks(c);
      const int64_t covered = (tk ? L_.textCount(k0, k1) : 0) + (sc ? L_.sinkCount(k0, k1) : 0) -
                              (tk && sc ? L_.textSinkCount(k0, k1) : 0);
      if (covered != k1 - k0 && !(category_sees_own_image(c) && insideOwnImage)) return false;
    }
    return true;
  }

  void pushRun(std::vector<KeyRun>& runs, size_t firstOfBlock, int32_t b, int32_t e, bool full) const {
    if (runs.size() > firstOfBlock && (runs.back().full != 0) == full && runs.back().end == b) {
      runs.back().end = e;
    } else {
      runs.push_back({b, e, full ? 1 : 0});
    }
  }

  // Key blocks of [k0, k1) that provably classify alike are emitted as one run: they lie inside one segment, hold no
  // sink, are all strictly below the diagonal, and are all on the same side of the window edge.
  void emitRuns(HeadCategory c, const QuerySummary& s, int32_t kBegin, int32_t kEnd, std::vector<KeyRun>& runs) const {
    const int32_t BN = o_.blockN;
    const size_t first = runs.size();
    const auto& sinks = L_.sinkTokens();
    const int32_t diagEnd = alignDown(s.q0 + 1, s.s0, BN);  // blocks ending at or before here have k1 - 1 <= q0
    const int32_t windowEdge = W_ > 0 ? alignUp(std::max(s.s0, s.q1 - W_), s.s0, BN) : INT32_MIN;
    int32_t k0 = kBegin;
    // Rows that see everything causal (text rows, dense heads) with no window: every block below the diagonal is
    // Full whatever segments and sinks it holds (isFull's other conditions do not apply), so it is one run. Without
    // this, such a block would walk every segment boundary and sink before it: O(images) per block, O(N x images)
    // per plan.
    if (!o_.exhaustive && W_ == 0 && (c == HeadCategory::Dense || s.numImages == 0) && diagEnd > k0) {
      const int32_t e = std::min(diagEnd, kEnd);
      pushRun(runs, first, k0, e, true);
      k0 = e;
    }
    for (; k0 < kEnd;) {
      const int32_t k1 = std::min(k0 + BN, s.s1);
      if (o_.exhaustive) {
        pushRun(runs, first, k0, kEnd, false);
        break;
      }
      const int32_t segEnd = L_.segments()[L_.segmentOf()[k0]].end;
      const int32_t si = L_.sinkIndexAt(k0);
      const int32_t nextSink = si < static_cast<int32_t>(sinks.size()) ? sinks[si] : INT32_MAX;
      const bool full = isFull(c, s, k0, k1);
      int32_t runEnd = k1;
      if (k1 <= segEnd && nextSink >= k1 && k1 <= diagEnd) {
        runEnd = std::min({kEnd, alignDown(segEnd, s.s0, BN), alignDown(nextSink, s.s0, BN), diagEnd});
        if (k0 < windowEdge) runEnd = std::min(runEnd, windowEdge);
        runEnd = std::max(runEnd, k1);
      }
      pushRun(runs, first, k0, runEnd, full);
      k0 = runEnd;
    }
  }

  void buildBlock(HeadCategory c, const QueryBlock& /*qb*/, const QuerySummary& s, Plan::CategoryPlan& cp) const {
    const auto& m = o_.mask;
    const bool sparse = c != HeadCategory::Dense;
    const bool denseRows = s.hasText || !sparse;
    const bool sparseRows = sparse && s.numImages > 0;
    int32_t localStart = denseRows ? lo(s, s.q0) : INT32_MAX;
    int32_t hi = s.q1;
    for (int32_t g = s.segFirst; g <= s.segLast; ++g) {
      const Segment& seg = L_.segments()[g];
      if (seg.imageId < 0) continue;
      const int32_t qa = std::max(seg.begin, s.q0);
      if (sparse) {
        localStart = std::min(localStart, category_sees_own_image(c) ? std::max(seg.begin, lo(s, qa)) : qa);
      }
      if (m.bidirectionalImages && seg.end > s.q1) {
        const bool seesFuture = !sparse || category_sees_own_image(c) ||
                                (category_sees_sinks(c) && L_.sinkCount(s.q1, seg.end) > 0);
        if (seesFuture) hi = std::max(hi, seg.end);
      }
    }
    if (o_.exhaustive) localStart = s.s0;
    const int32_t kLocal0 = alignDown(localStart, s.s0, o_.blockN);
    const int32_t kLocal1 = std::min(s.s1, alignUp(hi, s.s0, o_.blockN));
    emitRuns(c, s, kLocal0, kLocal1, cp.runs);
    cp.runOffsets.push_back(static_cast<int32_t>(cp.runs.size()));

    if (!o_.exhaustive && kLocal0 > s.s0) {
      const bool needText = sparseRows && m.textKeys;
      // Sinks before the runs are seen past the window only when the window keeps them; a plain window hides every
      // key before lo(q0) from the whole block.
      const bool needSinks = (denseRows && keepsSinks_) ||
                             (sparseRows && (category_sees_sinks(c) || m.textKeys ||
                                             (W_ > 0 && category_sees_own_image(c))));
      auto add = [&](GatherList list, int32_t b, int32_t e) {
        if (e > b) cp.gathers.push_back({list, b, e});
      };
      if (needText) {
        const int32_t textFrom = std::clamp(lo(s, s.q0), s.s0, kLocal0);
        if (keepsSinks_) add(GatherList::Sinks, L_.sinkIndexAt(s.s0), L_.sinkIndexAt(textFrom));
        // A head that sees no other image's sink gathers the text tokens alone (the sinks would all be masked).
        if (category_sees_sinks(c) || denseRows) {
          add(GatherList::Shared, L_.sharedIndexAt(textFrom), L_.sharedIndexAt(kLocal0));
        } else {
          add(GatherList::Text, L_.textIndexAt(textFrom), L_.textIndexAt(kLocal0));
        }
      } else if (needSinks) {
        const int32_t sinksFrom = keepsSinks_ ? s.s0 : std::clamp(lo(s, s.q0), s.s0, kLocal0);
        add(GatherList::Sinks, L_.sinkIndexAt(sinksFrom), L_.sinkIndexAt(kLocal0));
      }
    }
    cp.gatherOffsets.push_back(static_cast<int32_t>(cp.gathers.size()));
  }

  // Exact number of keys query q sees under category c: interval arithmetic over the prefix counts, O(1) per query.
  int64_t visibleKeys(HeadCategory c, int32_t q) const {
    const auto& m = o_.mask;
    const int32_t seq = L_.sequenceOf()[q];
    const int32_t s0 = L_.cuSeqlens()[seq];
    const int32_t lo = W_ > 0 ? std::max(s0, q - W_ + 1) : s0;
    const Segment& seg = L_.segments()[L_.segmentOf()[q]];
    if (seg.imageId < 0 || c == HeadCategory::Dense) {
      int64_t n = (q + 1 - lo) + (keepsSinks_ ? L_.sinkCount(s0, lo) : 0);
      if (seg.imageId >= 0 && m.bidirectionalImages) n += seg.end - q - 1;
      return n;
    }
    const int32_t a = seg.begin, b = seg.end;
    const bool tk = m.textKeys, sc = category_sees_sinks(c);
    int64_t n = 0;
    if (lo < a)  // other tokens inside the window
      n += (tk ? L_.textCount(lo, a) : 0) + (sc ? L_.sinkCount(lo, a) : 0) - (tk && sc ? L_.textSinkCount(lo, a) : 0);
    const int32_t e = std::min(lo, a);  // other tokens before the window: only sinks survive, if the window keeps them
    if (e > s0 && keepsSinks_) n += sc ? L_.sinkCount(s0, e) : (tk ? L_.textSinkCount(s0, e) : 0);
    const int32_t ownLo = std::max(lo, a);
    const int64_t ownSinksOutOfWindow = keepsSinks_ ? L_.sinkCount(a, ownLo) : 0;
    if (category_sees_own_image(c)) {
      n += (q + 1 - ownLo) + ownSinksOutOfWindow + (m.bidirectionalImages ? b - q - 1 : 0);
    } else {
      n += 1;
      if (sc)
        n += L_.sinkCount(ownLo, q) + ownSinksOutOfWindow + (m.bidirectionalImages ? L_.sinkCount(q + 1, b) : 0);
    }
    return n;
  }

 private:
  const Layout& L_;
  const PlanOptions& o_;
  int32_t W_;
  bool keepsSinks_;  // a window that sinks bypass (MaskOptions::windowKeepsSinks)
};

void validate(const PlanOptions& o) {
  auto okBlock = [](int32_t b) { return b >= 8 && b <= 256 && b % 8 == 0; };
  if (!okBlock(o.blockM) || !okBlock(o.blockN))
    throw Error(ErrorCode::BAD_BLOCK_SIZE, "blockM and blockN must be multiples of 8 in [8, 256]");
  if (o.mask.window < 0) throw Error(ErrorCode::BAD_WINDOW, "window must be >= 1, or 0 for no window");
}

}  // namespace

Plan::Plan(std::shared_ptr<const Layout> layout, const PlanOptions& options)
    : layout_(std::move(layout)), options_(options) {
  validate(options_);
  const Layout& L = *layout_;
  const int32_t BM = options_.blockM, BN = options_.blockN;
  for (int32_t seq = 0; seq < L.numSequences(); ++seq) {
    const int32_t s0 = L.cuSeqlens()[seq], s1 = L.cuSeqlens()[seq + 1];
    const int64_t len = s1 - s0;
    stats_.denseCausalPairs += len * (len + 1) / 2;
    const int64_t nKB = (len + BN - 1) / BN;
    // Query blocks restart at every segment boundary, so no block mixes text rows (which see everything) with
    // image rows (which, under a sparse category, see little): a mixed block would compute everything for all rows.
    for (int32_t g = L.segmentOf()[s0]; g < static_cast<int32_t>(L.segments().size()) && L.segments()[g].begin < s1; ++g) {
      const Segment& seg = L.segments()[g];
      for (int32_t q0 = seg.begin; q0 < seg.end; q0 += BM) {
        const int32_t q1 = std::min(q0 + BM, seg.end);
        queryBlocks_.push_back({seq, q0, q1});
        stats_.gridBlocks += nKB;
        stats_.causalBlocks += (q1 - s0 + BN - 1) / BN;
      }
    }
  }

  Builder builder(L, options_);
  for (auto& cp : categories_) {
    cp.runOffsets.reserve(queryBlocks_.size() + 1);
    cp.gatherOffsets.reserve(queryBlocks_.size() + 1);
    cp.runOffsets.push_back(0);
    cp.gatherOffsets.push_back(0);
  }
  for (const QueryBlock& qb : queryBlocks_) {
    const QuerySummary s = builder.summarize(qb);
    for (int c = 0; c < kNumCategories; ++c) builder.buildBlock(static_cast<HeadCategory>(c), qb, s, categories_[c]);
  }
}

void Plan::computeCategoryStats() const {
  const Layout& L = *layout_;
  const int32_t BN = options_.blockN;
  Builder builder(L, options_);
  for (int c = 0; c < kNumCategories; ++c) {
    const auto cat = static_cast<HeadCategory>(c);
    CategoryStats& st = stats_.category[c];
    for (size_t i = 0; i < queryBlocks_.size(); ++i) {
      const int64_t rows = queryBlocks_[i].end - queryBlocks_[i].begin;
      for (const KeySpan span : spans(cat, static_cast<int32_t>(i))) {
        if (span.gathered()) {
          st.gatheredKeys += span.size();
        } else {
          (span.full() ? st.fullBlocks : st.partialBlocks) += (span.size() + BN - 1) / BN;
        }
        st.computedPairs += rows * span.size();
      }
    }
    for (int32_t q = 0; q < L.numTokens(); ++q) st.visiblePairs += builder.visibleKeys(cat, q);
  }
}

size_t Plan::bytes() const {
  size_t b = queryBlocks_.size() * sizeof(QueryBlock);
  for (const auto& cp : categories_)
    b += (cp.runOffsets.size() + cp.gatherOffsets.size()) * sizeof(int32_t) + cp.runs.size() * sizeof(KeyRun) +
         cp.gathers.size() * sizeof(GatherRange);
  return b;
}

}  // namespace bs
