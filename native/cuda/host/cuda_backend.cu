// The CUDA backend's host side: device checks, argument checks, dispatch to the kernel for the element type and head
// dim, and the host-array path with its copies.
#include "cuda_backend.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

#if defined(__linux__)
#include <dlfcn.h>
#endif

#include "../../core/error.h"
#include "../../core/problem_checks.h"
#include "cuda_check.h"
#include "device_memory.h"
#include "device_plan.h"
#include "stride_checks.h"
#include "../device/launch.h"

#ifndef BLINDSIGHT_CUDA_ARCHS
#define BLINDSIGHT_CUDA_ARCHS "unknown"
#endif

namespace bs::cuda {
namespace {

std::string versionText(int v) { return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10); }

// Whether the NVIDIA driver library can be loaded at all: the runtime reports a missing driver and an old one the
// same way (cudaErrorInsufficientDriver), and users fix them differently.
bool driverLibraryPresent() {
#if defined(__linux__)
  void* h = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
  if (!h) return false;
  dlclose(h);
#endif
  return true;
}

template <typename T>
cudaError_t probeAll() {
  for (cudaError_t e : {probeKernel<T, 64>(), probeKernel<T, 80>(), probeKernel<T, 96>(), probeKernel<T, 128>(),
                        probeKernel<T, 256>()})
    if (e != cudaSuccess) return e;
  return cudaSuccess;
}

Status computeStatus() {
  Status s;
  s.compiled = true;
  s.builtArchs = BLINDSIGHT_CUDA_ARCHS;
  cudaRuntimeGetVersion(&s.runtimeVersion);
  cudaDriverGetVersion(&s.driverVersion);  // 0 when no driver is installed
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  cudaGetLastError();
  if (e == cudaErrorInsufficientDriver) {
    s.reason = driverLibraryPresent()
                   ? "the NVIDIA driver (CUDA " + versionText(s.driverVersion) + ") is older than this build's CUDA runtime " +
                         versionText(s.runtimeVersion) + "; update the driver or rebuild with an older CUDA toolkit"
                   : "no NVIDIA driver is installed (libcuda.so.1 was not found)";
    return s;
  }
  if (e == cudaErrorNoDevice || (e == cudaSuccess && count == 0)) {
    s.reason = "no CUDA device is visible (check the GPU and CUDA_VISIBLE_DEVICES)";
    return s;
  }
  if (e != cudaSuccess) {
    s.reason = std::string("CUDA could not be initialised: ") + cudaGetErrorString(e);
    return s;
  }
  int device = 0;
  cudaGetDevice(&device);
  cudaDeviceProp prop{};
  if (const cudaError_t pe = cudaGetDeviceProperties(&prop, device); pe != cudaSuccess) {
    s.reason = std::string("CUDA device properties unavailable: ") + cudaGetErrorString(pe);
    return s;
  }
  s.deviceName = prop.name;
  s.computeCapability = prop.major * 10 + prop.minor;
  s.multiprocessors = prop.multiProcessorCount;
  s.totalMemory = prop.totalGlobalMem;
  const std::string sm = "sm_" + std::to_string(s.computeCapability);
  if (prop.major < 8) {
    s.reason = "the GPU (" + s.deviceName + ", " + sm + ") is older than sm_80; blindsight's CUDA kernels need Ampere or newer";
    return s;
  }
  for (cudaError_t pe : {probeAll<__nv_bfloat16>(), probeAll<__half>(), probeAll<float>()}) {
    if (pe != cudaSuccess) {
      cudaGetLastError();
      s.reason = "this build has no kernel image for the GPU (" + s.deviceName + ", " + sm + "; built for CUDA archs " +
                 s.builtArchs + "): " + cudaGetErrorString(pe) + ". Rebuild with CUDAARCHS including " +
                 std::to_string(s.computeCapability);
      return s;
    }
  }
  s.available = true;
  return s;
}

// The device question is asked once per process: the answer does not change while it runs.
const Status& cachedStatus() {
  static std::once_flag once;
  static Status status;
  std::call_once(once, [] { status = computeStatus(); });
  return status;
}

void requireAvailable() {
  const Status& s = cachedStatus();
  if (!s.available) throw Error(ErrorCode::CUDA_UNAVAILABLE, "the CUDA backend is unavailable: " + s.reason);
}

size_t elementBytes(DType t) { return t == DType::F32 ? 4 : 2; }

void validate(const Plan& plan, const AttentionProblem& p) {
  bool dimOk = false;
  for (int d : kHeadDims) dimOk = dimOk || d == p.headDim;
  if (!dimOk)
    throw Error(ErrorCode::UNSUPPORTED_HEAD_DIM, "the CUDA backend has kernels for head dims 64, 80, 96, 128 and 256, not " +
                                            std::to_string(p.headDim));
  for (DType t : {p.inputType, p.outputType})
    if (t != DType::F32 && t != DType::F16 && t != DType::BF16) throw Error(ErrorCode::UNSUPPORTED_DTYPE, "unknown element type code");
  checkHeadCounts(p.numHeads, p.numKvHeads);
  if (!p.q || !p.k || !p.v || !p.out || !p.heads) throw Error(ErrorCode::BAD_ARGUMENT, "q, k, v, out and heads must not be null");
  for (int32_t h = 0; h < p.numHeads; ++h)
    if (static_cast<int>(p.heads[h]) >= kNumCategories) throw Error(ErrorCode::UNKNOWN_CATEGORY, "unknown head category code");
  if (!std::isfinite(p.scale)) throw Error(ErrorCode::BAD_ARGUMENT, "scale must be finite");
  if (plan.layout().numTokens() < 1) throw Error(ErrorCode::BAD_ARGUMENT, "empty layout");
}

using LaunchFn = void (*)(const KernelParams&, int32_t, cudaStream_t);
using RowsFn = int32_t (*)();

template <typename T>
void pick(int headDim, LaunchFn& launch, RowsFn& rows) {
  switch (headDim) {
    case 64: launch = launchAttention<T, 64>, rows = rowsPerCta<T, 64>; break;
    case 80: launch = launchAttention<T, 80>, rows = rowsPerCta<T, 80>; break;
    case 96: launch = launchAttention<T, 96>, rows = rowsPerCta<T, 96>; break;
    case 128: launch = launchAttention<T, 128>, rows = rowsPerCta<T, 128>; break;
    default: launch = launchAttention<T, 256>, rows = rowsPerCta<T, 256>; break;
  }
}

// Everything one launch needs besides the plan upload: the kernel for the problem's types and the tensor fields.
struct Launch {
  LaunchFn launch = nullptr;
  int32_t rows = 0;
  KernelParams params{};

  explicit Launch(const Plan& plan, const AttentionProblem& p) {
    RowsFn rowsFn = nullptr;
    switch (p.inputType) {
      case DType::BF16: pick<__nv_bfloat16>(p.headDim, launch, rowsFn); break;
      case DType::F16: pick<__half>(p.headDim, launch, rowsFn); break;
      default: pick<float>(p.headDim, launch, rowsFn); break;
    }
    rows = rowsFn();
    params = tensorParams(plan.options().mask, p);
  }
};

void checkAligned(const AttentionProblem& p) {
  // 16-byte vector loads (cp.async / float4) of every row; rows are headDim elements, a multiple of 8.
  for (const void* ptr : {p.q, p.k, p.v, static_cast<const void*>(p.out)})
    if (reinterpret_cast<uintptr_t>(ptr) % 16 != 0)
      throw Error(ErrorCode::MISALIGNED, "q, k, v and out must be 16-byte aligned device pointers");
  if (reinterpret_cast<uintptr_t>(p.lse) % 4 != 0) throw Error(ErrorCode::MISALIGNED, "lse must be 4-byte aligned");
}

// The call with its ranges (the caller's, or every token) and strides resolved, and the strides checked for the
// kernels' 16-byte row loads.
struct ResolvedCall {
  std::optional<CallRanges> whole;
  AttentionProblem p;
  ResolvedCall(const Plan& plan, const AttentionProblem& in) : p(in) {
    if (!p.ranges) p.ranges = &whole.emplace(plan.layout());
    resolveProblemStrides(p, p.ranges->queryRows(), p.ranges->keyRows());
    checkStrideAlignment(p);
  }
  ResolvedCall(const ResolvedCall&) = delete;
};

// Device copies of host tensors: each the span its strides reach. A strided out is uploaded too, so that the
// elements between its rows come back as the caller left them.
struct HostBuffers {
  size_t qBytes, kBytes, vBytes, outBytes, lseBytes;
  bool uploadOut;
  DeviceBuffer q, k, v, out, lse;
  HostBuffers(const AttentionProblem& p, cudaStream_t s)
      : qBytes(span(p.ranges->queryRows(), p.numHeads, p, p.qStrides, p.inputType)),
        kBytes(span(p.ranges->keyRows(), p.numKvHeads, p, p.kStrides, p.inputType)),
        vBytes(span(p.ranges->keyRows(), p.numKvHeads, p, p.vStrides, p.inputType)),
        outBytes(span(p.ranges->queryRows(), p.numHeads, p, p.outStrides, p.outputType)),
        lseBytes(p.lse ? static_cast<size_t>(p.ranges->queryRows()) * p.numHeads * sizeof(float) : 0),
        uploadOut(p.outStrides.token != static_cast<int64_t>(p.numHeads) * p.headDim || p.outStrides.head != p.headDim),
        q(qBytes, s, "allocating q on the device"),
        k(kBytes, s, "allocating k on the device"),
        v(vBytes, s, "allocating v on the device"),
        out(outBytes, s, "allocating out on the device"),
        lse(lseBytes, s, "allocating lse on the device") {}
  static size_t span(int64_t rows, int64_t heads, const AttentionProblem& p, TensorStrides st, DType t) {
    return static_cast<size_t>(tensorExtent(rows, heads, p.headDim, st)) * elementBytes(t);
  }

  AttentionProblem onDevice(const AttentionProblem& p) const {
    AttentionProblem d = p;
    d.q = q.get();
    d.k = k.get();
    d.v = v.get();
    d.out = out.get();
    d.lse = static_cast<float*>(lse.get());
    return d;
  }
  void upload(const AttentionProblem& p, cudaStream_t s) const {
    check(cudaMemcpyAsync(q.get(), p.q, qBytes, cudaMemcpyHostToDevice, s), "copying q to the device");
    check(cudaMemcpyAsync(k.get(), p.k, kBytes, cudaMemcpyHostToDevice, s), "copying k to the device");
    check(cudaMemcpyAsync(v.get(), p.v, vBytes, cudaMemcpyHostToDevice, s), "copying v to the device");
    if (uploadOut) check(cudaMemcpyAsync(out.get(), p.out, outBytes, cudaMemcpyHostToDevice, s), "copying out to the device");
  }
  void download(const AttentionProblem& p, cudaStream_t s) const {
    check(cudaMemcpyAsync(p.out, out.get(), outBytes, cudaMemcpyDeviceToHost, s), "copying out from the device");
    if (p.lse) check(cudaMemcpyAsync(p.lse, lse.get(), lseBytes, cudaMemcpyDeviceToHost, s), "copying lse from the device");
  }
};

float elapsedMs(const Event& a, const Event& b) {
  float ms = 0;
  check(cudaEventElapsedTime(&ms, a.get(), b.get()), "reading a CUDA event timer");
  return ms;
}

}  // namespace

Status status() { return cachedStatus(); }

bool available(std::string* whyNot) {
  const Status& s = cachedStatus();
  if (whyNot) *whyNot = s.available ? std::string() : s.reason;
  return s.available;
}

void attentionDevice(const Plan& plan, const AttentionProblem& call, void* cudaStream) {
  requireAvailable();
  validate(plan, call);
  const ResolvedCall resolved(plan, call);
  const AttentionProblem& p = resolved.p;
  checkAligned(p);
  const auto stream = static_cast<cudaStream_t>(cudaStream);
  Launch l(plan, p);
  DevicePlan devicePlan(plan, p, l.rows, stream, l.params);
  if (devicePlan.numItems() > 0) l.launch(l.params, devicePlan.numItems(), stream);
}

void attentionHost(const Plan& plan, const AttentionProblem& call) {
  requireAvailable();
  validate(plan, call);
  const ResolvedCall resolved(plan, call);
  const AttentionProblem& p = resolved.p;
  OwnedStream stream;
  {
    HostBuffers buffers(p, stream.get());
    buffers.upload(p, stream.get());
    attentionDevice(plan, buffers.onDevice(p), stream.get());
    buffers.download(p, stream.get());
    check(cudaStreamSynchronize(stream.get()), "running the attention kernel");
  }
  check(cudaStreamSynchronize(stream.get()), "releasing device buffers");
}

HostTiming benchmarkHost(const Plan& plan, const AttentionProblem& call, int repeats) {
  requireAvailable();
  validate(plan, call);
  const ResolvedCall resolved(plan, call);
  const AttentionProblem& p = resolved.p;
  HostTiming timing;
  OwnedStream stream;
  const cudaStream_t s = stream.get();
  {
    HostBuffers buffers(p, s);
    const AttentionProblem d = buffers.onDevice(p);
    Event t0, t1, t2;
    check(cudaEventRecord(t0.get(), s), "recording an event");
    buffers.upload(p, s);
    check(cudaEventRecord(t1.get(), s), "recording an event");
    Launch l(plan, d);
    DevicePlan devicePlan(plan, d, l.rows, s, l.params);
    check(cudaEventRecord(t2.get(), s), "recording an event");
    check(cudaEventSynchronize(t2.get()), "uploading the inputs");
    timing.uploadMs = elapsedMs(t0, t1);
    timing.planMs = elapsedMs(t1, t2);
    for (int r = 0; r < repeats && devicePlan.numItems() > 0; ++r) {
      Event a, b;
      check(cudaEventRecord(a.get(), s), "recording an event");
      l.launch(l.params, devicePlan.numItems(), s);
      check(cudaEventRecord(b.get(), s), "recording an event");
      check(cudaEventSynchronize(b.get()), "running the attention kernel");
      timing.kernelMs.push_back(elapsedMs(a, b));
    }
    Event d0, d1;
    check(cudaEventRecord(d0.get(), s), "recording an event");
    buffers.download(p, s);
    check(cudaEventRecord(d1.get(), s), "recording an event");
    check(cudaEventSynchronize(d1.get()), "copying the results back");
    timing.downloadMs = elapsedMs(d0, d1);
  }
  check(cudaStreamSynchronize(s), "releasing device buffers");
  return timing;
}

}  // namespace bs::cuda
