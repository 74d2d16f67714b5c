// The f32 mainloop: plain FMA on CUDA cores, for f32 inputs that must keep f32 precision (tensor cores would round
// them to tf32 or bf16). Slower than the tensor-core path; same plan walk, same element rule, same softmax.
//
// A CTA of 128 threads computes kRows = 32 query rows of one head: the four lanes of a quad share one row. Lane
// `sub` of the quad scores keys sub, sub+4, ... of each tile and owns output columns 4c..4c+3 for c = sub, sub+4, ...
// Q (pre-multiplied by scale*log2e), K, V and the tile's probabilities sit in shared memory.
#pragma once
#include <cstdint>

#include "../../core/mask_rule.h"
#include "epilogue.cuh"
#include "key_tiles.cuh"
#include "kernel_params.h"
#include "softmax.cuh"
#include "tile_scheduler.cuh"

namespace bs::cuda {

template <int kHeadDim>
class SimtMainloop {
 public:
  static constexpr int kRows = 32;
  static constexpr int kThreads = 128;
  static constexpr int kKeys = kHeadDim <= 128 ? 32 : 16;  // shared memory stays under 99 KiB at head dim 256
  static constexpr int kStride = kHeadDim + 4;              // floats per row; shifts consecutive rows by 4 banks
  static constexpr int kVec = kHeadDim / 4;                 // float4 per row
  static constexpr int kOwnVec = kVec / 4;                  // float4 of the output row each lane owns
  static constexpr int kProbStride = kKeys + 1;
  static_assert(kHeadDim % 16 == 0, "head dim must be a multiple of 16");

  struct SharedStorage {
    float q[kRows * kStride];
    float k[kKeys * kStride];
    float v[kKeys * kStride];
    float prob[kRows * kProbStride];
    int32_t keyToken[kKeys];
    int32_t keyImage[kKeys];
    uint8_t keySink[kKeys];
  };

  __device__ void run(const KernelParams& p, const WorkTile& w, SharedStorage& s) {
    const int tid = threadIdx.x, row = tid >> 2, sub = tid & 3;
    const bool valid = row < w.rows;
    const int32_t token = w.rowBegin + row;
    const int32_t image = valid ? __ldg(p.imageIds + token) : -1;
    for (auto& x : o_) x = make_float4(0.f, 0.f, 0.f, 0.f);

    const float* q = static_cast<const float*>(p.q);
    for (int i = tid; i < kRows * kVec; i += kThreads) {
      const int r = i / kVec, c = i - r * kVec;
      float4 x = make_float4(0.f, 0.f, 0.f, 0.f);
      if (r < w.rows)
        x = __ldg(reinterpret_cast<const float4*>(q + w.qAt(p, w.rowBegin + r)) + c);
      x.x *= p.scaleLog2, x.y *= p.scaleLog2, x.z *= p.scaleLog2, x.w *= p.scaleLog2;
      *reinterpret_cast<float4*>(&s.q[r * kStride + 4 * c]) = x;
    }

    KeyTileWalk<kKeys> walk(p, w);
    KeyTile tile;
    while (walk.next(tile)) {
      __syncthreads();  // every lane is done with the previous tile's K, V and probabilities
      loadTile(p, w, tile, s);
      __syncthreads();

      float sc[kKeys / 4];
      float tileMax = kNegInf;
#pragma unroll
      for (int i = 0; i < kKeys / 4; ++i) {
        const int j = sub + 4 * i;
        float x = kNegInf;
        if (j < tile.count &&
            (tile.full() || !valid ||
             mask_visible(w.category, p.mask, token, s.keyToken[j], image, s.keyImage[j], s.keySink[j] != 0))) {
          x = dot(&s.q[row * kStride], &s.k[j * kStride]);
        }
        sc[i] = x;
        tileMax = fmaxf(tileMax, x);
      }
      float reference;
      const float alpha = row_.update(tileMax, reference);
      float sum = 0.0f;
#pragma unroll
      for (int i = 0; i < kKeys / 4; ++i) {
        const float pr = exp2Approx(sc[i] - reference);
        s.prob[row * kProbStride + sub + 4 * i] = pr;
        sum += pr;
      }
      row_.sum += sum;
      __syncwarp();  // the quad's four lanes wrote the row's probabilities

#pragma unroll
      for (int c = 0; c < kOwnVec; ++c) o_[c].x *= alpha, o_[c].y *= alpha, o_[c].z *= alpha, o_[c].w *= alpha;
      for (int j = 0; j < tile.count; ++j) {
        const float pr = s.prob[row * kProbStride + j];
#pragma unroll
        for (int c = 0; c < kOwnVec; ++c) {
          const float4 x = *reinterpret_cast<const float4*>(&s.v[j * kStride + 4 * (sub + 4 * c)]);
          o_[c].x += pr * x.x, o_[c].y += pr * x.y, o_[c].z += pr * x.z, o_[c].w += pr * x.w;
        }
      }
    }
  }

  __device__ void store(const KernelParams& p, const WorkTile& w) const {
    const int row = threadIdx.x >> 2, sub = threadIdx.x & 3;
    const float total = quadSum(row_.sum);
    if (row >= w.rows) return;
    const float inv = Epilogue::normaliser(total);
    const Epilogue ep{p, w};
    const int32_t token = w.rowBegin + row;
#pragma unroll
    for (int c = 0; c < kOwnVec; ++c) {
      const int col = 4 * (sub + 4 * c);
      ep.store2(token, col, o_[c].x * inv, o_[c].y * inv);
      ep.store2(token, col + 2, o_[c].z * inv, o_[c].w * inv);
    }
    if (sub == 0) ep.storeLse(token, row_, total);
  }

 private:
  static __device__ __forceinline__ float dot(const float* a, const float* b) {
    float acc = 0.0f;
#pragma unroll 8
    for (int c = 0; c < kVec; ++c) {
      const float4 x = *reinterpret_cast<const float4*>(a + 4 * c);
      const float4 y = *reinterpret_cast<const float4*>(b + 4 * c);
      acc = fmaf(x.x, y.x, fmaf(x.y, y.y, fmaf(x.z, y.z, fmaf(x.w, y.w, acc))));
    }
    return acc;
  }

  // Keys past tile.count are zero-filled (their probabilities are 0, and zeros keep 0 * V finite).
  __device__ void loadTile(const KernelParams& p, const WorkTile& w, const KeyTile& tile, SharedStorage& s) const {
    const float* k = static_cast<const float*>(p.k);
    const float* v = static_cast<const float*>(p.v);
    for (int i = threadIdx.x; i < kKeys * kVec; i += kThreads) {
      const int r = i / kVec, c = i - r * kVec;
      float4 kx = make_float4(0.f, 0.f, 0.f, 0.f), vx = kx;
      if (r < tile.count) {
        const int32_t token = tile.token(r);
        kx = __ldg(reinterpret_cast<const float4*>(k + w.kAt(p, token)) + c);
        vx = __ldg(reinterpret_cast<const float4*>(v + w.vAt(p, token)) + c);
      }
      *reinterpret_cast<float4*>(&s.k[r * kStride + 4 * c]) = kx;
      *reinterpret_cast<float4*>(&s.v[r * kStride + 4 * c]) = vx;
    }
    if (tile.full()) return;
    for (int r = threadIdx.x; r < kKeys; r += kThreads) {
      const int32_t token = r < tile.count ? tile.token(r) : -1;
      s.keyToken[r] = token;
      s.keyImage[r] = token >= 0 ? __ldg(p.imageIds + token) : -1;
      s.keySink[r] = token >= 0 ? __ldg(p.sinkFlags + token) : 0;
    }
  }

  float4 o_[kOwnVec];
  RowState row_;
};

}  // namespace bs::cuda
