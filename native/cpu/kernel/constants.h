// Constants and small helpers every part of the attention kernel shares: the register blocking of the products, the
// output streaming threshold, and compile-time dispatch on run-time counts.
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

// An f32 output at least this large is written with streaming stores: it cannot stay in a cache until the caller
// reads it anyway (q, of the same size, and K/V pass through the last-level cache during the call), and each row is
// a headDim piece (8 or 9 cache lines) at a stride of numHeads x headDim, whose reads for ownership the short items of
// sparse heads waited on. Measured on the Zen 4 VM (32 MiB L3), streamed against plain stores: 3 % of a sink-head
// call at 8K tokens; at 2K tokens (29 MiB of output) sink 0.982x, intra-image 0.977x, dense 0.998x; at 1K tokens
// (15 MiB) sink 0.978x, dense 0.983x. Smaller outputs stay in cache for the caller.
constexpr int64_t kStreamOutBytes = int64_t{8} << 20;

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
