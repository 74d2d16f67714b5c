// Turning CUDA runtime failures into bs::Error, so they reach JS (and the C ABI) as coded errors.
#pragma once
#include <cuda_runtime.h>

#include <string>

#include "../../core/error.h"

namespace bs::cuda {

[[noreturn]] inline void throwCuda(cudaError_t e, const char* what) {
  cudaGetLastError();  // clear a non-sticky error so the next call starts clean
  const std::string msg = std::string(what) + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")";
  if (e == cudaErrorMemoryAllocation) throw Error(ErrorCode::CUDA_OUT_OF_MEMORY, msg);
  if (e == cudaErrorInsufficientDriver || e == cudaErrorNoDevice) throw Error(ErrorCode::CUDA_UNAVAILABLE, msg);
  throw Error(ErrorCode::CUDA_ERROR, msg);
}

inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throwCuda(e, what);
}

}  // namespace bs::cuda
