// Module entry: registers the plan class, the attention entry points and the CPU backend's settings.
#include <napi.h>

#include <algorithm>

#include "../core/error.h"
#include "../cpu/cpu_backend.h"
#include "../cpu/thread_pool.h"
#include "args.h"
#include "attention.h"
#include "attention_mass.h"
#include "merge.h"
#include "calibrator.h"
#include "kv_pack_object.h"
#include "plan_object.h"

namespace bs::addon {
namespace {

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  cpu::setPoolThreads(static_cast<int>(intArg(info, 0, "threads", 0, 1024)));
  return info.Env().Undefined();
}

Napi::Value GetThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), cpu::poolThreads());
}

Napi::Value CpuInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  Napi::Array isas = Napi::Array::New(env);
  uint32_t i = 0;
  for (cpu::Isa isa : cpu::supportedIsas()) isas.Set(i++, Napi::String::New(env, cpu::isaName(isa)));
  o.Set("isas", isas);
  Napi::Array levels = Napi::Array::New(env);
  uint32_t j = 0;
  for (const cpu::IsaInfo& l : cpu::isaLevels()) {
    Napi::Object x = Napi::Object::New(env);
    x.Set("name", Napi::String::New(env, l.name));
    x.Set("needs", Napi::String::New(env, l.needs));
    x.Set("compiled", Napi::Boolean::New(env, l.compiled));
    x.Set("supported", Napi::Boolean::New(env, l.supported));
    levels.Set(j++, x);
  }
  o.Set("levels", levels);
  try {
    o.Set("defaultIsa", Napi::String::New(env, cpu::isaName(cpu::defaultIsa())));
  } catch (const Error& e) {
    throwCoded(env, e.codeId(), e.what());
  }
  o.Set("defaultThreads", Napi::Number::New(env, cpu::defaultThreads()));
  return o;
}

// fmaPeak(threads, isa | null, seconds) -> GFLOP/s of a tight FMA loop on that many pool threads.
Napi::Value FmaPeak(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int threads = static_cast<int>(intArg(info, 0, "threads", 0, 1024));
  if (!info[2].IsNumber()) throwCoded(env, ErrorCode::BAD_ARGUMENT, "seconds must be a number");
  const double seconds = std::clamp(info[2].As<Napi::Number>().DoubleValue(), 0.01, 60.0);
  try {
    const cpu::Isa isa = info[1].IsString() ? cpu::parseIsa(info[1].As<Napi::String>().Utf8Value()) : cpu::defaultIsa();
    return Napi::Number::New(env, cpu::fmaPeakGflops(threads, isa, seconds));
  } catch (const Error& e) {
    throwCoded(env, e.codeId(), e.what());
  }
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativePlan", NativePlan::Init(env));
  exports.Set("NativeLayout", NativeLayout::Init(env));
  exports.Set("NativeKvPack", NativeKvPack::Init(env));
  exports.Set("attentionSync", Napi::Function::New(env, AttentionSync, "attentionSync"));
  exports.Set("attentionAsync", Napi::Function::New(env, AttentionAsync, "attentionAsync"));
  exports.Set("attentionMassSync", Napi::Function::New(env, AttentionMassSync, "attentionMassSync"));
  exports.Set("attentionMassAsync", Napi::Function::New(env, AttentionMassAsync, "attentionMassAsync"));
  exports.Set("mergeAttentionSync", Napi::Function::New(env, MergeAttentionSync, "mergeAttentionSync"));
  exports.Set("NativeCalibrator", NativeCalibrator::Init(env));
  exports.Set("chooseCategories", Napi::Function::New(env, ChooseCategories, "chooseCategories"));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads, "setThreads"));
  exports.Set("getThreads", Napi::Function::New(env, GetThreads, "getThreads"));
  exports.Set("cpuInfo", Napi::Function::New(env, CpuInfo, "cpuInfo"));
  exports.Set("fmaPeak", Napi::Function::New(env, FmaPeak, "fmaPeak"));
  return exports;
}

}  // namespace bs::addon

static Napi::Object InitBlindsight(Napi::Env env, Napi::Object exports) { return bs::addon::Init(env, exports); }
NODE_API_MODULE(blindsight, InitBlindsight)
