// The panic handler: what happens to an exception that escapes a task nobody joins.
#include <exception>
#include <functional>
#include <mutex>
#include <string>

#include "goro/runtime.hpp"
#include "log.hpp"

namespace goro {
namespace {

std::mutex handler_mu;
std::function<void(const panic_info&)> handler;  // under handler_mu; empty: the default

std::string describe(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "an exception not derived from std::exception";
  }
}

}  // namespace

void set_panic_handler(std::function<void(const panic_info&)> h) {
  std::lock_guard lock(handler_mu);
  handler = std::move(h);
}

namespace detail {

void report_panic(std::exception_ptr error, const std::source_location& started_at) noexcept {
  std::function<void(const panic_info&)> h;
  {
    std::lock_guard lock(handler_mu);
    h = handler;
  }
  const panic_info info{error, started_at};
  if (h) {
    try {
      h(info);
      return;
    } catch (...) {
      log().critical("goro: the panic handler threw; terminating");
    }
  } else {
    log().critical("panic: {} [in a task started at {}:{} in {}]", describe(error), started_at.file_name(),
                   started_at.line(), started_at.function_name());
  }
  log().flush();
  std::terminate();
}

}  // namespace detail
}  // namespace goro
