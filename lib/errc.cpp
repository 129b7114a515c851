// goro's error category (include/goro/errc.hpp).
#include "goro/errc.hpp"

#include <string>

namespace goro {

namespace {

class goro_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "goro"; }
  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::canceled: return "context canceled";
      case errc::deadline_exceeded: return "context deadline exceeded";
      case errc::task_threw: return "a task of the group threw an exception";
    }
    return "unknown goro error " + std::to_string(value);
  }
  // Each value matches the portable condition of the same meaning.
  std::error_condition default_error_condition(int value) const noexcept override {
    switch (static_cast<errc>(value)) {
      case errc::canceled: return std::errc::operation_canceled;
      case errc::deadline_exceeded: return std::errc::timed_out;
      case errc::task_threw: break;
    }
    return {value, *this};
  }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const goro_category category;
  return category;
}

}  // namespace goro
