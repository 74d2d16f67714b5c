#include "cpu_backend.h"

#include <algorithm>
#include <cstdlib>
#include <memory>

#include "../core/error.h"
#include "kernel.h"
#include "thread_pool.h"

namespace bs::cpu {

const char* isaName(Isa isa) {
  switch (isa) {
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
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) out.push_back(Isa::Avx2);
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma"))
    out.push_back(Isa::Avx512);
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
    case Isa::Avx512: return avx512::attendBlock;
    case Isa::Avx2: return avx2::attendBlock;
#endif
    default: return generic::attendBlock;
  }
}
}  // namespace

void attention(const Plan& plan, const AttentionProblem& problem, int threads, Isa isa) {
  if (problem.inputType != DType::F32 || problem.outputType != DType::F32)
    throw Error("UNSUPPORTED_DTYPE", "the CPU backend computes f32 inputs and outputs only");
  const AttendBlockFn kernel = kernelFor(isa);
  const int64_t numBlocks = static_cast<int64_t>(plan.queryBlocks().size());
  const int64_t heads = problem.numHeads;
  std::shared_ptr<ThreadPool> workers = pool();
  const int n = std::clamp(threads > 0 ? threads : workers->size(), 1, workers->size());
  std::vector<Scratch> scratch(n);
  // Later query blocks of a causal sequence cost the most; handing them out first keeps the tail short.
  workers->parallelFor(numBlocks * heads, n, [&](int worker, int64_t item) {
    const auto qb = static_cast<int32_t>(numBlocks - 1 - item / heads);
    kernel(plan, problem, static_cast<int>(item % heads), qb, scratch[worker]);
  });
}

}  // namespace bs::cpu
