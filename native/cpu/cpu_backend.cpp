#include "cpu_backend.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>

#include "../core/error.h"
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

void attention(const Plan& plan, const AttentionProblem& problem, int threads, Isa isa) {
  const AttendBlockFn kernel = kernelsFor(isa).attendBlock;
  const WorkList work = orderWork(plan, problem);
  // The calling thread (the JS thread, or the libuv worker of an async call) is worker 0 of the job and the pool
  // supplies the rest, so a call uses exactly n threads; concurrent calls queue on the pool rather than add threads.
  std::shared_ptr<ThreadPool> workers = pool();
  const int n = threadsFor(threads, *workers);
  const TileMasks masks(plan, problem, *workers, n);
  const PackedKv kv = packKv(plan, problem, *workers, n);
  std::vector<Scratch> scratch(n);
  workers->parallelFor(static_cast<int64_t>(work.items.size()), n, [&](int worker, int64_t i) {
    const WorkItem& w = work.items[i];
    const HeadStack stack{work.heads.data() + w.firstHead, w.numHeads, w.category};
    const BlockMasks blockMasks{masks.masks(w.category, w.queryBlock), masks.storedKeys(w.category, w.queryBlock)};
    kernel(plan, problem, kv.view, stack, w.queryBlock, blockMasks, scratch[worker]);
  });
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
