// Runs one CTA's threads on the host as cooperative fibers, so device code can be executed unchanged on a machine
// without a GPU (test-only; see emulated_attention.cpp). Threads run one at a time and switch only at barriers, so
// each warp-collective instruction can be emulated by "every lane publishes its operands, barrier, every lane
// computes its own result from all operands, barrier". A barrier that some thread of the group never reaches
// (divergent __syncthreads) is detected and reported instead of hanging.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <vector>

#include <vector_types.h>

namespace bs::cuda::emu {

class CtaEmulator {
 public:
  explicit CtaEmulator(int threads);
  ~CtaEmulator();
  CtaEmulator(const CtaEmulator&) = delete;
  CtaEmulator& operator=(const CtaEmulator&) = delete;

  // Runs body() once per thread, with threadIdx.x = 0..threads-1, until every thread has returned.
  void run(const std::function<void()>& body);

  static CtaEmulator& current();
  static int threadIndex();

  void syncThreads();
  void syncWarp();
  // __syncthreads_or: a block barrier that returns nonzero when any thread's predicate was.
  int syncThreadsOr(int predicate);

  // A warp-collective operation: every lane contributes `in`; after all lanes of the warp have, each lane gets
  // compute(lane, get) where get(l) returns lane l's contribution.
  template <typename In, typename Compute>
  auto warpCollective(const In& in, Compute&& compute) {
    static_assert(sizeof(In) <= kSlotBytes, "operand too large for the exchange slot");
    const int lane = threadIndex() & 31, warp = threadIndex() >> 5;
    std::memcpy(slot(warp, lane), &in, sizeof(In));
    syncWarp();
    auto get = [&](int l) -> In {
      In x;
      std::memcpy(&x, slot(warp, l), sizeof(In));
      return x;
    };
    auto out = compute(lane, get);
    syncWarp();  // nobody overwrites the slots before every lane has read them
    return out;
  }

 private:
  static constexpr size_t kSlotBytes = 64;
  struct Fiber;
  struct Group {
    int size = 0, arrived = 0;
    uint64_t generation = 0;
  };
  void barrier(Group& g);
  void yield();
  unsigned char* slot(int warp, int lane) { return exchange_.data() + (static_cast<size_t>(warp) * 32 + lane) * kSlotBytes; }
  static void entry();

  int threads_;
  std::vector<std::unique_ptr<Fiber>> fibers_;
  std::unique_ptr<struct SchedulerContext> scheduler_;
  Group block_;
  std::vector<Group> warps_;
  std::vector<unsigned char> exchange_;
  const std::function<void()>* body_ = nullptr;
  int running_ = -1;
  uint64_t progress_ = 0;
};

}  // namespace bs::cuda::emu
