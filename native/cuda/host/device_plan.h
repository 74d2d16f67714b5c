// A plan's image (plan_image.h) on the device for one launch: one stream-ordered allocation, one host-to-device copy
// on the launch's stream, freed on the same stream after the kernels that read it.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "../../core/plan.h"
#include "../../core/problem.h"
#include "../device/kernel_params.h"

namespace bs::cuda {

class DevicePlan {
 public:
  // Fills the plan fields of `params`.
  DevicePlan(const Plan& plan, const AttentionProblem& p, int32_t rowsPerCta, cudaStream_t stream, KernelParams& params);
  ~DevicePlan();
  DevicePlan(const DevicePlan&) = delete;
  DevicePlan& operator=(const DevicePlan&) = delete;

  int32_t numItems() const { return numItems_; }

 private:
  cudaStream_t stream_;
  void* image_ = nullptr;
  int32_t numItems_ = 0;
};

}  // namespace bs::cuda
