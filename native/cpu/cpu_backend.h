// The CPU backend: runs a call on the kernel of the chosen ISA level (isa.h), spreading (query block, head stack) work
// items over the pool, most expensive first.
#pragma once
#include <cstdint>

#include "../core/plan.h"
#include "../core/problem.h"
#include "isa.h"

namespace bs::cpu {

// What a call did, as the kernel counted it.
struct CallStats {
  int64_t computedPairs = 0;  // (query row, key) pairs the products ran, over all heads (kernel.h, Scratch)
  // Wall time of the call's phases: the preparation (work order, tile masks, K/V copy and scan) and the kernel.
  double prepareMs = 0, kernelMs = 0;
};

struct KvPack;

// keep: the K/V copy to read from and add to (packed_kv.h), for a token-major cache of several KV heads prefilled in
// micro-batches; null: a copy of this call's rows only.
CallStats attention(const Plan& plan, const AttentionProblem& problem, int threads, Isa isa, KvPack* keep = nullptr);

// The machine's f32 FMA throughput on `threads` threads with the given ISA's widest vectors, in GFLOP/s, from a
// tight loop of independent FMAs that runs for about `seconds`.
double fmaPeakGflops(int threads, Isa isa, double seconds);

}  // namespace bs::cpu
