// Which tokens of the layout one attention call covers: per sequence, one range of query tokens and one range of key
// tokens, in layout coordinates (FlashAttention's separate cu_seqlens_q / cu_seqlens_k). The q, out and lse tensors
// hold the query tokens' rows, sequence after sequence, and k / v the key tokens' rows. The mask is the plan's, in
// layout coordinates, so a prompt computed in chunks of queries (against a cache of keys) gives the rows the whole
// prompt gives, and a call over a range of keys gives the partial softmax that merges exactly (merge.h).
#pragma once
#include <cstdint>
#include <vector>

#include "layout.h"
#include "plan_types.h"

namespace bs {

class CallRanges {
 public:
  // Every token, as query and as key: the whole prompt in one call.
  explicit CallRanges(const Layout& layout);
  // queries / keys: 2 * numSequences int32s (begin, end per sequence), or null for every token of each sequence.
  // Throws BAD_RANGE unless each range lies inside its sequence with begin <= end.
  CallRanges(const Layout& layout, const int32_t* queries, const int32_t* keys);

  int32_t numSequences() const { return static_cast<int32_t>(queries_.size()); }
  TokenRange queries(int32_t seq) const { return queries_[seq]; }
  TokenRange keys(int32_t seq) const { return keys_[seq]; }
  // The row of q (out, lse) holding query token t of sequence seq is t + queryDelta(seq); likewise for k and v.
  int64_t queryDelta(int32_t seq) const { return queryDelta_[seq]; }
  int64_t keyDelta(int32_t seq) const { return keyDelta_[seq]; }
  int64_t queryRows() const { return queryRows_; }
  int64_t keyRows() const { return keyRows_; }
  // Whether sequence seq's keys are all of its tokens (the kernels then need not clip the plan's key spans).
  bool allKeys(int32_t seq) const { return allKeys_[seq] != 0; }
  bool wholeLayout() const { return whole_; }

 private:
  void index(const Layout& layout);
  std::vector<TokenRange> queries_, keys_;
  std::vector<int64_t> queryDelta_, keyDelta_;
  std::vector<uint8_t> allKeys_;
  int64_t queryRows_ = 0, keyRows_ = 0;
  bool whole_ = false;
};

}  // namespace bs
