// Qualifiers for code that runs on the GPU and is also compiled for the host (the plan walk and the scheduler are
// checked on the CPU by inspect.cpp, so they must build with the host compiler too).
#pragma once

#if defined(__CUDACC__)
#define BS_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define BS_HOST_DEVICE inline
#endif

namespace bs::cuda {

// A read-only load through the texture path on the device; a plain load on the host.
template <typename T>
BS_HOST_DEVICE T loadReadOnly(const T* p) {
#if defined(__CUDA_ARCH__)
  return __ldg(p);
#else
  return *p;
#endif
}

BS_HOST_DEVICE int minInt(int a, int b) { return a < b ? a : b; }

}  // namespace bs::cuda
