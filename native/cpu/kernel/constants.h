// Constants and small helpers every part of the attention kernel shares: the register blocking of the products and
// compile-time dispatch on run-time counts.
#pragma once
#include <cstdint>
#include <limits>
#include <type_traits>

#include "../simd/simd.h"

namespace bs::cpu::BS_ISA_NS::kernel {
namespace {

using simd::V;
constexpr int W = simd::W;
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Register blocking. AVX-512 (32 zmm): Q.K^T holds 4 keys x 4 row vectors (16 accumulators + 4 Q^T vectors; a K
// element is an embedded broadcast), fewer row vectors take 8 keys; P.V holds 4 rows x 4 d-vectors (16 + 4 V).
// AVX2 (16 ymm): 2 keys x 4 row vectors or 4 x 2 or 8 x 1 (8 accumulators + Q^T + one broadcast register);
// P.V 2 rows x 4 d-vectors. NEON (32 q registers of 4 lanes): 4 keys x 4 row vectors or 8 x 2 (16 accumulators + 4
// Q^T vectors + broadcasts), P.V 4 rows x 4 d-vectors. Key groups of 4 / 8 divide the 64-key tile, so full tiles have
// no remainder.
#if defined(__AVX512F__)
constexpr int kQkMaxVecs = 4;
constexpr int qkKeys(int vecs) { return vecs >= 4 ? 4 : 8; }
constexpr int kPvRows = 4, kPvVecs = 4;
#elif defined(__AVX2__)
constexpr int kQkMaxVecs = 4;
constexpr int qkKeys(int vecs) { return vecs >= 3 ? 2 : vecs == 2 ? 4 : 8; }
constexpr int kPvRows = 2, kPvVecs = 4;
#elif defined(BS_SIMD_NEON)
constexpr int kQkMaxVecs = 4;
constexpr int qkKeys(int vecs) { return vecs >= 3 ? 4 : 8; }
constexpr int kPvRows = 4, kPvVecs = 4;
#else
constexpr int kQkMaxVecs = 2;
constexpr int qkKeys(int) { return 4; }
constexpr int kPvRows = 2, kPvVecs = 2;
#endif

// A partial tile with at most this fraction of visible pairs is computed pair by pair (mainloop.h, sparseTile).
constexpr int kSparseTileDensityInv = 4;

// How far ahead of its transposition a pass's q rows are prefetched (prologue.h): one group of 8 rows. Measured on
// the Zen 5 VM, 4K-token short-gap prompt, f32 sink heads, against no prefetch (one process, builds alternating): 8
// rows ahead 0.94x, 16 0.94-0.95x, 32 0.95-0.96x.
constexpr int kQueryPrefetchRows = 8;

inline int32_t roundUp(int32_t x, int32_t m) { return (x + m - 1) / m * m; }

// Calls f(std::integral_constant<int, N>) for a run-time n in [1, Max].
template <int Max, class F>
inline void withCount(int n, F&& f) {
  if constexpr (Max >= 1) {
    if (n == Max) return f(std::integral_constant<int, Max>{});
    if constexpr (Max > 1) withCount<Max - 1>(n, f);
  }
}

}  // namespace
}  // namespace bs::cpu::BS_ISA_NS::kernel
