// The fields every attention entry point shares (the CPU addon's and the CUDA module's), read by name from the call's
// options object — the same names as the C ABI's blindsight_attention_args, in camelCase:
//   plan, q, k, v, out (optional), lse (optional), returnLse, heads (Uint8Array of categories), numHeads, numKvHeads,
//   headDim, scale (0 = 1/sqrt(headDim)), inputDtype, outputDtype (0 f32: Float32Array, 1 f16 / 2 bf16: Uint16Array of
//   raw bits)
// checked once here into an AttentionProblem over memory staged as tensor_memory.h describes. Every entry point
// returns { out, lse? }.
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
#include "tensor_memory.h"

namespace bs::addon {

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
  Napi::Reference<Napi::Value> planRef;
  std::vector<HeadCategory> heads;
  AttentionProblem problem{};
  TensorRef q, k, v, out, lse;  // lse.length == 0: not asked for
};

// Reads the shared fields into call (and stages its tensors, tensor_memory.h). An async call gets memory no JS action
// can release under it. `out` may be absent (an output made here), `lse` too (made here when returnLse is true).
inline void parseAttentionCall(const Args& a, AttentionCall& call, bool async) {
  call.plan = NativePlan::unwrap(a.env(), a.get("plan"));
  call.planRef = Napi::Persistent(a.get("plan"));
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
  p.heads = call.heads.data();
  const size_t n = static_cast<size_t>(call.plan->layout().numTokens());
  const size_t qLen = n * p.numHeads * p.headDim, kvLen = n * p.numKvHeads * p.headDim;
  // The caller's arrays must not overlap (checked on their own memory, before any staging).
  {
    AttentionProblem user = p;
    const ElementView q = elementView(a, "q", p.inputType), k = elementView(a, "k", p.inputType), v = elementView(a, "v", p.inputType);
    if (q.length != qLen || k.length != kvLen || v.length != kvLen)
      a.fail(ErrorCode::SHAPE_MISMATCH, "q", "k or v lengths do not match the plan's token count and head shape");
    user.q = q.data, user.k = k.data, user.v = v.data;
    user.out = a.has("out") ? elementView(a, "out", p.outputType).data : nullptr;
    user.lse = a.has("lse") ? static_cast<float*>(elementView(a, "lse", DType::F32).data) : nullptr;
    if (user.out) codedChecks(a.env(), [&] { checkOutputsDisjoint(user, static_cast<int64_t>(n)); });
  }
  call.q = stageInput(a, "q", p.inputType, qLen, async);
  call.k = stageInput(a, "k", p.inputType, kvLen, async);
  call.v = stageInput(a, "v", p.inputType, kvLen, async);
  call.out = stageOutput(a, "out", p.outputType, qLen, async, ErrorCode::SHAPE_MISMATCH);
  if (a.has("lse") || a.boolean("returnLse", false))
    call.lse = stageOutput(a, "lse", DType::F32, n * p.numHeads, async, ErrorCode::SHAPE_MISMATCH);
  p.q = call.q.data;
  p.k = call.k.data;
  p.v = call.v.data;
  p.out = call.out.data;
  p.lse = call.lse.length ? static_cast<float*>(call.lse.data) : nullptr;
}

// { out, lse? }: the arrays holding the results (copied into the caller's where they were staged).
inline Napi::Value attentionResult(Napi::Env env, AttentionCall& call) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("out", finishOutput(env, call.out, "out"));
  if (call.lse.length) o.Set("lse", finishOutput(env, call.lse, "lse"));
  return o;
}

}  // namespace bs::addon
