// A small fixed pool for the CPU kernels. One parallel job runs at a time (callers queue on a mutex), the calling
// thread works too, and work is handed out dynamically through an atomic counter so that uneven tasks (text query
// blocks see everything, image query blocks little) still finish together.
//
// A job waits only for the workers that joined it. Waking a sleeping thread takes tens of microseconds (about 35 us
// each way on the 2-core VM this was measured on), so a short job (a micro-batch's tile masks, its K/V copy) that
// waited for every worker to wake, find nothing left and report back cost more on two threads than on one: 122 us
// against 54 us for the tile masks of a 512-row call. The calling thread closes the job when every item is taken;
// a worker that wakes after that leaves it alone.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace bs::cpu {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }
  // Runs task(worker, index) for index in [0, count) on up to `threads` threads (<= size()); worker < threads.
  void parallelFor(int64_t count, int threads, const std::function<void(int worker, int64_t index)>& task);

 private:
  void workerLoop(int worker);
  void drain(int worker);

  std::vector<std::thread> workers_;
  std::mutex jobMutex_;  // one job at a time
  std::mutex m_;
  std::condition_variable wake_, done_;
  const std::function<void(int, int64_t)>* task_ = nullptr;
  int64_t count_ = 0;
  int active_ = 0;     // workers that may take part in the current job
  bool open_ = false;  // the current job takes workers (false once the calling thread found every item taken)
  std::atomic<int64_t> next_{0};
  std::atomic<int> running_{0};  // workers that joined the current job and have not finished
  uint64_t generation_ = 0;
  bool stop_ = false;
};

// The process-wide pool, created on first use with defaultThreads() workers. Callers hold the shared_ptr for the
// duration of a job, so resizing (which swaps in a new pool) never pulls a pool from under a running job.
std::shared_ptr<ThreadPool> pool();
int defaultThreads();
void setPoolThreads(int threads);
int poolThreads();

}  // namespace bs::cpu
