// The CPU backend: picks the kernel for the CPU's ISA at run time and spreads (sequence, head, query block) work
// items over the pool, most expensive first.
#pragma once
#include <string>
#include <vector>

#include "../core/plan.h"
#include "../core/problem.h"

namespace bs::cpu {

// avx512bf16 is AVX-512 plus AVX512_BF16 (vdpbf16ps for bf16 inputs); f32 and f16 run the same code as avx512.
enum class Isa { Generic = 0, Avx2 = 1, Avx512 = 2, Avx512Bf16 = 3 };

const char* isaName(Isa isa);
// Levels this CPU (and OS) can execute, best last. Generic is always there.
std::vector<Isa> supportedIsas();
// The level used when a call does not force one: BLINDSIGHT_ISA if set (and supported), else the best supported.
Isa defaultIsa();
// Parses "generic" | "avx2" | "avx512" | "avx512bf16"; throws bs::Error UNSUPPORTED_ISA if unknown or not runnable.
Isa parseIsa(const std::string& name);

void attention(const Plan& plan, const AttentionProblem& problem, int threads, Isa isa);

// The machine's f32 FMA throughput on `threads` threads with the given ISA's widest vectors, in GFLOP/s, from a
// tight loop of independent FMAs that runs for about `seconds`.
double fmaPeakGflops(int threads, Isa isa, double seconds);

}  // namespace bs::cpu
