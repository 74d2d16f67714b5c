// bs::cuda::sm80 for the host build under the CTA emulator (test-only): the instructions of sm80_primitives.cuh
// defined from the PTX ISA manual instead of inline PTX.
//  - cp.async: each thread's copies land either at issue (the earliest legal moment: exposes a buffer overwritten while
//    other warps still read it) or at the cp.async.wait_group that covers them (the latest: exposes a read before the
//    wait), as AsyncCopies::timing says.
//  - ldmatrix .x4: lanes 8i..8i+7 give the row addresses of 8x8 matrix i; lane l receives row l/4, elements
//    2(l%4) and 2(l%4)+1 of matrix i in register i (.trans: column l/4, rows 2(l%4) and 2(l%4)+1).
//  - mma.m16n8k16 (f32 accumulate): with g = l/4, t = l%4, lane l holds A elements (g | g+8, 2t..2t+1 | 2t+8..2t+9)
//    in registers (0: row g, cols 2t..; 1: row g+8; 2: row g, cols 2t+8..; 3: row g+8, cols 2t+8..), B elements
//    (k = 2t..2t+1 | 2t+8..2t+9, n = g) in registers 0 | 1, and C/D elements (row g | g+8, col 2t..2t+1) as
//    d[0..1] | d[2..3]. Each 32-bit register holds its lower-indexed element in the low 16 bits.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <deque>
#include <type_traits>
#include <vector>

#include "cta_emulator.h"

namespace bs::cuda::emu {

struct AsyncCopy {
  void* dst;
  const void* src;
  bool valid;
  void land() const {
    if (valid) std::memcpy(dst, src, 16);
    else std::memset(dst, 0, 16);
  }
};

// Per-thread cp.async state of the emulated CTA (reset by the launcher before each CTA).
struct AsyncCopies {
  enum class Timing { AtIssue, AtWait } timing = Timing::AtIssue;
  struct Thread {
    std::vector<AsyncCopy> open;                    // issued, not yet committed
    std::deque<std::vector<AsyncCopy>> committed;   // oldest first
  };
  std::vector<Thread> threads;
  void reset(int n) { threads.assign(static_cast<size_t>(n), Thread{}); }
  Thread& mine() { return threads[static_cast<size_t>(CtaEmulator::threadIndex())]; }
};
inline AsyncCopies& asyncCopies() {
  static thread_local AsyncCopies copies;
  return copies;
}

}  // namespace bs::cuda::emu

namespace bs::cuda::sm80 {

inline void copyAsync16(void* smem, const void* gmem, bool valid) {
  auto& c = emu::asyncCopies();
  const emu::AsyncCopy copy{smem, gmem, valid};
  if (c.timing == emu::AsyncCopies::Timing::AtIssue) copy.land();
  else c.mine().open.push_back(copy);
}
inline void commitAsync() {
  auto& t = emu::asyncCopies().mine();
  t.committed.push_back(std::move(t.open));
  t.open.clear();
}
template <int N>
inline void waitAsync() {
  auto& t = emu::asyncCopies().mine();
  while (t.committed.size() > static_cast<size_t>(N)) {
    for (const emu::AsyncCopy& c : t.committed.front()) c.land();
    t.committed.pop_front();
  }
}

namespace detail {
inline uint32_t pairAt(const uint16_t* row, int col) {
  return static_cast<uint32_t>(row[col]) | (static_cast<uint32_t>(row[col + 1]) << 16);
}
inline uint32_t pairOf(uint16_t lo, uint16_t hi) { return static_cast<uint32_t>(lo) | (static_cast<uint32_t>(hi) << 16); }

struct Regs4 {
  uint32_t r[4];
};

inline Regs4 loadMatrices(const void* myRow, bool transposed) {
  return emu::CtaEmulator::current().warpCollective(
      reinterpret_cast<const uint16_t*>(myRow), [&](int lane, auto rowOf) {
        Regs4 out;
        for (int i = 0; i < 4; ++i) {
          if (!transposed) {
            out.r[i] = pairAt(rowOf(8 * i + lane / 4), 2 * (lane % 4));
          } else {
            const int col = lane / 4, row = 2 * (lane % 4);
            out.r[i] = pairOf(rowOf(8 * i + row)[col], rowOf(8 * i + row + 1)[col]);
          }
        }
        return out;
      });
}

template <typename T>
inline float toFloat(uint16_t bits) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    __nv_bfloat16_raw raw;
    raw.x = bits;
    return __bfloat162float(__nv_bfloat16(raw));
  } else {
    __half_raw raw;
    raw.x = bits;
    return __half2float(__half(raw));
  }
}
inline uint16_t half16(uint32_t reg, int which) { return static_cast<uint16_t>(which ? reg >> 16 : reg & 0xffffu); }

struct MmaOperands {
  uint32_t a[4];
  uint32_t b[2];
};
}  // namespace detail

inline void loadMatrixX4(uint32_t (&r)[4], const void* smem) {
  const detail::Regs4 x = detail::loadMatrices(smem, false);
  for (int i = 0; i < 4; ++i) r[i] = x.r[i];
}
inline void loadMatrixX4Transposed(uint32_t (&r)[4], const void* smem) {
  const detail::Regs4 x = detail::loadMatrices(smem, true);
  for (int i = 0; i < 4; ++i) r[i] = x.r[i];
}

template <typename T>
inline void mma16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  detail::MmaOperands mine{{a[0], a[1], a[2], a[3]}, {b0, b1}};
  const auto sums = emu::CtaEmulator::current().warpCollective(mine, [&](int lane, auto of) {
    auto A = [&](int row, int col) {
      const int owner = (row % 8) * 4 + (col % 8) / 2;
      const int reg = (row >= 8 ? 1 : 0) + (col >= 8 ? 2 : 0);
      return detail::toFloat<T>(detail::half16(of(owner).a[reg], col % 2));
    };
    auto B = [&](int k, int n) {
      const int owner = n * 4 + (k % 8) / 2;
      return detail::toFloat<T>(detail::half16(of(owner).b[k >= 8 ? 1 : 0], k % 2));
    };
    std::array<float, 4> s{};
    const int g = lane / 4, t = lane % 4;
    for (int e = 0; e < 4; ++e) {
      const int row = g + 8 * (e / 2), col = 2 * t + (e % 2);
      float acc = 0.0f;
      for (int k = 0; k < 16; ++k) acc += A(row, k) * B(k, col);
      s[e] = acc;
    }
    return s;
  });
  for (int e = 0; e < 4; ++e) d[e] += sums[e];
}

template <typename T>
inline uint32_t pack2(float lo, float hi);
template <>
inline uint32_t pack2<__nv_bfloat16>(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  uint32_t r;
  std::memcpy(&r, &v, 4);
  return r;
}
template <>
inline uint32_t pack2<__half>(float lo, float hi) {
  const __half2 v = __floats2half2_rn(lo, hi);
  uint32_t r;
  std::memcpy(&r, &v, 4);
  return r;
}

}  // namespace bs::cuda::sm80
