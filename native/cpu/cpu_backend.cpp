#include "cpu_backend.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>

#include "../core/error.h"
#include "../core/problem_checks.h"
#include "kernel.h"
#include "level_kernels.h"
#include "packed_kv.h"
#include "thread_pool.h"
#include "tile_masks.h"
#include "work_order.h"

namespace bs::cpu {

namespace {
int threadsFor(int threads, const ThreadPool& workers) { return std::clamp(threads > 0 ? threads : workers.size(), 1, workers.size()); }

}  // namespace

CallStats attention(const Plan& plan, const AttentionProblem& call, int threads, Isa isa, KvPack* keep) {
  const AttendBlockFn kernel = kernelsFor(isa).attendBlock;
  // Every token as query and key unless the call names ranges.
  std::optional<CallRanges> whole;
  AttentionProblem problem = call;
  if (!problem.ranges) problem.ranges = &whole.emplace(plan.layout());
  resolveProblemStrides(problem, problem.ranges->queryRows(), problem.ranges->keyRows());  // defaults where unset
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  const std::vector<QueryPiece> pieces = queryPieces(plan, *problem.ranges);
  const WorkList work = orderWork(plan, problem, pieces, StackItems::PerPass);
  // The calling thread (the JS thread, or the libuv worker of an async call) is worker 0 of the job and the pool
  // supplies the rest, so a call uses exactly n threads; concurrent calls queue on the pool rather than add threads.
  std::shared_ptr<ThreadPool> workers = pool();
  const int n = threadsFor(threads, *workers);
  const TileMasks masks(plan, problem, pieces, *workers, n);
  std::unique_lock<std::mutex> keepLock;
  if (keep) keepLock = std::unique_lock<std::mutex>(keep->mutex);
  const PackedKv kv = packKv(plan, problem, pieces, *workers, n, keep);
  // A kept copy's rows are layout tokens: the kernel reads key token t at row t.
  std::vector<QueryPiece> tokenPieces;
  if (kv.byToken) {
    tokenPieces = pieces;
    for (QueryPiece& piece : tokenPieces) piece.keyDelta = 0;
  }
  const std::vector<QueryPiece>& kernelPieces = kv.byToken ? tokenPieces : pieces;
  std::vector<Scratch> scratch(n);
  const auto t1 = Clock::now();
  workers->parallelFor(static_cast<int64_t>(work.items.size()), n, [&](int worker, int64_t i) {
    const WorkItem& w = work.items[i];
    const HeadStack stack{work.heads.data() + w.firstHead, w.numHeads, w.category, w.tokenMajor, w.firstLane, w.numLanes};
    const BlockMasks blockMasks{masks.masks(w.category, w.piece), masks.storedKeys(w.category, w.piece)};
    kernel(plan, problem, kv.view, stack, kernelPieces[w.piece], blockMasks, scratch[worker]);
  });
  CallStats stats;
  for (const Scratch& s : scratch) stats.computedPairs += s.computedPairs;
  stats.prepareMs = std::chrono::duration<double, std::milli>(t1 - t0).count();
  stats.kernelMs = std::chrono::duration<double, std::milli>(Clock::now() - t1).count();
  return stats;
}

double fmaPeakGflops(int threads, Isa isa, double seconds) {
  const FmaLoopFn loop = kernelsFor(isa).fmaLoop;
  using Clock = std::chrono::steady_clock;
  // Calibrate on one thread, then give every thread several chunks of about seconds / 4.
  int64_t iters = 1 << 16;
  for (;;) {
    const auto t0 = Clock::now();
    loop(iters);
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (s > 0.02 || iters > (int64_t{1} << 36)) {
      iters = std::clamp<int64_t>(static_cast<int64_t>(static_cast<double>(iters) * (seconds / 4) / std::max(s, 1e-6)),
                                  1, int64_t{1} << 36);
      break;
    }
    iters *= 4;
  }
  std::shared_ptr<ThreadPool> workers = pool();
  const int n = threadsFor(threads, *workers);
  std::vector<double> flops(n, 0.0);
  const auto t0 = Clock::now();
  workers->parallelFor(4 * n, n, [&](int worker, int64_t) { flops[worker] += loop(iters); });
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  double total = 0;
  for (double f : flops) total += f;
  return total / s / 1e9;
}

}  // namespace bs::cpu
