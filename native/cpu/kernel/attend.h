// The FlashAttention-style CPU kernel for one work item (a query block for a stack of heads), written once in the
// vector vocabulary of simd/ and compiled per ISA level (levels/<level>.cpp) under that level's namespace and -m
// flags; the ISA registry (isa.h) picks one at run time, so a single x86-64 binary is fast on new CPUs and never
// executes an unsupported instruction on old ones.
//
// Query rows live in vector lanes. Per pass of up to kLanes (head, row) lanes:
//   prologue.h   Q^T[d][lane] (scaled by scale*log2e), the softmax state reset, a sparse head's self pairs
//   key_tiles.h  the plan's key tiles in the plan walk's order, each with its partial-tile row masks
//   mainloop.h   per tile: Q.K^T (qk_f32.h / products_bf16.h), masks and online softmax (softmax.h), P.V (pv_f32.h)
//   epilogue.h   normalise, store in the output type, log-sum-exp
// Each K row is read contiguously (broadcasts) and each V row as whole vectors, so a tile of gathered keys (sinks and
// text scattered over many earlier blocks) costs the same as a contiguous one: a query block pays for the keys it
// visits, never for the blocks they came from. Nothing transposes K or V per tile. The element rule (mask_rule.h)
// runs only on the plan's partial tiles, in TileMasks.
#pragma once
#include <algorithm>
#include <cstdint>

#include "../../core/plan.h"
#include "../../core/problem.h"
#include "../kernel.h"
#include "epilogue.h"
#include "item_state.h"
#include "key_tiles.h"
#include "mainloop.h"
#include "prologue.h"

namespace bs::cpu::BS_ISA_NS {
namespace kernel {
namespace {

// Whether some lane's own token has a non-finite k or v row (then its pair with itself goes through the exact tiles).
template <class S>
bool ownTokenNonFinite(const S& s) {
  if (!s.nonFiniteKv) return false;
  for (int i = 0; i < s.rows; ++i)
    if (s.keyNonFinite(s.laneToken[i])) return true;
  return false;
}

// Passes of up to kLanes lanes over the stack's (head, row) pairs, head-major (lane g of the item is row
// g % blockRows of head g / blockRows) or token-major (kernel.h, HeadStack). A single head's passes are the block's
// rows in kLanes steps.
template <DType In, bool Dot>
void runItem(const Plan& plan, const AttentionProblem& p, const KvView& kv, const HeadStack& stack,
             const QueryPiece& piece, const BlockMasks& masks, Scratch& scratch) {
  ItemState<In, Dot> s(plan, p, kv, stack, piece, masks, scratch);
  const BlockSpans spans = piece.spans(plan, s.cat);
  const int32_t lanes = stack.numLanes > 0 ? stack.firstLane + stack.numLanes : stack.count * s.blockRows;
  for (int32_t g0 = stack.firstLane; g0 < lanes; g0 += kLanes) {
    s.rows = std::min(kLanes, lanes - g0);
    s.vecs = (s.rows + W - 1) / W;
    stack.lanes(g0, s.rows, s.blockRows, s.qb.begin, s.laneHead, s.laneToken);
    const uint64_t* bits = passMasks(s, g0);
    // A sparse head's image rows see no key of their own block but themselves (and the image's sink): those pairs are
    // done with the queries' transposition, one per row, and the runs skip the block's own keys.
    OwnKeys own;
    own.selfOnly = ownKeysSelfOnly(s, spans, bits, own) && !ownTokenNonFinite(s);
    loadQueries(s, own.selfOnly);
    forEachTile(s, spans, bits, own, [&](const TileKeys& t) { tile(s, t); });
    storeRows(s);
  }
  if (s.streamed) simd::streamFence();
}

}  // namespace
}  // namespace kernel

void attendBlock(const Plan& plan, const AttentionProblem& p, const KvView& kv, const HeadStack& stack,
                 const QueryPiece& piece, const BlockMasks& masks, Scratch& scratch) {
  switch (p.inputType) {
    case DType::F32: kernel::runItem<DType::F32, false>(plan, p, kv, stack, piece, masks, scratch); break;
    case DType::F16: kernel::runItem<DType::F16, false>(plan, p, kv, stack, piece, masks, scratch); break;
    case DType::BF16: kernel::runItem<DType::BF16, BS_SIMD_DOT_BF16 != 0>(plan, p, kv, stack, piece, masks, scratch); break;
  }
}

}  // namespace bs::cpu::BS_ISA_NS
