// The key tiles of a pass, in the plan walk's order (core/plan_walk.h): each key run cut into tiles of kKeyTile
// consecutive tokens, then the gathered ranges concatenated into whole tiles (so many short ranges cost like their
// total length). Partial tiles carry one row mask per key (bit i: lane i of the pass sees the key), precomputed by
// TileMasks in exactly this order.
#pragma once
#include <algorithm>
#include <bit>
#include <cstdint>

#include "../../core/block_verdicts.h"
#include "../../core/plan.h"
#include "../kernel.h"
#include "constants.h"

namespace bs::cpu::BS_ISA_NS::kernel {
namespace {

// The keys of one tile: a contiguous run from the plan, or up to kKeyTile entries of the gathered lists. A partial
// tile carries one lane mask per key (bit i: lane i of the pass sees the key).
struct TileKeys {
  int32_t key[kKeyTile];
  int n = 0;
  bool full = false;
  const uint64_t* bits = nullptr;
  uint64_t bitsBuf[kKeyTile];
};

// The stored row masks of the pass starting at lane g0, one bit per lane. TileMasks holds them per kLanes rows of the
// block. Only blocks of at most one pass are stacked (work_order.cpp), so TileMasks has a single piece for them, and
// a stacked pass's lanes repeat its rows once per head: each key's row mask is spread over the lanes of its rows.
template <class S>
inline const uint64_t* passMasks(S& s, int32_t g0) {
  if (!s.masks.bits) return nullptr;
  if (s.stack.count == 1) return s.masks.bits + static_cast<int64_t>(g0 / kLanes) * s.masks.keys;
  if (s.stack.tokenMajor) {
    // Row r's heads are lanes [r * count - g0, (r + 1) * count - g0) of the pass, clipped to it. The block's rows fit
    // one 64-bit row mask: work_order.cpp stacks only blocks of at most kLanes rows.
    const int32_t count = s.stack.count, r0 = g0 / count, r1 = (g0 + s.rows - 1) / count;
    const uint64_t passRows = r1 - r0 + 1 == 64 ? ~uint64_t{0} : (uint64_t{1} << (r1 - r0 + 1)) - 1;
    const uint64_t passLanes = s.rows == 64 ? ~uint64_t{0} : (uint64_t{1} << s.rows) - 1;
    const uint64_t heads = (uint64_t{1} << count) - 1;
    for (int32_t j = 0; j < s.masks.keys; ++j) {
      uint64_t m = 0;
      for (uint64_t b = (s.masks.bits[j] >> r0) & passRows; b; b &= b - 1) {
        const int32_t lane = (r0 + std::countr_zero(b)) * count - g0;
        m |= lane >= 0 ? heads << lane : heads >> -lane;
      }
      s.laneMasks[j] = m & passLanes;
    }
    return s.laneMasks;
  }
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
  for (int32_t j = 0; j < s.masks.keys; ++j) {
    const uint64_t rowBits = s.masks.bits[j];
    uint64_t m = 0;
    for (int x = 0; x < np; ++x) m |= ((rowBits >> pieces[x].row) & pieces[x].keep) << pieces[x].lane;
    s.laneMasks[j] = m;
  }
  return s.laneMasks;
}

template <class S>
inline BlockVerdicts::Kind verdictOf(const S& s, int32_t k) {
  return s.verdicts.kind(k, s.imageIds[k], s.sinkFlags[k] != 0);
}

// How a pass computes the keys of its own query block. With selfOnly, each lane's pair with its own token rides along
// with the queries' transposition (prologue.h) and the runs skip the block's own keys, but for the few that other lanes
// see too (an image's sink, which the rest of the image's first block sees): those form one tile of their own, each
// key masked to the lanes other than its own token's.
constexpr int kMaxSharedOwnKeys = 4;
struct OwnKeys {
  bool selfOnly = false;
  int n = 0;
  int32_t key[kMaxSharedOwnKeys];
  uint64_t bits[kMaxSharedOwnKeys];
};

// Whether the pass can take its own keys as OwnKeys::selfOnly: every token of the query block lies in a partial run,
// its own lanes see it, and at most kMaxSharedOwnKeys of them are seen by other lanes too (a sparse head's image rows:
// the rest of their own image is hidden but for its sink). Fills own's shared keys. stored: the pass's stored masks.
template <class S>
inline bool ownKeysSelfOnly(const S& s, const BlockSpans& spans, const uint64_t* stored, OwnKeys& own) {
  own.n = 0;
  if (!stored) return false;
  uint64_t lanesOf[256] = {};  // blockM <= 256 (plan.cpp)
  for (int i = 0; i < s.rows; ++i) lanesOf[s.laneToken[i] - s.qb.begin] |= uint64_t{1} << i;
  int32_t seen = 0;
  for (int32_t r = 0; r < spans.numRuns(); ++r) {
    const KeySpan run = spans[r];
    if (run.full()) {
      if (std::max(run.begin, s.qb.begin) < std::min(run.end, s.qb.end)) return false;
      continue;
    }
    for (int32_t k = run.begin; k < run.end; ++k) {
      if (verdictOf(s, k) != BlockVerdicts::PerRow) continue;
      if (k >= s.qb.begin && k < s.qb.end) {
        const uint64_t self = lanesOf[k - s.qb.begin], others = *stored & ~self;
        if ((*stored & self) != self) return false;
        if (others) {
          if (own.n == kMaxSharedOwnKeys) return false;
          own.key[own.n] = k;
          own.bits[own.n++] = others;
        }
        ++seen;
      }
      ++stored;
    }
  }
  return seen == s.blockRows;
}

// Calls tile(const TileKeys&) for every tile of the pass. Each partial tile's lane masks come from the stored masks
// (keys the rows see differently) or from the block's verdicts (keys every lane sees alike). With own.selfOnly, the
// keys of the block's own tokens are skipped (the prologue computed each lane's pair with itself) but for own's shared
// keys, a last tile.
template <class S, class TileFn>
inline void forEachTile(const S& s, const BlockSpans& spans, const uint64_t* stored, const OwnKeys& own, TileFn&& tile) {
  const bool selfOnly = own.selfOnly;
  const uint64_t allLanes = s.rows == 64 ? ~uint64_t{0} : (uint64_t{1} << s.rows) - 1;
  TileKeys t;
  const auto maskOf = [&](int32_t k) -> uint64_t {
    switch (verdictOf(s, k)) {
      case BlockVerdicts::PerRow: return *stored++;
      case BlockVerdicts::Visible: return allLanes;
      default: return 0;
    }
  };
  for (int32_t r = 0; r < spans.numRuns(); ++r) {
    const KeySpan run = spans[r];
    t.full = run.full();
    t.bits = t.full ? nullptr : t.bitsBuf;
    const auto visit = [&](int32_t begin, int32_t end) {
      for (int32_t k0 = begin; k0 < end; k0 += kKeyTile) {
        t.n = std::min(kKeyTile, end - k0);
        for (int j = 0; j < t.n; ++j) t.key[j] = k0 + j;
        if (!t.full)
          for (int j = 0; j < t.n; ++j) t.bitsBuf[j] = maskOf(k0 + j);
        tile(t);
      }
    };
    if (selfOnly && !run.full() && run.begin < s.qb.end && s.qb.begin < run.end) {
      visit(run.begin, s.qb.begin);
      stored += std::min(run.end, s.qb.end) - std::max(run.begin, s.qb.begin);  // the block's own keys: all stored
      visit(s.qb.end, run.end);
    } else {
      visit(run.begin, run.end);
    }
  }
  t.full = false;
  t.bits = t.bitsBuf;
  t.n = 0;
  for (int32_t g = spans.numRuns(); g < spans.size(); ++g) {
    const KeySpan range = spans[g];
    for (int32_t i = 0; i < range.size(); ++i) {
      const int32_t k = range.token(i);
      t.key[t.n] = k;
      t.bitsBuf[t.n++] = maskOf(k);
      if (t.n == kKeyTile) {
        tile(t);
        t.n = 0;
      }
    }
  }
  if (t.n > 0) tile(t);
  if (selfOnly && own.n > 0) {
    t.n = own.n;
    for (int j = 0; j < own.n; ++j) t.key[j] = own.key[j], t.bitsBuf[j] = own.bits[j];
    tile(t);
  }
}

}  // namespace
}  // namespace bs::cpu::BS_ISA_NS::kernel
