#include "plan_object.h"

#include "../core/error.h"
#include "args.h"
#include "js_errors.h"

namespace bs::addon {
namespace {

template <typename T>
Napi::TypedArrayOf<T> toTyped(Napi::Env env, const std::vector<T>& v) {
  auto a = Napi::TypedArrayOf<T>::New(env, v.size());
  std::copy(v.begin(), v.end(), a.Data());
  return a;
}

Napi::Number num(Napi::Env env, int64_t x) { return Napi::Number::New(env, static_cast<double>(x)); }

}  // namespace

Napi::Function NativePlan::Init(Napi::Env env) {
  Napi::Function ctor = DefineClass(env, "NativePlan",
                                    {InstanceMethod("stats", &NativePlan::Stats),
                                     InstanceMethod("blocks", &NativePlan::Blocks),
                                     InstanceMethod("info", &NativePlan::Info),
                                     InstanceMethod("maskBias", &NativePlan::MaskBias),
                                     InstanceMethod("visiblePairs", &NativePlan::VisiblePairs),
                                     InstanceMethod("dispose", &NativePlan::Dispose)});
  auto* data = new AddonData{Napi::Persistent(ctor), Napi::FunctionReference(), Napi::FunctionReference()};
  env.SetInstanceData<AddonData>(data);
  return ctor;
}

Napi::Function NativeLayout::Init(Napi::Env env) {
  Napi::Function ctor = DefineClass(env, "NativeLayout", {InstanceMethod("dispose", &NativeLayout::Dispose)});
  env.GetInstanceData<AddonData>()->layoutConstructor = Napi::Persistent(ctor);
  return ctor;
}

// new NativeLayout({ cuSeqlens: Int32Array, imageIds: Int32Array, sinkFlags: Uint8Array })
NativeLayout::NativeLayout(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeLayout>(info) {
  Napi::Env env = info.Env();
  const Args a(env, info[0], "NativeLayout");
  try {
    layout_ = std::make_shared<const Layout>(a.copy<int32_t>("cuSeqlens"), a.copy<int32_t>("imageIds"), a.copy<uint8_t>("sinkFlags"));
  } catch (const Error& e) {
    throwCoded(env, e.codeId(), e.what());
  } catch (const std::bad_alloc&) {
    throwCoded(env, ErrorCode::OUT_OF_MEMORY, "out of memory while building the layout");
  }
  reported_ = static_cast<int64_t>(layout_->bytes());
  Napi::MemoryManagement::AdjustExternalMemory(env, reported_);
}

NativeLayout::~NativeLayout() {
  if (reported_) Napi::MemoryManagement::AdjustExternalMemory(Env(), -reported_);
}

Napi::Value NativeLayout::Dispose(const Napi::CallbackInfo& info) {
  layout_.reset();  // plans built on it keep their own share
  if (reported_) Napi::MemoryManagement::AdjustExternalMemory(info.Env(), -reported_);
  reported_ = 0;
  return info.Env().Undefined();
}

std::shared_ptr<const Layout> NativeLayout::unwrap(Napi::Env env, const Napi::Value& value) {
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(env.GetInstanceData<AddonData>()->layoutConstructor.Value()))
    throwCoded(env, ErrorCode::BAD_ARGUMENT, "expected a NativeLayout");
  std::shared_ptr<const Layout> layout = Unwrap(value.As<Napi::Object>())->layout_;
  if (!layout) throwCoded(env, ErrorCode::DISPOSED, "the layout was disposed");
  return layout;
}

// new NativePlan(layout: NativeLayout, { blockM, blockN, window (0 = none), windowKeepsSinks, textKeys, bidirectionalImages,
// exhaustive })
// with the C ABI's blindsight_plan_options defaults for fields left out.
NativePlan::NativePlan(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativePlan>(info) {
  Napi::Env env = info.Env();
  std::shared_ptr<const Layout> layout = NativeLayout::unwrap(env, info[0]);
  const Args a(env, info[1], "NativePlan options");
  PlanOptions o;
  o.blockM = static_cast<int32_t>(a.integerOr("blockM", o.blockM, INT32_MIN, INT32_MAX, ErrorCode::BAD_BLOCK_SIZE));
  o.blockN = static_cast<int32_t>(a.integerOr("blockN", o.blockN, INT32_MIN, INT32_MAX, ErrorCode::BAD_BLOCK_SIZE));
  o.mask.window = static_cast<int32_t>(a.integerOr("window", 0, INT32_MIN, INT32_MAX, ErrorCode::BAD_WINDOW));
  o.mask.windowKeepsSinks = a.boolean("windowKeepsSinks", true);
  o.mask.textKeys = a.boolean("textKeys", true);
  o.mask.bidirectionalImages = a.boolean("bidirectionalImages", false);
  o.exhaustive = a.boolean("exhaustive", false);
  try {
    plan_ = std::make_shared<const Plan>(std::move(layout), o);
  } catch (const Error& e) {
    throwCoded(env, e.codeId(), e.what());
  } catch (const std::bad_alloc&) {
    throwCoded(env, ErrorCode::OUT_OF_MEMORY, "out of memory while building the plan");
  }
  reported_ = static_cast<int64_t>(plan_->bytes());
  Napi::MemoryManagement::AdjustExternalMemory(env, reported_);
}

NativePlan::~NativePlan() {
  if (reported_) Napi::MemoryManagement::AdjustExternalMemory(Env(), -reported_);
}

// Running calls hold their own share of the plan, so disposing one that a call uses is safe: it is freed after.
Napi::Value NativePlan::Dispose(const Napi::CallbackInfo& info) {
  plan_.reset();
  if (reported_) Napi::MemoryManagement::AdjustExternalMemory(info.Env(), -reported_);
  reported_ = 0;
  return info.Env().Undefined();
}

const Plan& NativePlan::plan(Napi::Env env) const {
  if (!plan_) throwCoded(env, ErrorCode::DISPOSED, "the plan was disposed");
  return *plan_;
}

std::shared_ptr<const Plan> NativePlan::unwrap(Napi::Env env, const Napi::Value& value) {
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(env.GetInstanceData<AddonData>()->planConstructor.Value()))
    throwCoded(env, ErrorCode::BAD_ARGUMENT, "expected a NativePlan");
  std::shared_ptr<const Plan> plan = Unwrap(value.As<Napi::Object>())->plan_;
  if (!plan) throwCoded(env, ErrorCode::DISPOSED, "the plan was disposed");
  return plan;
}

Napi::Value NativePlan::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const PlanStats& s = plan(env).stats();
  Napi::Object o = Napi::Object::New(env);
  o.Set("denseCausalPairs", num(env, s.denseCausalPairs));
  o.Set("gridBlocks", num(env, s.gridBlocks));
  o.Set("causalBlocks", num(env, s.causalBlocks));
  Napi::Array cats = Napi::Array::New(env, kNumCategories);
  for (int c = 0; c < kNumCategories; ++c) {
    const CategoryStats& cs = s.category[c];
    Napi::Object x = Napi::Object::New(env);
    x.Set("visiblePairs", num(env, cs.visiblePairs));
    x.Set("fullBlocks", num(env, cs.fullBlocks));
    x.Set("partialBlocks", num(env, cs.partialBlocks));
    x.Set("gatheredKeys", num(env, cs.gatheredKeys));
    x.Set("computedPairs", num(env, cs.computedPairs));
    cats.Set(static_cast<uint32_t>(c), x);
  }
  o.Set("categories", cats);
  return o;
}

// blocks(category) -> the plan's raw structure for one category (tests, pictures).
Napi::Value NativePlan::Blocks(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto c = static_cast<HeadCategory>(intArg(info, 0, "category", 0, kNumCategories - 1));
  const Plan& pl = plan(env);
  const Plan::CategoryPlan& cp = pl.category(c);
  std::vector<int32_t> qb, runs, gathers;
  for (const QueryBlock& b : pl.queryBlocks()) qb.insert(qb.end(), {b.sequence, b.begin, b.end});
  for (const KeyRun& r : cp.runs) runs.insert(runs.end(), {r.begin, r.end, r.full ? 1 : 0});
  for (const GatherRange& g : cp.gathers) gathers.insert(gathers.end(), {static_cast<int32_t>(g.list), g.begin, g.end});
  Napi::Object o = Napi::Object::New(env);
  o.Set("queryBlocks", toTyped(env, qb));
  o.Set("runOffsets", toTyped(env, cp.runOffsets));
  o.Set("runs", toTyped(env, runs));
  o.Set("gatherOffsets", toTyped(env, cp.gatherOffsets));
  o.Set("gathers", toTyped(env, gathers));
  o.Set("sinkTokens", toTyped(env, pl.layout().sinkTokens()));
  o.Set("sharedTokens", toTyped(env, pl.layout().sharedTokens()));
  o.Set("textTokens", toTyped(env, pl.layout().textTokens()));
  return o;
}

Napi::Value NativePlan::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  const Plan& pl = plan(env);
  o.Set("numTokens", num(env, pl.layout().numTokens()));
  o.Set("numQueryBlocks", num(env, static_cast<int64_t>(pl.queryBlocks().size())));
  o.Set("blockM", num(env, pl.options().blockM));
  o.Set("blockN", num(env, pl.options().blockN));
  o.Set("bytes", num(env, static_cast<int64_t>(pl.bytes())));
  return o;
}

// visiblePairs(category, queryBegin, queryEnd, keyBegin, keyEnd) -> the pairs of that rectangle the category keeps
// (core/range_stats.h), O(segments).
Napi::Value NativePlan::VisiblePairs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Plan& pl = plan(env);
  const int32_t n = pl.layout().numTokens();
  const auto c = static_cast<HeadCategory>(intArg(info, 0, "category", 0, kNumCategories - 1));
  const auto q0 = static_cast<int32_t>(intArg(info, 1, "queryBegin", 0, n));
  const auto q1 = static_cast<int32_t>(intArg(info, 2, "queryEnd", q0, n));
  const auto k0 = static_cast<int32_t>(intArg(info, 3, "keyBegin", 0, n));
  const auto k1 = static_cast<int32_t>(intArg(info, 4, "keyEnd", k0, n));
  try {
    return num(env, pl.visiblePairs(c, {q0, q1}, {k0, k1}));
  } catch (const std::bad_alloc&) {
    throwCoded(env, ErrorCode::OUT_OF_MEMORY, "out of memory while counting pairs");
  }
}

// maskBias(category, rowBegin, rowEnd, out: Float32Array, hidden) writes the additive attention bias of query rows
// [rowBegin, rowEnd) over all numTokens keys: 0 where mask_visible (and same sequence), `hidden` elsewhere. An N x N
// mask is what dense-masked peers (ONNX Runtime) need; the benchmark builds it here so the rule stays written once.
Napi::Value NativePlan::MaskBias(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Plan& pl = plan(env);
  const Layout& L = pl.layout();
  const auto c = static_cast<HeadCategory>(intArg(info, 0, "category", 0, kNumCategories - 1));
  const auto r0 = static_cast<int32_t>(intArg(info, 1, "rowBegin", 0, L.numTokens()));
  const auto r1 = static_cast<int32_t>(intArg(info, 2, "rowEnd", r0, L.numTokens()));
  auto out = typedArrayArg<float>(info, 3, "out");
  if (!info[4].IsNumber()) throwCoded(env, ErrorCode::BAD_ARGUMENT, "hidden must be a number");
  const float hidden = info[4].As<Napi::Number>().FloatValue();
  const size_t n = static_cast<size_t>(L.numTokens());
  if (out.ElementLength() != static_cast<size_t>(r1 - r0) * n)
    throwCoded(env, ErrorCode::SHAPE_MISMATCH, "out must hold (rowEnd - rowBegin) * numTokens floats");
  const MaskOptions& mo = pl.options().mask;
  const auto& img = L.imageIds();
  const auto& sink = L.sinkFlags();
  const auto& seq = L.sequenceOf();
  float* o = out.Data();
  for (int32_t q = r0; q < r1; ++q)
    for (int32_t k = 0; k < L.numTokens(); ++k)
      *o++ = seq[q] == seq[k] && mask_visible(c, mo, q, k, img[q], img[k], sink[k] != 0) ? 0.0f : hidden;
  return env.Undefined();
}

}  // namespace bs::addon
