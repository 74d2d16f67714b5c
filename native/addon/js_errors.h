// Turning native failures into JS errors with a `code` from the registry (core/error_codes.h), so the TS layer can
// rethrow them as BlindsightError.
#pragma once
#include <napi.h>

#include <string>

#include "../core/error.h"

namespace bs::addon {

inline Napi::Error codedError(Napi::Env env, ErrorCode code, const std::string& message) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, errorCodeName(code)));
  return e;
}

[[noreturn]] inline void throwCoded(Napi::Env env, ErrorCode code, const std::string& message) {
  throw codedError(env, code, message);
}

// Runs core checks (core/problem_checks.h) and raises what they throw as a coded JS error.
template <typename Fn>
void codedChecks(Napi::Env env, Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    throwCoded(env, e.codeId(), e.what());
  }
}

}  // namespace bs::addon
