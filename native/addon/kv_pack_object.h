// NativeKvPack: the JS handle of a cpu::KvPack, the K/V copy a layer's micro-batched prefill keeps from call to call
// (packed_kv.h).
//   new NativeKvPack()
//   reset(): drops the kept rows (calls still running finish with the rows they had)
//   dispose(): releases this handle's share of the copy's memory (running calls keep theirs)
//   info() -> { bytes, keptRows }
// The CPU addon's attention calls take it as their `kvPack` field.
#pragma once
#include <napi.h>

#include <memory>

#include "../cpu/packed_kv.h"

namespace bs::addon {

class NativeKvPack : public Napi::ObjectWrap<NativeKvPack> {
 public:
  static Napi::Function Init(Napi::Env env);  // after NativePlan::Init
  explicit NativeKvPack(const Napi::CallbackInfo& info);
  static std::shared_ptr<cpu::KvPack> unwrap(Napi::Env env, const Napi::Value& value);

 private:
  Napi::Value Reset(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);

  std::shared_ptr<cpu::KvPack> pack_;
};

}  // namespace bs::addon
