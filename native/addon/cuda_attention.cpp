#include "cuda_attention.h"

#include <memory>
#include <string>
#include <vector>

#include "../core/error.h"
#include "../cuda/cuda_backend.h"
#if defined(BLINDSIGHT_CUDA_EMULATOR)
#include "../cuda/emulation/emulated_attention.h"
#endif
#include "args.h"
#include "js_errors.h"
#include "plan_object.h"
#include "promise_worker.h"

namespace bs::addon {
namespace {

constexpr const char* kWhat = "the CUDA backend (host memory)";

struct ElementArray {
  void* data;
  size_t length;
};

// f32 tensors travel as Float32Array, f16 and bf16 as Uint16Array holding the raw bits.
ElementArray elementArrayArg(const Napi::CallbackInfo& info, size_t i, const char* name, DType type) {
  const Napi::Value v = info[i];
  const napi_typedarray_type want = type == DType::F32 ? napi_float32_array : napi_uint16_array;
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != want)
    throwCoded(info.Env(), "BAD_ARGUMENT",
               std::string(name) + (type == DType::F32 ? " must be a Float32Array" : " must be a Uint16Array (f16/bf16 bits)"));
  auto a = v.As<Napi::TypedArray>();
  return {static_cast<uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset(), a.ElementLength()};
}

DType dtypeArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return static_cast<DType>(intArg(info, i, name, 0, 2));
}

struct Call {
  std::shared_ptr<const Plan> plan;
  std::vector<HeadCategory> heads;
  AttentionProblem problem{};
  std::vector<Napi::Reference<Napi::Value>> pins;
};

std::unique_ptr<Call> parse(const Napi::CallbackInfo& info, size_t expectedArgs) {
  Napi::Env env = info.Env();
  if (info.Length() != expectedArgs)
    throwCoded(env, "BAD_ARGUMENT", "CUDA attention expects " + std::to_string(expectedArgs) + " arguments");
  auto call = std::make_unique<Call>();
  call->plan = NativePlan::unwrap(env, info[0]);
  AttentionProblem& p = call->problem;
  p.inputType = dtypeArg(info, 11, "inputType");
  p.outputType = dtypeArg(info, 12, "outputType");
  const ElementArray q = elementArrayArg(info, 1, "q", p.inputType);
  const ElementArray k = elementArrayArg(info, 2, "k", p.inputType);
  const ElementArray v = elementArrayArg(info, 3, "v", p.inputType);
  auto heads = typedArrayArg<uint8_t>(info, 4, "heads");
  p.numHeads = static_cast<int32_t>(intArg(info, 5, "numHeads", 1, 1 << 16));
  p.numKvHeads = static_cast<int32_t>(intArg(info, 6, "numKvHeads", 1, 1 << 16));
  p.headDim = static_cast<int32_t>(intArg(info, 7, "headDim", 1, 1 << 16));
  if (!info[8].IsNumber()) throwCoded(env, "BAD_ARGUMENT", "scale must be a number");
  p.scale = info[8].As<Napi::Number>().FloatValue();
  const ElementArray out = elementArrayArg(info, 9, "out", p.outputType);

  if (p.numHeads % p.numKvHeads != 0) throwCoded(env, "BAD_GQA", "numHeads must be a multiple of numKvHeads");
  const size_t n = static_cast<size_t>(call->plan->layout().numTokens());
  const size_t qLen = n * p.numHeads * p.headDim, kvLen = n * p.numKvHeads * p.headDim;
  if (q.length != qLen || out.length != qLen || k.length != kvLen || v.length != kvLen)
    throwCoded(env, "SHAPE_MISMATCH", "tensor lengths do not match the plan's token count and head shape");
  if (heads.ElementLength() != static_cast<size_t>(p.numHeads))
    throwCoded(env, "SHAPE_MISMATCH", "heads must have numHeads entries");
  for (size_t h = 0; h < heads.ElementLength(); ++h) {
    if (heads[h] >= kNumCategories) throwCoded(env, "BAD_CATEGORY", "unknown head category code");
    call->heads.push_back(static_cast<HeadCategory>(heads[h]));
  }
  p.q = q.data;
  p.k = k.data;
  p.v = v.data;
  p.out = out.data;
  p.heads = call->heads.data();
  p.lse = nullptr;
  if (!info[10].IsNull() && !info[10].IsUndefined()) {
    auto lse = typedArrayArg<float>(info, 10, "lse");
    if (lse.ElementLength() != n * p.numHeads) throwCoded(env, "SHAPE_MISMATCH", "lse must have numTokens*numHeads entries");
    p.lse = lse.Data();
    call->pins.push_back(Napi::Persistent(info[10]));
  }
  for (size_t i : {0, 1, 2, 3, 9}) call->pins.push_back(Napi::Persistent(info[i]));
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
