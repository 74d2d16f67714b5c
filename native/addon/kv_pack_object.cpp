#include "kv_pack_object.h"

#include <mutex>

#include "../core/error.h"
#include "js_errors.h"
#include "plan_object.h"

namespace bs::addon {

Napi::Function NativeKvPack::Init(Napi::Env env) {
  Napi::Function ctor = DefineClass(env, "NativeKvPack",
                                    {InstanceMethod("reset", &NativeKvPack::Reset),
                                     InstanceMethod("dispose", &NativeKvPack::Dispose),
                                     InstanceMethod("info", &NativeKvPack::Info)});
  env.GetInstanceData<AddonData>()->kvPackConstructor = Napi::Persistent(ctor);
  return ctor;
}

NativeKvPack::NativeKvPack(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<NativeKvPack>(info), pack_(std::make_shared<cpu::KvPack>()) {}

std::shared_ptr<cpu::KvPack> NativeKvPack::unwrap(Napi::Env env, const Napi::Value& value) {
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(env.GetInstanceData<AddonData>()->kvPackConstructor.Value()))
    throwCoded(env, ErrorCode::BAD_ARGUMENT, "kvPack must be a KvPack");
  std::shared_ptr<cpu::KvPack> pack = Unwrap(value.As<Napi::Object>())->pack_;
  if (!pack) throwCoded(env, ErrorCode::DISPOSED, "the KvPack was disposed");
  return pack;
}

// A running async call holds its own share of the old pack (packed_kv.h, freshKvPack).
Napi::Value NativeKvPack::Reset(const Napi::CallbackInfo& info) {
  if (!pack_) throwCoded(info.Env(), ErrorCode::DISPOSED, "the KvPack was disposed");
  pack_ = cpu::freshKvPack(*pack_);
  return info.Env().Undefined();
}

Napi::Value NativeKvPack::Dispose(const Napi::CallbackInfo& info) {
  pack_.reset();
  return info.Env().Undefined();
}

Napi::Value NativeKvPack::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  // The counts the last finished call published: no waiting on a running call's mutex (the JS thread must not block).
  const size_t bytes = pack_ ? pack_->keptBytes.load() : 0;
  const int64_t rows = pack_ ? pack_->keptRows.load() : 0;
  o.Set("bytes", Napi::Number::New(env, static_cast<double>(bytes)));
  o.Set("keptRows", Napi::Number::New(env, static_cast<double>(rows)));
  return o;
}

}  // namespace bs::addon
