// The CPU kernel's entry points, one per ISA level, and the scratch each worker thread reuses between work items.
#pragma once
#include <cstdint>
#include <vector>

#include "../core/plan.h"
#include "../core/problem.h"

namespace bs::cpu {

constexpr int32_t kKeyTile = 64;  // keys per inner tile: K^T tile of 64 x headDim floats stays in L1/L2

struct Scratch {
  std::vector<float> q, acc, s, p, kt, m, l;
  void ensure(int32_t rows, int32_t headDim) {
    const size_t qd = static_cast<size_t>(rows) * headDim;
    if (q.size() < qd) q.resize(qd), acc.resize(qd);
    if (s.size() < static_cast<size_t>(rows) * kKeyTile) s.resize(static_cast<size_t>(rows) * kKeyTile);
    if (p.size() < static_cast<size_t>(kKeyTile)) p.resize(kKeyTile);
    if (kt.size() < static_cast<size_t>(headDim) * kKeyTile) kt.resize(static_cast<size_t>(headDim) * kKeyTile);
    if (m.size() < static_cast<size_t>(rows)) m.resize(rows), l.resize(rows);
  }
};

using AttendBlockFn = void (*)(const Plan&, const AttentionProblem&, int head, int32_t qbIndex, Scratch&);

namespace generic { void attendBlock(const Plan&, const AttentionProblem&, int, int32_t, Scratch&); }
#if defined(__x86_64__) || defined(_M_X64)
namespace avx2 { void attendBlock(const Plan&, const AttentionProblem&, int, int32_t, Scratch&); }
namespace avx512 { void attendBlock(const Plan&, const AttentionProblem&, int, int32_t, Scratch&); }
#endif

}  // namespace bs::cpu
