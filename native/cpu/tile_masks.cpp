#include "tile_masks.h"

#include "kernel.h"

namespace bs::cpu {

TileMasks::TileMasks(const Plan& plan, const AttentionProblem& problem, ThreadPool& pool, int threads) {
  const auto& qbs = plan.queryBlocks();
  const auto numBlocks = static_cast<int32_t>(qbs.size());
  std::array<bool, kNumCategories> used{};
  for (int h = 0; h < problem.numHeads; ++h) used[static_cast<int>(problem.heads[h])] = true;
  std::vector<std::pair<int, int32_t>> items;  // (category, query block) with partial keys
  int64_t total = 0;
  for (int c = 0; c < kNumCategories; ++c) {
    if (!used[c]) continue;
    offset_[c].resize(numBlocks);
    for (int32_t b = 0; b < numBlocks; ++b) {
      offset_[c][b] = total;
      const int64_t keys = blockTotals(plan.spans(static_cast<HeadCategory>(c), b), kKeyTile).partialKeys;
      if (keys == 0) continue;
      const int64_t passes = (qbs[b].end - qbs[b].begin + kLanes - 1) / kLanes;
      total += keys * passes;
      items.emplace_back(c, b);
    }
  }
  bits_.resize(static_cast<size_t>(total));

  const Layout& L = plan.layout();
  const MaskOptions& mo = plan.options().mask;
  const int32_t* imageIds = L.imageIds().data();
  const uint8_t* sinks = L.sinkFlags().data();
  pool.parallelFor(static_cast<int64_t>(items.size()), threads, [&](int, int64_t item) {
    const auto [c, b] = items[item];
    const auto cat = static_cast<HeadCategory>(c);
    const BlockSpans spans = plan.spans(cat, b);
    const QueryBlock& qb = qbs[b];
    uint64_t* out = bits_.data() + offset_[c][b];
    // The rows of a block lie in one segment, so they share their image id; for a key before the first row that the
    // window does not reach, the rule then says the same for every row, and one evaluation decides all of them. The
    // gathered sinks and text keys of sparse heads are such keys, and they were most of the evaluations here.
    const bool oneSegment = L.segmentOf()[qb.begin] == L.segmentOf()[qb.end - 1];
    auto emit = [&](int32_t q0, int32_t rows, int32_t k) {
      const int32_t kImage = imageIds[k];
      const bool kSink = sinks[k] != 0;
      const int32_t qLast = q0 + rows - 1;
      if (oneSegment && k < q0 && (mo.window <= 0 || kSink || qLast - k < mo.window)) {
        const bool all = mask_visible(cat, mo, q0, k, imageIds[q0], kImage, kSink);
        *out++ = all ? (rows == 64 ? ~uint64_t{0} : (uint64_t{1} << rows) - 1) : 0;
        return;
      }
      uint64_t m = 0;
      for (int32_t i = 0; i < rows; ++i)
        m |= static_cast<uint64_t>(mask_visible(cat, mo, q0 + i, k, imageIds[q0 + i], kImage, kSink)) << i;
      *out++ = m;
    };
    for (int32_t q0 = qb.begin; q0 < qb.end; q0 += kLanes) {
      const int32_t rows = std::min(kLanes, qb.end - q0);
      for (const KeySpan span : spans) {
        if (span.full()) continue;
        for (int32_t i = 0; i < span.size(); ++i) emit(q0, rows, span.token(i));
      }
    }
  });
}

}  // namespace bs::cpu
