// Subnormal floats flushed to zero while the kernels run: inputs, products and sums below 2^-126 are treated as 0
// (flush-to-zero and denormals-are-zero on x86, FZ on AArch64), which spares the slow microcode path subnormals take
// on most CPUs (a call with subnormal v values ran 1.29x slower on the Zen 4 development VM). The results differ from
// exact arithmetic by less than 2^-126 per term. The calling thread's own mode is restored when the job ends: JS
// needs IEEE subnormals.
#pragma once
#include <cstdint>

#if defined(__x86_64__) || defined(_M_X64)
#include <xmmintrin.h>
#endif

namespace bs::cpu {

class FlushSubnormals {
 public:
  FlushSubnormals() {
#if defined(__x86_64__) || defined(_M_X64)
    saved_ = _mm_getcsr();
    _mm_setcsr(saved_ | 0x8040u);  // FTZ (bit 15) | DAZ (bit 6)
#elif defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))
    __asm__ volatile("mrs %0, fpcr" : "=r"(saved_));
    const uint64_t fz = saved_ | (uint64_t{1} << 24);
    __asm__ volatile("msr fpcr, %0" : : "r"(fz));
#endif
  }
  ~FlushSubnormals() {
#if defined(__x86_64__) || defined(_M_X64)
    _mm_setcsr(saved_);
#elif defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))
    __asm__ volatile("msr fpcr, %0" : : "r"(saved_));
#endif
  }
  FlushSubnormals(const FlushSubnormals&) = delete;
  FlushSubnormals& operator=(const FlushSubnormals&) = delete;

 private:
#if defined(__aarch64__)
  uint64_t saved_ = 0;
#else
  uint32_t saved_ = 0;
#endif
};

}  // namespace bs::cpu
