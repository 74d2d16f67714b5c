#include "attention.h"

#include <memory>
#include <string>
#include <vector>

#include "../core/error.h"
#include "../cpu/cpu_backend.h"
#include "args.h"
#include "js_errors.h"
#include "plan_object.h"

namespace bs::addon {
namespace {

// Everything one call needs, checked and with the JS arrays pinned for as long as native code reads them.
struct Call {
  std::shared_ptr<const Plan> plan;
  std::vector<HeadCategory> heads;
  AttentionProblem problem{};
  int threads = 0;
  cpu::Isa isa = cpu::Isa::Generic;
  std::vector<Napi::Reference<Napi::Value>> pins;

  void run() const { cpu::attention(*plan, problem, threads, isa); }
};

// q/k/v (and out) are Float32Array for f32, Uint16Array holding raw f16 / bf16 bits otherwise.
struct Tensor {
  const void* data;
  size_t length;
};
Tensor tensorArg(const Napi::CallbackInfo& info, size_t i, const char* name, DType type) {
  if (type == DType::F32) {
    auto a = typedArrayArg<float>(info, i, name);
    return {a.Data(), a.ElementLength()};
  }
  auto a = typedArrayArg<uint16_t>(info, i, name);
  return {a.Data(), a.ElementLength()};
}

std::unique_ptr<Call> parse(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 15) throwCoded(env, "BAD_ARGUMENT", "attention expects 15 arguments");
  auto call = std::make_unique<Call>();
  call->plan = NativePlan::unwrap(env, info[0]);
  AttentionProblem& p = call->problem;
  p.inputType = static_cast<DType>(intArg(info, 13, "inputType", 0, 2));
  p.outputType = static_cast<DType>(intArg(info, 14, "outputType", 0, 2));
  const Tensor q = tensorArg(info, 1, "q", p.inputType);
  const Tensor k = tensorArg(info, 2, "k", p.inputType);
  const Tensor v = tensorArg(info, 3, "v", p.inputType);
  auto heads = typedArrayArg<uint8_t>(info, 4, "heads");
  p.numHeads = static_cast<int32_t>(intArg(info, 5, "numHeads", 1, 1 << 16));
  p.numKvHeads = static_cast<int32_t>(intArg(info, 6, "numKvHeads", 1, 1 << 16));
  p.headDim = static_cast<int32_t>(intArg(info, 7, "headDim", 8, 512));
  if (p.headDim % 8 != 0) throwCoded(env, "BAD_ARGUMENT", "headDim must be a multiple of 8");
  if (!info[8].IsNumber()) throwCoded(env, "BAD_ARGUMENT", "scale must be a number");
  p.scale = info[8].As<Napi::Number>().FloatValue();
  const Tensor out = tensorArg(info, 9, "out", p.outputType);
  call->threads = static_cast<int>(intArg(info, 11, "threads", 0, 1 << 16));
  try {
    call->isa = info[12].IsString() ? cpu::parseIsa(info[12].As<Napi::String>().Utf8Value()) : cpu::defaultIsa();
  } catch (const Error& e) {
    throwCoded(env, e.code(), e.what());
  }

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
  p.out = const_cast<void*>(out.data);
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

class AttentionWorker : public Napi::AsyncWorker {
 public:
  AttentionWorker(Napi::Env env, std::unique_ptr<Call> call)
      : Napi::AsyncWorker(env), call_(std::move(call)), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      call_->run();
    } catch (const Error& e) {
      code_ = e.code();
      SetError(e.what());
    } catch (const std::bad_alloc&) {
      code_ = "OUT_OF_MEMORY";
      SetError("out of memory in the attention kernel");
    }
  }
  void OnOK() override {
    call_.reset();  // unpin on the JS thread
    deferred_.Resolve(Env().Undefined());
  }
  void OnError(const Napi::Error& e) override {
    call_.reset();
    deferred_.Reject(codedError(Env(), code_, e.Message()).Value());
  }

 private:
  std::unique_ptr<Call> call_;
  Napi::Promise::Deferred deferred_;
  std::string code_ = "NATIVE_ERROR";
};

}  // namespace

Napi::Value AttentionSync(const Napi::CallbackInfo& info) {
  auto call = parse(info);
  try {
    call->run();
  } catch (const Error& e) {
    throwCoded(info.Env(), e.code(), e.what());
  } catch (const std::bad_alloc&) {
    throwCoded(info.Env(), "OUT_OF_MEMORY", "out of memory in the attention kernel");
  }
  return info.Env().Undefined();
}

Napi::Value AttentionAsync(const Napi::CallbackInfo& info) {
  auto* worker = new AttentionWorker(info.Env(), parse(info));
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

}  // namespace bs::addon
