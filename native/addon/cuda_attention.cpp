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

std::unique_ptr<Call> parse(const Args& a, bool async) {
  auto call = std::make_unique<Call>();
  parseAttentionCall(a, *call, async);
  return call;
}

}  // namespace

Napi::Value CudaAttentionSync(const Napi::CallbackInfo& info) {
  auto call = parse(Args(info.Env(), info[0], "CUDA attention"), false);
  runCoded(info.Env(), kWhat, [&] { cuda::attentionHost(*call->plan, call->problem); });
  return attentionResult(info.Env(), *call);
}

Napi::Value CudaAttentionAsync(const Napi::CallbackInfo& info) {
  return PromiseWorker<Call>::queue(
      info.Env(), parse(Args(info.Env(), info[0], "CUDA attention"), true), kWhat,
      [](Call& c) { cuda::attentionHost(*c.plan, c.problem); }, [](Napi::Env env, Call& c) { return attentionResult(env, c); });
}

#if defined(BLINDSIGHT_CUDA_EMULATOR)
Napi::Value CudaEmulate(const Napi::CallbackInfo& info) {
  const Args a(info.Env(), info[0], "CUDA emulation");
  auto call = parse(a, false);
  const bool copiesAtWait = a.boolean("copiesAtWait", false);
  runCoded(info.Env(), kWhat, [&] { cuda::emulateAttention(*call->plan, call->problem, copiesAtWait); });
  return attentionResult(info.Env(), *call);
}
#endif

Napi::Value CudaBenchmark(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Args a(env, info[0], "CUDA benchmark");
  auto call = parse(a, false);
  const int repeats = static_cast<int>(a.integer("repeats", 1, 10000));
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
