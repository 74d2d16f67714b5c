#include "attention_mass.h"

#include <memory>
#include <string>
#include <vector>

#include "../core/error.h"
#include "../cpu/mass/mass.h"
#include "args.h"
#include "js_errors.h"
#include "plan_object.h"
#include "promise_worker.h"

namespace bs::addon {
namespace {

struct MassCall {
  std::shared_ptr<const Plan> plan;
  cpu::MassProblem problem{};
  int threads = 0;
  cpu::Isa isa = cpu::Isa::Generic;
  std::vector<Napi::Reference<Napi::Value>> pins;
  cpu::MassResult result;

  void run() { result = cpu::attentionMass(*plan, problem, threads, isa); }
};

// q and k as raw element pointers: Float32Array for f32, Uint16Array for f16 and bf16 bits.
const void* tensorArg(const Napi::CallbackInfo& info, size_t i, const char* name, DType dtype, size_t expected) {
  const Napi::Value v = info[i];
  const napi_typedarray_type want = dtype == DType::F32 ? napi_float32_array : napi_uint16_array;
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != want)
    throwCoded(info.Env(), ErrorCode::BAD_ARGUMENT, std::string(name) + (dtype == DType::F32 ? " must be a Float32Array" : " must be a Uint16Array"));
  const auto a = v.As<Napi::TypedArray>();
  if (a.ElementLength() != expected)
    throwCoded(info.Env(), ErrorCode::SHAPE_MISMATCH, std::string(name) + " length does not match the plan's token count and head shape");
  return static_cast<const uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset();
}

std::unique_ptr<MassCall> parse(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 11) throwCoded(env, ErrorCode::BAD_ARGUMENT, "attentionMass expects 11 arguments");
  auto call = std::make_unique<MassCall>();
  call->plan = NativePlan::unwrap(env, info[0]);
  cpu::MassProblem& p = call->problem;
  p.inputType = static_cast<DType>(intArg(info, 3, "dtype", 0, 2));
  p.numHeads = static_cast<int32_t>(intArg(info, 4, "numHeads", 1, 1 << 16));
  p.numKvHeads = static_cast<int32_t>(intArg(info, 5, "numKvHeads", 1, 1 << 16));
  p.headDim = static_cast<int32_t>(intArg(info, 6, "headDim", 1, 1024));
  if (!info[7].IsNumber()) throwCoded(env, ErrorCode::BAD_ARGUMENT, "scale must be a number");
  p.scale = info[7].As<Napi::Number>().FloatValue();
  call->threads = static_cast<int>(intArg(info, 9, "threads", 0, 1 << 16));
  try {
    call->isa = info[10].IsString() ? cpu::parseIsa(info[10].As<Napi::String>().Utf8Value()) : cpu::defaultIsa();
  } catch (const Error& e) {
    throwCoded(env, e.codeId(), e.what());
  }
  if (p.numHeads % p.numKvHeads != 0) throwCoded(env, ErrorCode::BAD_GQA, "numHeads must be a multiple of numKvHeads");
  const size_t n = static_cast<size_t>(call->plan->layout().numTokens());
  p.q = tensorArg(info, 1, "q", p.inputType, n * p.numHeads * p.headDim);
  p.k = tensorArg(info, 2, "k", p.inputType, n * p.numKvHeads * p.headDim);
  if (!info[8].IsNull() && !info[8].IsUndefined()) {
    auto out = typedArrayArg<float>(info, 8, "perToken");
    if (out.ElementLength() != n * p.numHeads * kMassBuckets)
      throwCoded(env, ErrorCode::SHAPE_MISMATCH, "perToken must have numTokens*numHeads*7 entries");
    p.perToken = out.Data();
    call->pins.push_back(Napi::Persistent(info[8]));
  }
  for (size_t i : {0, 1, 2}) call->pins.push_back(Napi::Persistent(info[i]));
  return call;
}

Napi::Value toJs(Napi::Env env, MassCall& call) {
  const cpu::MassResult& r = call.result;
  Napi::Object o = Napi::Object::New(env);
  auto perHead = Napi::Float64Array::New(env, r.perHead.size());
  std::copy(r.perHead.begin(), r.perHead.end(), perHead.Data());
  o.Set("perHead", perHead);
  o.Set("imageQueries", Napi::Number::New(env, static_cast<double>(r.imageQueries)));
  return o;
}

}  // namespace

Napi::Value AttentionMassSync(const Napi::CallbackInfo& info) {
  auto call = parse(info);
  runCoded(info.Env(), "the attention-mass pass", [&] { call->run(); });
  return toJs(info.Env(), *call);
}

Napi::Value AttentionMassAsync(const Napi::CallbackInfo& info) {
  return PromiseWorker<MassCall>::queue(
      info.Env(), parse(info), "the attention-mass pass", [](MassCall& c) { c.run(); }, toJs);
}

}  // namespace bs::addon
