// Argument extraction for the N-API entry points. The TS layer has already validated everything a user can get
// wrong; these checks only keep a direct caller of the addon from crashing the process.
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "js_errors.h"

namespace bs::addon {

template <typename T>
struct TypedArrayKind;
template <> struct TypedArrayKind<float> { static constexpr napi_typedarray_type value = napi_float32_array; };
template <> struct TypedArrayKind<int32_t> { static constexpr napi_typedarray_type value = napi_int32_array; };
template <> struct TypedArrayKind<uint8_t> { static constexpr napi_typedarray_type value = napi_uint8_array; };
template <> struct TypedArrayKind<uint16_t> { static constexpr napi_typedarray_type value = napi_uint16_array; };

template <typename T>
Napi::TypedArrayOf<T> typedArrayArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  const Napi::Value v = info[i];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != TypedArrayKind<T>::value)
    throwCoded(info.Env(), ErrorCode::BAD_ARGUMENT, std::string(name) + " has the wrong typed-array type");
  return v.As<Napi::TypedArrayOf<T>>();
}

template <typename T>
std::vector<T> copyArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  const auto a = typedArrayArg<T>(info, i, name);
  return std::vector<T>(a.Data(), a.Data() + a.ElementLength());
}

inline int64_t intArg(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t lo, int64_t hi) {
  const Napi::Value v = info[i];
  if (!v.IsNumber()) throwCoded(info.Env(), ErrorCode::BAD_ARGUMENT, std::string(name) + " must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= static_cast<double>(lo) && d <= static_cast<double>(hi)) || d != static_cast<double>(static_cast<int64_t>(d)))
    throwCoded(info.Env(), ErrorCode::BAD_ARGUMENT, std::string(name) + " is out of range");
  return static_cast<int64_t>(d);
}

}  // namespace bs::addon
