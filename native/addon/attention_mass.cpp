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
  cpu::MassProblem problem{};
  int threads = 0;
  cpu::Isa isa = cpu::Isa::Generic;
  std::vector<Napi::Reference<Napi::Value>> pins;
  cpu::MassResult result;

  void run() { result = cpu::attentionMass(*plan, problem, threads, isa); }
};

std::unique_ptr<MassCall> parse(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Args a(env, info[0], "attentionMass");
  auto call = std::make_unique<MassCall>();
  call->plan = NativePlan::unwrap(env, a.get("plan"));
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
  const ElementArray q = elementArray(a, "q", p.inputType), k = elementArray(a, "k", p.inputType);
  if (q.length != n * p.numHeads * p.headDim || k.length != n * p.numKvHeads * p.headDim)
    a.fail(ErrorCode::SHAPE_MISMATCH, "q", "or k length does not match the plan's token count and head shape");
  p.q = q.data;
  p.k = k.data;
  if (a.has("perToken")) {
    auto out = a.typedArray<float>("perToken");
    if (out.ElementLength() != n * p.numHeads * kMassBuckets)
      a.fail(ErrorCode::SHAPE_MISMATCH, "perToken", "must have numTokens*numHeads*7 entries");
    p.perToken = out.Data();
    call->pins.push_back(Napi::Persistent(a.get("perToken")));
  }
  for (const char* name : {"plan", "q", "k"}) call->pins.push_back(Napi::Persistent(a.get(name)));
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
