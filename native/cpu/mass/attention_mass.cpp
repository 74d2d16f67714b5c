// Drives the attention-mass pass: picks the ISA build, spreads (head, image query block) work items over the pool
// and reduces the per-block sums in a fixed order, so results do not depend on the thread count.
#include <algorithm>
#include <limits>
#include <memory>

#include "../../core/error.h"
#include "../../core/problem_checks.h"
#include "../level_kernels.h"
#include "../thread_pool.h"
#include "mass.h"

namespace bs::cpu {

void MassScratch::ensure(int32_t rows, int32_t headDim) {
  const size_t qd = static_cast<size_t>(rows) * headDim;
  if (q.size() < qd) q.resize(qd);
  if (s.size() < static_cast<size_t>(rows) * kMassKeyTile) s.resize(static_cast<size_t>(rows) * kMassKeyTile);
  if (p.size() < static_cast<size_t>(kMassKeyTile)) p.resize(kMassKeyTile);
  if (kt.size() < static_cast<size_t>(headDim) * kMassKeyTile) kt.resize(static_cast<size_t>(headDim) * kMassKeyTile);
  if (m.size() < static_cast<size_t>(rows)) m.resize(rows);
  if (acc.size() < static_cast<size_t>(rows) * kMassBuckets) acc.resize(static_cast<size_t>(rows) * kMassBuckets);
}

MassResult attentionMass(const Plan& plan, const MassProblem& p, int threads, Isa isa) {
  checkHeadCounts(p.numHeads, p.numKvHeads);
  if (p.headDim < 1 || p.headDim > 1024) throw Error(ErrorCode::BAD_HEAD_DIM, "the attention-mass pass takes headDim in [1, 1024]");
  if (p.inputType != DType::F32 && p.inputType != DType::F16 && p.inputType != DType::BF16)
    throw Error(ErrorCode::UNSUPPORTED_DTYPE, "q and k must be f32, f16 or bf16");

  const Layout& L = plan.layout();
  const auto& blocks = plan.queryBlocks();
  std::vector<int32_t> imageBlocks;
  MassResult result;
  result.perHead.assign(static_cast<size_t>(p.numHeads) * kMassBuckets, 0.0);
  for (int32_t b = 0; b < static_cast<int32_t>(blocks.size()); ++b) {
    if (L.imageIds()[blocks[b].begin] < 0) {
      if (p.perToken) {
        const int64_t first = static_cast<int64_t>(blocks[b].begin) * p.numHeads * kMassBuckets;
        const int64_t last = static_cast<int64_t>(blocks[b].end) * p.numHeads * kMassBuckets;
        std::fill(p.perToken + first, p.perToken + last, std::numeric_limits<float>::quiet_NaN());
      }
      continue;
    }
    imageBlocks.push_back(b);
    result.imageQueries += blocks[b].end - blocks[b].begin;
  }

  const int64_t numBlocks = static_cast<int64_t>(imageBlocks.size());
  const int64_t heads = p.numHeads;
  std::vector<double> blockSums(static_cast<size_t>(numBlocks * heads) * kMassBuckets, 0.0);
  const MassBlockFn kernel = kernelsFor(isa).massBlock;
  std::shared_ptr<ThreadPool> workers = pool();
  const int n = std::clamp(threads > 0 ? threads : workers->size(), 1, workers->size());
  std::vector<MassScratch> scratch(n);
  // Later query blocks of a causal sequence see the most keys; handing them out first keeps the tail short.
  workers->parallelFor(numBlocks * heads, n, [&](int worker, int64_t item) {
    const int64_t slot = numBlocks - 1 - item / heads;
    const int head = static_cast<int>(item % heads);
    kernel(plan, p, head, imageBlocks[slot], scratch[worker],
           blockSums.data() + static_cast<size_t>(head * numBlocks + slot) * kMassBuckets);
  });
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t b = 0; b < numBlocks; ++b)
      for (int c = 0; c < kMassBuckets; ++c)
        result.perHead[h * kMassBuckets + c] += blockSums[static_cast<size_t>(h * numBlocks + b) * kMassBuckets + c];
  return result;
}

}  // namespace bs::cpu
