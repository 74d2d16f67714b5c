// What the CPU and the OS support, read once per process: the facts the ISA registry's levels need. x86-64 reads
// CPUID and XGETBV directly (the same code for GCC, clang and MSVC, on Linux, macOS and Windows), so a level is only
// offered when the OS also saves its registers across context switches.
#pragma once

namespace bs::cpu {

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;                  // with the OS saving ymm state
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;  // with the OS saving zmm and opmask state
  bool avx512bf16 = false;
};

const CpuFeatures& cpuFeatures();

}  // namespace bs::cpu
