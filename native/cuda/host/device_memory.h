// Device buffers and streams with owners, so every exit path (including a thrown bs::Error) releases them.
// Allocation is stream-ordered (cudaMallocAsync) where the device supports memory pools, so attentionDevice never
// synchronises; elsewhere it falls back to cudaMalloc and a synchronising free.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>

#include "cuda_check.h"

namespace bs::cuda {

inline bool memoryPoolsSupported() {
  int device = 0, supported = 0;
  if (cudaGetDevice(&device) != cudaSuccess) return false;
  if (cudaDeviceGetAttribute(&supported, cudaDevAttrMemoryPoolsSupported, device) != cudaSuccess) return false;
  return supported != 0;
}

inline void* deviceAlloc(size_t bytes, cudaStream_t stream, const char* what) {
  void* p = nullptr;
  if (bytes == 0) return nullptr;
  check(memoryPoolsSupported() ? cudaMallocAsync(&p, bytes, stream) : cudaMalloc(&p, bytes), what);
  return p;
}

inline void deviceFree(void* p, cudaStream_t stream) {
  if (!p) return;
  if (memoryPoolsSupported()) {
    cudaFreeAsync(p, stream);
  } else {
    cudaStreamSynchronize(stream);
    cudaFree(p);
  }
}

class DeviceBuffer {
 public:
  DeviceBuffer(size_t bytes, cudaStream_t stream, const char* what)
      : p_(deviceAlloc(bytes, stream, what)), bytes_(bytes), stream_(stream) {}
  ~DeviceBuffer() { deviceFree(p_, stream_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void* get() const { return p_; }
  size_t bytes() const { return bytes_; }

 private:
  void* p_;
  size_t bytes_;
  cudaStream_t stream_;
};

// A private non-blocking stream for one host-array call; waits for its work before going away.
class OwnedStream {
 public:
  OwnedStream() { check(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking), "creating a CUDA stream"); }
  ~OwnedStream() {
    cudaStreamSynchronize(s_);
    cudaStreamDestroy(s_);
  }
  OwnedStream(const OwnedStream&) = delete;
  OwnedStream& operator=(const OwnedStream&) = delete;
  cudaStream_t get() const { return s_; }

 private:
  cudaStream_t s_ = nullptr;
};

class Event {
 public:
  Event() { check(cudaEventCreate(&e_), "creating a CUDA event"); }
  ~Event() { cudaEventDestroy(e_); }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  cudaEvent_t get() const { return e_; }

 private:
  cudaEvent_t e_ = nullptr;
};

}  // namespace bs::cuda
