// The rows a call computes, cut along the plan's query blocks: each block its query ranges touch (core/call_ranges.h)
// gives a query piece, the block's rows inside the range (the whole block for a whole-prompt call), with its
// sequence's key range and where its rows sit in the call's tensors. Every backend schedules pieces, not blocks, and
// walks each piece's key spans cut to its key range.
#pragma once
#include <cstdint>
#include <vector>

#include "call_ranges.h"
#include "plan.h"

namespace bs {

struct QueryPiece {
  int32_t block;          // the plan's query block
  int32_t begin, end;     // query tokens, inside the block
  TokenRange keys;        // the call's keys of the block's sequence
  bool clipKeys;          // keys is not the whole sequence: the plan's spans are cut to it
  int64_t queryDelta;     // q / out / lse row = token + queryDelta
  int64_t keyDelta;       // k / v row = token + keyDelta
  int32_t rows() const { return end - begin; }
  BlockSpans spans(const Plan& plan, HeadCategory c) const { return plan.spans(c, block, keys, clipKeys); }
};

// The query pieces of a call, in plan order: O(log blocks + pieces) per sequence.
std::vector<QueryPiece> queryPieces(const Plan& plan, const CallRanges& ranges);

}  // namespace bs
