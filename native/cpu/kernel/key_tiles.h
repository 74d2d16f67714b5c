// The key tiles of a pass, in the plan walk's order (core/plan_walk.h): each key run cut into tiles of kKeyTile
// consecutive tokens, then the gathered ranges concatenated into whole tiles (so many short ranges cost like their
// total length). Partial tiles carry one row mask per key (bit i: lane i of the pass sees the key), precomputed by
// TileMasks in exactly this order.
#pragma once
#include <algorithm>
#include <cstdint>

#include "../../core/plan.h"
#include "../kernel.h"
#include "constants.h"

namespace bs::cpu::BS_ISA_NS::kernel {
namespace {

// The keys of one tile: a contiguous run from the plan, or up to kKeyTile entries of the gathered lists.
struct TileKeys {
  int32_t key[kKeyTile];
  int n = 0;
  bool full = false;
  const uint64_t* bits = nullptr;
};

// The partial-tile masks of the pass starting at lane g0, one bit per lane. TileMasks holds them per kLanes rows of
// the block. Only blocks shorter than one pass are stacked (work_order.cpp), so TileMasks has a single piece for
// them, and a stacked pass's lanes repeat its rows once per head: each key's row mask is copied into every head's
// lane range.
template <class S>
inline const uint64_t* passMasks(S& s, int32_t g0) {
  if (!s.masks) return nullptr;
  if (s.stack.count == 1) return s.masks + static_cast<int64_t>(g0 / kLanes) * s.partialKeys;
  struct Piece {
    int32_t row, lane;
    uint64_t keep;
  };
  Piece pieces[kLanes];
  int np = 0;
  for (int32_t a = g0; a < g0 + s.rows;) {
    const int32_t row = a % s.blockRows;
    const int32_t len = std::min(s.blockRows - row, g0 + s.rows - a);  // < kLanes, as blockRows is
    pieces[np++] = {row, a - g0, (uint64_t{1} << len) - 1};
    a += len;
  }
  for (int64_t j = 0; j < s.partialKeys; ++j) {
    const uint64_t rowBits = s.masks[j];
    uint64_t m = 0;
    for (int x = 0; x < np; ++x) m |= ((rowBits >> pieces[x].row) & pieces[x].keep) << pieces[x].lane;
    s.laneMasks[j] = m;
  }
  return s.laneMasks;
}

// True when every token of the query block lies in a partial run and only the lanes of that token see it (a sparse
// head's image rows: the rest of their own image is hidden). bits: the pass's partial-tile masks.
template <class S>
inline bool ownKeysSelfOnly(const S& s, const BlockSpans& spans, const uint64_t* bits) {
  if (!bits) return false;
  uint64_t lanesOf[256] = {};  // blockM <= 256 (plan.cpp)
  for (int i = 0; i < s.rows; ++i) lanesOf[s.laneToken[i] - s.qb.begin] |= uint64_t{1} << i;
  int32_t seen = 0;
  for (int32_t r = 0; r < spans.numRuns(); ++r) {
    const KeySpan run = spans[r];
    const int32_t b = std::max(run.begin, s.qb.begin), e = std::min(run.end, s.qb.end);
    if (run.full()) {
      if (b < e) return false;
      continue;
    }
    for (int32_t k = b; k < e; ++k)
      if (bits[k - run.begin] != lanesOf[k - s.qb.begin]) return false;
    seen += std::max(0, e - b);
    bits += run.size();
  }
  return seen == s.blockRows;
}

// Calls tile(const TileKeys&) for every tile of the pass. With selfOnly, the keys of the block's own tokens are skipped
// (the prologue computed each lane's pair with itself).
template <class S, class TileFn>
inline void forEachTile(const S& s, const BlockSpans& spans, const uint64_t* bits, bool selfOnly, TileFn&& tile) {
  TileKeys t;
  for (int32_t r = 0; r < spans.numRuns(); ++r) {
    const KeySpan run = spans[r];
    t.full = run.full();
    const auto visit = [&](int32_t begin, int32_t end) {
      for (int32_t k0 = begin; k0 < end; k0 += kKeyTile) {
        t.n = std::min(kKeyTile, end - k0);
        for (int j = 0; j < t.n; ++j) t.key[j] = k0 + j;
        t.bits = run.full() ? nullptr : bits;
        if (!run.full()) bits += t.n;
        tile(t);
      }
    };
    if (selfOnly && !run.full() && run.begin < s.qb.end && s.qb.begin < run.end) {
      visit(run.begin, s.qb.begin);
      bits += std::min(run.end, s.qb.end) - std::max(run.begin, s.qb.begin);
      visit(s.qb.end, run.end);
    } else {
      visit(run.begin, run.end);
    }
  }
  t.full = false;
  t.n = 0;
  t.bits = bits;
  for (int32_t g = spans.numRuns(); g < spans.size(); ++g) {
    const KeySpan range = spans[g];
    for (int32_t i = 0; i < range.size(); ++i) {
      t.key[t.n++] = range.token(i);
      if (t.n == kKeyTile) {
        tile(t);
        t.bits += t.n;
        t.n = 0;
      }
    }
  }
  if (t.n > 0) tile(t);
}

}  // namespace
}  // namespace bs::cpu::BS_ISA_NS::kernel
