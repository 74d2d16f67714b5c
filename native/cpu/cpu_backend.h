// The CPU backend: picks the kernel for the CPU's ISA at run time and spreads (head, query block) work items over
// the pool.
#pragma once
#include <string>
#include <vector>

#include "../core/plan.h"
#include "../core/problem.h"

namespace bs::cpu {

enum class Isa { Generic = 0, Avx2 = 1, Avx512 = 2 };

const char* isaName(Isa isa);
// Levels this CPU (and OS) can execute, best last. Generic is always there.
std::vector<Isa> supportedIsas();
// The level used when a call does not force one: BLINDSIGHT_ISA if set (and supported), else the best supported.
Isa defaultIsa();
// Parses "generic" | "avx2" | "avx512"; throws bs::Error UNSUPPORTED_ISA if unknown or not runnable here.
Isa parseIsa(const std::string& name);

void attention(const Plan& plan, const AttentionProblem& problem, int threads, Isa isa);

}  // namespace bs::cpu
