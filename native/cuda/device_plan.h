// A plan's arrays on the device for one launch: the category plans' CSR arrays, the gather lists, the layout's
// per-token image ids and sink flags, the head categories, and the work schedule. Everything goes into one device
// allocation filled by one host-to-device copy, enqueued on the launch's stream and freed on it.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "../core/plan.h"
#include "../core/problem.h"
#include "kernel_params.h"

namespace bs::cuda {

class DevicePlan {
 public:
  // Fills the plan fields of `params` (category, gatherList, imageIds, sinkFlags, headCategory, chunks, items).
  DevicePlan(const Plan& plan, const AttentionProblem& p, int32_t rowsPerCta, cudaStream_t stream, KernelParams& params);
  ~DevicePlan();
  DevicePlan(const DevicePlan&) = delete;
  DevicePlan& operator=(const DevicePlan&) = delete;

  int32_t numItems() const { return numItems_; }

 private:
  cudaStream_t stream_;
  void* arena_ = nullptr;
  int32_t numItems_ = 0;
};

}  // namespace bs::cuda
