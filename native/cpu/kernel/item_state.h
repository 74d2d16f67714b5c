// The state of one work item — a query piece for a stack of query heads that share a KV head and a plan — as every
// part of the kernel reads it: where q, K, V and the outputs are, the scratch buffers the parts share, and the lanes
// of the current pass. The parts (prologue.h, key_tiles.h, mainloop.h, epilogue.h) are functions of it; attend.h
// runs them in order.
#pragma once
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "../../core/block_verdicts.h"
#include "../../core/plan.h"
#include "../../core/problem.h"
#include "../kernel.h"
#include "constants.h"

namespace bs::cpu::BS_ISA_NS::kernel {
namespace {

template <DType In, bool Dot>
struct ItemState {
  using Elem = std::conditional_t<In == DType::F32, float, uint16_t>;
  static constexpr DType kIn = In;
  // bf16 inputs computed with the pair products (products_bf16.h) rather than widened to f32.
  static constexpr bool kDot = Dot;

  const Plan& plan;
  const AttentionProblem& p;
  const KvView& kv;
  const HeadStack& stack;
  // The piece's rows (qb.begin .. qb.end - 1, inside one plan query block) and keys.
  const QueryPiece& qb;
  const HeadCategory cat;
  const int32_t d;
  const int32_t dp;        // headDim rounded up to whole vectors: rows of the output accumulator
  const int32_t vpStride;  // headDim rounded up to 32: rows of interleaved bf16 value pairs
  const int32_t blockRows;
  const TensorStrides qStrides, outStrides;
  const int64_t kvStride;
  const int64_t kvHeadOffset;
  // f32 rows are read in place unless the head dim is not a whole number of vectors (then P.V needs padded rows).
  const bool direct;
  // f32 output rows are written with streaming stores (epilogue.h): no read for ownership of lines written once, and
  // the output does not push the call's K/V out of the caches. Streaming only outputs of 8 MiB or more (a call of
  // fewer than ~600 query rows at 28 heads x 128 kept plain stores, for the caller to read from cache) measured slower
  // on the Zen 5 VM, one process, streaming against plain stores call by call: `sink` micro-batches of 512 rows against
  // an 8K-token cache 0.94-0.96x (bf16) and 0.95-0.98x (f32), of 128 rows 0.905x, of 64 rows 0.96x; intra-image 0.97x,
  // dense 0.99x; whole prompts of 100-512 tokens 0.90-0.96x. What the caller then reads comes from memory: for a
  // 512-row output (7.3 MB) about 0.2 ms at the 31 GB/s a one-thread copy reached there, against 0.25 ms (sink) to
  // 0.6 ms (dense) saved per call.
  const bool streamOut;
  // Scores are sign(scale) * q.k (qSign folded into Q^T) and weights 2^(expScale (s - m)), expScale = |scale| log2 e.
  const float qSign;
  const float expScale;
  // This KV head's non-finite k / v key rows (KvView::nonFinite), or null; index with keyRow().
  const uint8_t* nonFiniteKv;
  bool streamed = false;
  // Which keys every row of the block sees alike (core/block_verdicts.h), with the layout's per-token classes; the
  // rest have row masks stored by TileMasks, and for stacked heads the pass's copy with each key's row mask repeated
  // in every head's lane range.
  const BlockVerdicts verdicts;
  const int32_t* imageIds;
  const uint8_t* sinkFlags;
  const BlockMasks masks;
  int64_t& computedPairs;  // the worker's count (kernel.h, Scratch)
  uint64_t* laneMasks = nullptr;

  // The current pass: `rows` lanes in `vecs` vectors; lane i is row laneToken[i] of head laneHead[i].
  int32_t rows = 0, vecs = 0;
  int32_t laneToken[kLanes];
  int32_t laneHead[kLanes];
  // Lanes whose q row holds a NaN or an infinity: their output rows and lse are NaN, as in the float64 reference.
  uint64_t poisoned = 0;

  // Scratch: Q^T (or its bf16 pairs), S^T / P^T, the output accumulator, the softmax state, compact K/V rows, P^T
  // pairs, and row buffers for widened inputs.
  float *qt, *st, *o, *m, *l, *alpha, *kc, *vc, *rowTmp;
  uint32_t* pp;

  ItemState(const Plan& plan_, const AttentionProblem& p_, const KvView& kv_, const HeadStack& stack_,
            const QueryPiece& piece, const BlockMasks& masks_, Scratch& scratch)
      : plan(plan_), p(p_), kv(kv_), stack(stack_), qb(piece),
        cat(stack_.category), d(p_.headDim), dp(roundUp(p_.headDim, W)), vpStride(roundUp(p_.headDim, 32)),
        blockRows(piece.rows()), qStrides(p_.qStrides), outStrides(p_.outStrides),
        kvStride(kv_.tokenStride),
        kvHeadOffset(static_cast<int64_t>(stack_.heads[0] / (p_.numHeads / p_.numKvHeads)) * kv_.headStride),
        direct(In == DType::F32 && p_.headDim % W == 0),
        streamOut(p_.outputType == DType::F32),
        qSign(p_.scale < 0 ? -1.0f : 1.0f), expScale(softmaxExpScale(p_.scale)),
        nonFiniteKv(kv_.nonFinite ? kv_.nonFinite + static_cast<int64_t>(stack_.heads[0] / (p_.numHeads / p_.numKvHeads)) *
                                                         kv_.rows
                                  : nullptr),
        verdicts(stack_.category, plan_.options().mask, piece.begin, piece.end, plan_.layout().imageIds()[piece.begin]),
        imageIds(plan_.layout().imageIds().data()), sinkFlags(plan_.layout().sinkFlags().data()), masks(masks_),
        computedPairs(scratch.computedPairs) {
    if (stack.count > 1 && masks.keys > 0) laneMasks = scratch.laneMasks.get(static_cast<size_t>(masks.keys));
    const size_t rowBuf = rowBufferFloats();
    const size_t tileRows = static_cast<size_t>(kKeyTile) * rowBuf;
    float* base = scratch.floats.get(static_cast<size_t>(d) * kLanes + static_cast<size_t>(kKeyTile) * kLanes +
                                     static_cast<size_t>(kLanes) * dp + 3 * kLanes + 2 * tileRows +
                                     static_cast<size_t>(kKeyTile / 2) * kLanes + 17 * rowBuf);
    qt = base;
    st = qt + static_cast<size_t>(d) * kLanes;
    o = st + static_cast<size_t>(kKeyTile) * kLanes;
    m = o + static_cast<size_t>(kLanes) * dp;
    l = m + kLanes;
    alpha = l + kLanes;
    kc = alpha + kLanes;
    vc = kc + tileRows;
    pp = reinterpret_cast<uint32_t*>(vc + tileRows);
    rowTmp = reinterpret_cast<float*>(pp + static_cast<size_t>(kKeyTile / 2) * kLanes);
  }

  size_t rowBufferFloats() const { return static_cast<size_t>(std::max(dp, vpStride)); }

  static int64_t queryRows(const AttentionProblem& p, const Plan& plan) {
    return p.ranges ? p.ranges->queryRows() : plan.layout().numTokens();
  }

  // Rows of the call's tensors: q, out and lse hold query rows, k and v key rows (core/call_ranges.h).
  int64_t queryRow(int32_t token) const { return token + qb.queryDelta; }
  int64_t keyRow(int32_t token) const { return token + qb.keyDelta; }
  const Elem* qRow(int i) const {
    return static_cast<const Elem*>(p.q) + queryRow(laneToken[i]) * qStrides.token + laneHead[i] * qStrides.head;
  }
  const Elem* kRow(int32_t token) const { return static_cast<const Elem*>(kv.k) + keyRow(token) * kvStride + kvHeadOffset; }
  const Elem* vRow(int32_t token) const { return static_cast<const Elem*>(kv.v) + keyRow(token) * kvStride + kvHeadOffset; }
  bool keyNonFinite(int32_t token) const { return nonFiniteKv[keyRow(token)] != 0; }

  // One input row as f32: the row itself for f32 inputs, else widened into dst.
  const float* widen(const Elem* src, float* dst) const {
    if constexpr (In == DType::F32) {
      return src;
    } else if constexpr (In == DType::F16) {
      simd::widenF16(src, dst, d);
      return dst;
    } else {
      simd::widenBf16(src, dst, d);
      return dst;
    }
  }

  // One input row as f32 into dst, zero-padded to dp.
  void copyRow(const Elem* src, float* dst) const {
    if constexpr (In == DType::F32) {
      std::memcpy(dst, src, sizeof(float) * d);
    } else if constexpr (In == DType::F16) {
      simd::widenF16(src, dst, d);
    } else {
      simd::widenBf16(src, dst, d);
    }
    std::fill(dst + d, dst + dp, 0.0f);
  }

  // headDim zeros (the padding rows of a query pass).
  const float* zeroRow() {
    float* z = rowTmp + 8 * rowBufferFloats();
    std::fill(z, z + d, 0.0f);
    return z;
  }
};

}  // namespace
}  // namespace bs::cpu::BS_ISA_NS::kernel
