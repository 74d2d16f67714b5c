#include "cuda_attention.h"

#include <memory>
#include <string>
#include <vector>

#include "../core/error.h"
#include "../cuda/host/cuda_backend.h"
#if defined(BLINDSIGHT_CUDA_EMULATOR)
#include "../cuda/emulation/emulated_attention.h"
#endif
#include "args.h"
#include "js_errors.h"
#include "attention_args.h"
#include "plan_object.h"
#include "promise_worker.h"

namespace bs::addon {
namespace {

constexpr const char* kWhat = "the CUDA backend (host memory)";

using Call = AttentionCall;

// Arguments 0..10 as attention_args.h, then 11 inputType, 12 outputType (and, for some entries, more after).
std::unique_ptr<Call> parse(const Napi::CallbackInfo& info, size_t expectedArgs) {
  Napi::Env env = info.Env();
  if (info.Length() != expectedArgs)
    throwCoded(env, ErrorCode::BAD_ARGUMENT, "CUDA attention expects " + std::to_string(expectedArgs) + " arguments");
  auto call = std::make_unique<Call>();
  parseAttentionCall(info, 11, *call);
  return call;
}

}  // namespace

Napi::Value CudaAttentionSync(const Napi::CallbackInfo& info) {
  auto call = parse(info, 13);
  runCoded(info.Env(), kWhat, [&] { cuda::attentionHost(*call->plan, call->problem); });
  return info.Env().Undefined();
}

Napi::Value CudaAttentionAsync(const Napi::CallbackInfo& info) {
  return PromiseWorker<Call>::queue(info.Env(), parse(info, 13), kWhat,
                                   [](Call& c) { cuda::attentionHost(*c.plan, c.problem); });
}

#if defined(BLINDSIGHT_CUDA_EMULATOR)
Napi::Value CudaEmulate(const Napi::CallbackInfo& info) {
  auto call = parse(info, 14);
  const bool copiesAtWait = info[13].ToBoolean();
  runCoded(info.Env(), kWhat, [&] { cuda::emulateAttention(*call->plan, call->problem, copiesAtWait); });
  return info.Env().Undefined();
}
#endif

Napi::Value CudaBenchmark(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto call = parse(info, 14);
  const int repeats = static_cast<int>(intArg(info, 13, "repeats", 1, 10000));
  cuda::HostTiming t;
  runCoded(env, kWhat, [&] { t = cuda::benchmarkHost(*call->plan, call->problem, repeats); });
  Napi::Object o = Napi::Object::New(env);
  o.Set("uploadMs", Napi::Number::New(env, t.uploadMs));
  o.Set("planMs", Napi::Number::New(env, t.planMs));
  Napi::Array kernel = Napi::Array::New(env, t.kernelMs.size());
  for (size_t i = 0; i < t.kernelMs.size(); ++i) kernel.Set(static_cast<uint32_t>(i), Napi::Number::New(env, t.kernelMs[i]));
  o.Set("kernelMs", kernel);
  o.Set("downloadMs", Napi::Number::New(env, t.downloadMs));
  return o;
}

}  // namespace bs::addon
