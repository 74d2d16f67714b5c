#include "query_pieces.h"

#include <algorithm>

namespace bs {

std::vector<QueryPiece> queryPieces(const Plan& plan, const CallRanges& ranges) {
  const auto& qbs = plan.queryBlocks();
  std::vector<QueryPiece> pieces;
  if (ranges.wholeLayout()) pieces.reserve(qbs.size());
  for (int32_t seq = 0; seq < ranges.numSequences(); ++seq) {
    const TokenRange q = ranges.queries(seq);
    if (q.begin >= q.end) continue;
    // Query blocks are in token order and never straddle a sequence: the first one ending after q.begin starts the
    // range's blocks.
    auto it = std::upper_bound(qbs.begin(), qbs.end(), q.begin, [](int32_t t, const QueryBlock& b) { return t < b.end; });
    for (; it != qbs.end() && it->begin < q.end; ++it)
      pieces.push_back({static_cast<int32_t>(it - qbs.begin()), std::max(it->begin, q.begin), std::min(it->end, q.end),
                        ranges.keys(seq), !ranges.allKeys(seq), ranges.queryDelta(seq), ranges.keyDelta(seq)});
  }
  return pieces;
}

}  // namespace bs
