#include "call_ranges.h"

#include <string>

#include "error.h"

namespace bs {

CallRanges::CallRanges(const Layout& layout) : CallRanges(layout, nullptr, nullptr) {}

CallRanges::CallRanges(const Layout& layout, const int32_t* queries, const int32_t* keys) {
  const auto& cu = layout.cuSeqlens();
  const int32_t n = layout.numSequences();
  queries_.resize(n);
  keys_.resize(n);
  for (int32_t s = 0; s < n; ++s) {
    const TokenRange all{cu[s], cu[s + 1]};
    const auto take = [&](const int32_t* ranges, const char* what) {
      if (!ranges) return all;
      const TokenRange r{ranges[2 * s], ranges[2 * s + 1]};
      if (r.begin < all.begin || r.end > all.end || r.begin > r.end)
        throw Error(ErrorCode::BAD_RANGE, std::string(what) + " range of sequence " + std::to_string(s) + " is [" +
                                              std::to_string(r.begin) + ", " + std::to_string(r.end) +
                                              "); it must lie inside the sequence's tokens [" + std::to_string(all.begin) +
                                              ", " + std::to_string(all.end) + ") with begin <= end");
      return r;
    };
    queries_[s] = take(queries, "the query");
    keys_[s] = take(keys, "the key");
  }
  index(layout);
}

void CallRanges::index(const Layout& layout) {
  const auto& cu = layout.cuSeqlens();
  const int32_t n = numSequences();
  queryDelta_.resize(n);
  keyDelta_.resize(n);
  allKeys_.resize(n);
  whole_ = true;
  for (int32_t s = 0; s < n; ++s) {
    queryDelta_[s] = queryRows_ - queries_[s].begin;
    keyDelta_[s] = keyRows_ - keys_[s].begin;
    queryRows_ += (queries_[s].end - queries_[s].begin);
    keyRows_ += (keys_[s].end - keys_[s].begin);
    allKeys_[s] = keys_[s].begin == cu[s] && keys_[s].end == cu[s + 1];
    whole_ = whole_ && allKeys_[s] && queries_[s].begin == cu[s] && queries_[s].end == cu[s + 1];
  }
}

}  // namespace bs
