// The CUDA backend of a build without CUDA (no nvcc at build time): the same interface, reporting itself
// unavailable, so callers need no #ifdefs.
#include "../core/error.h"
#include "cuda_backend.h"

namespace bs::cuda {
namespace {
constexpr const char* kWhy = "this build of blindsight was compiled without CUDA (nvcc was not found at build time)";
[[noreturn]] void unavailable() { throw Error("CUDA_UNAVAILABLE", kWhy); }
}  // namespace

bool available(std::string* whyNot) {
  if (whyNot) *whyNot = kWhy;
  return false;
}

Status status() {
  Status s;
  s.reason = kWhy;
  return s;
}

void attentionHost(const Plan&, const AttentionProblem&) { unavailable(); }
void attentionDevice(const Plan&, const AttentionProblem&, void*) { unavailable(); }
HostTiming benchmarkHost(const Plan&, const AttentionProblem&, int) { unavailable(); }

}  // namespace bs::cuda
