// Entry of the CUDA module (blindsight_cuda.node, built by cmake/cuda_addon.cmake): its own plan handles (plans are
// rebuilt here from the same layout arrays, because a handle belongs to the module that made it), the CUDA
// attention entry points, and the device status. The CPU addon (blindsight.node, node-gyp) stays the default
// module; lib/cuda.ts loads this one only for calls that run on the GPU.
#include <napi.h>

#include "../cuda/cuda_backend.h"
#include "cuda_attention.h"
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

}  // namespace

Napi::Object InitCuda(Napi::Env env, Napi::Object exports) {
  exports.Set("NativePlan", NativePlan::Init(env));
  exports.Set("cudaInfo", Napi::Function::New(env, CudaInfo, "cudaInfo"));
  exports.Set("attentionSync", Napi::Function::New(env, CudaAttentionSync, "attentionSync"));
  exports.Set("attentionAsync", Napi::Function::New(env, CudaAttentionAsync, "attentionAsync"));
  exports.Set("benchmark", Napi::Function::New(env, CudaBenchmark, "benchmark"));
  return exports;
}

}  // namespace bs::addon

static Napi::Object InitBlindsightCuda(Napi::Env env, Napi::Object exports) { return bs::addon::InitCuda(env, exports); }
NODE_API_MODULE(blindsight_cuda, InitBlindsightCuda)
