#include "tile_masks.h"

#include "kernel.h"

namespace bs::cpu {

BlockVerdicts blockVerdicts(const Plan& plan, HeadCategory c, int32_t b) {
  const QueryBlock& qb = plan.queryBlocks()[b];
  return BlockVerdicts(c, plan.options().mask, qb.begin, qb.end, plan.layout().imageIds()[qb.begin]);
}

TileMasks::TileMasks(const Plan& plan, const AttentionProblem& problem, ThreadPool& pool, int threads) {
  const auto& qbs = plan.queryBlocks();
  const auto numBlocks = static_cast<int32_t>(qbs.size());
  const Layout& L = plan.layout();
  const int32_t* imageIds = L.imageIds().data();
  const uint8_t* sinks = L.sinkFlags().data();
  std::array<bool, kNumCategories> used{};
  for (int h = 0; h < problem.numHeads; ++h) used[static_cast<int>(problem.heads[h])] = true;
  std::vector<std::pair<int, int32_t>> items;  // (category, query block) with stored keys
  int64_t total = 0;
  for (int c = 0; c < kNumCategories; ++c) {
    if (!used[c]) continue;
    const auto cat = static_cast<HeadCategory>(c);
    offset_[c].assign(numBlocks, 0);
    keys_[c].assign(numBlocks, 0);
    for (int32_t b = 0; b < numBlocks; ++b) {
      const BlockVerdicts verdicts = blockVerdicts(plan, cat, b);
      int32_t keys = 0;
      for (const KeySpan span : plan.spans(cat, b)) {
        if (span.full()) continue;
        for (int32_t i = 0; i < span.size(); ++i) {
          const int32_t k = span.token(i);
          keys += verdicts.kind(k, imageIds[k], sinks[k] != 0) == BlockVerdicts::PerRow;
        }
      }
      offset_[c][b] = total;
      keys_[c][b] = keys;
      if (keys == 0) continue;
      const int64_t passes = (qbs[b].end - qbs[b].begin + kLanes - 1) / kLanes;
      total += keys * passes;
      items.emplace_back(c, b);
    }
  }
  bits_.resize(static_cast<size_t>(total));

  const MaskOptions& mo = plan.options().mask;
  pool.parallelFor(static_cast<int64_t>(items.size()), threads, [&](int, int64_t item) {
    const auto [c, b] = items[item];
    const auto cat = static_cast<HeadCategory>(c);
    const QueryBlock& qb = qbs[b];
    const BlockVerdicts verdicts = blockVerdicts(plan, cat, b);
    uint64_t* out = bits_.data() + offset_[c][b];
    for (int32_t q0 = qb.begin; q0 < qb.end; q0 += kLanes) {
      const int32_t rows = std::min(kLanes, qb.end - q0);
      for (const KeySpan span : plan.spans(cat, b)) {
        if (span.full()) continue;
        for (int32_t i = 0; i < span.size(); ++i) {
          const int32_t k = span.token(i);
          const int32_t kImage = imageIds[k];
          const bool kSink = sinks[k] != 0;
          if (verdicts.kind(k, kImage, kSink) != BlockVerdicts::PerRow) continue;
          uint64_t m = 0;
          for (int32_t r = 0; r < rows; ++r)
            m |= static_cast<uint64_t>(mask_visible(cat, mo, q0 + r, k, imageIds[q0 + r], kImage, kSink)) << r;
          *out++ = m;
        }
      }
    }
  });
}

}  // namespace bs::cpu
