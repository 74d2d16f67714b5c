// Entry of the CUDA module (blindsight_cuda.node, built by cmake/cuda_addon.cmake): its own plan handles (plans are
// rebuilt here from the same layout arrays, because a handle belongs to the module that made it), the CUDA
// attention entry points, and the device status. The CPU addon (blindsight.node, node-gyp) stays the default
// module; lib/backends/cuda.ts loads this one only for calls that run on the GPU.
#include <napi.h>

#include <vector>

#include "../core/error.h"
#include "../cuda/host/cuda_backend.h"
#include "../cuda/host/inspect.h"
#include "args.h"
#include "attention_args.h"
#include "cuda_attention.h"
#include "js_errors.h"
#include "plan_object.h"

namespace bs::addon {
namespace {

Napi::Value CudaInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const cuda::Status s = cuda::status();
  Napi::Object o = Napi::Object::New(env);
  o.Set("compiled", Napi::Boolean::New(env, s.compiled));
  o.Set("available", Napi::Boolean::New(env, s.available));
  o.Set("reason", Napi::String::New(env, s.reason));
  o.Set("runtimeVersion", Napi::Number::New(env, s.runtimeVersion));
  o.Set("driverVersion", Napi::Number::New(env, s.driverVersion));
  o.Set("builtArchs", Napi::String::New(env, s.builtArchs));
  Napi::Array dims = Napi::Array::New(env);
  uint32_t i = 0;
  for (int d : cuda::kHeadDims) dims.Set(i++, Napi::Number::New(env, d));
  o.Set("headDims", dims);
  if (!s.deviceName.empty()) {
    Napi::Object d = Napi::Object::New(env);
    d.Set("name", Napi::String::New(env, s.deviceName));
    d.Set("computeCapability", Napi::Number::New(env, s.computeCapability));
    d.Set("multiprocessors", Napi::Number::New(env, s.multiprocessors));
    d.Set("totalMemory", Napi::Number::New(env, static_cast<double>(s.totalMemory)));
    o.Set("device", d);
  }
  return o;
}

// inspect({ plan, heads: Uint8Array, numKvHeads, rowsPerCta, keysPerTile }) -> { items: Int32Array, tiles: Int32Array }
// (layout in host/inspect.h): the launch's schedule and plan walk, computed on the CPU by the kernel's own code.
Napi::Value Inspect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Args a(env, info[0], "inspect");
  const auto plan = NativePlan::unwrap(env, a.get("plan"));
  const auto codes = a.typedArray<uint8_t>("heads");
  const std::vector<HeadCategory> heads = headsField(a, static_cast<int32_t>(codes.ElementLength()));
  const auto numKvHeads = static_cast<int32_t>(a.integer("numKvHeads", 1, 1 << 16, ErrorCode::BAD_HEAD_COUNT));
  const auto rows = static_cast<int32_t>(a.integer("rowsPerCta", 1, 1024));
  const auto keys = static_cast<int32_t>(a.integer("keysPerTile", 1, 1024));
  cuda::Inspection r;
  try {
    r = cuda::inspectLaunch(*plan, heads.data(), static_cast<int32_t>(heads.size()), numKvHeads, rows, keys);
  } catch (const Error& e) {
    throwCoded(env, e.codeId(), e.what());
  }
  auto toTyped = [&](const std::vector<int32_t>& v) {
    auto a = Napi::Int32Array::New(env, v.size());
    std::copy(v.begin(), v.end(), a.Data());
    return a;
  };
  Napi::Object o = Napi::Object::New(env);
  o.Set("items", toTyped(r.items));
  o.Set("tiles", toTyped(r.tiles));
  return o;
}

}  // namespace

Napi::Object InitCuda(Napi::Env env, Napi::Object exports) {
  exports.Set("NativePlan", NativePlan::Init(env));  // first: it creates the per-environment AddonData
  exports.Set("NativeLayout", NativeLayout::Init(env));
  exports.Set("cudaInfo", Napi::Function::New(env, CudaInfo, "cudaInfo"));
  exports.Set("attentionSync", Napi::Function::New(env, CudaAttentionSync, "attentionSync"));
  exports.Set("attentionAsync", Napi::Function::New(env, CudaAttentionAsync, "attentionAsync"));
  exports.Set("benchmark", Napi::Function::New(env, CudaBenchmark, "benchmark"));
  exports.Set("inspect", Napi::Function::New(env, Inspect, "inspect"));
#if defined(BLINDSIGHT_CUDA_EMULATOR)
  exports.Set("emulate", Napi::Function::New(env, CudaEmulate, "emulate"));
#endif
  return exports;
}

}  // namespace bs::addon

static Napi::Object InitBlindsightCuda(Napi::Env env, Napi::Object exports) { return bs::addon::InitCuda(env, exports); }
NODE_API_MODULE(blindsight_cuda, InitBlindsightCuda)
