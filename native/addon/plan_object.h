// NativePlan: the JS handle of a bs::Plan (and the Layout it was built from).
#pragma once
#include <napi.h>

#include <memory>

#include "../core/plan.h"

namespace bs::addon {

// Per-environment state (worker threads each load their own instance of the addon).
struct AddonData {
  Napi::FunctionReference planConstructor;
};

class NativePlan : public Napi::ObjectWrap<NativePlan> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit NativePlan(const Napi::CallbackInfo& info);
  static std::shared_ptr<const Plan> unwrap(Napi::Env env, const Napi::Value& value);

 private:
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Blocks(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value MaskBias(const Napi::CallbackInfo& info);

  std::shared_ptr<const Plan> plan_;
};

}  // namespace bs::addon
