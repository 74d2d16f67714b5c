#include "isa.h"

#include <cstdlib>

#include "../core/error.h"
#include "cpu_features.h"
#include "level_kernels.h"

namespace bs::cpu {
namespace {

struct Level {
  Isa isa;
  const char* name;
};

bool runs(Isa isa) {
  const CpuFeatures& f = cpuFeatures();
  const bool avx2 = f.avx2 && f.fma && f.f16c;
  const bool avx512 = avx2 && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq;
  switch (isa) {
    case Isa::Generic: return true;
    case Isa::Avx2: return avx2;
    case Isa::Avx512: return avx512;
    case Isa::Avx512Bf16: return avx512 && f.avx512bf16;
    case Isa::Neon: return f.neon;
    case Isa::NeonBf16: return f.neon && f.bf16;
  }
  return false;
}

const char* needsOf(Isa isa) {
  switch (isa) {
    case Isa::Generic: return "nothing (portable code the compiler vectorises)";
    case Isa::Avx2: return "x86-64 with AVX2, FMA and F16C";
    case Isa::Avx512: return "x86-64 with AVX-512 F/BW/VL/DQ, FMA and F16C";
    case Isa::Avx512Bf16: return "x86-64 with AVX-512 F/BW/VL/DQ, FMA, F16C and AVX512_BF16";
    case Isa::Neon: return "AArch64 (Advanced SIMD)";
    case Isa::NeonBf16: return "AArch64 with FEAT_BF16 (BFDOT)";
  }
  return "";
}

const LevelKernels* compiledKernels(Isa isa) {
  switch (isa) {
#define BS_LEVEL_CASE(Enum, name) \
  case Isa::Enum: return &name::kKernels;
    BS_ISA_LEVELS_COMPILED(BS_LEVEL_CASE)
#undef BS_LEVEL_CASE
    default: return nullptr;
  }
}

constexpr Level kLevels[] = {
#define BS_LEVEL_ROW(Enum, name) {Isa::Enum, #name},
    BS_ISA_LEVELS_ALL(BS_LEVEL_ROW)
#undef BS_LEVEL_ROW
};

}  // namespace

const char* isaName(Isa isa) {
  for (const Level& l : kLevels)
    if (l.isa == isa) return l.name;
  return "unknown";
}

std::vector<IsaInfo> isaLevels() {
  std::vector<IsaInfo> out;
  for (const Level& l : kLevels) {
    const bool compiled = compiledKernels(l.isa) != nullptr;
    out.push_back({l.isa, l.name, needsOf(l.isa), compiled, compiled && runs(l.isa)});
  }
  return out;
}

std::vector<Isa> supportedIsas() {
  std::vector<Isa> out;
  for (const IsaInfo& l : isaLevels())
    if (l.supported) out.push_back(l.isa);
  return out;
}

Isa parseIsa(const std::string& name) {
  std::string available;
  for (Isa isa : supportedIsas()) available += (available.empty() ? "" : ", ") + std::string(isaName(isa));
  for (const IsaInfo& l : isaLevels()) {
    if (name != l.name) continue;
    if (l.supported) return l.isa;
    throw Error(ErrorCode::UNSUPPORTED_ISA, "ISA level '" + name + "' " +
                                       (l.compiled ? "needs " + std::string(l.needs) + ", which this CPU lacks"
                                                   : std::string("is not built for this architecture")) +
                                       "; this CPU runs: " + available);
  }
  throw Error(ErrorCode::UNSUPPORTED_ISA, "unknown ISA level '" + name + "'; this CPU runs: " + available);
}

Isa defaultIsa() {
  if (const char* env = std::getenv("BLINDSIGHT_ISA"); env && *env) return parseIsa(env);
  return supportedIsas().back();
}

const LevelKernels& kernelsFor(Isa isa) {
  const LevelKernels* k = compiledKernels(isa);
  if (!k) throw Error(ErrorCode::UNSUPPORTED_ISA, std::string("ISA level '") + isaName(isa) + "' is not built for this architecture");
  return *k;
}

}  // namespace bs::cpu
