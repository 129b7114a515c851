// The runtime's own diagnostics go through one spdlog logger named "goro" (a logger of
// that name registered by the application is used as it is, its format included).
// GORO_LOG=trace|debug|info|warn|error|off sets its level (default warn); goro's own
// logger prints which worker (w0, w1...) or "outside" (another thread) wrote each line.
#pragma once

#include <spdlog/spdlog.h>

namespace goro::detail {

spdlog::logger& log();

// Applies GORO_LOG (each goro::run calls it). Throws config_error for a bad value.
void configure_logging();

}  // namespace goro::detail
