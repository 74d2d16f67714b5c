// NativePlan: the JS handle of a bs::Plan (and the Layout it was built from).
#pragma once
#include <napi.h>

#include <memory>

#include "../core/plan.h"

namespace bs::addon {

// Per-environment state (worker threads each load their own instance of the addon).
struct AddonData {
  Napi::FunctionReference planConstructor;
  Napi::FunctionReference layoutConstructor;
  Napi::FunctionReference kvPackConstructor;  // the CPU addon's (kv_pack_object.h)
};

// NativeLayout: a bs::Layout built once from the TS Layout's arrays and shared by every plan built on it, so
// rebuilding a plan (new options, new blocks) does not rebuild the O(N) per-token tables.
// Both report the native memory they hold to V8 (napi_adjust_external_memory), so that its garbage collector collects
// plans built in a loop as it would JS arrays of the same size, and both release it at once on dispose().
class NativeLayout : public Napi::ObjectWrap<NativeLayout> {
 public:
  static Napi::Function Init(Napi::Env env);  // after NativePlan::Init
  explicit NativeLayout(const Napi::CallbackInfo& info);
  ~NativeLayout() override;
  static std::shared_ptr<const Layout> unwrap(Napi::Env env, const Napi::Value& value);

 private:
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  std::shared_ptr<const Layout> layout_;
  int64_t reported_ = 0;
};

class NativePlan : public Napi::ObjectWrap<NativePlan> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit NativePlan(const Napi::CallbackInfo& info);
  ~NativePlan() override;
  static std::shared_ptr<const Plan> unwrap(Napi::Env env, const Napi::Value& value);

 private:
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  const Plan& plan(Napi::Env env) const;
  int64_t reported_ = 0;
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Blocks(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value MaskBias(const Napi::CallbackInfo& info);
  Napi::Value VisiblePairs(const Napi::CallbackInfo& info);

  std::shared_ptr<const Plan> plan_;
};

}  // namespace bs::addon
