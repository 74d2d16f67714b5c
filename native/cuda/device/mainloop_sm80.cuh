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
#pragma once
#include <cstdint>

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
  };

  __device__ void run(const KernelParams& p, const WorkTile& w, SharedStorage& s) {
    const int tid = threadIdx.x, lane = tid & 31;
    const int warpRow = (tid >> 5) * 16;
    const bool warpActive = warpRow < w.rows;  // short query blocks leave whole warps without rows
    const int g = lane >> 2;                   // accumulator rows g and g+8 of the warp's 16
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
      __syncthreads();
      loadValues(p, w, tile, s);
      sm80::commitAsync();

      float sc[kKeyBlocks][4];
      if (warpActive) {
        scores(s, tile.count, sc);
        maskAndScale(p, w, tile, s, token, image, valid, sc);
        softmax(sc);
      }

      sm80::waitAsync<0>();
      __syncthreads();
      KeyTile following;
      const bool more = walk.next(following);
      if (more) loadKeys(p, w, following, s);
      sm80::commitAsync();

      if (warpActive) accumulate(s, tile.count, sc);
      tile = following;
      have = more;
    }
  }

  __device__ void store(const KernelParams& p, const WorkTile& w) const {
    const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    const int warpRow = (threadIdx.x >> 5) * 16;
    const Epilogue ep{p, w};
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const float total = quadSum(row_[h].sum);
      const float inv = Epilogue::normaliser(total);
      const int row = warpRow + g + 8 * h;
      if (row >= w.rows) continue;
      const int32_t token = w.rowBegin + row;
#pragma unroll
      for (int d = 0; d < kDimBlocks; ++d) ep.store2(token, d * 8 + 2 * t, o_[d][2 * h] * inv, o_[d][2 * h + 1] * inv);
      if (t == 0) ep.storeLse(token, row_[h], total);
    }
  }

 private:
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
                               float (&sc)[kKeyBlocks][4]) const {
    const int t = threadIdx.x & 3;
#pragma unroll
    for (int n = 0; n < kKeyBlocks; ++n) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int col = n * 8 + 2 * t + (e & 1), h = e >> 1;
        float x = sc[n][e] * p.scaleLog2;
        if (col >= tile.count) {
          x = kNegInf;
        } else if (!tile.full() && valid[h] &&
                   !mask_visible(w.category, p.mask, token[h], s.keyToken[col], image[h], s.keyImage[col],
                                 s.keySink[col] != 0)) {
          x = kNegInf;
        }
        sc[n][e] = x;
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
      const float alpha = row_[h].update(tileMax, reference);
      float sum = 0.0f;
#pragma unroll
      for (int n = 0; n < kKeyBlocks; ++n) {
        sc[n][2 * h] = exp2Approx(sc[n][2 * h] - reference);
        sc[n][2 * h + 1] = exp2Approx(sc[n][2 * h + 1] - reference);
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
};

}  // namespace bs::cuda
