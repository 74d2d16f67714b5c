// The CUDA backend's host interface. Plain C++ (no CUDA headers), so the N-API glue and the C ABI can call it from
// code compiled by the host compiler. It exists only in CUDA builds (cmake/cuda_addon.cmake): callers built without
// CUDA guard their calls (BLINDSIGHT_WITH_CUDA in the C ABI; lib/backends/cuda.ts for the addon). Errors are bs::Error: CUDA_UNAVAILABLE (no driver / device / build), CUDA_ERROR (a CUDA call failed),
// CUDA_OUT_OF_MEMORY, UNSUPPORTED_HEAD_DIM, UNSUPPORTED_DTYPE, BAD_GQA.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "../../core/plan.h"
#include "../../core/problem.h"

namespace bs::cuda {

// Head dims with compiled kernels.
constexpr int kHeadDims[] = {64, 80, 96, 128, 256};

// True when a CUDA device is present and this build has kernels it can run. Otherwise false, and whyNot (when not
// null) says why in words a user can act on: no NVIDIA driver, driver older than the runtime, no device, a GPU older
// than sm_80, or no kernel image for the GPU's architecture.
bool available(std::string* whyNot);

struct Status {
  bool compiled = false;    // this binary contains the CUDA kernels (always true where this is linked)
  bool available = false;   // available(nullptr)
  std::string reason;       // why not, when !available
  int runtimeVersion = 0;   // CUDA runtime linked in, e.g. 13000
  int driverVersion = 0;    // 0 when no driver is installed
  std::string builtArchs;   // CUDA architectures compiled in, as CMake spelled them
  // The current device, when one is present.
  std::string deviceName;
  int computeCapability = 0;  // major * 10 + minor
  int multiprocessors = 0;
  size_t totalMemory = 0;
};
Status status();

// Host pointers in and out: copies q/k/v to the device, runs attentionDevice, copies out/lse back, then waits.
void attentionHost(const Plan& plan, const AttentionProblem& p);

// Device pointers (q, k, v, out, lse): enqueues the kernel on cudaStream (a cudaStream_t; null = the legacy default
// stream) and returns without waiting. p.heads is a host array. The plan's arrays are uploaded on every call.
void attentionDevice(const Plan& plan, const AttentionProblem& p, void* cudaStream);

// For the benchmark: host pointers like attentionHost, with the copies timed apart from the kernel. The inputs are
// uploaded once, the kernel runs `repeats` times (each timed with CUDA events), and the last result is copied back.
struct HostTiming {
  double uploadMs = 0;              // q/k/v host -> device
  double planMs = 0;                // plan arrays host -> device
  std::vector<double> kernelMs;     // one per repeat
  double downloadMs = 0;            // out/lse device -> host
};
HostTiming benchmarkHost(const Plan& plan, const AttentionProblem& p, int repeats);

}  // namespace bs::cuda
