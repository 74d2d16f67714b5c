// The f32 mainloop: plain FMA on CUDA cores, for f32 inputs that must keep f32 precision (tensor cores would round
// them to tf32 or bf16). Slower than the tensor-core path; same plan walk, same element rule, same softmax.
//
// A CTA of 128 threads computes kRows = 32 query rows of one head: the four lanes of a quad share one row. Lane
// `sub` of the quad scores keys sub, sub+4, ... of each tile and owns output columns 4c..4c+3 for c = sub, sub+4, ...
// Q (times the scale's sign), K, V and the tile's probabilities sit in shared memory. A tile holding a NaN or an
// infinity in some key's k or v row (the barrier after its load says so for the whole CTA) is computed with IEEE
// arithmetic over the visible pairs only, so the value reaches exactly the rows that see it; elsewhere scores of
// finite inputs saturate and P.V runs over the whole tile.
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
    uint8_t keyNonFinite[kKeys];  // in tiles with a non-finite k or v row: which keys have one
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
      x.x *= p.qSign, x.y *= p.qSign, x.z *= p.qSign, x.w *= p.qSign;
      *reinterpret_cast<float4*>(&s.q[r * kStride + 4 * c]) = x;
    }
    __syncthreads();
    {
      // A q row holding a NaN or an infinity makes its output NaN (Epilogue::finish); the quad checks its row.
      float bad = 0.0f;
      for (int c = sub; c < kHeadDim; c += 4) bad = nonFinite(s.q[row * kStride + c]) ? 1.0f : bad;
      poisoned_ = quadMax(bad) > 0.0f && valid;  // every lane takes part in the shuffle
    }

    KeyTileWalk<kKeys> walk(p, w);
    KeyTile tile;
    while (walk.next(tile)) {
      __syncthreads();  // every lane is done with the previous tile's K, V and probabilities
      const bool exact = __syncthreads_or(loadTile(p, w, tile, s)) != 0;
      if (exact) {
        for (int r = threadIdx.x; r < kKeys; r += kThreads) {
          bool bad = false;
          for (int c = 0; c < kHeadDim; ++c) bad = bad || nonFinite(s.k[r * kStride + c]) || nonFinite(s.v[r * kStride + c]);
          s.keyNonFinite[r] = bad;
        }
        __syncthreads();
      }

      float sc[kKeys / 4];
      float tileMax = kNegInf;
#pragma unroll
      for (int i = 0; i < kKeys / 4; ++i) {
        const int j = sub + 4 * i;
        float x = kNegInf;
        if (j < tile.count && tileKeyVisible(p, w, tile, s, j, token, image, valid)) {
          x = dot(&s.q[row * kStride], &s.k[j * kStride]);
          if (!(exact && s.keyNonFinite[j])) x = saturate(x);  // finite inputs saturate
        }
        sc[i] = x;
        tileMax = fmaxf(tileMax, x);  // a NaN score leaves the max alone; its weight below is NaN
      }
      float reference;
      const float alpha = row_.update(tileMax, p.expScale, reference);
      float sum = 0.0f;
#pragma unroll
      for (int i = 0; i < kKeys / 4; ++i) {
        const float pr = exp2Approx(p.expScale * (sc[i] - reference));
        s.prob[row * kProbStride + sub + 4 * i] = pr;
        sum += pr;
      }
      row_.sum += sum;
      __syncwarp();  // the quad's four lanes wrote the row's probabilities

#pragma unroll
      for (int c = 0; c < kOwnVec; ++c) o_[c].x *= alpha, o_[c].y *= alpha, o_[c].z *= alpha, o_[c].w *= alpha;
      for (int j = 0; j < tile.count; ++j) {
        // Hidden pairs add nothing at all where a value may be non-finite (0 * NaN is NaN).
        if (exact && !tileKeyVisible(p, w, tile, s, j, token, image, valid)) continue;
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
    const Epilogue::Finish f = Epilogue::finish(total, poisoned_);
    const Epilogue ep{p, w};
    const int32_t token = w.rowBegin + row;
#pragma unroll
    for (int c = 0; c < kOwnVec; ++c) {
      const int col = 4 * (sub + 4 * c);
      ep.store2(token, col, Epilogue::apply(f, o_[c].x), Epilogue::apply(f, o_[c].y));
      ep.store2(token, col + 2, Epilogue::apply(f, o_[c].z), Epilogue::apply(f, o_[c].w));
    }
    if (sub == 0) ep.storeLse(token, row_, total, poisoned_);
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

  // Keys past tile.count are zero-filled (their probabilities are 0, and zeros keep 0 * V finite). Returns whether
  // this thread loaded a non-finite k or v element.
  __device__ bool loadTile(const KernelParams& p, const WorkTile& w, const KeyTile& tile, SharedStorage& s) const {
    const float* k = static_cast<const float*>(p.k);
    const float* v = static_cast<const float*>(p.v);
    bool bad = false;
    for (int i = threadIdx.x; i < kKeys * kVec; i += kThreads) {
      const int r = i / kVec, c = i - r * kVec;
      float4 kx = make_float4(0.f, 0.f, 0.f, 0.f), vx = kx;
      if (r < tile.count) {
        const int32_t token = tile.token(r);
        kx = __ldg(reinterpret_cast<const float4*>(k + w.kAt(p, token)) + c);
        vx = __ldg(reinterpret_cast<const float4*>(v + w.vAt(p, token)) + c);
      }
      // (k - k) + (v - v) summed over the four lanes is 0 exactly when all eight are finite.
      const float z = (kx.x - kx.x) + (kx.y - kx.y) + (kx.z - kx.z) + (kx.w - kx.w) + (vx.x - vx.x) + (vx.y - vx.y) +
                      (vx.z - vx.z) + (vx.w - vx.w);
      bad = bad || !(z == 0.0f);
      *reinterpret_cast<float4*>(&s.k[r * kStride + 4 * c]) = kx;
      *reinterpret_cast<float4*>(&s.v[r * kStride + 4 * c]) = vx;
    }
    if (tile.full()) return bad;
    for (int r = threadIdx.x; r < kKeys; r += kThreads) {
      const int32_t token = r < tile.count ? tile.token(r) : -1;
      s.keyToken[r] = token;
      s.keyImage[r] = token >= 0 ? __ldg(p.imageIds + token) : -1;
      s.keySink[r] = token >= 0 ? __ldg(p.sinkFlags + token) : 0;
    }
    return bad;
  }

  float4 o_[kOwnVec];
  RowState row_;
  bool poisoned_ = false;
};

}  // namespace bs::cuda
