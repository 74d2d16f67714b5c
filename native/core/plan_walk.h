// The plan walk, written once: which keys a (category, query block) visits, in the order every backend visits them —
// its key runs (full or partial), then its gathered ranges. Host and device code (the CPU kernel, the attention-mass
// pass, the tile masks, the work order, the plan statistics, the CUDA mainloops and schedule) all read the plan's CSR
// arrays through these views instead of indexing runOffsets / gatherOffsets by hand.
//
// C++17 and header-only, so nvcc compiles it for the device. A Load policy decides how the arrays are read (plain
// loads on the host, read-only cache loads on the GPU).
#pragma once
#include <cstdint>

#include "mask_rule.h"
#include "plan_types.h"

namespace bs {

struct PlainLoad {
  template <typename T>
  BS_HD static T load(const T* p) {
    return *p;
  }
};

// One category's plan as raw arrays (host vectors' data, or their device copies).
struct CategoryPlanView {
  const int32_t* runOffsets;     // numQueryBlocks + 1
  const KeyRun* runs;
  const int32_t* gatherOffsets;  // numQueryBlocks + 1
  const GatherRange* gathers;
};

// The token lists gathered ranges index, by GatherList.
struct GatherLists {
  const int32_t* list[kNumGatherLists];
};

enum class SpanKind : uint8_t { Full = 0, Partial = 1, Gathered = 2 };

// A stretch of keys of the walk: tokens begin .. end - 1 (a run, list == null), or list[begin .. end) (a gathered
// range). Full spans need no element test; partial and gathered spans do.
template <class Load = PlainLoad>
struct KeySpanT {
  const int32_t* list;
  int32_t begin;
  int32_t end;
  SpanKind kind;

  BS_HD int32_t size() const { return end - begin; }
  BS_HD bool full() const { return kind == SpanKind::Full; }
  BS_HD bool gathered() const { return kind == SpanKind::Gathered; }
  // The i-th key token of the span.
  BS_HD int32_t token(int32_t i) const { return list ? Load::load(list + begin + i) : begin + i; }
};
using KeySpan = KeySpanT<>;

// The first index i in [lo, hi) with list[i] >= token (hi if none): list is sorted.
template <class Load>
BS_HD int32_t lowerBound(const int32_t* list, int32_t lo, int32_t hi, int32_t token) {
  while (lo < hi) {
    const int32_t mid = lo + (hi - lo) / 2;
    if (Load::load(list + mid) < token) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

// The spans of one (category, query block): runs first, then gathered ranges. Index or iterate it. With a key range
// (a call over some of the keys, call_ranges.h), every span is cut to the keys inside it, so every part of a backend
// that walks the spans (tile masks, work costs, the kernel) sees the same, smaller walk; a span may then be empty.
template <class Load = PlainLoad>
class BlockSpansT {
 public:
  BS_HD BlockSpansT(const CategoryPlanView& cp, const GatherLists& lists, int32_t queryBlock)
      : BlockSpansT(cp, lists, queryBlock, TokenRange{0, 0}, false) {}
  BS_HD BlockSpansT(const CategoryPlanView& cp, const GatherLists& lists, int32_t queryBlock, TokenRange keys, bool clip)
      : runs_(cp.runs), gathers_(cp.gathers), lists_(lists), keys_(keys), clip_(clip) {
    run0_ = Load::load(cp.runOffsets + queryBlock);
    numRuns_ = Load::load(cp.runOffsets + queryBlock + 1) - run0_;
    gather0_ = Load::load(cp.gatherOffsets + queryBlock);
    numGathers_ = Load::load(cp.gatherOffsets + queryBlock + 1) - gather0_;
  }

  BS_HD int32_t numRuns() const { return numRuns_; }
  BS_HD int32_t numGathers() const { return numGathers_; }
  BS_HD int32_t size() const { return numRuns_ + numGathers_; }

  BS_HD KeySpanT<Load> operator[](int32_t i) const {
    if (i < numRuns_) {
      const KeyRun* r = runs_ + run0_ + i;
      KeySpanT<Load> s{nullptr, Load::load(&r->begin), Load::load(&r->end),
                       Load::load(&r->full) ? SpanKind::Full : SpanKind::Partial};
      if (clip_) {
        s.begin = s.begin > keys_.begin ? s.begin : keys_.begin;
        s.end = s.end < keys_.end ? s.end : keys_.end;
        if (s.end < s.begin) s.end = s.begin;
      }
      return s;
    }
    const GatherRange* g = gathers_ + gather0_ + (i - numRuns_);
    // The list is loaded as its underlying int32 (device read-only loads take plain scalar types only).
    const int32_t list = Load::load(reinterpret_cast<const int32_t*>(&g->list));
    KeySpanT<Load> s{lists_.list[list], Load::load(&g->begin), Load::load(&g->end), SpanKind::Gathered};
    if (clip_) {
      const int32_t b = lowerBound<Load>(s.list, s.begin, s.end, keys_.begin);
      s.end = lowerBound<Load>(s.list, b, s.end, keys_.end);
      s.begin = b;
    }
    return s;
  }

  class Iterator {
   public:
    BS_HD Iterator(const BlockSpansT* spans, int32_t i) : spans_(spans), i_(i) {}
    BS_HD KeySpanT<Load> operator*() const { return (*spans_)[i_]; }
    BS_HD Iterator& operator++() {
      ++i_;
      return *this;
    }
    BS_HD bool operator!=(const Iterator& o) const { return i_ != o.i_; }

   private:
    const BlockSpansT* spans_;
    int32_t i_;
  };
  BS_HD Iterator begin() const { return Iterator(this, 0); }
  BS_HD Iterator end() const { return Iterator(this, size()); }

 private:
  const KeyRun* runs_;
  const GatherRange* gathers_;
  GatherLists lists_;
  TokenRange keys_;
  bool clip_;
  int32_t run0_, numRuns_, gather0_, numGathers_;
};
using BlockSpans = BlockSpansT<>;

// At most kTileKeys consecutive keys of one span.
template <class Load = PlainLoad>
struct KeyTileT {
  const int32_t* list;  // null: tokens begin, begin + 1, ...; otherwise list[begin], list[begin + 1], ...
  int32_t begin;
  int32_t count;        // 1 .. kTileKeys
  SpanKind kind;

  BS_HD bool full() const { return kind == SpanKind::Full; }
  BS_HD int32_t token(int32_t i) const { return list ? Load::load(list + begin + i) : begin + i; }
};

// The walk cut into tiles: each span into tiles of kTileKeys keys (the last one shorter). Every caller that walks
// the same plan with the same kTileKeys sees the same tile boundaries.
template <int kTileKeys, class Load = PlainLoad>
class TileWalkT {
 public:
  BS_HD TileWalkT(const CategoryPlanView& cp, const GatherLists& lists, int32_t queryBlock)
      : spans_(cp, lists, queryBlock) {}
  BS_HD TileWalkT(const CategoryPlanView& cp, const GatherLists& lists, int32_t queryBlock, TokenRange keys, bool clip)
      : spans_(cp, lists, queryBlock, keys, clip) {}

  // The next tile, or false when the walk is done.
  BS_HD bool next(KeyTileT<Load>& t) {
    for (; span_ < spans_.size(); ++span_, started_ = false) {
      const KeySpanT<Load> s = spans_[span_];
      if (!started_) cursor_ = s.begin, started_ = true;
      if (cursor_ < s.end) {
        const int32_t n = s.end - cursor_ < kTileKeys ? s.end - cursor_ : kTileKeys;
        t = {s.list, cursor_, n, s.kind};
        cursor_ += kTileKeys;
        return true;
      }
    }
    return false;
  }

 private:
  BlockSpansT<Load> spans_;
  int32_t span_ = 0;
  int32_t cursor_ = 0;
  bool started_ = false;
};

// What a (category, query block) visits, summed: the inputs of the cost model (plan_cost.h) and of the statistics.
struct BlockTotals {
  int64_t runKeys = 0;       // keys of full and partial runs
  int64_t partialKeys = 0;   // keys that need the element rule: partial runs and gathered ranges
  int64_t gatheredKeys = 0;
  int64_t runTiles = 0;      // runs cut into tiles of tileKeys (each run on its own)
  int64_t gatherTiles = 0;   // gathered ranges cut the same way (a kernel that concatenates them needs fewer)
};

template <class Load>
BS_HD BlockTotals blockTotals(const BlockSpansT<Load>& spans, int32_t tileKeys) {
  BlockTotals t;
  for (int32_t i = 0; i < spans.size(); ++i) {
    const KeySpanT<Load> s = spans[i];
    if (s.gathered()) {
      t.gatheredKeys += s.size();
      t.partialKeys += s.size();
      t.gatherTiles += (s.size() + tileKeys - 1) / tileKeys;
    } else {
      t.runKeys += s.size();
      t.runTiles += (s.size() + tileKeys - 1) / tileKeys;
      if (!s.full()) t.partialKeys += s.size();
    }
  }
  return t;
}

}  // namespace bs
