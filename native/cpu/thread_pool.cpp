#include "thread_pool.h"

#include "float_env.h"

#include <algorithm>
#include <chrono>
#include <memory>

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
#include <immintrin.h>
#elif defined(_MSC_VER) && defined(_M_ARM64)
#include <intrin.h>
#endif

namespace bs::cpu {
namespace {
inline void cpuRelax() {
#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
  _mm_pause();
#elif defined(_MSC_VER) && defined(_M_ARM64)
  __yield();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}
}  // namespace

ThreadPool::ThreadPool(int threads) {
  for (int i = 1; i < std::max(threads, 1); ++i) workers_.emplace_back([this, i] { workerLoop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lk(m_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::drain(int worker) {
  for (int64_t i = next_.fetch_add(1); i < count_; i = next_.fetch_add(1)) (*task_)(worker, i);
}

void ThreadPool::workerLoop(int worker) {
  const FlushSubnormals flush;  // pool threads run only kernel work
  uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lk(m_);
      wake_.wait(lk, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      if (!open_ || worker >= active_) continue;
      running_.fetch_add(1);
    }
    drain(worker);
    if (running_.fetch_sub(1) == 1) {
      std::lock_guard<std::mutex> lk(m_);  // the caller checks running_ under m_ before it sleeps
      done_.notify_all();
    }
  }
}

void ThreadPool::parallelFor(int64_t count, int threads, const std::function<void(int, int64_t)>& task) {
  if (count <= 0) return;
  std::lock_guard<std::mutex> job(jobMutex_);
  const int n = static_cast<int>(std::clamp<int64_t>(std::min<int64_t>(threads, size()), 1, count));
  {
    std::lock_guard<std::mutex> lk(m_);
    task_ = &task;
    count_ = count;
    next_.store(0);
    active_ = n;
    open_ = n > 1;
    ++generation_;
  }
  if (n > 1) wake_.notify_all();
  {
    const FlushSubnormals flush;  // the calling thread's own mode comes back after its share of the job
    drain(0);
  }
  std::unique_lock<std::mutex> lk(m_);
  open_ = false;  // every item is taken: workers not in the job yet stay out of it
  if (running_.load() > 0) {
    // A joined worker is finishing its last item: wait for it, briefly spinning first, since going to sleep and
    // being woken costs more than most items' tails.
    lk.unlock();
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(50);
    for (int spin = 1; running_.load() > 0; ++spin) {
      cpuRelax();
      if (spin % 64 == 0 && std::chrono::steady_clock::now() > until) break;
    }
    lk.lock();
    done_.wait(lk, [&] { return running_.load() == 0; });
  }
  task_ = nullptr;
}

namespace {
std::mutex g_poolMutex;
std::shared_ptr<ThreadPool> g_pool;
int g_threads = 0;
}  // namespace

int defaultThreads() { return std::max(1u, std::thread::hardware_concurrency()); }

std::shared_ptr<ThreadPool> pool() {
  std::lock_guard<std::mutex> lk(g_poolMutex);
  if (!g_pool) {
    if (g_threads <= 0) g_threads = defaultThreads();
    g_pool = std::make_shared<ThreadPool>(g_threads);
  }
  return g_pool;
}

void setPoolThreads(int threads) {
  std::lock_guard<std::mutex> lk(g_poolMutex);
  g_threads = threads > 0 ? threads : defaultThreads();
  if (g_pool && g_pool->size() != g_threads) g_pool.reset();  // recreated lazily; a running job keeps the old one
}

int poolThreads() {
  std::lock_guard<std::mutex> lk(g_poolMutex);
  return g_threads > 0 ? g_threads : defaultThreads();
}

}  // namespace bs::cpu
