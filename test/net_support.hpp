// Helpers shared by the network suites (net_test.cpp, stress/net_stress_test.cpp).
#pragma once

#include <goro/goro.hpp>

#include <chrono>
#include <string>
#include <system_error>

namespace goro_test {

inline const std::error_code canceled = goro::errc::canceled;
inline const std::error_code deadline_exceeded = goro::errc::deadline_exceeded;

// "category:value (message)", or "none": for failure messages.
inline std::string show(std::error_code ec) {
  if (!ec) return "none";
  return std::string(ec.category().name()) + ":" + std::to_string(ec.value()) + " (" + ec.message() + ")";
}

inline double to_ms(goro::clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// What a write to a closed or reset peer may return.
inline bool is_pipe_or_reset(std::error_code ec) {
  return ec == std::errc::broken_pipe || ec == std::errc::connection_reset;
}

}  // namespace goro_test
