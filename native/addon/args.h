// Reading the addon's arguments. Every entry point takes one options object read by field name (as the C ABI's
// blindsight_attention_args is read by field), so the TS layer and the addon agree on names, not on slot numbers. The
// TS layer has already validated everything a user can get wrong; these checks keep a direct caller of the addon from
// crashing the process, with the same error codes the TS layer and the C ABI use for the same mistakes.
#pragma once
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "../core/error_codes.h"
#include "js_errors.h"

namespace bs::addon {

template <typename T>
struct TypedArrayKind;
template <> struct TypedArrayKind<float> { static constexpr napi_typedarray_type value = napi_float32_array; };
template <> struct TypedArrayKind<int32_t> { static constexpr napi_typedarray_type value = napi_int32_array; };
template <> struct TypedArrayKind<uint8_t> { static constexpr napi_typedarray_type value = napi_uint8_array; };
template <> struct TypedArrayKind<uint16_t> { static constexpr napi_typedarray_type value = napi_uint16_array; };
template <> struct TypedArrayKind<double> { static constexpr napi_typedarray_type value = napi_float64_array; };

class Args {
 public:
  // `what` names the object in messages ("attention", "NativePlan options").
  Args(Napi::Env env, const Napi::Value& v, const char* what) : env_(env), what_(what) {
    if (!v.IsObject() || v.IsArray()) throwCoded(env, ErrorCode::BAD_ARGUMENT, std::string(what) + " expects an options object");
    obj_ = v.As<Napi::Object>();
  }

  Napi::Env env() const { return env_; }
  Napi::Value get(const char* name) const { return obj_.Get(name); }
  bool has(const char* name) const {
    const Napi::Value v = get(name);
    return !v.IsUndefined() && !v.IsNull();
  }

  // An integer field in [lo, hi]; `code` is the registry's code for this field's range mistake.
  int64_t integer(const char* name, int64_t lo, int64_t hi, ErrorCode code = ErrorCode::BAD_ARGUMENT) const {
    const Napi::Value v = get(name);
    if (!v.IsNumber()) fail(ErrorCode::BAD_ARGUMENT, name, "must be a number");
    const double d = v.As<Napi::Number>().DoubleValue();
    if (!(d >= static_cast<double>(lo) && d <= static_cast<double>(hi)) || d != std::floor(d))
      fail(code, name, "must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    return static_cast<int64_t>(d);
  }
  int64_t integerOr(const char* name, int64_t dflt, int64_t lo, int64_t hi, ErrorCode code = ErrorCode::BAD_ARGUMENT) const {
    return has(name) ? integer(name, lo, hi, code) : dflt;
  }
  double number(const char* name) const {
    const Napi::Value v = get(name);
    if (!v.IsNumber()) fail(ErrorCode::BAD_ARGUMENT, name, "must be a number");
    return v.As<Napi::Number>().DoubleValue();
  }
  bool boolean(const char* name, bool dflt) const {
    const Napi::Value v = get(name);
    if (v.IsUndefined()) return dflt;
    if (!v.IsBoolean()) fail(ErrorCode::BAD_ARGUMENT, name, "must be a boolean");
    return v.As<Napi::Boolean>().Value();
  }
  // A string field, or "" when absent or null.
  std::string optionalString(const char* name) const {
    const Napi::Value v = get(name);
    if (v.IsUndefined() || v.IsNull()) return {};
    if (!v.IsString()) fail(ErrorCode::BAD_ARGUMENT, name, "must be a string");
    return v.As<Napi::String>().Utf8Value();
  }
  template <typename T>
  Napi::TypedArrayOf<T> typedArray(const char* name) const {
    const Napi::Value v = get(name);
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != TypedArrayKind<T>::value)
      fail(ErrorCode::BAD_ARGUMENT, name, "has the wrong typed-array type");
    return v.As<Napi::TypedArrayOf<T>>();
  }
  template <typename T>
  std::vector<T> copy(const char* name) const {
    const auto a = typedArray<T>(name);
    return std::vector<T>(a.Data(), a.Data() + a.ElementLength());
  }

  [[noreturn]] void fail(ErrorCode code, const char* name, const std::string& what) const {
    throwCoded(env_, code, std::string(what_) + ": " + name + " " + what);
  }

 private:
  Napi::Env env_;
  const char* what_;
  Napi::Object obj_;
};

// A positional integer (the few entry points with one or two plain arguments: setThreads, fmaPeak).
inline int64_t intArg(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t lo, int64_t hi) {
  const Napi::Value v = info[i];
  if (!v.IsNumber()) throwCoded(info.Env(), ErrorCode::BAD_ARGUMENT, std::string(name) + " must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= static_cast<double>(lo) && d <= static_cast<double>(hi)) || d != std::floor(d))
    throwCoded(info.Env(), ErrorCode::BAD_ARGUMENT, std::string(name) + " is out of range");
  return static_cast<int64_t>(d);
}

template <typename T>
Napi::TypedArrayOf<T> typedArrayArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  const Napi::Value v = info[i];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != TypedArrayKind<T>::value)
    throwCoded(info.Env(), ErrorCode::BAD_ARGUMENT, std::string(name) + " has the wrong typed-array type");
  return v.As<Napi::TypedArrayOf<T>>();
}

}  // namespace bs::addon
