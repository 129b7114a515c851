// The runtime's own diagnostics go through one spdlog logger named "goro" (a logger of
// that name registered by the application is used as it is).
#pragma once

#include <spdlog/spdlog.h>

namespace goro::detail {

spdlog::logger& log();

}  // namespace goro::detail
