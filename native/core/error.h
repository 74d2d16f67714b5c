// Errors raised by the native core and backends. The addon turns them into JS errors carrying `code`,
// so the same condition reads the same whichever layer notices it first.
#pragma once
#include <stdexcept>
#include <string>

namespace bs {

class Error : public std::runtime_error {
 public:
  Error(std::string code, const std::string& message) : std::runtime_error(message), code_(std::move(code)) {}
  const std::string& code() const noexcept { return code_; }

 private:
  std::string code_;
};

}  // namespace bs
