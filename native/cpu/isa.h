// The ISA registry: every CPU kernel level, written once. A level has a name (what `isa` / BLINDSIGHT_ISA take), the
// architecture it exists on, what the CPU and OS must support (cpu_features.h), and compiler flags (isa_levels.json,
// which binding.gyp and cmake/libblindsight.cmake read, so both builds use the same flags). Every kernel family
// (attention, the attention-mass pass, the FMA-peak loop) is compiled once per level, in levels/<name>.cpp, and found
// through kernelsFor(): a level cannot exist without all of them (level_kernels.h).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace bs::cpu {

// X(Enum, name): the levels of each architecture, lowest first. Every level of the build's architecture is compiled
// in; the portable level exists everywhere.
#define BS_ISA_LEVELS_X86(X) X(Avx2, avx2) X(Avx512, avx512) X(Avx512Bf16, avx512bf16)
#define BS_ISA_LEVELS_ARM64(X) X(Neon, neon) X(NeonBf16, neonbf16)
#define BS_ISA_LEVELS_PORTABLE(X) X(Generic, generic)
#define BS_ISA_LEVELS_ALL(X) BS_ISA_LEVELS_PORTABLE(X) BS_ISA_LEVELS_X86(X) BS_ISA_LEVELS_ARM64(X)
#if defined(__x86_64__) || defined(_M_X64)
#define BS_ISA_LEVELS_COMPILED(X) BS_ISA_LEVELS_PORTABLE(X) BS_ISA_LEVELS_X86(X)
#elif (defined(__aarch64__) || defined(_M_ARM64)) && !defined(_MSC_VER)
// MSVC for ARM64 has no BFDOT intrinsics: Windows on ARM builds the portable level only.
#define BS_ISA_LEVELS_COMPILED(X) BS_ISA_LEVELS_PORTABLE(X) BS_ISA_LEVELS_ARM64(X)
#else
#define BS_ISA_LEVELS_COMPILED(X) BS_ISA_LEVELS_PORTABLE(X)
#endif

// Numeric values are stable (the order above); avx512bf16 is avx512 plus AVX512_BF16 (vdpbf16ps for bf16 inputs),
// neonbf16 is neon plus FEAT_BF16 (BFDOT for bf16 inputs).
enum class Isa : uint8_t {
#define BS_ISA_ENUM(Enum, name) Enum,
  BS_ISA_LEVELS_ALL(BS_ISA_ENUM)
#undef BS_ISA_ENUM
};

struct IsaInfo {
  Isa isa;
  const char* name;
  const char* needs;   // what the CPU must support, in words
  bool compiled;       // built into this binary (the build's architecture has it)
  bool supported;      // compiled, and this CPU and OS run it
};

const char* isaName(Isa isa);
// Every level of the registry, lowest first, with what this binary and machine make of it.
std::vector<IsaInfo> isaLevels();
// Levels this CPU (and OS) can execute, best last. The portable level is always there.
std::vector<Isa> supportedIsas();
// The level used when a call does not force one: BLINDSIGHT_ISA if set (and runnable), else the best supported.
Isa defaultIsa();
// A level by name; throws bs::Error UNSUPPORTED_ISA, saying which levels this CPU runs, if the name is unknown, not
// built for this architecture, or beyond this CPU.
Isa parseIsa(const std::string& name);

}  // namespace bs::cpu
