// The tensor-core mainloop (bf16 / f16 inputs, f32 accumulation), FlashAttention-2 style, for sm_80 and newer.
//
// A CTA of 4 warps computes kRows = 64 query rows of one head; warp w owns rows 16w..16w+15. For each key tile the
// plan lists (key_tiles.cuh):   S = Q K^T (mma.m16n8k16)  ->  scale, element rule on partial tiles  ->  online
// softmax in base 2  ->  O += P V, with P taken straight from the S accumulators (the m16n8 accumulator fragment of two
// adjacent key columns blocks is exactly the A fragment of the next m16n8k16). Q, K and V tiles live in shared memory
// with rows padded by 16 bytes, so the 8 row addresses of every ldmatrix fall in distinct bank groups.
//
// Pipeline (single K and V buffers, cp.async): V(t) is loaded while S(t) and the softmax run, and K(t+1) while
// P(t) V(t) runs. Two barriers per tile order the buffer reuse:
//   top:  K(t) has landed; every warp has finished reading V(t-1)    -> issue V(t)
//   mid:  V(t) has landed; every warp has finished reading K(t)      -> issue K(t+1)
// Both barriers also tell the CTA whether any thread's copies brought a NaN or an infinity (__syncthreads_or over
// the chunks each thread copied). Such a tile follows the README's rules as the CPU kernel does: the scores of keys
// with a non-finite k row are computed element by element in IEEE arithmetic, and keys with a non-finite v row add
// their values to the rows that see them one by one, their rows zeroed for the tensor-core P V (whose zero weights
// for hidden pairs would otherwise make 0 * NaN). Elsewhere scores of finite inputs saturate at +-FLT_MAX.
#pragma once
#include <cstdint>
#include <type_traits>

#include "../../core/mask_rule.h"
#include "epilogue.cuh"
#include "key_tiles.cuh"
#include "kernel_params.h"
#include "sm80_primitives.cuh"
#include "softmax.cuh"
#include "tile_scheduler.cuh"

namespace bs::cuda {

template <typename T, int kHeadDim>
class Sm80Mainloop {
 public:
  static constexpr int kRows = 64;
  static constexpr int kThreads = 128;
  // Key tile: 64 keys, or 32 at head dim 256 so that Q, K and V fit the 99 KiB of shared memory of sm_86/sm_89.
  static constexpr int kKeys = kHeadDim <= 128 ? 64 : 32;
  static constexpr int kStride = kHeadDim + 8;       // elements per shared-memory row
  static constexpr int kChunksPerRow = kHeadDim / 8;  // 16-byte copies per row
  static constexpr int kKeyBlocks = kKeys / 8;        // m16n8 accumulator blocks of S per warp
  static constexpr int kDimBlocks = kHeadDim / 8;     // m16n8 accumulator blocks of O per warp
  static_assert(kHeadDim % 16 == 0, "head dim must be a multiple of 16 for m16n8k16");

  struct SharedStorage {
    T q[kRows * kStride];
    T k[kKeys * kStride];
    T v[kKeys * kStride];
    int32_t keyToken[kKeys];  // per key of the current tile, for the element rule on partial tiles
    int32_t keyImage[kKeys];
    uint8_t keySink[kKeys];
    uint8_t kNonFinite[kKeys];  // in tiles with a non-finite k (v) element: the keys whose k (v) row has one
    uint8_t vNonFinite[kKeys];
  };

  __device__ void run(const KernelParams& p, const WorkTile& w, SharedStorage& s) {
    const int tid = threadIdx.x, lane = tid & 31;
    const int warpRow = (tid >> 5) * 16;
    const bool warpActive = warpRow < w.rows;  // short query blocks leave whole warps without rows
    const int g = lane >> 2;                   // accumulator rows g and g+8 of the warp's 16
    expScale_ = p.expScale;
#pragma unroll
    for (int d = 0; d < kDimBlocks; ++d) o_[d][0] = o_[d][1] = o_[d][2] = o_[d][3] = 0.0f;

    loadQuery(p, w, s);
    KeyTileWalk<kKeys> walk(p, w);
    KeyTile tile;
    bool have = walk.next(tile);
    if (have) loadKeys(p, w, tile, s);
    sm80::commitAsync();

    int32_t token[2], image[2];
    bool valid[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int row = warpRow + g + 8 * h;
      valid[h] = row < w.rows;
      token[h] = w.rowBegin + row;
      image[h] = valid[h] ? __ldg(p.imageIds + token[h]) : -1;
    }

    while (have) {
      sm80::waitAsync<0>();
      const bool kExact = __syncthreads_or(copiedNonFinite(s.k)) != 0;
      loadValues(p, w, tile, s);
      sm80::commitAsync();
      if (kExact) flagRows(s.k, s.kNonFinite);

      float sc[kKeyBlocks][4];
      if (warpActive) {
        scores(s, tile.count, sc);
        maskAndScale(p, w, tile, s, token, image, valid, kExact, sc);
        softmax(sc);
      }

      sm80::waitAsync<0>();
      const bool vExact = __syncthreads_or(copiedNonFinite(s.v)) != 0;
      if (vExact) {
        flagRows(s.v, s.vNonFinite);
        if (warpActive) accumulateNonFinite(p, w, tile, s, token, image, valid, sc);
        __syncthreads();  // every warp has read the flagged rows
        for (int i = threadIdx.x; i < kKeys * kHeadDim; i += kThreads)
          if (s.vNonFinite[i / kHeadDim]) s.v[(i / kHeadDim) * kStride + i % kHeadDim] = T(0.0f);
        __syncthreads();
      }
      KeyTile following;
      const bool more = walk.next(following);
      if (more) loadKeys(p, w, following, s);
      sm80::commitAsync();

      if (warpActive) accumulate(s, tile.count, sc);
      tile = following;
      have = more;
    }

    // A q row holding a NaN or an infinity makes its output NaN (Epilogue::finish); the quad checks its two rows.
    sm80::waitAsync<0>();
    __syncthreads();
    const int t = lane & 3;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float bad = 0.0f;
      for (int c = t; c < kHeadDim; c += 4) bad = nonFinite(toFloat(s.q[(warpRow + g + 8 * h) * kStride + c])) ? 1.0f : bad;
      poisoned_[h] = quadMax(bad) > 0.0f && valid[h];
    }
  }

  __device__ void store(const KernelParams& p, const WorkTile& w) const {
    const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    const int warpRow = (threadIdx.x >> 5) * 16;
    const Epilogue ep{p, w};
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const float total = quadSum(row_[h].sum);
      const Epilogue::Finish f = Epilogue::finish(total, poisoned_[h]);
      const int row = warpRow + g + 8 * h;
      if (row >= w.rows) continue;
      const int32_t token = w.rowBegin + row;
#pragma unroll
      for (int d = 0; d < kDimBlocks; ++d)
        ep.store2(token, d * 8 + 2 * t, Epilogue::apply(f, o_[d][2 * h]), Epilogue::apply(f, o_[d][2 * h + 1]));
      if (t == 0) ep.storeLse(token, row_[h], total, poisoned_[h]);
    }
  }

 private:
  __device__ __forceinline__ static float toFloat(T x) {
    if constexpr (std::is_same_v<T, __half>) {
      return __half2float(x);
    } else {
      return __bfloat162float(x);
    }
  }

  // Whether the 16-byte chunks this thread copied into a key tile (loadRows' assignment) hold a NaN or an infinity;
  // called after its own copies have landed, before the barrier that makes everyone's visible.
  __device__ bool copiedNonFinite(const T* tileRows) const {
    // An element is NaN or infinite when its exponent bits are all ones: 0x7f80 in bf16, 0x7c00 in f16.
    constexpr uint32_t e = std::is_same_v<T, __half> ? 0x7c00u : 0x7f80u, lo = e, hi = e << 16;
    uint32_t bad = 0;
    for (int i = threadIdx.x; i < kKeys * kChunksPerRow; i += kThreads) {
      const int r = i / kChunksPerRow, c = i - r * kChunksPerRow;
      const uint4 x = *reinterpret_cast<const uint4*>(&tileRows[r * kStride + c * 8]);
      const uint32_t words[4] = {x.x, x.y, x.z, x.w};
#pragma unroll
      for (int k = 0; k < 4; ++k) bad |= static_cast<uint32_t>((words[k] & lo) == lo) | static_cast<uint32_t>((words[k] & hi) == hi);
    }
    return bad != 0;
  }

  // Per key of the tile, whether its row holds a NaN or an infinity (after the barrier: every copy is visible).
  __device__ void flagRows(const T* tileRows, uint8_t* flags) const {
    for (int r = threadIdx.x; r < kKeys; r += kThreads) {
      bool bad = false;
      for (int c = 0; c < kHeadDim; ++c) bad = bad || nonFinite(toFloat(tileRows[r * kStride + c]));
      flags[r] = bad;
    }
    __syncthreads();
  }

  // The keys with a non-finite v row, added one by one to the rows that see them (IEEE: their values reach exactly
  // those rows); accumulate() then runs with those rows zeroed. A weight of key column j lives in lane (j % 8) / 2 of
  // the quad, in S block j / 8.
  __device__ void accumulateNonFinite(const KernelParams& p, const WorkTile& w, const KeyTile& tile,
                                      const SharedStorage& s, const int32_t (&token)[2], const int32_t (&image)[2],
                                      const bool (&valid)[2], const float (&pr)[kKeyBlocks][4]) {
    const int lane = threadIdx.x & 31, t = lane & 3;
#pragma unroll
    for (int n = 0; n < kKeyBlocks; ++n)
#pragma unroll
      for (int owner = 0; owner < 4; ++owner)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const float weight = __shfl_sync(0xffffffffu, pr[n][e], (lane & ~3) | owner);
          const int col = n * 8 + 2 * owner + (e & 1), h = e >> 1;
          if (col >= tile.count || !s.vNonFinite[col] || !tileKeyVisible(p, w, tile, s, col, token[h], image[h], valid[h])) continue;
#pragma unroll
          for (int d = 0; d < kDimBlocks; ++d) {
            o_[d][2 * h] += weight * toFloat(s.v[col * kStride + d * 8 + 2 * t]);
            o_[d][2 * h + 1] += weight * toFloat(s.v[col * kStride + d * 8 + 2 * t + 1]);
          }
        }
  }

  __device__ void loadQuery(const KernelParams& p, const WorkTile& w, SharedStorage& s) const {
    const T* q = static_cast<const T*>(p.q);
    for (int i = threadIdx.x; i < kRows * kChunksPerRow; i += kThreads) {
      const int r = i / kChunksPerRow, c = i - r * kChunksPerRow;
      const bool valid = r < w.rows;
      const int32_t token = w.rowBegin + (valid ? r : 0);
      sm80::copyAsync16(&s.q[r * kStride + c * 8], q + w.qAt(p, token) + c * 8, valid);
    }
  }

  // Rows past tile.count are zero-filled: their scores are masked, and zeros (not stale values) meet P = 0 in P V.
  template <bool kValues>
  __device__ void loadRows(const T* src, const KernelParams& p, const WorkTile& w, const KeyTile& tile, T* dst) const {
    for (int i = threadIdx.x; i < kKeys * kChunksPerRow; i += kThreads) {
      const int r = i / kChunksPerRow, c = i - r * kChunksPerRow;
      const bool valid = r < tile.count;
      const int64_t at = valid ? (kValues ? w.vAt(p, tile.token(r)) : w.kAt(p, tile.token(r))) : 0;
      sm80::copyAsync16(&dst[r * kStride + c * 8], src + at + c * 8, valid);
    }
  }

  __device__ void loadKeys(const KernelParams& p, const WorkTile& w, const KeyTile& tile, SharedStorage& s) const {
    loadRows<false>(static_cast<const T*>(p.k), p, w, tile, s.k);
    if (tile.full()) return;
    for (int r = threadIdx.x; r < kKeys; r += kThreads) {
      const int32_t token = r < tile.count ? tile.token(r) : -1;
      s.keyToken[r] = token;
      s.keyImage[r] = token >= 0 ? __ldg(p.imageIds + token) : -1;
      s.keySink[r] = token >= 0 ? __ldg(p.sinkFlags + token) : 0;
    }
  }

  __device__ void loadValues(const KernelParams& p, const WorkTile& w, const KeyTile& tile, SharedStorage& s) const {
    loadRows<true>(static_cast<const T*>(p.v), p, w, tile, s.v);
  }

  // S = Q K^T for the warp's 16 rows. A fragments of Q: matrices (rows 0-7 | 8-15) x (dims 0-7 | 8-15) in the
  // order a0..a3 of the m16n8k16 A layout. B fragments of K^T: K's rows are keys with dims contiguous, which is
  // B's column layout, so ldmatrix without .trans gives b0/b1 (dims 0-7 / 8-15) of two adjacent 8-key blocks.
  __device__ void scores(const SharedStorage& s, int count, float (&sc)[kKeyBlocks][4]) const {
    const int lane = threadIdx.x & 31;
    const int warpRow = (threadIdx.x >> 5) * 16;
#pragma unroll
    for (int n = 0; n < kKeyBlocks; ++n)
      for (int e = 0; e < 4; ++e) sc[n][e] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < kHeadDim / 16; ++kk) {
      uint32_t a[4];
      sm80::loadMatrixX4(a, &s.q[(warpRow + (lane & 7) + ((lane >> 3) & 1) * 8) * kStride + kk * 16 + (lane >> 4) * 8]);
#pragma unroll
      for (int np = 0; np < kKeys / 16; ++np) {
        if (np * 16 >= count) break;  // small gathered tiles: skip key blocks holding no key
        uint32_t b[4];
        sm80::loadMatrixX4(b, &s.k[(np * 16 + (lane & 7) + (lane >> 4) * 8) * kStride + kk * 16 + ((lane >> 3) & 1) * 8]);
        sm80::mma16816<T>(sc[2 * np], a, b[0], b[1]);
        sm80::mma16816<T>(sc[2 * np + 1], a, b[2], b[3]);
      }
    }
  }

  // Accumulator element e of block n sits at row g + 8*(e/2), key column n*8 + 2t + e%2.
  __device__ void maskAndScale(const KernelParams& p, const WorkTile& w, const KeyTile& tile, const SharedStorage& s,
                               const int32_t (&token)[2], const int32_t (&image)[2], const bool (&valid)[2],
                               bool exact, float (&sc)[kKeyBlocks][4]) const {
    const int t = threadIdx.x & 3, g = (threadIdx.x & 31) >> 2, warpRow = (threadIdx.x >> 5) * 16;
#pragma unroll
    for (int n = 0; n < kKeyBlocks; ++n) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int col = n * 8 + 2 * t + (e & 1), h = e >> 1;
        float x;
        if (exact && col < tile.count && s.kNonFinite[col]) {
          // IEEE arithmetic element by element, so the non-finite value gives the reference's score.
          const int row = warpRow + g + 8 * h;
          float acc = 0.0f;
          for (int c = 0; c < kHeadDim; ++c) acc += toFloat(s.q[row * kStride + c]) * toFloat(s.k[col * kStride + c]);
          x = acc * p.qSign;
        } else {
          x = saturate(sc[n][e] * p.qSign);  // finite inputs saturate
        }
        sc[n][e] = col < tile.count && tileKeyVisible(p, w, tile, s, col, token[h], image[h], valid[h]) ? x : kNegInf;
      }
    }
  }

  // Scores -> probabilities in place (relative to the running maximum); earlier output rescaled.
  __device__ void softmax(float (&sc)[kKeyBlocks][4]) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float tileMax = kNegInf;
#pragma unroll
      for (int n = 0; n < kKeyBlocks; ++n) tileMax = fmaxf(tileMax, fmaxf(sc[n][2 * h], sc[n][2 * h + 1]));
      float reference;
      const float alpha = row_[h].update(tileMax, expScale_, reference);
      float sum = 0.0f;
#pragma unroll
      for (int n = 0; n < kKeyBlocks; ++n) {
        sc[n][2 * h] = exp2Approx(expScale_ * (sc[n][2 * h] - reference));
        sc[n][2 * h + 1] = exp2Approx(expScale_ * (sc[n][2 * h + 1] - reference));
        sum += sc[n][2 * h] + sc[n][2 * h + 1];
      }
      row_[h].sum += sum;
#pragma unroll
      for (int d = 0; d < kDimBlocks; ++d) {
        o_[d][2 * h] *= alpha;
        o_[d][2 * h + 1] *= alpha;
      }
    }
  }

  // O += P V. The A fragment for keys 16kk..16kk+15 is S blocks 2kk (a0, a1) and 2kk+1 (a2, a3) rounded to T.
  // B fragments of V: V's rows are keys with dims contiguous, so ldmatrix .trans gives b0/b1 (keys 0-7 / 8-15) of two
  // adjacent 8-dim blocks.
  __device__ void accumulate(const SharedStorage& s, int count, const float (&pr)[kKeyBlocks][4]) {
    const int lane = threadIdx.x & 31;
#pragma unroll
    for (int kk = 0; kk < kKeys / 16; ++kk) {
      if (kk * 16 >= count) break;
      const uint32_t a[4] = {sm80::pack2<T>(pr[2 * kk][0], pr[2 * kk][1]), sm80::pack2<T>(pr[2 * kk][2], pr[2 * kk][3]),
                             sm80::pack2<T>(pr[2 * kk + 1][0], pr[2 * kk + 1][1]),
                             sm80::pack2<T>(pr[2 * kk + 1][2], pr[2 * kk + 1][3])};
#pragma unroll
      for (int dp = 0; dp < kHeadDim / 16; ++dp) {
        uint32_t b[4];
        sm80::loadMatrixX4Transposed(
            b, &s.v[(kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * kStride + dp * 16 + (lane >> 4) * 8]);
        sm80::mma16816<T>(o_[2 * dp], a, b[0], b[1]);
        sm80::mma16816<T>(o_[2 * dp + 1], a, b[2], b[3]);
      }
    }
  }

  float o_[kDimBlocks][4];
  RowState row_[2];
  float expScale_ = 0.0f;
  bool poisoned_[2] = {false, false};
};

}  // namespace bs::cuda
