#include "log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace goro::detail {

spdlog::logger& log() {
  static const std::shared_ptr<spdlog::logger> logger = [] {
    if (auto existing = spdlog::get("goro")) return existing;
    auto made = spdlog::stderr_color_mt("goro");
    made->set_level(spdlog::level::warn);  // GORO_LOG (issue 7) will set it
    return made;
  }();
  return *logger;
}

}  // namespace goro::detail
