// Turning native failures into JS errors with a `code`, so the TS layer can rethrow them as BlindsightError.
#pragma once
#include <napi.h>

#include <string>

namespace bs::addon {

inline Napi::Error codedError(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  return e;
}

[[noreturn]] inline void throwCoded(Napi::Env env, const std::string& code, const std::string& message) {
  throw codedError(env, code, message);
}

}  // namespace bs::addon
