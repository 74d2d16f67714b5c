// The FlashAttention-style CPU kernel for one (head, query block) work item, written as plain loops that the
// compiler vectorises. This header is compiled once per ISA level (kernel_avx512.cpp, kernel_avx2.cpp,
// kernel_generic.cpp) under a different namespace and target flags; cpu_backend.cpp picks one at run time, so a
// single x86-64 binary is fast on new CPUs and never executes an unsupported instruction on old ones.
//
// Per key tile: S = (scale*log2e) Q K^T, the element rule on partial tiles, online softmax in base 2, acc += P V.
// Scratch is O(blockM * headDim + tile), never N x N.
#ifndef BS_ISA_NS
#error "define BS_ISA_NS before including kernel_impl.h"
#endif
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "../core/plan.h"
#include "../core/problem.h"
#include "kernel.h"

namespace bs::cpu::BS_ISA_NS {
namespace {

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// 2^x for x <= 0 (softmax arguments), accurate to about 1 ulp; -inf and very small x give exactly 0.
inline float exp2Neg(float x) {
  const float r = (x + 12582912.0f) - 12582912.0f;  // round to nearest integer, vectorisable
  const float f = x - r;                             // in [-0.5, 0.5]
  float p = 1.525273380405984e-05f;
  p = p * f + 1.5403530393381609e-04f;
  p = p * f + 1.3333558146428443e-03f;
  p = p * f + 9.618129107628477e-03f;
  p = p * f + 5.550410866482158e-02f;
  p = p * f + 2.402265069591007e-01f;
  p = p * f + 6.931471805599453e-01f;
  p = p * f + 1.0f;
  const int32_t e = static_cast<int32_t>(std::max(r, -126.0f)) + 127;
  uint32_t bits = static_cast<uint32_t>(e) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return x < -126.0f ? 0.0f : p * scale;
}

struct Tile {
  const int32_t* keys;  // token indices of the tile's keys
  int32_t n;            // <= kKeyTile
  bool full;
};

class BlockKernel {
 public:
  BlockKernel(const Plan& plan, const AttentionProblem& p, int head, int32_t qbIndex, Scratch& s)
      : plan_(plan), p_(p), s_(s), d_(p.headDim), cat_(p.heads[head]), qb_(plan.queryBlocks()[qbIndex]) {
    rows_ = qb_.end - qb_.begin;
    kvHead_ = head / (p.numHeads / p.numKvHeads);
    qStride_ = static_cast<int64_t>(p.numHeads) * d_;
    kvStride_ = static_cast<int64_t>(p.numKvHeads) * d_;
    head_ = head;
    s.ensure(plan.options().blockM, d_);
  }

  void run(int32_t qbIndex) {
    loadQueries();
    const Plan::CategoryPlan& cp = plan_.category(cat_);
    int32_t keys[kKeyTile];
    for (int32_t r = cp.runOffsets[qbIndex]; r < cp.runOffsets[qbIndex + 1]; ++r) {
      const KeyRun& run = cp.runs[r];
      for (int32_t k0 = run.begin; k0 < run.end; k0 += kKeyTile) {
        const int32_t n = std::min(kKeyTile, run.end - k0);
        for (int32_t j = 0; j < n; ++j) keys[j] = k0 + j;
        tile({keys, n, run.full});
      }
    }
    for (int32_t g = cp.gatherOffsets[qbIndex]; g < cp.gatherOffsets[qbIndex + 1]; ++g) {
      const GatherRange& range = cp.gathers[g];
      const int32_t* list = plan_.gatherList(range.list);
      for (int32_t b = range.begin; b < range.end; b += kKeyTile) tile({list + b, std::min(kKeyTile, range.end - b), false});
    }
    store();
  }

 private:
  void loadQueries() {
    const float qscale = p_.scale * kLog2e;
    for (int32_t i = 0; i < rows_; ++i) {
      const float* src = static_cast<const float*>(p_.q) + (qb_.begin + i) * qStride_ + static_cast<int64_t>(head_) * d_;
      float* dst = s_.q.data() + static_cast<size_t>(i) * d_;
      for (int32_t c = 0; c < d_; ++c) dst[c] = src[c] * qscale;
      s_.m[i] = kNegInf;
      s_.l[i] = 0.0f;
    }
    std::fill(s_.acc.begin(), s_.acc.begin() + static_cast<size_t>(rows_) * d_, 0.0f);
  }

  void tile(const Tile& t) {
    float* kt = s_.kt.data();  // K^T: [headDim][kKeyTile], columns >= n zeroed
    for (int32_t c = 0; c < d_; ++c) std::fill(kt + c * kKeyTile + t.n, kt + (c + 1) * kKeyTile, 0.0f);
    for (int32_t j = 0; j < t.n; ++j) {
      const float* kr = static_cast<const float*>(p_.k) + t.keys[j] * kvStride_ + static_cast<int64_t>(kvHead_) * d_;
      for (int32_t c = 0; c < d_; ++c) kt[c * kKeyTile + j] = kr[c];
    }
    scores(kt);
    mask(t);
    softmaxAndAccumulate(t);
  }

  void scores(const float* kt) {
    // Four query rows at a time, so each K^T row loaded feeds four FMA chains.
    int32_t i = 0;
    for (; i + 4 <= rows_; i += 4) {
      float a0[kKeyTile] = {}, a1[kKeyTile] = {}, a2[kKeyTile] = {}, a3[kKeyTile] = {};
      const float* q0 = s_.q.data() + static_cast<size_t>(i) * d_;
      for (int32_t c = 0; c < d_; ++c) {
        const float* kr = kt + c * kKeyTile;
        const float x0 = q0[c], x1 = q0[d_ + c], x2 = q0[2 * d_ + c], x3 = q0[3 * d_ + c];
        for (int32_t j = 0; j < kKeyTile; ++j) {
          a0[j] += x0 * kr[j];
          a1[j] += x1 * kr[j];
          a2[j] += x2 * kr[j];
          a3[j] += x3 * kr[j];
        }
      }
      float* srow = s_.s.data() + static_cast<size_t>(i) * kKeyTile;
      std::memcpy(srow, a0, sizeof a0);
      std::memcpy(srow + kKeyTile, a1, sizeof a1);
      std::memcpy(srow + 2 * kKeyTile, a2, sizeof a2);
      std::memcpy(srow + 3 * kKeyTile, a3, sizeof a3);
    }
    for (; i < rows_; ++i) {
      float a0[kKeyTile] = {};
      const float* qi = s_.q.data() + static_cast<size_t>(i) * d_;
      for (int32_t c = 0; c < d_; ++c) {
        const float* kr = kt + c * kKeyTile;
        for (int32_t j = 0; j < kKeyTile; ++j) a0[j] += qi[c] * kr[j];
      }
      std::memcpy(s_.s.data() + static_cast<size_t>(i) * kKeyTile, a0, sizeof a0);
    }
  }

  void mask(const Tile& t) {
    const auto& imageIds = plan_.layout().imageIds();
    const auto& sinks = plan_.layout().sinkFlags();
    const MaskOptions& mo = plan_.options().mask;
    for (int32_t i = 0; i < rows_; ++i) {
      float* srow = s_.s.data() + static_cast<size_t>(i) * kKeyTile;
      for (int32_t j = t.n; j < kKeyTile; ++j) srow[j] = kNegInf;
      if (t.full) continue;
      const int32_t q = qb_.begin + i;
      const int32_t qImage = imageIds[q];
      for (int32_t j = 0; j < t.n; ++j) {
        const int32_t k = t.keys[j];
        if (!mask_visible(cat_, mo, q, k, qImage, imageIds[k], sinks[k] != 0)) srow[j] = kNegInf;
      }
    }
  }

  void softmaxAndAccumulate(const Tile& t) {
    float* prow = s_.p.data();
    for (int32_t i = 0; i < rows_; ++i) {
      const float* srow = s_.s.data() + static_cast<size_t>(i) * kKeyTile;
      float mx = kNegInf;
      for (int32_t j = 0; j < kKeyTile; ++j) mx = std::max(mx, srow[j]);
      const float mNew = std::max(s_.m[i], mx);
      if (mNew == kNegInf) continue;  // nothing visible to this row yet
      const float alpha = exp2Neg(s_.m[i] - mNew);
      float sum = 0.0f;
      for (int32_t j = 0; j < kKeyTile; ++j) {
        prow[j] = exp2Neg(srow[j] - mNew);
        sum += prow[j];
      }
      s_.m[i] = mNew;
      s_.l[i] = s_.l[i] * alpha + sum;
      float* acc = s_.acc.data() + static_cast<size_t>(i) * d_;
      if (alpha != 1.0f)
        for (int32_t c = 0; c < d_; ++c) acc[c] *= alpha;
      for (int32_t j = 0; j < t.n; ++j) {
        const float pj = prow[j];
        if (pj == 0.0f) continue;
        const float* vr = static_cast<const float*>(p_.v) + t.keys[j] * kvStride_ + static_cast<int64_t>(kvHead_) * d_;
        for (int32_t c = 0; c < d_; ++c) acc[c] += pj * vr[c];
      }
    }
  }

  void store() {
    for (int32_t i = 0; i < rows_; ++i) {
      const int64_t token = qb_.begin + i;
      float* dst = static_cast<float*>(p_.out) + token * qStride_ + static_cast<int64_t>(head_) * d_;
      const float* acc = s_.acc.data() + static_cast<size_t>(i) * d_;
      const float inv = 1.0f / s_.l[i];  // l > 0: every row sees at least itself
      for (int32_t c = 0; c < d_; ++c) dst[c] = acc[c] * inv;
      if (p_.lse) p_.lse[token * p_.numHeads + head_] = s_.m[i] * kLn2 + std::log(s_.l[i]);
    }
  }

  const Plan& plan_;
  const AttentionProblem& p_;
  Scratch& s_;
  int32_t d_;
  HeadCategory cat_;
  const QueryBlock& qb_;
  int32_t rows_ = 0;
  int32_t kvHead_ = 0;
  int32_t head_ = 0;
  int64_t qStride_ = 0, kvStride_ = 0;
};

}  // namespace

void attendBlock(const Plan& plan, const AttentionProblem& p, int head, int32_t qbIndex, Scratch& scratch) {
  BlockKernel(plan, p, head, qbIndex, scratch).run(qbIndex);
}

}  // namespace bs::cpu::BS_ISA_NS
