// The FMA-peak loop of a level: a tight loop of independent FMAs on the level's widest vectors, which the benchmark
// harness measures attention throughput against (fmaPeakGflops in cpu_backend.cpp).
#pragma once
#include <cstdint>

#include "simd/simd.h"

namespace bs::cpu::BS_ISA_NS {

// Returns the FLOPs it did (2 per lane per FMA).
inline double fmaLoop(int64_t iterations) {
  constexpr int kChains = 12;  // > FMA latency x throughput on every target, and fits 16 ymm registers with b and c
  // Operands the compiler cannot see, so it can neither fold nor drop the loop.
  volatile float seed[3] = {1.0f, 0.9999999f, 1e-7f};
  using simd::V;
  constexpr int W = simd::W;
  V acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = simd::set1(seed[0] + 0.001f * i);
  const V b = simd::set1(seed[1]), c = simd::set1(seed[2]);
  for (int64_t it = 0; it < iterations; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) acc[i] = simd::fma(acc[i], b, c);
  }
  V sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum = simd::add(sum, acc[i]);
  // Every lane is observed, so no part of the loop can be dropped.
  alignas(64) float lanes[W];
  simd::store(lanes, sum);
  volatile float sink = 0;
  for (float x : lanes) sink = sink + x;
  return static_cast<double>(iterations) * kChains * W * 2.0;
}

}  // namespace bs::cpu::BS_ISA_NS
