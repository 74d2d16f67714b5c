// 64-byte-aligned allocations that work with every toolchain: std::aligned_alloc where the C library has it, the CRT's
// _aligned_malloc on Windows (whose C library has no aligned_alloc, as memory from it cannot go to free()).
#pragma once
#include <cstddef>
#include <cstdlib>
#if defined(_WIN32)
#include <malloc.h>
#endif

namespace bs::cpu {

// align a power of two; bytes is rounded up to a multiple of it; returns null when out of memory. Release with
// alignedFree.
inline void* alignedAlloc(size_t align, size_t bytes) {
  const size_t rounded = (bytes + align - 1) / align * align;
#if defined(_WIN32)
  return _aligned_malloc(rounded, align);
#else
  return std::aligned_alloc(align, rounded);
#endif
}

inline void* alignedAlloc64(size_t bytes) { return alignedAlloc(64, bytes); }

inline void alignedFree(void* p) {
#if defined(_WIN32)
  _aligned_free(p);
#else
  std::free(p);
#endif
}

}  // namespace bs::cpu
