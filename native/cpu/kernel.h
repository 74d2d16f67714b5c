// The CPU attention kernel's interface (one implementation per ISA level, level_kernels.h) and the scratch each worker
// thread reuses between work items.
//
// Tile sizes (see kernel/constants.h for the register blocking inside a tile):
//  - kLanes = 64 query rows per pass: the rows live in vector lanes (S^T[key][row]), so one pass is 4 zmm (AVX-512)
//    or 8 ymm (AVX2) wide; the transposed query block Q^T is 64 x headDim floats (32 KiB at headDim 128).
//  - kKeyTile = 64 keys per tile: K and V rows of one tile are 2 x 32 KiB at headDim 128, S/P is 16 KiB and the
//    output accumulator 32 KiB, so a tile's whole working set (~150 KiB) stays in L2 (1 MiB per core on Zen 4,
//    >= 256 KiB on every AVX2 part) while each product streams one operand from L2 into register-blocked
//    accumulators. Larger tiles would spill L2 at headDim 256; smaller ones pay the online-softmax rescale more often.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

#include "../core/plan.h"
#include "../core/problem.h"
#include "work_order.h"
#include "aligned_memory.h"

namespace bs::cpu {

constexpr int32_t kKeyTile = 64;
constexpr int32_t kLanes = 64;
static_assert(kLanes <= 64, "partial-tile masks hold one bit per lane in a uint64_t");

// A 64-byte-aligned buffer, grown on demand and kept between work items and calls.
template <class T>
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  AlignedBuffer(AlignedBuffer&& o) noexcept : data_(o.data_), size_(o.size_) { o.data_ = nullptr, o.size_ = 0; }
  ~AlignedBuffer() { alignedFree(data_); }
  T* get(size_t n) {
    if (n > size_) {
      alignedFree(data_);
      data_ = static_cast<T*>(alignedAlloc64(n * sizeof(T)));
      if (!data_) {
        size_ = 0;
        throw std::bad_alloc();
      }
      size_ = n;
    }
    return data_;
  }

 private:
  T* data_ = nullptr;
  size_t size_ = 0;
};

// What one worker reuses between work items: the kernel's float buffers and the row masks of stacked passes, and
// the (query row, key) pairs its products computed (lanes of the row vectors it ran, masked ones included; one per
// pair on the pair-by-pair path): the work a call really does, against which the plan's statistics are estimates.
struct Scratch {
  AlignedBuffer<float> floats;
  AlignedBuffer<uint64_t> laneMasks;
  int64_t computedPairs = 0;
};

// The query heads of one work item (see work_order.h): they share a KV head and the plan of `category` for the
// query block, and the kernel stacks their (head, row) pairs in its lanes.
struct HeadStack {
  const int32_t* heads;
  int32_t count;
  HeadCategory category;
  // The order of the item's (head, row) pairs in its lanes: head-major (lane g is row g % rows of head g / rows) or,
  // for a sparse head's image rows, token-major (lane g is head g % count of row g / count), so a pass reads and
  // writes each token's heads as one contiguous run of q and out (work_order.cpp).
  bool tokenMajor = false;
  // The passes this item runs: lanes [firstLane, firstLane + numLanes) of the stack (numLanes 0: all of them).
  int32_t firstLane = 0;
  int32_t numLanes = 0;

  // The head and the token (first + row) of lanes g0 .. g0 + n - 1 of an item of `rows` rows per head.
  void lanes(int32_t g0, int32_t n, int32_t rows, int32_t first, int32_t* head, int32_t* token) const {
    for (int32_t g = g0; g < g0 + n; ++g) {
      head[g - g0] = heads[tokenMajor ? g % count : g / rows];
      token[g - g0] = first + (tokenMajor ? g / count : g % rows);
    }
  }
};

// Where the kernel reads K and V: element (key row, kvHead, c) is at k[row * tokenStride + kvHead * headStride + c],
// with key row = token + the piece's keyDelta. The backend passes head-major copies unless the caller's K and V are
// laid out so already (see packed_kv.h).
struct KvView {
  const void* k;
  const void* v;
  int64_t tokenStride;
  int64_t headStride;
  int64_t rows;  // key rows of the call
  // [numKvHeads][rows]: 1 where the key row's k or v (of that KV head) holds a NaN or an infinity; null when every
  // row is finite (packed_kv.h scans them). Tiles with such keys are computed pair by pair, so a non-finite value
  // reaches exactly the rows that see it.
  const uint8_t* nonFinite = nullptr;
};

// The row masks TileMasks stored for one (category, query block): `keys` per pass, in the kernel's visit order.
struct BlockMasks {
  const uint64_t* bits;
  int32_t keys;
};

using AttendBlockFn = void (*)(const Plan&, const AttentionProblem&, const KvView&, const HeadStack&,
                               const QueryPiece& piece, const BlockMasks& masks, Scratch&);
// A tight loop of independent FMAs on a level's widest vectors; returns the FLOPs it did (2 per lane per FMA).
using FmaLoopFn = double (*)(int64_t iterations);

}  // namespace bs::cpu
