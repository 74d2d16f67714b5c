// The C ABI's exception wall: every entry point runs its body through guarded(), which turns bs::Error and every
// other C++ exception into a blindsight_status and the calling thread's last-error text. Nothing throws past it.
#pragma once
#include <exception>
#include <new>
#include <string>

#include "../core/error.h"
#include "../include/blindsight.h"

namespace bs::capi {

// Records "[CODE] message" for blindsight_last_error() on this thread ("" after a success).
void setLastError(ErrorCode code, const std::string& message);
void clearLastError();
// The status the registry (core/error_codes.h) gives a code.
blindsight_status statusForCode(ErrorCode code);

template <typename Body>
blindsight_status guarded(Body&& body) noexcept {
  try {
    clearLastError();
    body();
    return BLINDSIGHT_OK;
  } catch (const Error& e) {
    setLastError(e.codeId(), e.what());
    return statusForCode(e.codeId());
  } catch (const std::bad_alloc&) {
    setLastError(ErrorCode::OUT_OF_MEMORY, "out of memory");
    return BLINDSIGHT_ERR_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    setLastError(ErrorCode::INTERNAL, e.what());
    return BLINDSIGHT_ERR_INTERNAL;
  } catch (...) {
    setLastError(ErrorCode::INTERNAL, "unknown exception");
    return BLINDSIGHT_ERR_INTERNAL;
  }
}

// Argument checks raise the codes the TS layer uses for the same mistakes.
[[noreturn]] inline void invalid(const std::string& message) { throw Error(ErrorCode::BAD_ARGUMENT, message); }
inline void requireNonNull(const void* p, const char* name) {
  if (p == nullptr) invalid(std::string(name) + " must not be null");
}

}  // namespace bs::capi
