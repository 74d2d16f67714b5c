#include "cpu_backend.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>

#include "../core/error.h"
#include "kernel.h"
#include "thread_pool.h"
#include "tile_masks.h"
#include "work_order.h"

namespace bs::cpu {

const char* isaName(Isa isa) {
  switch (isa) {
    case Isa::Avx512Bf16: return "avx512bf16";
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2";
    default: return "generic";
  }
}

std::vector<Isa> supportedIsas() {
  std::vector<Isa> out{Isa::Generic};
#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  // libgcc's checks include the OS's XSAVE state, so a kernel without AVX-512 context switching reports false.
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
    out.push_back(Isa::Avx2);
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
    out.push_back(Isa::Avx512);
  if (out.back() == Isa::Avx512 && __builtin_cpu_supports("avx512bf16")) out.push_back(Isa::Avx512Bf16);
#endif
  return out;
}

Isa parseIsa(const std::string& name) {
  for (Isa isa : supportedIsas())
    if (name == isaName(isa)) return isa;
  throw Error("UNSUPPORTED_ISA", "ISA level '" + name + "' is unknown or not supported by this CPU");
}

Isa defaultIsa() {
  if (const char* env = std::getenv("BLINDSIGHT_ISA"); env && *env) return parseIsa(env);
  return supportedIsas().back();
}

namespace {
AttendBlockFn kernelFor(Isa isa) {
  switch (isa) {
#if defined(__x86_64__) || defined(_M_X64)
    case Isa::Avx512Bf16: return avx512bf16::attendBlock;
    case Isa::Avx512: return avx512::attendBlock;
    case Isa::Avx2: return avx2::attendBlock;
#endif
    default: return generic::attendBlock;
  }
}

FmaLoopFn fmaLoopFor(Isa isa) {
  switch (isa) {
#if defined(__x86_64__) || defined(_M_X64)
    case Isa::Avx512Bf16: return avx512bf16::fmaLoop;
    case Isa::Avx512: return avx512::fmaLoop;
    case Isa::Avx2: return avx2::fmaLoop;
#endif
    default: return generic::fmaLoop;
  }
}

int threadsFor(int threads, const ThreadPool& workers) { return std::clamp(threads > 0 ? threads : workers.size(), 1, workers.size()); }

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<uint8_t, FreeDeleter>;

Buffer alignedBuffer(size_t bytes) {
  void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
  if (!p) throw std::bad_alloc();
  return Buffer(static_cast<uint8_t*>(p));
}

// Head-major copies of K and V ([numKvHeads][numTokens][headDim]) when there are several KV heads. In the caller's
// token-major layout one head's rows are 512-byte pieces at a stride of numKvHeads x 512 bytes: short streams the
// hardware prefetchers do not follow, so without reuse from other heads the kernel waits on memory (measured on the
// Zen 4 VM: 67 useful GFLOP/s per core for 4 KV heads without GQA, 96 with one contiguous head). The copy costs one
// pass over K and V (milliseconds against seconds of attention) and K + V of extra memory.
struct PackedKv {
  Buffer k, v;
  KvView view;
  size_t bytes = 0;
  PackedKv(Buffer k_, Buffer v_, KvView view_) : k(std::move(k_)), v(std::move(v_)), view(view_) {}
  PackedKv(PackedKv&&) = default;
  ~PackedKv() {
    if (!k || bytes > kKeepBytesLimit()) return;
    std::unique_lock<std::mutex> lk(cacheMutex(), std::try_to_lock);
    if (lk.owns_lock()) giveBack(std::move(k), std::move(v), bytes);
  }
  static size_t kKeepBytesLimit();
  static std::mutex& cacheMutex();
  static void giveBack(Buffer k, Buffer v, size_t bytes);
};

// Buffers of the last call, reused by the next one so that repeated calls (one per layer) do not pay fresh pages;
// only up to kKeepBytes each, so a huge prompt does not pin its copies after the call.
struct PackCache {
  std::mutex m;
  Buffer k, v;
  size_t bytes = 0;
};
PackCache g_packCache;
constexpr size_t kKeepBytes = size_t{256} << 20;
size_t PackedKv::kKeepBytesLimit() { return kKeepBytes; }
std::mutex& PackedKv::cacheMutex() { return g_packCache.m; }
void PackedKv::giveBack(Buffer k, Buffer v, size_t bytes) {
  if (g_packCache.bytes > bytes) return;  // keep the larger pair
  g_packCache.k = std::move(k);
  g_packCache.v = std::move(v);
  g_packCache.bytes = bytes;
}

PackedKv packKv(const Plan& plan, const AttentionProblem& p, ThreadPool& workers, int threads) {
  const int64_t n = plan.layout().numTokens();
  const int64_t d = p.headDim;
  const int64_t kvh = p.numKvHeads;
  PackedKv out{nullptr, nullptr, {p.k, p.v, kvh * d, d}};
  if (kvh == 1 || n == 0) return out;
  const size_t es = p.inputType == DType::F32 ? 4 : 2;
  const size_t bytes = static_cast<size_t>(n * kvh * d) * es;
  {
    std::unique_lock<std::mutex> lk(g_packCache.m, std::try_to_lock);
    if (lk.owns_lock() && g_packCache.k && g_packCache.bytes >= bytes) {
      out.k = std::move(g_packCache.k);
      out.v = std::move(g_packCache.v);
      g_packCache.bytes = 0;
    }
  }
  if (!out.k) {
    out.k = alignedBuffer(bytes);
    out.v = alignedBuffer(bytes);
  }
  out.bytes = bytes;
  constexpr int64_t kChunk = 512;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  const auto* sk = static_cast<const uint8_t*>(p.k);
  const auto* sv = static_cast<const uint8_t*>(p.v);
  // Token by token, all heads of a token together: the source is read once, front to back (copying one head at a time
  // read it kvh times over, as the prefetchers pull the neighbouring heads' lines too: 3.0 ms against 1.9 ms at 8K
  // tokens, 4 KV heads, measured on the Zen 4 VM).
  workers.parallelFor(chunks, threads, [&](int, int64_t item) {
    const int64_t t0 = item * kChunk, t1 = std::min(n, t0 + kChunk);
    const size_t row = static_cast<size_t>(d) * es;
    for (int64_t t = t0; t < t1; ++t)
      for (int64_t h = 0; h < kvh; ++h) {
        const size_t from = static_cast<size_t>(t * kvh + h) * row, to = static_cast<size_t>(h * n + t) * row;
        std::memcpy(out.k.get() + to, sk + from, row);
        std::memcpy(out.v.get() + to, sv + from, row);
      }
  });
  out.view = {out.k.get(), out.v.get(), d, n * d};
  return out;
}
}  // namespace

void attention(const Plan& plan, const AttentionProblem& problem, int threads, Isa isa) {
  const AttendBlockFn kernel = kernelFor(isa);
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
    kernel(plan, problem, kv.view, stack, w.queryBlock, masks.masks(w.category, w.queryBlock), scratch[worker]);
  });
}

double fmaPeakGflops(int threads, Isa isa, double seconds) {
  const FmaLoopFn loop = fmaLoopFor(isa);
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
