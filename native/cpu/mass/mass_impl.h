// The attention-mass pass for one (head, image query block) work item, written as plain loops the compiler
// vectorises. Compiled once per ISA level (levels/<name>.cpp) under the level's namespace and target flags, like the
// attention kernel; attention_mass.cpp takes the level's kernel from the ISA registry.
//
// Per key tile of the plan's dense category: S = (scale*log2e) Q K^T in f32, the element rule on partial tiles, then
// per row an online max m and, instead of an output accumulator, kMassBuckets f64 sums of 2^(s - m) rescaled
// whenever m grows. At the end each row's bucket sums divided by their total are its mass fractions. Scores are f32
// like the attention kernel (their rounding moves a fraction by ~1e-7); the sums are f64 so that tens of thousands of
// keys add up without drift.
#ifndef BS_ISA_NS
#error "define BS_ISA_NS before including mass_impl.h"
#endif
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "../../core/mass_buckets.h"
#include "../../core/plan.h"
#include "../dtype_convert.h"
#include "mass.h"

namespace bs::cpu::BS_ISA_NS {
namespace mass {
namespace {

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr int32_t kTile = kMassKeyTile;

// 2^x for x <= 0. Round-to-nearest split x = r + f (|f| <= 1/2), 2^f from its degree-7 Taylor polynomial
// (coefficients ln2^n / n!; truncation error < 1e-8 relative), 2^r through the exponent bits. Results below 2^-126
// flush to 0, which only drops keys that weigh nothing next to the row maximum (whose own weight is 1).
inline float exp2NonPositive(float x) {
  const float r = (x + 12582912.0f) - 12582912.0f;  // 1.5 * 2^23: rounds to an integer without a branch
  const float f = x - r;
  float p = 1.525273380405984e-05f;
  p = p * f + 1.5403530393381609e-04f;
  p = p * f + 1.3333558146428443e-03f;
  p = p * f + 9.618129107628477e-03f;
  p = p * f + 5.550410866482158e-02f;
  p = p * f + 2.402265069591007e-01f;
  p = p * f + 6.931471805599453e-01f;
  p = p * f + 1.0f;
  const int32_t e = static_cast<int32_t>(std::max(r, -126.0f)) + 127;
  const uint32_t bits = static_cast<uint32_t>(e) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return x < -126.0f ? 0.0f : p * scale;
}

// Reads n elements starting at element `offset` of a tensor of type t as f32, times mul.
inline void loadRow(const void* base, DType t, int64_t offset, int32_t n, float mul, float* dst) {
  switch (t) {
    case DType::F16: {
      const uint16_t* src = static_cast<const uint16_t*>(base) + offset;
      for (int32_t c = 0; c < n; ++c) dst[c] = f16ToF32(src[c]) * mul;
      break;
    }
    case DType::BF16: {
      const uint16_t* src = static_cast<const uint16_t*>(base) + offset;
      for (int32_t c = 0; c < n; ++c) dst[c] = bf16ToF32(src[c]) * mul;
      break;
    }
    default: {
      const float* src = static_cast<const float*>(base) + offset;
      for (int32_t c = 0; c < n; ++c) dst[c] = src[c] * mul;
    }
  }
}

class MassBlock {
 public:
  MassBlock(const Plan& plan, const MassProblem& p, int head, int32_t qbIndex, MassScratch& s)
      : plan_(plan), p_(p), s_(s), d_(p.headDim), qb_(plan.queryBlocks()[qbIndex]), head_(head) {
    rows_ = qb_.end - qb_.begin;
    kvHead_ = head / (p.numHeads / p.numKvHeads);
    qImage_ = plan.layout().imageIds()[qb_.begin];  // query blocks never straddle a segment: one image
    s.ensure(plan.options().blockM, d_);
  }

  void run(int32_t qbIndex, double* blockSums) {
    loadQueries();
    TileWalkT<kTile> walk(plan_.view(HeadCategory::Dense), plan_.gatherLists(), qbIndex);
    int32_t keys[kTile];
    for (KeyTileT<> t; walk.next(t);) {
      for (int32_t j = 0; j < t.count; ++j) keys[j] = t.token(j);
      tile(keys, t.count, t.full(), t.list == nullptr);
    }
    finish(blockSums);
  }

 private:
  void loadQueries() {
    const float qscale = p_.scale * kLog2e;
    const int64_t stride = static_cast<int64_t>(p_.numHeads) * d_;
    for (int32_t i = 0; i < rows_; ++i) {
      loadRow(p_.q, p_.inputType, (qb_.begin + i) * stride + static_cast<int64_t>(head_) * d_, d_, qscale,
              s_.q.data() + static_cast<size_t>(i) * d_);
      s_.m[i] = kNegInf;
    }
    std::fill(s_.acc.begin(), s_.acc.begin() + static_cast<size_t>(rows_) * kMassBuckets, 0.0);
  }

  void tile(const int32_t* keys, int32_t n, bool full, bool contiguous) {
    const auto& imageIds = plan_.layout().imageIds();
    const auto& sinks = plan_.layout().sinkFlags();
    float* kt = s_.kt.data();  // K^T: [headDim][kTile], columns >= n zeroed
    float column[1024];
    const int64_t kvStride = static_cast<int64_t>(p_.numKvHeads) * d_;
    for (int32_t c = 0; c < d_; ++c) std::fill(kt + c * kTile + n, kt + (c + 1) * kTile, 0.0f);
    uint8_t bucket[kTile];
    bool uniform = true;
    for (int32_t j = 0; j < n; ++j) {
      const int32_t k = keys[j];
      loadRow(p_.k, p_.inputType, k * kvStride + static_cast<int64_t>(kvHead_) * d_, d_, 1.0f, column);
      for (int32_t c = 0; c < d_; ++c) kt[c * kTile + j] = column[c];
      bucket[j] = static_cast<uint8_t>(mass_bucket_of_key(qImage_, imageIds[k], sinks[k] != 0));
      uniform = uniform && bucket[j] == bucket[0];
    }
    scores(kt);
    if (!full) mask(keys, n);
    accumulate(keys, n, bucket, uniform && contiguous);
  }

  void scores(const float* kt) {
    // Four query rows at a time, so each K^T row loaded feeds four FMA chains.
    int32_t i = 0;
    for (; i + 4 <= rows_; i += 4) {
      float a0[kTile] = {}, a1[kTile] = {}, a2[kTile] = {}, a3[kTile] = {};
      const float* q0 = s_.q.data() + static_cast<size_t>(i) * d_;
      for (int32_t c = 0; c < d_; ++c) {
        const float* kr = kt + c * kTile;
        const float x0 = q0[c], x1 = q0[d_ + c], x2 = q0[2 * d_ + c], x3 = q0[3 * d_ + c];
        for (int32_t j = 0; j < kTile; ++j) {
          a0[j] += x0 * kr[j];
          a1[j] += x1 * kr[j];
          a2[j] += x2 * kr[j];
          a3[j] += x3 * kr[j];
        }
      }
      float* srow = s_.s.data() + static_cast<size_t>(i) * kTile;
      std::memcpy(srow, a0, sizeof a0);
      std::memcpy(srow + kTile, a1, sizeof a1);
      std::memcpy(srow + 2 * kTile, a2, sizeof a2);
      std::memcpy(srow + 3 * kTile, a3, sizeof a3);
    }
    for (; i < rows_; ++i) {
      float a0[kTile] = {};
      const float* qi = s_.q.data() + static_cast<size_t>(i) * d_;
      for (int32_t c = 0; c < d_; ++c) {
        const float* kr = kt + c * kTile;
        for (int32_t j = 0; j < kTile; ++j) a0[j] += qi[c] * kr[j];
      }
      std::memcpy(s_.s.data() + static_cast<size_t>(i) * kTile, a0, sizeof a0);
    }
  }

  // The base mask (dense category) on a partial tile, from the one rule every backend applies.
  void mask(const int32_t* keys, int32_t n) {
    const auto& imageIds = plan_.layout().imageIds();
    const auto& sinks = plan_.layout().sinkFlags();
    const MaskOptions& mo = plan_.options().mask;
    for (int32_t i = 0; i < rows_; ++i) {
      float* srow = s_.s.data() + static_cast<size_t>(i) * kTile;
      const int32_t q = qb_.begin + i;
      for (int32_t j = 0; j < n; ++j) {
        const int32_t k = keys[j];
        if (!mask_visible(HeadCategory::Dense, mo, q, k, qImage_, imageIds[k], sinks[k] != 0)) srow[j] = kNegInf;
      }
    }
  }

  void accumulate(const int32_t* keys, int32_t n, const uint8_t* bucket, bool uniformRun) {
    float* prow = s_.p.data();
    for (int32_t i = 0; i < rows_; ++i) {
      const float* srow = s_.s.data() + static_cast<size_t>(i) * kTile;
      float mx = kNegInf;
      for (int32_t j = 0; j < n; ++j) mx = std::max(mx, srow[j]);
      const float mNew = std::max(s_.m[i], mx);
      if (mNew == kNegInf) continue;  // nothing visible to this row in this tile or before
      double* acc = s_.acc.data() + static_cast<size_t>(i) * kMassBuckets;
      const float alpha = exp2NonPositive(s_.m[i] - mNew);
      if (alpha != 1.0f)
        for (int b = 0; b < kMassBuckets; ++b) acc[b] *= alpha;
      s_.m[i] = mNew;
      for (int32_t j = 0; j < n; ++j) prow[j] = exp2NonPositive(srow[j] - mNew);
      const int32_t q = qb_.begin + i;
      if (uniformRun) {
        // One bucket for the whole tile (keys inside one segment, no sink among them): a plain sum, kept in eight
        // f64 lanes so it vectorises without reassociating; q itself moves to Self.
        double lanes[8] = {};
        for (int32_t j = 0; j < n; ++j) lanes[j & 7] += static_cast<double>(prow[j]);
        const double sum = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
        const int32_t self = q - keys[0];
        if (self >= 0 && self < n) {
          acc[bucket[0]] += sum - static_cast<double>(prow[self]);
          acc[static_cast<int>(MassBucket::Self)] += prow[self];
        } else {
          acc[bucket[0]] += sum;
        }
      } else {
        for (int32_t j = 0; j < n; ++j)
          acc[keys[j] == q ? static_cast<int>(MassBucket::Self) : bucket[j]] += static_cast<double>(prow[j]);
      }
    }
  }

  void finish(double* blockSums) {
    for (int32_t i = 0; i < rows_; ++i) {
      const double* acc = s_.acc.data() + static_cast<size_t>(i) * kMassBuckets;
      double total = 0.0;
      for (int b = 0; b < kMassBuckets; ++b) total += acc[b];
      float* out = p_.perToken ? p_.perToken + (static_cast<int64_t>(qb_.begin + i) * p_.numHeads + head_) * kMassBuckets
                               : nullptr;
      for (int b = 0; b < kMassBuckets; ++b) {
        // A division, not a multiply by 1/total: it cannot be fused into the sum below, so the sums come out the
        // same whether or not per-token fractions are stored. total > 0: every row sees at least itself.
        const double fraction = acc[b] / total;
        blockSums[b] += fraction;
        if (out) out[b] = static_cast<float>(fraction);
      }
    }
  }

  const Plan& plan_;
  const MassProblem& p_;
  MassScratch& s_;
  int32_t d_;
  const QueryBlock& qb_;
  int head_;
  int32_t rows_ = 0;
  int32_t kvHead_ = 0;
  int32_t qImage_ = -1;
};

}  // namespace
}  // namespace mass

void massBlock(const Plan& plan, const MassProblem& p, int head, int32_t qbIndex, MassScratch& scratch,
               double* blockSums) {
  mass::MassBlock(plan, p, head, qbIndex, scratch).run(qbIndex, blockSums);
}

}  // namespace bs::cpu::BS_ISA_NS
