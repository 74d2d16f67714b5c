#include "device_plan.h"

#include "cuda_check.h"
#include "device_memory.h"
#include "plan_image.h"

namespace bs::cuda {

DevicePlan::DevicePlan(const Plan& plan, const AttentionProblem& p, int32_t rowsPerCta, cudaStream_t stream,
                       KernelParams& params)
    : stream_(stream) {
  const PlanImage image(plan, p.ranges, p.heads, p.numHeads, rowsPerCta);
  numItems_ = image.numItems();
  image_ = deviceAlloc(image.bytes().size(), stream_, "allocating the plan on the device");
  // From pageable memory this returns once the bytes are staged, so `image` may go out of scope afterwards.
  const cudaError_t copied =
      cudaMemcpyAsync(image_, image.bytes().data(), image.bytes().size(), cudaMemcpyHostToDevice, stream_);
  if (copied != cudaSuccess) {
    deviceFree(image_, stream_);
    throwCuda(copied, "copying the plan to the device");
  }
  image.bind(image_, params);
}

DevicePlan::~DevicePlan() { deviceFree(image_, stream_); }

}  // namespace bs::cuda
