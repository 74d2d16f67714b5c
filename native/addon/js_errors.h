// Turning native failures into JS errors with a `code` from the registry (core/error_codes.h), so the TS layer can
// rethrow them as BlindsightError.
#pragma once
#include <napi.h>

#include <string>

#include "../core/error_codes.h"

namespace bs::addon {

inline Napi::Error codedError(Napi::Env env, ErrorCode code, const std::string& message) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, errorCodeName(code)));
  return e;
}

[[noreturn]] inline void throwCoded(Napi::Env env, ErrorCode code, const std::string& message) {
  throw codedError(env, code, message);
}

}  // namespace bs::addon
