#include <cstring>
#include <string>

#include "guard.h"

namespace bs::capi {
namespace {
// Per thread, so concurrent callers each read their own failure.
thread_local std::string lastError;
}  // namespace

void setLastError(ErrorCode code, const std::string& message) {
  lastError = "[" + std::string(errorCodeName(code)) + "] " + message;
}
void clearLastError() { lastError.clear(); }

blindsight_status statusForCode(ErrorCode code) {
  switch (code) {
#define BS_STATUS_CASE(code, status, meaning) \
  case ErrorCode::code: return BLINDSIGHT_ERR_##status;
    BS_ERROR_CODES(BS_STATUS_CASE)
#undef BS_STATUS_CASE
  }
  return BLINDSIGHT_ERR_INTERNAL;
}

}  // namespace bs::capi

extern "C" {

const char* blindsight_last_error(void) { return bs::capi::lastError.c_str(); }

const char* blindsight_status_name(blindsight_status status) {
  switch (status) {
    case BLINDSIGHT_OK: return "BLINDSIGHT_OK";
    case BLINDSIGHT_ERR_INVALID_ARGUMENT: return "BLINDSIGHT_ERR_INVALID_ARGUMENT";
    case BLINDSIGHT_ERR_BAD_LAYOUT: return "BLINDSIGHT_ERR_BAD_LAYOUT";
    case BLINDSIGHT_ERR_SHAPE: return "BLINDSIGHT_ERR_SHAPE";
    case BLINDSIGHT_ERR_UNSUPPORTED: return "BLINDSIGHT_ERR_UNSUPPORTED";
    case BLINDSIGHT_ERR_UNAVAILABLE: return "BLINDSIGHT_ERR_UNAVAILABLE";
    case BLINDSIGHT_ERR_OUT_OF_MEMORY: return "BLINDSIGHT_ERR_OUT_OF_MEMORY";
    case BLINDSIGHT_ERR_BACKEND: return "BLINDSIGHT_ERR_BACKEND";
    case BLINDSIGHT_ERR_INTERNAL: return "BLINDSIGHT_ERR_INTERNAL";
  }
  return "unknown status";
}

}  // extern "C"
