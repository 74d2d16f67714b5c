#include "cpu_features.h"

#include <cstddef>
#include <cstdint>

#if defined(__x86_64__) || defined(_M_X64)
#if defined(_MSC_VER)
#include <immintrin.h>
#include <intrin.h>
#else
#include <cpuid.h>
#endif
#elif defined(__aarch64__) || defined(_M_ARM64)
#if defined(__linux__)
#include <sys/auxv.h>
#elif defined(_WIN32)
#include <windows.h>
#endif
#endif
#if defined(__APPLE__)
#include <sys/sysctl.h>
#endif

namespace bs::cpu {
namespace {

#if defined(__APPLE__)
bool sysctlFlag(const char* name) {
  int value = 0;
  std::size_t size = sizeof value;
  return sysctlbyname(name, &value, &size, nullptr, 0) == 0 && value != 0;
}
#endif

#if defined(__x86_64__) || defined(_M_X64)
struct Regs {
  uint32_t eax, ebx, ecx, edx;
};

Regs cpuid(uint32_t leaf, uint32_t subleaf) {
  Regs r{};
#if defined(_MSC_VER)
  int v[4];
  __cpuidex(v, static_cast<int>(leaf), static_cast<int>(subleaf));
  r = {static_cast<uint32_t>(v[0]), static_cast<uint32_t>(v[1]), static_cast<uint32_t>(v[2]), static_cast<uint32_t>(v[3])};
#else
  __cpuid_count(leaf, subleaf, r.eax, r.ebx, r.ecx, r.edx);
#endif
  return r;
}

// The register state the OS saves (XCR0); only valid when CPUID says OSXSAVE.
uint64_t xcr0() {
#if defined(_MSC_VER)
  return _xgetbv(0);
#else
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
#endif
}

bool bit(uint32_t reg, int b) { return (reg >> b) & 1u; }

CpuFeatures detect() {
  CpuFeatures f;
  const uint32_t maxLeaf = cpuid(0, 0).eax;
  if (maxLeaf < 1) return f;
  const Regs l1 = cpuid(1, 0);
  if (!bit(l1.ecx, 27) || !bit(l1.ecx, 28)) return f;  // OSXSAVE, AVX
  const uint64_t xcr = xcr0();
  const bool ymmSaved = (xcr & 0x6) == 0x6;     // SSE and AVX state
  bool zmmSaved = (xcr & 0xe6) == 0xe6;   // plus opmask, ZMM_Hi256, Hi16_ZMM
#if defined(__APPLE__)
  // macOS turns the AVX-512 state on for a thread at its first AVX-512 instruction, so XCR0 lacks it until then; the
  // kernel says whether it supports that through sysctl.
  if (!zmmSaved) zmmSaved = sysctlFlag("hw.optional.avx512f");
#endif
  if (!ymmSaved || maxLeaf < 7) return f;
  const Regs l7 = cpuid(7, 0);
  f.fma = bit(l1.ecx, 12);
  f.f16c = bit(l1.ecx, 29);
  f.avx2 = bit(l7.ebx, 5);
  if (zmmSaved) {
    f.avx512f = bit(l7.ebx, 16);
    f.avx512dq = bit(l7.ebx, 17);
    f.avx512bw = bit(l7.ebx, 30);
    f.avx512vl = bit(l7.ebx, 31);
    if (l7.eax >= 1) f.avx512bf16 = bit(cpuid(7, 1).eax, 5);
  }
  return f;
}
#elif defined(__aarch64__) || defined(_M_ARM64)
CpuFeatures detect() {
  CpuFeatures f;
#if defined(__linux__)
  // The bits of the kernel's uapi asm/hwcap.h, spelled out for C libraries whose headers predate them.
  constexpr unsigned long kHwcapAsimd = 1ul << 1;
  constexpr unsigned long kHwcap2Bf16 = 1ul << 14;
  f.neon = (getauxval(AT_HWCAP) & kHwcapAsimd) != 0;
  f.bf16 = f.neon && (getauxval(AT_HWCAP2) & kHwcap2Bf16) != 0;
#elif defined(__APPLE__)
  f.neon = true;  // every Apple arm64 CPU
  f.bf16 = sysctlFlag("hw.optional.arm.FEAT_BF16");
#elif defined(_WIN32)
  f.neon = IsProcessorFeaturePresent(PF_ARM_NEON_INSTRUCTIONS_AVAILABLE) != 0;
  f.bf16 = false;  // no processor-feature flag names the Advanced SIMD BF16 instructions; Windows builds don't use them
#else
  f.neon = true;  // Advanced SIMD is part of the AArch64 procedure call standard
#endif
  return f;
}
#else
CpuFeatures detect() { return {}; }
#endif

}  // namespace

const CpuFeatures& cpuFeatures() {
  static const CpuFeatures features = detect();
  return features;
}

}  // namespace bs::cpu
