// The arguments every attention entry point shares (the CPU addon's and the CUDA module's):
//   0 plan, 1 q, 2 k, 3 v, 4 heads, 5 numHeads, 6 numKvHeads, 7 headDim, 8 scale, 9 out, 10 lse | null
// checked once here into an AttentionProblem, with the JS arrays pinned for as long as native code reads them.
#pragma once
#include <napi.h>

#include <memory>
#include <string>
#include <vector>

#include "../core/plan.h"
#include "../core/problem.h"
#include "args.h"
#include "js_errors.h"
#include "plan_object.h"

namespace bs::addon {

struct ElementArray {
  void* data;
  size_t length;
};

// f32 tensors travel as Float32Array, f16 and bf16 as Uint16Array holding the raw bits.
inline ElementArray elementArrayArg(const Napi::CallbackInfo& info, size_t i, const char* name, DType type) {
  const Napi::Value v = info[i];
  const napi_typedarray_type want = type == DType::F32 ? napi_float32_array : napi_uint16_array;
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != want)
    throwCoded(info.Env(), ErrorCode::BAD_ARGUMENT,
               std::string(name) + (type == DType::F32 ? " must be a Float32Array" : " must be a Uint16Array (f16/bf16 bits)"));
  auto a = v.As<Napi::TypedArray>();
  return {static_cast<uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset(), a.ElementLength()};
}

struct AttentionCall {
  std::shared_ptr<const Plan> plan;
  std::vector<HeadCategory> heads;
  AttentionProblem problem{};
  std::vector<Napi::Reference<Napi::Value>> pins;
};

// Fills call from arguments 0..10; the element types come from arguments inputTypeAt and inputTypeAt + 1.
inline void parseAttentionCall(const Napi::CallbackInfo& info, size_t inputTypeAt, AttentionCall& call) {
  Napi::Env env = info.Env();
  call.plan = NativePlan::unwrap(env, info[0]);
  AttentionProblem& p = call.problem;
  p.inputType = static_cast<DType>(intArg(info, inputTypeAt, "inputType", 0, 2));
  p.outputType = static_cast<DType>(intArg(info, inputTypeAt + 1, "outputType", 0, 2));
  const ElementArray q = elementArrayArg(info, 1, "q", p.inputType);
  const ElementArray k = elementArrayArg(info, 2, "k", p.inputType);
  const ElementArray v = elementArrayArg(info, 3, "v", p.inputType);
  auto heads = typedArrayArg<uint8_t>(info, 4, "heads");
  p.numHeads = static_cast<int32_t>(intArg(info, 5, "numHeads", 1, 1 << 16));
  p.numKvHeads = static_cast<int32_t>(intArg(info, 6, "numKvHeads", 1, 1 << 16));
  p.headDim = static_cast<int32_t>(intArg(info, 7, "headDim", 1, 1 << 16));
  if (!info[8].IsNumber()) throwCoded(env, ErrorCode::BAD_ARGUMENT, "scale must be a number");
  p.scale = info[8].As<Napi::Number>().FloatValue();
  const ElementArray out = elementArrayArg(info, 9, "out", p.outputType);

  if (p.numHeads % p.numKvHeads != 0) throwCoded(env, ErrorCode::BAD_GQA, "numHeads must be a multiple of numKvHeads");
  const size_t n = static_cast<size_t>(call.plan->layout().numTokens());
  const size_t qLen = n * p.numHeads * p.headDim, kvLen = n * p.numKvHeads * p.headDim;
  if (q.length != qLen || out.length != qLen || k.length != kvLen || v.length != kvLen)
    throwCoded(env, ErrorCode::SHAPE_MISMATCH, "tensor lengths do not match the plan's token count and head shape");
  if (heads.ElementLength() != static_cast<size_t>(p.numHeads))
    throwCoded(env, ErrorCode::SHAPE_MISMATCH, "heads must have numHeads entries");
  for (size_t h = 0; h < heads.ElementLength(); ++h) {
    if (heads[h] >= kNumCategories) throwCoded(env, ErrorCode::UNKNOWN_CATEGORY, "unknown head category code");
    call.heads.push_back(static_cast<HeadCategory>(heads[h]));
  }
  p.q = q.data;
  p.k = k.data;
  p.v = v.data;
  p.out = out.data;
  p.heads = call.heads.data();
  p.lse = nullptr;
  if (!info[10].IsNull() && !info[10].IsUndefined()) {
    auto lse = typedArrayArg<float>(info, 10, "lse");
    if (lse.ElementLength() != n * p.numHeads) throwCoded(env, ErrorCode::SHAPE_MISMATCH, "lse must have numTokens*numHeads entries");
    p.lse = lse.Data();
    call.pins.push_back(Napi::Persistent(info[10]));
  }
  for (size_t i : {0, 1, 2, 3, 9}) call.pins.push_back(Napi::Persistent(info[i]));
}

}  // namespace bs::addon
