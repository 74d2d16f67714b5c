// The CUDA built-ins the kernel headers use, for their host build under the CTA emulator (test-only). Include before
// any kernel header. Shuffles and barriers act on the emulated CTA of the calling fiber.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <vector_functions.h>
#include <vector_types.h>

#include <cmath>

#include "cta_emulator.h"

#define threadIdx (::make_uint3(static_cast<unsigned>(::bs::cuda::emu::CtaEmulator::threadIndex()), 0u, 0u))

inline void __syncthreads() { ::bs::cuda::emu::CtaEmulator::current().syncThreads(); }
inline void __syncwarp(unsigned = 0xffffffffu) { ::bs::cuda::emu::CtaEmulator::current().syncWarp(); }

inline int __syncthreads_or(int predicate) { return ::bs::cuda::emu::CtaEmulator::current().syncThreadsOr(predicate); }

// Full-warp indexed shuffle: every lane receives lane srcLane's value.
inline float __shfl_sync(unsigned, float value, int srcLane) {
  return ::bs::cuda::emu::CtaEmulator::current().warpCollective(value, [&](int, auto get) { return get(srcLane & 31); });
}

// Full-warp butterfly shuffle: lane l receives lane (l ^ laneMask)'s value.
inline float __shfl_xor_sync(unsigned, float value, int laneMask) {
  return ::bs::cuda::emu::CtaEmulator::current().warpCollective(
      value, [&](int lane, auto get) { return get(lane ^ laneMask); });
}

template <typename T>
inline T __ldg(const T* p) {
  return *p;
}
