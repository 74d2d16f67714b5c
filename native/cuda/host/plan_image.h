// The bytes a launch's kernel reads about the plan, laid out in one buffer: every category's CSR arrays (runs and
// gathered ranges), the gather lists, the layout's per-token image ids and sink flags, the head categories, and the
// work schedule. device_plan.cu copies it to the GPU in one transfer; inspect.cpp binds it in host memory to run the
// kernel's plan walk on the CPU.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../../core/plan.h"
#include "../../core/problem.h"
#include "../device/kernel_params.h"

namespace bs::cuda {

class PlanImage {
 public:
  // ranges: the call's query and key tokens (null: the whole layout).
  PlanImage(const Plan& plan, const CallRanges* ranges, const HeadCategory* heads, int32_t numHeads, int32_t rowsPerCta);

  const std::vector<uint8_t>& bytes() const { return bytes_; }
  int32_t numItems() const { return numItems_; }
  // Points the plan fields of `params` (category, gatherList, imageIds, sinkFlags, headCategory, chunks, items) into a
  // copy of bytes() that starts at `base`.
  void bind(const void* base, KernelParams& params) const;

 private:
  template <typename T>
  size_t add(const T* data, size_t count);
  template <typename T>
  size_t add(const std::vector<T>& v) {
    return add(v.data(), v.size());
  }

  std::vector<uint8_t> bytes_;
  int32_t numItems_ = 0;
  size_t runOffsets_[kNumCategories], runs_[kNumCategories], gatherOffsets_[kNumCategories], gathers_[kNumCategories];
  size_t sinkTokens_, sharedTokens_, textTokens_, imageIds_, sinkFlags_, heads_, chunks_, items_;
};

}  // namespace bs::cuda
