// Errors raised by the native core and backends, each with a code from the registry (error_codes.h). The addon turns
// them into JS errors carrying `code` and the C ABI into a blindsight_status, so the same condition reads the same
// whichever door it comes through.
#pragma once
#include <stdexcept>
#include <string>

#include "error_codes.h"

namespace bs {

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode codeId() const noexcept { return code_; }
  const char* code() const noexcept { return errorCodeName(code_); }

 private:
  ErrorCode code_;
};

}  // namespace bs
