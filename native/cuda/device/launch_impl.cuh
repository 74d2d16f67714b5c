// Definitions behind launch.h, included only by the generated per-(type, head dim) translation units.
#pragma once
#include "attention_kernel.cuh"
#include "../host/cuda_check.h"
#include "launch.h"

namespace bs::cuda {

template <typename T, int kHeadDim>
int32_t rowsPerCta() {
  return MainloopFor<T, kHeadDim>::kRows;
}

template <typename T, int kHeadDim>
void launchAttention(const KernelParams& params, int32_t numItems, cudaStream_t stream) {
  using Mainloop = MainloopFor<T, kHeadDim>;
  constexpr int kSharedBytes = sizeof(typename Mainloop::SharedStorage);
  const auto kernel = attentionKernel<Mainloop>;
  // Above 48 KiB of dynamic shared memory a kernel must opt in.
  check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSharedBytes),
        "raising the attention kernel's shared-memory limit");
  kernel<<<numItems, Mainloop::kThreads, kSharedBytes, stream>>>(params);
  check(cudaGetLastError(), "launching the attention kernel");
}

template <typename T, int kHeadDim>
cudaError_t probeKernel() {
  cudaFuncAttributes attributes;
  return cudaFuncGetAttributes(&attributes, attentionKernel<MainloopFor<T, kHeadDim>>);
}

#define BS_INSTANTIATE_ATTENTION(T, D)                                                   \
  template int32_t rowsPerCta<T, D>();                                                   \
  template void launchAttention<T, D>(const KernelParams&, int32_t, cudaStream_t);       \
  template cudaError_t probeKernel<T, D>();

}  // namespace bs::cuda
