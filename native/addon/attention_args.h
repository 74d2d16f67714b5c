// The fields every attention entry point shares (the CPU addon's and the CUDA module's), read by name from the call's
// options object — the same names as the C ABI's blindsight_attention_args, in camelCase:
//   plan, q, k, v, out, lse (or null), heads (Uint8Array of categories), numHeads, numKvHeads, headDim, scale,
//   inputDtype, outputDtype (0 f32: Float32Array, 1 f16 / 2 bf16: Uint16Array of raw bits)
// checked once here into an AttentionProblem, with the JS arrays pinned for as long as native code reads them.
#pragma once
#include <napi.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "../core/plan.h"
#include "../core/problem.h"
#include "../core/problem_checks.h"
#include "args.h"
#include "js_errors.h"
#include "plan_object.h"

namespace bs::addon {

struct ElementArray {
  void* data;
  size_t length;
};

// f32 tensors travel as Float32Array, f16 and bf16 as Uint16Array holding the raw bits.
inline ElementArray elementArray(const Args& a, const char* name, DType type) {
  const Napi::Value v = a.get(name);
  const napi_typedarray_type want = type == DType::F32 ? napi_float32_array : napi_uint16_array;
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != want)
    a.fail(ErrorCode::BAD_ARGUMENT, name, type == DType::F32 ? "must be a Float32Array" : "must be a Uint16Array (f16/bf16 bits)");
  auto t = v.As<Napi::TypedArray>();
  return {static_cast<uint8_t*>(t.ArrayBuffer().Data()) + t.ByteOffset(), t.ElementLength()};
}

inline DType dtypeField(const Args& a, const char* name) {
  return static_cast<DType>(a.integer(name, 0, 2, ErrorCode::UNSUPPORTED_DTYPE));
}

inline std::vector<HeadCategory> headsField(const Args& a, int32_t numHeads) {
  const auto heads = a.typedArray<uint8_t>("heads");
  if (heads.ElementLength() != static_cast<size_t>(numHeads)) a.fail(ErrorCode::SHAPE_MISMATCH, "heads", "must have numHeads entries");
  std::vector<HeadCategory> out;
  for (size_t h = 0; h < heads.ElementLength(); ++h) {
    if (heads[h] >= kNumCategories)
      a.fail(ErrorCode::UNKNOWN_CATEGORY, "heads", std::string("entry ").append(std::to_string(h)).append(" is not a category code (0..3)"));
    out.push_back(static_cast<HeadCategory>(heads[h]));
  }
  return out;
}

struct AttentionCall {
  std::shared_ptr<const Plan> plan;
  std::vector<HeadCategory> heads;
  AttentionProblem problem{};
  std::vector<Napi::Reference<Napi::Value>> pins;
};

inline void parseAttentionCall(const Args& a, AttentionCall& call) {
  call.plan = NativePlan::unwrap(a.env(), a.get("plan"));
  AttentionProblem& p = call.problem;
  p.numHeads = static_cast<int32_t>(a.integer("numHeads", 1, 1 << 16, ErrorCode::BAD_HEAD_COUNT));
  p.numKvHeads = static_cast<int32_t>(a.integer("numKvHeads", 1, 1 << 16, ErrorCode::BAD_HEAD_COUNT));
  p.headDim = static_cast<int32_t>(a.integer("headDim", 1, 1 << 16, ErrorCode::BAD_HEAD_DIM));
  codedChecks(a.env(), [&] { checkHeadCounts(p.numHeads, p.numKvHeads); });
  const double scale = a.number("scale");
  codedChecks(a.env(), [&] { p.scale = resolveScale(scale, p.headDim); });
  p.inputType = dtypeField(a, "inputDtype");
  p.outputType = dtypeField(a, "outputDtype");
  call.heads = headsField(a, p.numHeads);
  const ElementArray q = elementArray(a, "q", p.inputType);
  const ElementArray k = elementArray(a, "k", p.inputType);
  const ElementArray v = elementArray(a, "v", p.inputType);
  const ElementArray out = elementArray(a, "out", p.outputType);
  const size_t n = static_cast<size_t>(call.plan->layout().numTokens());
  const size_t qLen = n * p.numHeads * p.headDim, kvLen = n * p.numKvHeads * p.headDim;
  if (q.length != qLen || out.length != qLen || k.length != kvLen || v.length != kvLen)
    a.fail(ErrorCode::SHAPE_MISMATCH, "q", "k, v or out lengths do not match the plan's token count and head shape");
  p.q = q.data;
  p.k = k.data;
  p.v = v.data;
  p.out = out.data;
  p.heads = call.heads.data();
  p.lse = nullptr;
  if (a.has("lse")) {
    auto lse = a.typedArray<float>("lse");
    if (lse.ElementLength() != n * p.numHeads) a.fail(ErrorCode::SHAPE_MISMATCH, "lse", "must have numTokens*numHeads entries");
    p.lse = lse.Data();
    call.pins.push_back(Napi::Persistent(a.get("lse")));
  }
  codedChecks(a.env(), [&] { checkOutputsDisjoint(p, static_cast<int64_t>(n)); });
  for (const char* name : {"plan", "q", "k", "v", "out"}) call.pins.push_back(Napi::Persistent(a.get(name)));
}

}  // namespace bs::addon
