// What the CPU and the OS support, read once per process: the facts the ISA registry's levels need. x86-64 reads
// CPUID and XGETBV directly (the same code for GCC, clang and MSVC, on Linux, macOS and Windows), so a level is only
// offered when the OS also saves its registers across context switches. AArch64 asks the OS, which reports only what
// it supports: getauxval(AT_HWCAP / AT_HWCAP2) on Linux, sysctlbyname("hw.optional.arm.FEAT_BF16") on macOS,
// IsProcessorFeaturePresent on Windows.
#pragma once

namespace bs::cpu {

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;                  // with the OS saving ymm state
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;  // with the OS saving zmm and opmask state
  bool avx512bf16 = false;
  bool neon = false;  // AArch64 Advanced SIMD (every AArch64 CPU has it)
  bool bf16 = false;  // AArch64 FEAT_BF16: BFDOT, BFMMLA, BFCVT
};

const CpuFeatures& cpuFeatures();

}  // namespace bs::cpu
