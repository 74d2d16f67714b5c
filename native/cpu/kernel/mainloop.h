// The mainloop of a pass: for every key tile, Q.K^T, the element rule's masks, the online softmax and P.V, on the
// row vectors that see the tile's keys. A masked tile first drops the keys no lane sees at either end (an image's first
// block under `sink` starts with the previous image's hidden tail), a tile at most 1/kSparseTileDensityInv visible is
// computed pair by pair, and a causal diagonal tile runs its trailing keys only on the row vectors that see them.
#pragma once
#include <algorithm>
#include <bit>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "../dtype_convert.h"
#include "constants.h"
#include "item_state.h"
#include "key_tiles.h"
#include "products_bf16.h"
#include "pv_f32.h"
#include "qk_f32.h"
#include "softmax.h"

namespace bs::cpu::BS_ISA_NS::kernel {
namespace {

// The products and the softmax update for keys [j0, j1) of a tile, on the row vectors from v0 on (the lanes below
// v0 * W see none of these keys and keep their state).
template <class S>
inline void keyRange(S& s, const TileKeys& t, int j0, int j1, int v0, bool masked) {
  const int n = j1 - j0, vecs = s.vecs - v0, lane0 = v0 * W, rows = s.rows - lane0;
  if (n <= 0 || vecs <= 0) return;
  const int32_t* keys = t.key + j0;
  if constexpr (S::kDot) {
#if BS_SIMD_DOT_BF16
    const uint32_t* krow[kKeyTile];
    for (int j = 0; j < n; ++j) krow[j] = reinterpret_cast<const uint32_t*>(s.kRow(keys[j]));
    qkBf16(reinterpret_cast<const uint32_t*>(s.qt) + lane0, s.d / 2, krow, n, s.st + lane0, vecs);
    softmaxTile(s.st + lane0, n, vecs, s.expScale, s.m + lane0, s.l + lane0, s.alpha + lane0, masked ? t.bits + j0 : nullptr,
                lane0);
    const int n2 = (n + 1) / 2;
    auto* vp = reinterpret_cast<uint32_t*>(s.vc);
    for (int j = 0; j < n; j += 2)
      simd::interleaveRows(s.vRow(keys[j]), j + 1 < n ? s.vRow(keys[j + 1]) : nullptr, s.d, vp + (j / 2) * s.vpStride);
    packPairsP(s.st + lane0, n, vecs, s.pp + lane0);
    pvBf16(s.o + static_cast<size_t>(lane0) * s.dp, s.dp, s.alpha + lane0, s.pp + lane0, vp, s.vpStride, n2, rows);
#endif
  } else {
    const float* krow[kKeyTile];
    const float* vrow[kKeyTile];
    if (s.direct) {
      for (int j = 0; j < n; ++j) {
        krow[j] = reinterpret_cast<const float*>(s.kRow(keys[j]));
        vrow[j] = reinterpret_cast<const float*>(s.vRow(keys[j]));
      }
    } else {
      // Widen (or pad) the rows once into compact f32 rows of dp floats.
      for (int j = 0; j < n; ++j) {
        float* kd = s.kc + static_cast<size_t>(j) * s.dp;
        float* vd = s.vc + static_cast<size_t>(j) * s.dp;
        s.copyRow(s.kRow(keys[j]), kd);
        s.copyRow(s.vRow(keys[j]), vd);
        krow[j] = kd;
        vrow[j] = vd;
      }
    }
    qkF32(s.qt + lane0, s.d, krow, n, s.st + lane0, vecs, rows);
    softmaxTile(s.st + lane0, n, vecs, s.expScale, s.m + lane0, s.l + lane0, s.alpha + lane0, masked ? t.bits + j0 : nullptr,
                lane0);
    pvF32(s.o + static_cast<size_t>(lane0) * s.dp, s.dp, s.alpha + lane0, s.st + lane0, vrow, n, rows);
  }
}

// A tile computed row by row over its visible pairs only: one dot product per pair, a scalar online-softmax update per
// row, and one axpy per pair. A nearly empty partial tile (e.g. the diagonal block of a sink head: each row sees only
// itself) then costs its visible pairs rather than rows x keys; and a tile with a non-finite k or v row (exact = true)
// gets IEEE arithmetic pair by pair, so the NaN or infinity reaches exactly the rows that see it (a NaN or +inf score
// makes the row NaN, a -inf score weighs nothing, a non-finite v element propagates into the rows' outputs), as in the
// float64 reference. bits: one row mask per key (null: every lane sees every key).
template <class S>
inline void sparseTile(S& s, const TileKeys& t, const uint64_t* bits, bool exact) {
  const uint64_t all = s.rows == 64 ? ~uint64_t{0} : (uint64_t{1} << s.rows) - 1;
  uint8_t count[kLanes] = {};
  uint8_t keysOf[kLanes][kKeyTile];
  for (int j = 0; j < t.n; ++j)
    for (uint64_t b = bits ? bits[j] : all; b; b &= b - 1) {
      const int i = std::countr_zero(b);
      keysOf[i][count[i]++] = static_cast<uint8_t>(j);
    }
  float score[kKeyTile];
  for (int i = 0; i < s.rows; ++i) {
    if (!count[i]) continue;
    const float* qr = s.widen(s.qRow(i), s.rowTmp);
    float mx = s.m[i];
    for (int x = 0; x < count[i]; ++x) {
      const int32_t key = t.key[keysOf[i][x]];
      float sc = simd::dot(qr, s.widen(s.kRow(key), s.kc), s.d) * s.qSign;
      if (!(exact && s.nonFiniteKv[key])) sc = std::min(FLT_MAX, std::max(-FLT_MAX, sc));  // finite inputs saturate
      score[x] = sc;
      mx = std::max(mx, sc);  // a NaN score leaves the max alone; its weight below is NaN
    }
    float* o = s.o + static_cast<size_t>(i) * s.dp;
    if (count[i] == 1 && s.m[i] == kNegInf && score[0] > kNegInf && score[0] < INFINITY) {
      // A row's first and only key here (a sparse head's own token on the diagonal): weight exp2(0) = 1, so the
      // accumulator is that key's value row, as the general update below would make it.
      s.m[i] = score[0];
      s.l[i] = 1.0f;
      std::memcpy(o, s.widen(s.vRow(t.key[keysOf[i][0]]), s.vc), sizeof(float) * s.d);
      continue;
    }
    if (mx > s.m[i]) {
      const float alpha = s.m[i] == kNegInf ? 0.0f : exp2Scalar(s.expScale * (s.m[i] - mx));
      s.l[i] *= alpha;
      simd::scale(alpha, o, s.d);
      s.m[i] = mx;
    }
    for (int x = 0; x < count[i]; ++x) {
      const float p = exp2Scalar(s.expScale * (score[x] - mx));
      s.l[i] += p;
      simd::axpy(p, s.widen(s.vRow(t.key[keysOf[i][x]]), s.vc), o, s.d);
    }
  }
}

// Whether any key of the tile has a non-finite k or v row.
template <class S>
inline bool hasNonFiniteKey(const S& s, const TileKeys& t) {
  if (!s.nonFiniteKv) return false;
  uint8_t any = 0;
  for (int j = 0; j < t.n; ++j) any |= s.nonFiniteKv[t.key[j]];
  return any != 0;
}

template <class S>
inline void tile(S& s, const TileKeys& t) {
  if (hasNonFiniteKey(s, t)) return sparseTile(s, t, t.full ? nullptr : t.bits, true);
  bool masked = !t.full;
  int j0 = 0, j1 = t.n;
  if (masked) {
    // Keys no row sees at either end of the tile are not computed: the first block of an image under `sink` starts
    // with the previous image's tail (hidden) before the text between the images.
    while (j0 < j1 && t.bits[j0] == 0) ++j0;
    while (j1 > j0 && t.bits[j1 - 1] == 0) --j1;
    if (j0 == j1) return;
    int64_t pairs = 0;
    for (int j = j0; j < j1; ++j) pairs += std::popcount(t.bits[j]);
    const int64_t area = static_cast<int64_t>(j1 - j0) * s.rows;
    if (pairs * kSparseTileDensityInv <= area) return sparseTile(s, t, t.bits, false);
    // A partial tile whose rows all see all its keys (gathered text and sinks, for most sparse heads) needs no mask.
    masked = pairs != area;
  }
  if (masked) {
    // Keys that the first row vectors do not see need not be computed for them: on a causal diagonal tile the last
    // 32 keys are hidden from the first 32 rows. Pick the split [j0, j) on every vector + [j, j1) on vectors from v
    // that saves the most (j1 - j) x v, and take it when that is at least 1/8 of the range.
    int suffixMin = s.vecs, bestJ = j1, bestV = 0;
    int64_t bestSave = 0;
    for (int j = j1 - 1; j >= j0; --j) {
      suffixMin = std::min(suffixMin, t.bits[j] ? std::countr_zero(t.bits[j]) / W : s.vecs);
      const int64_t save = static_cast<int64_t>(j1 - j) * suffixMin;
      if (save > bestSave) bestSave = save, bestJ = j, bestV = suffixMin;
    }
    if (bestSave * 8 >= static_cast<int64_t>(j1 - j0) * s.vecs) {
      if (bestJ > j0) keyRange(s, t, j0, bestJ, 0, true);
      if (bestV < s.vecs) keyRange(s, t, bestJ, j1, bestV, true);
      return;
    }
  }
  keyRange(s, t, j0, j1, 0, masked);
}

}  // namespace
}  // namespace bs::cpu::BS_ISA_NS::kernel
