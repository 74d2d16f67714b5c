// The kernel: scheduler -> mainloop -> epilogue. One CTA per work item (work_schedule.h); the mainloop type decides
// the element type path (tensor cores for bf16/f16, CUDA cores for f32) and the tile shape.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <type_traits>

#include "kernel_params.h"
#include "mainloop_simt.cuh"
#include "mainloop_sm80.cuh"
#include "tile_scheduler.cuh"

namespace bs::cuda {

template <typename T, int kHeadDim>
using MainloopFor = std::conditional_t<std::is_same_v<T, float>, SimtMainloop<kHeadDim>, Sm80Mainloop<T, kHeadDim>>;

template <class Mainloop>
__global__ void __launch_bounds__(Mainloop::kThreads) attentionKernel(const __grid_constant__ KernelParams p) {
  extern __shared__ __align__(16) unsigned char sharedBytes[];
  auto& shared = *reinterpret_cast<typename Mainloop::SharedStorage*>(sharedBytes);
  const WorkTile w = workTileFor(p, static_cast<int32_t>(blockIdx.x));
  Mainloop mainloop;
  mainloop.run(p, w, shared);
  mainloop.store(p, w);
}

}  // namespace bs::cuda
