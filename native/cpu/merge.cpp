#include "merge.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "dtype_convert.h"
#include "thread_pool.h"

namespace bs::cpu {
namespace {

float load(const void* base, DType t, size_t i) {
  switch (t) {
    case DType::F32: return static_cast<const float*>(base)[i];
    case DType::F16: return f16ToF32(static_cast<const uint16_t*>(base)[i]);
    default: return bf16ToF32(static_cast<const uint16_t*>(base)[i]);
  }
}

void store(void* base, DType t, size_t i, float x) {
  switch (t) {
    case DType::F32: static_cast<float*>(base)[i] = x; break;
    case DType::F16: static_cast<uint16_t*>(base)[i] = f32ToF16(x); break;
    default: static_cast<uint16_t*>(base)[i] = f32ToBf16(x); break;
  }
}

}  // namespace

void mergeAttention(const MergeProblem& p, int threads) {
  checkMergeProblem(p);
  const int64_t pairs = p.rows * p.numHeads;  // (row, head) pairs
  const int64_t d = p.headDim;
  const auto np = static_cast<int64_t>(p.partials.size());
  constexpr int64_t kChunk = 256;
  std::shared_ptr<ThreadPool> workers = pool();
  const int n = std::clamp(threads > 0 ? threads : workers->size(), 1, workers->size());
  workers->parallelFor((pairs + kChunk - 1) / kChunk, n, [&](int, int64_t item) {
    std::vector<double> acc(static_cast<size_t>(d)), weight(static_cast<size_t>(np));
    const int64_t r1 = std::min(pairs, (item + 1) * kChunk);
    for (int64_t r = item * kChunk; r < r1; ++r) {
      // The largest lse (NaN wins), then each partial's weight against it.
      double top = -std::numeric_limits<double>::infinity();
      bool nan = false;
      for (int64_t i = 0; i < np; ++i) {
        const double l = p.partials[i].lse[r];
        nan = nan || l != l;
        top = std::max(top, l);
      }
      const size_t at = static_cast<size_t>(r * d);
      double lse;
      if (nan || top == -std::numeric_limits<double>::infinity()) {
        const float fill = nan ? std::numeric_limits<float>::quiet_NaN() : 0.0f;
        for (int64_t c = 0; c < d; ++c) store(p.out, p.outputType, at + c, fill);
        if (p.lse) p.lse[r] = nan ? fill : -std::numeric_limits<float>::infinity();
        continue;
      }
      double sum = 0;
      for (int64_t i = 0; i < np; ++i) {
        const double l = p.partials[i].lse[r];
        weight[i] = top == std::numeric_limits<double>::infinity() ? (l == top ? 1.0 : 0.0) : std::exp(l - top);
        sum += weight[i];
      }
      lse = top == std::numeric_limits<double>::infinity() ? top : top + std::log(sum);
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t i = 0; i < np; ++i) {
        if (weight[i] == 0) continue;  // a shard the row saw nothing of (its out is 0) or negligible
        const double w = weight[i] / sum;
        for (int64_t c = 0; c < d; ++c) acc[c] += w * load(p.partials[i].out, p.inputType, at + c);
      }
      for (int64_t c = 0; c < d; ++c) store(p.out, p.outputType, at + c, static_cast<float>(acc[c]));
      if (p.lse) p.lse[r] = static_cast<float>(lse);
    }
  });
}

}  // namespace bs::cpu
