#include "attention_mass.h"

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "../core/error.h"
#include "../cpu/mass/mass.h"
#include "args.h"
#include "../core/problem_checks.h"
#include "attention_args.h"
#include "js_errors.h"
#include "plan_object.h"
#include "promise_worker.h"

namespace bs::addon {
namespace {

struct MassCall {
  std::shared_ptr<const Plan> plan;
  Napi::Reference<Napi::Value> planRef;
  cpu::MassProblem problem{};
  int threads = 0;
  cpu::Isa isa = cpu::Isa::Generic;
  TensorRef q, k, perToken;  // perToken.length == 0: not asked for
  cpu::MassResult result;

  void run() { result = cpu::attentionMass(*plan, problem, threads, isa); }
};

std::unique_ptr<MassCall> parse(const Napi::CallbackInfo& info, bool async) {
  Napi::Env env = info.Env();
  const Args a(env, info[0], "attentionMass");
  auto call = std::make_unique<MassCall>();
  call->plan = NativePlan::unwrap(env, a.get("plan"));
  call->planRef = Napi::Persistent(a.get("plan"));
  cpu::MassProblem& p = call->problem;
  p.inputType = dtypeField(a, "inputDtype");
  p.numHeads = static_cast<int32_t>(a.integer("numHeads", 1, 1 << 16, ErrorCode::BAD_HEAD_COUNT));
  p.numKvHeads = static_cast<int32_t>(a.integer("numKvHeads", 1, 1 << 16, ErrorCode::BAD_HEAD_COUNT));
  p.headDim = static_cast<int32_t>(a.integer("headDim", 1, 1024, ErrorCode::BAD_HEAD_DIM));
  codedChecks(env, [&] { checkHeadCounts(p.numHeads, p.numKvHeads); });
  const double scale = a.number("scale");
  codedChecks(env, [&] { p.scale = resolveScale(scale, p.headDim); });
  call->threads = static_cast<int>(a.integerOr("threads", 0, 0, 1 << 16));
  const std::string isa = a.optionalString("isa");
  call->isa = runCoded(env, "the attention-mass pass", [&] { return isa.empty() ? cpu::defaultIsa() : cpu::parseIsa(isa); });
  const size_t n = static_cast<size_t>(call->plan->layout().numTokens());
  call->q = stageInput(a, "q", p.inputType, n * p.numHeads * p.headDim, async);
  call->k = stageInput(a, "k", p.inputType, n * p.numKvHeads * p.headDim, async);
  p.q = call->q.data;
  p.k = call->k.data;
  if (a.has("perToken") || a.boolean("returnPerToken", false)) {
    call->perToken = stageOutput(a, "perToken", DType::F32, n * p.numHeads * kMassBuckets, async, ErrorCode::SHAPE_MISMATCH);
    p.perToken = static_cast<float*>(call->perToken.data);
  }
  return call;
}

Napi::Value toJs(Napi::Env env, MassCall& call) {
  const cpu::MassResult& r = call.result;
  Napi::Object o = Napi::Object::New(env);
  auto perHead = Napi::Float64Array::New(env, r.perHead.size());
  std::copy(r.perHead.begin(), r.perHead.end(), perHead.Data());
  o.Set("perHead", perHead);
  o.Set("imageQueries", Napi::Number::New(env, static_cast<double>(r.imageQueries)));
  if (call.perToken.length) o.Set("perToken", finishOutput(env, call.perToken, "perToken"));
  return o;
}

}  // namespace

Napi::Value AttentionMassSync(const Napi::CallbackInfo& info) {
  auto call = parse(info, false);
  runCoded(info.Env(), "the attention-mass pass", [&] { call->run(); });
  return toJs(info.Env(), *call);
}

Napi::Value AttentionMassAsync(const Napi::CallbackInfo& info) {
  return PromiseWorker<MassCall>::queue(
      info.Env(), parse(info, true), "the attention-mass pass", [](MassCall& c) { c.run(); }, toJs);
}

}  // namespace bs::addon
