// The attention-mass pass for one work item, on the attention kernel's parts: the item state (kernel/item_state.h),
// the transposed queries (kernel/prologue.h), the key tiles with their row masks (kernel/key_tiles.h) and the
// register-blocked Q.K^T products (kernel/qk_f32.h, kernel/products_bf16.h). Compiled once per ISA level
// (levels/<name>.cpp, after kernel/attend.h) under the level's namespace and target flags; attention_mass.cpp takes
// the level's function from the ISA registry.
//
// Per key tile: S^T = Q.K^T for every lane (a lane is a (head, row) pair of the pass), the base mask on partial
// tiles, and the kernel's online softmax, lane-wise — but where the kernel multiplies P by V, the pass adds each key's
// weights into the sum of its bucket. A key has one bucket for every lane (query blocks never straddle a segment, so
// all rows of a block share one image), except the lanes it is the own token of, whose weight goes to Self instead;
// consecutive keys of one bucket are summed in a register, then the tile's sums join per-lane f64 sums, rescaled when
// the running max grows, so tens of thousands of keys add up without drift. At the end each row's bucket sums over
// their total are its fractions.
//
// The numbers follow the attention kernel's (softmax.h): raw scores sign(scale) q.k in f32 saturated at +-FLT_MAX,
// weights 2^(c (s - m)) with c = min(|scale| log2 e, FLT_MAX), masked keys weigh exactly 0. Keys whose k row holds a
// NaN or an infinity get IEEE scores, unsaturated: a -inf score weighs nothing, a NaN or +inf one makes the row's
// sums NaN. A row whose q holds a NaN or an infinity, or whose sums are not finite, has no fractions (NaN per token)
// and is left out of the head's sums and row count (mass.h); it never touches another row.
#ifndef BS_ISA_NS
#error "define BS_ISA_NS before including mass_impl.h"
#endif
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "../../core/mass_buckets.h"
#include "../../core/plan.h"
#include "../kernel/constants.h"
#include "../kernel/item_state.h"
#include "../kernel/key_tiles.h"
#include "../kernel/products_bf16.h"
#include "../kernel/prologue.h"
#include "../kernel/qk_f32.h"
#include "mass.h"

namespace bs::cpu::BS_ISA_NS {
namespace mass {
namespace {

using kernel::kNegInf;
using kernel::TileKeys;
using simd::V;
constexpr int W = simd::W;
constexpr int kSelf = static_cast<int>(MassBucket::Self);
constexpr uint32_t kVecLanes = (uint32_t{1} << W) - 1;  // the bits of one row vector's lanes

// The pass's per-lane state beyond the kernel's: the bucket sums, and which lanes each query-block row is.
struct PassState {
  double* acc;             // [kMassBuckets][kLanes]
  uint64_t lanesOf[256];   // row r of the block (blockM <= 256): the lanes whose token it is
  int32_t qImage;
};

// S^T for keys [0, n) of the tile on every row vector of the pass.
template <class S>
inline void scores(S& s, const int32_t* keys, int n) {
  if constexpr (S::kDot) {
#if BS_SIMD_DOT_BF16
    const uint32_t* krow[kKeyTile];
    for (int j = 0; j < n; ++j) krow[j] = reinterpret_cast<const uint32_t*>(s.kRow(keys[j]));
    kernel::qkBf16(reinterpret_cast<const uint32_t*>(s.qt), s.d / 2, krow, n, s.st, s.vecs);
#endif
  } else {
    const float* krow[kKeyTile];
    if constexpr (S::kIn == DType::F32) {
      // The product reads headDim elements of each row, so f32 rows serve in place whatever the head dim.
      for (int j = 0; j < n; ++j) krow[j] = reinterpret_cast<const float*>(s.kRow(keys[j]));
    } else {
      for (int j = 0; j < n; ++j) {
        float* kd = s.kc + static_cast<size_t>(j) * s.dp;
        s.copyRow(s.kRow(keys[j]), kd);
        krow[j] = kd;
      }
    }
    kernel::qkF32(s.qt, s.d, krow, n, s.st, s.vecs, s.rows);
  }
}

template <class S>
inline void tile(S& s, const TileKeys& t, PassState& ps) {
  int j0 = 0, j1 = t.n;
  if (!t.full) {
    // Keys no lane sees at either end are not computed (a window's edge, the diagonal tile's last keys).
    while (j0 < j1 && t.bits[j0] == 0) ++j0;
    while (j1 > j0 && t.bits[j1 - 1] == 0) --j1;
    if (j0 == j1) return;
  }
  const int n = j1 - j0;
  const int32_t* keys = t.key + j0;
  const uint64_t* bits = t.full ? nullptr : t.bits + j0;
  scores(s, keys, n);

  uint8_t bucket[kKeyTile];
  uint64_t self[kKeyTile];
  uint8_t exact[kKeyTile];
  bool anyExact = false;
  for (int j = 0; j < n; ++j) {
    const int32_t k = keys[j];
    bucket[j] = static_cast<uint8_t>(mass_bucket_of_key(ps.qImage, s.imageIds[k], s.sinkFlags[k] != 0));
    self[j] = k >= s.qb.begin && k < s.qb.end ? ps.lanesOf[k - s.qb.begin] : 0;
    exact[j] = s.nonFiniteKv ? s.nonFiniteKv[k] : 0;
    anyExact = anyExact || exact[j];
  }

  const V c = simd::set1(s.expScale);
  const V lowest = simd::set1(-FLT_MAX), highest = simd::set1(FLT_MAX), hidden = simd::set1(kNegInf);
  const V none = simd::zero();
  for (int u = 0; u < s.vecs; ++u) {
    float* col = s.st + u * W;
    const int shift = u * W;
    V mx = hidden;
    for (int j = 0; j < n; ++j) {
      V x = simd::load(col + j * kLanes);
      // Finite inputs whose product leaves the f32 range saturate; a non-finite k row keeps its IEEE score.
      if (!anyExact || !exact[j]) x = simd::min(highest, simd::max(lowest, x));
      if (bits) x = simd::keepLanes(x, static_cast<uint32_t>(bits[j] >> shift), hidden);
      simd::store(col + j * kLanes, x);
      mx = simd::max(x, mx);  // a NaN score leaves the max alone; its weight below is NaN
    }
    const V mOld = simd::load(s.m + u * W);
    const V mNew = simd::max(mx, mOld);
    // A lane with nothing visible yet keeps m = -inf; measuring against -FLT_MAX keeps its weights at 0.
    const V mRef = simd::max(mNew, lowest);
    const V alpha = simd::exp2(simd::mul(c, simd::sub(mOld, mRef)));
    V sums[kMassBuckets];
    for (V& x : sums) x = none;
    for (int j = 0; j < n;) {
      const int b = bucket[j];
      const uint32_t own = static_cast<uint32_t>(self[j] >> shift) & kVecLanes;
      if (own != 0) {
        // The lanes this key is the own token of put its weight in Self, the others in the key's bucket.
        const V p = simd::exp2(simd::mul(c, simd::sub(simd::load(col + j * kLanes), mRef)));
        sums[kSelf] = simd::add(sums[kSelf], simd::keepLanes(p, own, none));
        sums[b] = simd::add(sums[b], simd::keepLanes(p, ~own, none));
        ++j;
        continue;
      }
      V run = none;
      for (; j < n && bucket[j] == b && (static_cast<uint32_t>(self[j] >> shift) & kVecLanes) == 0; ++j)
        run = simd::add(run, simd::exp2(simd::mul(c, simd::sub(simd::load(col + j * kLanes), mRef))));
      sums[b] = simd::add(sums[b], run);
    }
    simd::store(s.m + u * W, mNew);
    // The f64 sums: rescaled by this tile's alpha, plus the tile's f32 sums.
    float a[W], tileSum[kMassBuckets][W];
    simd::store(a, alpha);
    for (int b = 0; b < kMassBuckets; ++b) simd::store(tileSum[b], sums[b]);
    for (int b = 0; b < kMassBuckets; ++b) {
      double* acc = ps.acc + b * kLanes + u * W;
      for (int i = 0; i < W; ++i) acc[i] = acc[i] * static_cast<double>(a[i]) + static_cast<double>(tileSum[b][i]);
    }
  }
}

// Each lane's fractions into its head's sums (and perToken); undefined rows are NaN there and left out.
template <class S>
inline void finishPass(const S& s, const PassState& ps, MassItemSums* out, int64_t headStride,
                       float* perToken) {
  for (int i = 0; i < s.rows; ++i) {
    double frac[kMassBuckets];
    double total = 0;
    for (int b = 0; b < kMassBuckets; ++b) total += ps.acc[b * kLanes + i];
    const bool defined = !((s.poisoned >> i) & 1) && total > 0 && total <= DBL_MAX;
    MassItemSums& sums = out[static_cast<int64_t>(s.laneHead[i]) * headStride];
    for (int b = 0; b < kMassBuckets; ++b) {
      // A division, not a multiply by 1/total: it cannot be fused into the sum below, so the sums come out the same
      // whether or not per-token fractions are stored.
      frac[b] = defined ? ps.acc[b * kLanes + i] / total : std::numeric_limits<double>::quiet_NaN();
      if (defined) sums.sums[b] += frac[b];
    }
    sums.rows += defined;
    if (perToken) {
      float* row = perToken + (static_cast<int64_t>(s.laneToken[i]) * s.p.numHeads + s.laneHead[i]) * kMassBuckets;
      for (int b = 0; b < kMassBuckets; ++b) row[b] = static_cast<float>(frac[b]);
    }
  }
}

template <DType In, bool Dot>
void runItem(const Plan& plan, const AttentionProblem& p, const KvView& kv, const HeadStack& stack,
             const QueryPiece& piece, const BlockMasks& masks, Scratch& scratch, MassScratch& massScratch,
             MassItemSums* out, int64_t headStride, float* perToken) {
  kernel::ItemState<In, Dot> s(plan, p, kv, stack, piece, masks, scratch);
  const BlockSpans spans = piece.spans(plan, HeadCategory::Dense);
  PassState ps;
  ps.acc = massScratch.acc.get(static_cast<size_t>(kMassBuckets) * kLanes);
  ps.qImage = s.imageIds[s.qb.begin];
  for (int i = 0; i < stack.count; ++i) {
    MassItemSums& o = out[static_cast<int64_t>(stack.heads[i]) * headStride];
    std::fill(o.sums, o.sums + kMassBuckets, 0.0);
    o.rows = 0;
  }
  const int32_t lanes = stack.count * s.blockRows;
  for (int32_t g0 = 0; g0 < lanes; g0 += kLanes) {
    s.rows = std::min(kLanes, lanes - g0);
    s.vecs = (s.rows + W - 1) / W;
    std::fill(ps.lanesOf, ps.lanesOf + s.blockRows, uint64_t{0});
    stack.lanes(g0, s.rows, s.blockRows, s.qb.begin, s.laneHead, s.laneToken);
    for (int i = 0; i < s.rows; ++i) ps.lanesOf[s.laneToken[i] - s.qb.begin] |= uint64_t{1} << i;
    std::fill(ps.acc, ps.acc + static_cast<size_t>(kMassBuckets) * kLanes, 0.0);
    const uint64_t* bits = kernel::passMasks(s, g0);
    kernel::loadQueries(s, false);
    kernel::forEachTile(s, spans, bits, kernel::OwnKeys{}, [&](const TileKeys& t) { tile(s, t, ps); });
    finishPass(s, ps, out, headStride, perToken);
  }
}

}  // namespace
}  // namespace mass

void massBlock(const Plan& plan, const AttentionProblem& p, const KvView& kv, const HeadStack& stack,
               const QueryPiece& piece, const BlockMasks& masks, Scratch& scratch, MassScratch& massScratch,
               MassItemSums* out, int64_t headStride, float* perToken) {
  switch (p.inputType) {
    case DType::F32:
      mass::runItem<DType::F32, false>(plan, p, kv, stack, piece, masks, scratch, massScratch, out, headStride, perToken);
      break;
    case DType::F16:
      mass::runItem<DType::F16, false>(plan, p, kv, stack, piece, masks, scratch, massScratch, out, headStride, perToken);
      break;
    case DType::BF16:
      mass::runItem<DType::BF16, BS_SIMD_DOT_BF16 != 0>(plan, p, kv, stack, piece, masks, scratch, massScratch, out,
                                                        headStride, perToken);
      break;
  }
}

}  // namespace bs::cpu::BS_ISA_NS
