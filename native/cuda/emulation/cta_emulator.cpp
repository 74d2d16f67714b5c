#include "cta_emulator.h"

#include <ucontext.h>

#include <algorithm>

#include "../../core/error.h"

namespace bs::cuda::emu {
namespace {
thread_local CtaEmulator* tCurrent = nullptr;
constexpr size_t kStackBytes = 256 * 1024;
}  // namespace

struct SchedulerContext {
  ucontext_t ctx;
};

struct CtaEmulator::Fiber {
  ucontext_t ctx;
  std::vector<unsigned char> stack = std::vector<unsigned char>(kStackBytes);
  bool done = false;
};

CtaEmulator::CtaEmulator(int threads)
    : threads_(threads), scheduler_(std::make_unique<SchedulerContext>()), warps_((threads + 31) / 32),
      exchange_(static_cast<size_t>((threads + 31) / 32) * 32 * kSlotBytes) {
  for (int i = 0; i < threads; ++i) fibers_.push_back(std::make_unique<Fiber>());
  block_.size = threads;
  for (size_t w = 0; w < warps_.size(); ++w) warps_[w].size = std::min(32, threads - static_cast<int>(w) * 32);
}

CtaEmulator::~CtaEmulator() = default;

CtaEmulator& CtaEmulator::current() { return *tCurrent; }
int CtaEmulator::threadIndex() { return tCurrent->running_; }

void CtaEmulator::entry() {
  CtaEmulator& c = *tCurrent;
  (*c.body_)();
  c.fibers_[c.running_]->done = true;
  swapcontext(&c.fibers_[c.running_]->ctx, &c.scheduler_->ctx);
}

void CtaEmulator::run(const std::function<void()>& body) {
  tCurrent = this;
  body_ = &body;
  for (auto& f : fibers_) {
    f->done = false;
    getcontext(&f->ctx);
    f->ctx.uc_stack.ss_sp = f->stack.data();
    f->ctx.uc_stack.ss_size = f->stack.size();
    f->ctx.uc_link = nullptr;
    makecontext(&f->ctx, &CtaEmulator::entry, 0);
  }
  block_.arrived = 0;
  for (auto& w : warps_) w.arrived = 0;
  for (int alive = threads_; alive > 0;) {
    const uint64_t before = progress_;
    alive = 0;
    for (int i = 0; i < threads_; ++i) {
      if (fibers_[i]->done) continue;
      running_ = i;
      swapcontext(&scheduler_->ctx, &fibers_[i]->ctx);
      if (fibers_[i]->done) ++progress_; else ++alive;
    }
    // A whole pass in which no thread reached a barrier or finished: they wait for threads that never come.
    if (alive > 0 && progress_ == before) {
      running_ = -1;
      tCurrent = nullptr;
      throw Error(ErrorCode::EMULATION_DEADLOCK, "emulated CTA: threads wait at a barrier that other threads never reach");
    }
  }
  running_ = -1;
  tCurrent = nullptr;
}

void CtaEmulator::yield() { swapcontext(&fibers_[running_]->ctx, &scheduler_->ctx); }

void CtaEmulator::barrier(Group& g) {
  const uint64_t gen = g.generation;
  ++progress_;
  if (++g.arrived == g.size) {
    g.arrived = 0;
    ++g.generation;
    return;
  }
  while (g.generation == gen) yield();
}

void CtaEmulator::syncThreads() { barrier(block_); }

int CtaEmulator::syncThreadsOr(int predicate) {
  // Every thread publishes its predicate in its exchange slot; after the barrier each reads them all, and a second
  // barrier keeps the slots until everyone has.
  std::memcpy(slot(running_ >> 5, running_ & 31), &predicate, sizeof predicate);
  barrier(block_);
  int any = 0;
  for (int t = 0; t < threads_; ++t) {
    int x;
    std::memcpy(&x, slot(t >> 5, t & 31), sizeof x);
    any |= x != 0;
  }
  barrier(block_);
  return any;
}
void CtaEmulator::syncWarp() { barrier(warps_[running_ >> 5]); }

}  // namespace bs::cuda::emu
