// Drives the attention-mass pass as the CPU backend drives attention (cpu_backend.cpp): the work items of an
// all-dense problem that hold image queries, the dense category's row masks, the head-major K copy, the level's
// kernel on the pool. Per-item sums land in a fixed slot per (head, query block) and are reduced in block order, so
// results do not depend on the thread count.
#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>

#include "../../core/error.h"
#include "../../core/problem_checks.h"
#include "../level_kernels.h"
#include "../packed_kv.h"
#include "../thread_pool.h"
#include "../tile_masks.h"
#include "../work_order.h"
#include "mass.h"

namespace bs::cpu {
namespace {

// The kernel's tiles take head dims that are a multiple of 8 (its transposes move 8 x 8 blocks). Other dims are
// zero-padded, which leaves every dot product as it was.
constexpr int32_t kDimStep = 8;

std::vector<uint8_t> padRows(const void* src, int64_t rows, int32_t d, int32_t padded, size_t es) {
  std::vector<uint8_t> out(static_cast<size_t>(rows) * padded * es, 0);
  const auto* from = static_cast<const uint8_t*>(src);
  for (int64_t r = 0; r < rows; ++r) std::memcpy(out.data() + r * padded * es, from + r * d * es, d * es);
  return out;
}

}  // namespace

MassResult attentionMass(const Plan& plan, const MassProblem& p, int threads, Isa isa) {
  checkHeadCounts(p.numHeads, p.numKvHeads);
  if (p.headDim < 1 || p.headDim > 1024) throw Error(ErrorCode::BAD_HEAD_DIM, "the attention-mass pass takes headDim in [1, 1024]");
  if (p.inputType != DType::F32 && p.inputType != DType::F16 && p.inputType != DType::BF16)
    throw Error(ErrorCode::UNSUPPORTED_DTYPE, "q and k must be f32, f16 or bf16");

  const Layout& L = plan.layout();
  const int64_t n = L.numTokens();
  const auto& blocks = plan.queryBlocks();
  const int64_t heads = p.numHeads;
  MassResult result;
  result.perHead.assign(static_cast<size_t>(heads) * kMassBuckets, 0.0);
  result.rows.assign(static_cast<size_t>(heads), 0);
  std::vector<int32_t> slotOf(blocks.size(), -1);
  int32_t numSlots = 0;
  for (int32_t b = 0; b < static_cast<int32_t>(blocks.size()); ++b) {
    if (L.imageIds()[blocks[b].begin] < 0) {
      if (p.perToken) {
        const int64_t first = static_cast<int64_t>(blocks[b].begin) * heads * kMassBuckets;
        const int64_t last = static_cast<int64_t>(blocks[b].end) * heads * kMassBuckets;
        std::fill(p.perToken + first, p.perToken + last, std::numeric_limits<float>::quiet_NaN());
      }
      continue;
    }
    slotOf[b] = numSlots++;
    result.imageQueries += blocks[b].end - blocks[b].begin;
  }
  if (numSlots == 0) return result;

  const int32_t d = (p.headDim + kDimStep - 1) / kDimStep * kDimStep;
  std::vector<uint8_t> qPadded, kPadded;
  const void* q = p.q;
  const void* k = p.k;
  if (d != p.headDim) {
    const size_t es = dtypeBytes(p.inputType);
    qPadded = padRows(p.q, n * p.numHeads, p.headDim, d, es);
    kPadded = padRows(p.k, n * p.numKvHeads, p.headDim, d, es);
    q = qPadded.data(), k = kPadded.data();
  }
  const std::vector<HeadCategory> dense(static_cast<size_t>(heads), HeadCategory::Dense);
  // v is never read; packKv copies it as it copies k.
  AttentionProblem problem{q, k, k, nullptr, nullptr, p.inputType, DType::F32, p.numHeads, p.numKvHeads, d,
                           p.scale, dense.data(), {}, {}, {}, {}, nullptr};  // contiguous, every token (set below)
  // The whole layout as queries and keys: one query piece per plan block, in block order.
  const CallRanges whole(L);
  problem.ranges = &whole;
  resolveProblemStrides(problem, n, n);
  const std::vector<QueryPiece> pieces = queryPieces(plan, whole);

  WorkList work = orderWork(plan, problem, pieces, StackItems::Whole);
  std::erase_if(work.items, [&](const WorkItem& w) { return slotOf[w.piece] < 0; });
  std::vector<MassItemSums> sums(static_cast<size_t>(heads) * numSlots);
  const MassBlockFn kernel = kernelsFor(isa).massBlock;
  std::shared_ptr<ThreadPool> workers = pool();
  const int nt = std::clamp(threads > 0 ? threads : workers->size(), 1, workers->size());
  const TileMasks masks(plan, problem, pieces, *workers, nt);
  const PackedKv kv = packKv(plan, problem, pieces, *workers, nt);
  std::vector<Scratch> scratch(nt);
  std::vector<MassScratch> massScratch(nt);
  workers->parallelFor(static_cast<int64_t>(work.items.size()), nt, [&](int worker, int64_t i) {
    const WorkItem& w = work.items[i];
    const HeadStack stack{work.heads.data() + w.firstHead, w.numHeads, w.category, w.tokenMajor};
    const BlockMasks blockMasks{masks.masks(w.category, w.piece), masks.storedKeys(w.category, w.piece)};
    kernel(plan, problem, kv.view, stack, pieces[w.piece], blockMasks, scratch[worker], massScratch[worker],
           sums.data() + slotOf[pieces[w.piece].block], numSlots, p.perToken);
  });
  for (int64_t h = 0; h < heads; ++h)
    for (int32_t b = 0; b < numSlots; ++b) {
      const MassItemSums& s = sums[static_cast<size_t>(h * numSlots + b)];
      for (int c = 0; c < kMassBuckets; ++c) result.perHead[h * kMassBuckets + c] += s.sums[c];
      result.rows[h] += s.rows;
    }
  return result;
}

}  // namespace bs::cpu
