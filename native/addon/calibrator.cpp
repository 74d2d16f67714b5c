#include "calibrator.h"

#include <string>
#include <vector>

#include "../core/error.h"
#include "../core/problem_checks.h"
#include "args.h"
#include "attention_args.h"
#include "js_errors.h"
#include "plan_object.h"
#include "promise_worker.h"
#include "tensor_memory.h"

namespace bs::addon {
namespace {

constexpr const char* kWhat = "the calibrator";

template <typename T>
Napi::Float64Array doubles(Napi::Env env, const std::vector<T>& v) {
  auto a = Napi::Float64Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); ++i) a[i] = static_cast<double>(v[i]);
  return a;
}

struct ObserveCall {
  std::shared_ptr<cpu::Calibrator> calibrator;
  Napi::Reference<Napi::Value> planRef;
  cpu::Observation o;
  TensorRef q, k, v, dense;
  void run() const { calibrator->observe(o); }
};

std::unique_ptr<ObserveCall> parseObserve(Napi::Env env, std::shared_ptr<cpu::Calibrator> c, const Napi::Value& arg,
                                          bool async) {
  const Args a(env, arg, "observe");
  const cpu::CalibratorConfig& cfg = c->config();
  auto call = std::make_unique<ObserveCall>();
  call->calibrator = std::move(c);
  cpu::Observation& o = call->o;
  o.layer = static_cast<int32_t>(a.integer("layer", 0, cfg.numLayers - 1));
  o.plan = NativePlan::unwrap(env, a.get("plan"));
  call->planRef = Napi::Persistent(a.get("plan"));
  o.inputType = dtypeField(a, "inputDtype");
  const double scale = a.number("scale");
  if (scale != 0) codedChecks(env, [&] { resolveScale(scale, cfg.headDim); });
  o.scale = scale;
  o.sample = a.optionalString("sample");
  o.threads = static_cast<int>(a.integerOr("threads", 0, 0, 1 << 16));
  const std::string isa = a.optionalString("isa");
  o.isa = runCoded(env, kWhat, [&] { return isa.empty() ? cpu::defaultIsa() : cpu::parseIsa(isa); });
  const size_t n = static_cast<size_t>(o.plan->layout().numTokens());
  const size_t qLen = n * cfg.numHeads * cfg.headDim, kvLen = n * cfg.numKvHeads * cfg.headDim;
  call->q = stageInput(a, "q", o.inputType, qLen, async);
  call->k = stageInput(a, "k", o.inputType, kvLen, async);
  o.q = call->q.data;
  o.k = call->k.data;
  if (a.has("v")) {
    call->v = stageInput(a, "v", o.inputType, kvLen, async);
    o.v = call->v.data;
  }
  if (a.has("denseOut")) {
    call->dense = stageInput(a, "denseOut", DType::F32, qLen, async);
    o.denseOut = static_cast<const float*>(call->dense.data);
  }
  return call;
}

Napi::Value summaryToJs(Napi::Env env, const cpu::CalibrationSummary& s) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("numLayers", Napi::Number::New(env, s.numLayers));
  o.Set("numHeads", Napi::Number::New(env, s.numHeads));
  Napi::Array samples = Napi::Array::New(env, s.samples.size());
  for (size_t i = 0; i < s.samples.size(); ++i) {
    const cpu::SampleInfo& x = s.samples[i];
    Napi::Object e = Napi::Object::New(env);
    e.Set("name", Napi::String::New(env, x.name));
    e.Set("numTokens", Napi::Number::New(env, static_cast<double>(x.numTokens)));
    e.Set("numImages", Napi::Number::New(env, static_cast<double>(x.numImages)));
    e.Set("imageQueries", Napi::Number::New(env, static_cast<double>(x.imageQueries)));
    e.Set("scale", Napi::Number::New(env, x.scale));
    samples.Set(static_cast<uint32_t>(i), e);
  }
  o.Set("samples", samples);
  o.Set("keptTextKeys", doubles(env, std::vector<double>(s.keptTextKeys.begin(), s.keptTextKeys.end())));
  o.Set("keptNoTextKeys", doubles(env, std::vector<double>(s.keptNoTextKeys.begin(), s.keptNoTextKeys.end())));
  o.Set("observations", doubles(env, s.observations));
  o.Set("imageQueries", doubles(env, s.imageQueries));
  o.Set("undefinedRows", doubles(env, s.undefinedRows));
  o.Set("mass", doubles(env, s.mass));
  o.Set("worstTextKeys", doubles(env, s.worstTextKeys));
  o.Set("worstNoTextKeys", doubles(env, s.worstNoTextKeys));
  o.Set("hasOutputError", Napi::Boolean::New(env, s.hasOutputError));
  o.Set("errorTextKeys", Napi::Boolean::New(env, s.errorTextKeys));
  o.Set("errorObservations", doubles(env, s.errorObservations));
  o.Set("errorRows", doubles(env, s.errorRows));
  o.Set("squaredError", doubles(env, s.squaredError));
  o.Set("squaredNorm", doubles(env, s.squaredNorm));
  return o;
}

}  // namespace

Napi::Function NativeCalibrator::Init(Napi::Env env) {
  return DefineClass(env, "NativeCalibrator",
                     {InstanceMethod("observeSync", &NativeCalibrator::ObserveSync),
                      InstanceMethod("observeAsync", &NativeCalibrator::ObserveAsync),
                      InstanceMethod("summary", &NativeCalibrator::Summary),
                      InstanceMethod("dispose", &NativeCalibrator::Dispose)});
}

NativeCalibrator::NativeCalibrator(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeCalibrator>(info) {
  Napi::Env env = info.Env();
  const Args a(env, info[0], "NativeCalibrator options");
  cpu::CalibratorConfig c;
  c.numLayers = static_cast<int32_t>(a.integer("numLayers", 1, 1 << 20));
  c.numHeads = static_cast<int32_t>(a.integer("numHeads", 1, 1 << 16, ErrorCode::BAD_HEAD_COUNT));
  c.numKvHeads = static_cast<int32_t>(a.integer("numKvHeads", 1, 1 << 16, ErrorCode::BAD_HEAD_COUNT));
  c.headDim = static_cast<int32_t>(a.integer("headDim", 1, 1024, ErrorCode::BAD_HEAD_DIM));
  c.mask.textKeys = a.boolean("textKeys", true);
  c.mask.bidirectionalImages = a.boolean("bidirectionalImages", false);
  c.mask.window = static_cast<int32_t>(a.integerOr("window", 0, 0, INT32_MAX, ErrorCode::BAD_WINDOW));
  c.scale = a.has("scale") ? a.number("scale") : 0.0;
  c.mass = a.boolean("mass", true);
  c.outputError = a.boolean("outputError", false);
  calibrator_ = runCoded(env, kWhat, [&] { return std::make_shared<cpu::Calibrator>(c); });
}

std::shared_ptr<cpu::Calibrator> NativeCalibrator::get(Napi::Env env) const {
  if (!calibrator_) throwCoded(env, ErrorCode::DISPOSED, "the calibrator was disposed");
  return calibrator_;
}

Napi::Value NativeCalibrator::ObserveSync(const Napi::CallbackInfo& info) {
  auto call = parseObserve(info.Env(), get(info.Env()), info[0], false);
  runCoded(info.Env(), kWhat, [&] { call->run(); });
  return info.Env().Undefined();
}

Napi::Value NativeCalibrator::ObserveAsync(const Napi::CallbackInfo& info) {
  return PromiseWorker<ObserveCall>::queue(info.Env(), parseObserve(info.Env(), get(info.Env()), info[0], true), kWhat,
                                           [](ObserveCall& c) { c.run(); });
}

Napi::Value NativeCalibrator::Summary(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsBoolean()) throwCoded(env, ErrorCode::BAD_ARGUMENT, "summary(complete) takes a boolean");
  const bool complete = info[0].As<Napi::Boolean>().Value();
  const std::shared_ptr<cpu::Calibrator> c = get(env);
  return summaryToJs(env, runCoded(env, kWhat, [&] { return c->summary(complete); }));
}

Napi::Value NativeCalibrator::Dispose(const Napi::CallbackInfo& info) {
  calibrator_.reset();
  return info.Env().Undefined();
}

Napi::Value ChooseCategories(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Args a(env, info[0], "chooseCategories");
  const int32_t L = static_cast<int32_t>(a.integer("numLayers", 1, 1 << 20));
  const int32_t H = static_cast<int32_t>(a.integer("numHeads", 1, 1 << 16, ErrorCode::BAD_HEAD_COUNT));
  const auto mass = a.typedArray<double>("mass");
  const auto worst = a.typedArray<double>("worst");
  const auto kept = a.typedArray<double>("kept");
  const size_t LH = static_cast<size_t>(L) * H;
  if (mass.ElementLength() != LH * kMassBuckets || worst.ElementLength() != LH * kNumCategories || kept.ElementLength() != kNumCategories)
    a.fail(ErrorCode::SHAPE_MISMATCH, "mass", "worst or kept lengths do not match numLayers and numHeads");
  cpu::Thresholds t;
  t.tau = a.number("tau");
  t.worstTau = a.number("worstTau");
  t.textKeys = a.boolean("textKeys", true);
  t.pinned = a.copy<uint8_t>("pinned");
  if (t.pinned.size() != static_cast<size_t>(L)) a.fail(ErrorCode::SHAPE_MISMATCH, "pinned", "must have numLayers entries");
  std::array<double, kNumCategories> k{};
  for (int c = 0; c < kNumCategories; ++c) k[c] = kept[c];
  const std::vector<uint8_t> out = cpu::chooseCategories(L, H, mass.Data(), worst.Data(), k, t);
  auto r = Napi::Uint8Array::New(env, out.size());
  std::copy(out.begin(), out.end(), r.Data());
  return r;
}

}  // namespace bs::addon
