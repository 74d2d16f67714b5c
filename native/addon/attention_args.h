// The fields every attention entry point shares (the CPU addon's and the CUDA module's), read by name from the call's
// options object — the same names as the C ABI's blindsight_attention_args, in camelCase:
//   plan, q, k, v, out (optional), lse (optional), returnLse, heads (Uint8Array of categories), numHeads, numKvHeads,
//   headDim, scale (0 = 1/sqrt(headDim)), inputDtype, outputDtype (0 f32: Float32Array, 1 f16 / 2 bf16: Uint16Array of
//   raw bits), queryRanges / keyRanges (optional Int32Arrays of begin, end per sequence), qStrides / kStrides /
//   vStrides / outStrides (optional { token, head } in elements)
// checked once here into an AttentionProblem over memory staged as tensor_memory.h describes. Every entry point
// returns { out, lse? }.
#pragma once
#include <napi.h>

#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../core/call_ranges.h"
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
  std::optional<CallRanges> ranges;  // problem.ranges points here
  AttentionProblem problem{};
  TensorRef q, k, v, out, lse;  // lse.length == 0: not asked for
  int64_t computedPairs = -1;   // what the kernel counted (CPU backend), -1 when not counted
  double prepareMs = -1, kernelMs = -1;  // the CPU backend's phases (cpu_backend.h)
};

// An optional Int32Array of begin, end per sequence of the plan's layout (null when absent).
inline std::vector<int32_t> rangesField(const Args& a, const char* name, int32_t numSequences) {
  if (!a.has(name)) return {};
  std::vector<int32_t> r = a.copy<int32_t>(name);
  if (r.size() != static_cast<size_t>(2 * numSequences))
    a.fail(ErrorCode::BAD_RANGE, name, "must hold a begin and an end for each of the layout's " +
                                           std::to_string(numSequences) + " sequences");
  return r;
}

// An optional { token, head } field of element strides ({0, 0} when absent: the packed default).
inline TensorStrides stridesField(const Args& a, const char* name) {
  if (!a.has(name)) return {};
  const Args s(a.env(), a.get(name), name);
  constexpr int64_t kMax = int64_t{1} << 48;
  return {s.integer("token", -kMax, kMax, ErrorCode::BAD_STRIDE), s.integer("head", -kMax, kMax, ErrorCode::BAD_STRIDE)};
}

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
  const Layout& layout = call.plan->layout();
  const std::vector<int32_t> qr = rangesField(a, "queryRanges", layout.numSequences());
  const std::vector<int32_t> kr = rangesField(a, "keyRanges", layout.numSequences());
  codedChecks(a.env(), [&] { call.ranges.emplace(layout, qr.empty() ? nullptr : qr.data(), kr.empty() ? nullptr : kr.data()); });
  p.ranges = &*call.ranges;
  const int64_t qRows = call.ranges->queryRows(), kRows = call.ranges->keyRows();
  p.qStrides = stridesField(a, "qStrides");
  p.kStrides = stridesField(a, "kStrides");
  p.vStrides = stridesField(a, "vStrides");
  p.outStrides = stridesField(a, "outStrides");
  const bool qStrided = a.has("qStrides"), kStrided = a.has("kStrides"), vStrided = a.has("vStrides"),
             outStrided = a.has("outStrides");
  if (outStrided && !a.has("out")) a.fail(ErrorCode::BAD_OPTION, "outStrides", "apply to a caller's out only; pass out too");
  codedChecks(a.env(), [&] { resolveProblemStrides(p, qRows, kRows); });
  const auto extent = [&](int64_t rows, int64_t heads, TensorStrides st) {
    return static_cast<size_t>(tensorExtent(rows, heads, p.headDim, st));
  };
  const size_t qLen = extent(qRows, p.numHeads, p.qStrides), kLen = extent(kRows, p.numKvHeads, p.kStrides),
               vLen = extent(kRows, p.numKvHeads, p.vStrides), outLen = extent(qRows, p.numHeads, p.outStrides);
  // The caller's arrays must not overlap (checked on their own memory, before any staging).
  {
    AttentionProblem user = p;
    const ElementView q = elementView(a, "q", p.inputType), k = elementView(a, "k", p.inputType), v = elementView(a, "v", p.inputType);
    const auto fits = [](const ElementView& e, size_t need, bool strided) { return strided ? e.length >= need : e.length == need; };
    if (!fits(q, qLen, qStrided) || !fits(k, kLen, kStrided) || !fits(v, vLen, vStrided))
      a.fail(ErrorCode::SHAPE_MISMATCH, "q", "k or v lengths do not match the call's rows, head shape and strides");
    user.q = q.data, user.k = k.data, user.v = v.data;
    user.out = a.has("out") ? elementView(a, "out", p.outputType).data : nullptr;
    user.lse = a.has("lse") ? static_cast<float*>(elementView(a, "lse", DType::F32).data) : nullptr;
    if (user.out) codedChecks(a.env(), [&] { checkOutputsDisjoint(user, qRows, kRows); });
  }
  call.q = qStrided ? stageStridedInput(a, "q", p.inputType, qLen, async) : stageInput(a, "q", p.inputType, qLen, async);
  call.k = kStrided ? stageStridedInput(a, "k", p.inputType, kLen, async) : stageInput(a, "k", p.inputType, kLen, async);
  call.v = vStrided ? stageStridedInput(a, "v", p.inputType, vLen, async) : stageInput(a, "v", p.inputType, vLen, async);
  call.out = outStrided ? stageStridedOutput(a, "out", p.outputType, outLen, {qRows, p.numHeads, p.headDim, p.outStrides}, async)
                        : stageOutput(a, "out", p.outputType, outLen, async, ErrorCode::SHAPE_MISMATCH);
  if (a.has("lse") || a.boolean("returnLse", false))
    call.lse = stageOutput(a, "lse", DType::F32, static_cast<size_t>(qRows) * p.numHeads, async, ErrorCode::SHAPE_MISMATCH);
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
  if (call.computedPairs >= 0) o.Set("computedPairs", Napi::Number::New(env, static_cast<double>(call.computedPairs)));
  if (call.kernelMs >= 0) {
    Napi::Object t = Napi::Object::New(env);
    t.Set("prepareMs", Napi::Number::New(env, call.prepareMs));
    t.Set("kernelMs", Napi::Number::New(env, call.kernelMs));
    o.Set("timing", t);
  }
  return o;
}

}  // namespace bs::addon
