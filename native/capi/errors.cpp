#include <cstring>
#include <string>

#include "guard.h"

namespace bs::capi {
namespace {
// Per thread, so concurrent callers each read their own failure.
thread_local std::string lastError;

bool startsWith(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }
}  // namespace

void setLastError(const std::string& code, const std::string& message) { lastError = "[" + code + "] " + message; }
void clearLastError() { lastError.clear(); }

blindsight_status statusForCode(const std::string& code) {
  static const char* const layout[] = {"EMPTY_LAYOUT", "TOO_MANY_TOKENS", "LAYOUT_MISMATCH", "BAD_CU_SEQLENS",
                                       "BAD_IMAGE_ID", "BAD_SEGMENTS", "BAD_SINKS"};
  static const char* const shape[] = {"BAD_GQA", "SHAPE_MISMATCH", "BAD_SHAPE", "SIZE_OVERFLOW", "BAD_HEAD_DIM"};
  for (const char* c : layout)
    if (code == c) return BLINDSIGHT_ERR_BAD_LAYOUT;
  for (const char* c : shape)
    if (code == c) return BLINDSIGHT_ERR_SHAPE;
  if (startsWith(code, "UNSUPPORTED")) return BLINDSIGHT_ERR_UNSUPPORTED;
  if (code.find("UNAVAILABLE") != std::string::npos) return BLINDSIGHT_ERR_UNAVAILABLE;
  if (code == "OUT_OF_MEMORY") return BLINDSIGHT_ERR_OUT_OF_MEMORY;
  if (startsWith(code, "BAD_") || startsWith(code, "UNKNOWN_") || code == "ALIASED_OUTPUT")
    return BLINDSIGHT_ERR_INVALID_ARGUMENT;
  if (code == "INTERNAL") return BLINDSIGHT_ERR_INTERNAL;
  return BLINDSIGHT_ERR_BACKEND;  // CUDA_* and whatever else a backend reports
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
