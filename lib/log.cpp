#include "log.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <cstdlib>
#include <string>
#include <utility>

#include "runtime.hpp"

namespace goro::detail {

namespace {

// %W in the pattern: the worker that logs, or "outside".
class worker_flag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg&, const std::tm&, spdlog::memory_buf_t& dest) override {
    const std::string name = current_worker ? "w" + std::to_string(current_worker->index) : "outside";
    dest.append(name.data(), name.data() + name.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<worker_flag>(); }
};

}  // namespace

spdlog::logger& log() {
  static const std::shared_ptr<spdlog::logger> logger = [] {
    if (auto existing = spdlog::get("goro")) return existing;
    auto made = spdlog::stderr_color_mt("goro");
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<worker_flag>('W').set_pattern("[%Y-%m-%d %H:%M:%S.%e] [goro %W] [%^%l%$] %v");
    made->set_formatter(std::move(formatter));
    made->set_level(spdlog::level::warn);
    return made;
  }();
  return *logger;
}

void configure_logging() {
  const char* value = std::getenv("GORO_LOG");
  if (!value) return;
  const std::string v = value;
  static constexpr std::pair<const char*, spdlog::level::level_enum> levels[] = {
      {"trace", spdlog::level::trace}, {"debug", spdlog::level::debug}, {"info", spdlog::level::info},
      {"warn", spdlog::level::warn},   {"error", spdlog::level::err},   {"off", spdlog::level::off},
  };
  for (const auto& [name, level] : levels) {
    if (v == name) {
      log().set_level(level);
      return;
    }
  }
  throw config_error("GORO_LOG=\"" + v +
                     "\" is not a log level: set it to trace, debug, info, warn, error or off (default warn)");
}

}  // namespace goro::detail
