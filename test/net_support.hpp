// Helpers shared by the network suites (net_test.cpp, stress/net_stress_test.cpp).
#pragma once

#include <doctest/doctest.h>
#include <goro/goro.hpp>
#include <pthread.h>
#include <signal.h>

#include <atomic>

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

// SIGPIPEs raised in this process while a sigpipe_counter is alive. goro::run ignores
// SIGPIPE only while its action is the default (io.hpp) and leaves a handler alone, so a
// counting handler catches a send that lacks MSG_NOSIGNAL where SIG_IGN would hide it.
inline std::atomic<int> sigpipes{0};  // lock-free: safe to touch in a signal handler
static_assert(std::atomic<int>::is_always_lock_free);
inline void count_sigpipe(int) { sigpipes.fetch_add(1, std::memory_order_relaxed); }  // a counter only

// Installs count_sigpipe and unblocks SIGPIPE in this thread (goro::run starts its
// workers from it, so they inherit the mask); restores the previous action at the end.
class sigpipe_counter {
 public:
  sigpipe_counter() {
    struct sigaction sa{};
    sa.sa_handler = count_sigpipe;
    sigemptyset(&sa.sa_mask);
    REQUIRE(::sigaction(SIGPIPE, &sa, &old_) == 0);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    REQUIRE(::pthread_sigmask(SIG_UNBLOCK, &set, nullptr) == 0);
    sigpipes = 0;
  }
  ~sigpipe_counter() { ::sigaction(SIGPIPE, &old_, nullptr); }
  sigpipe_counter(const sigpipe_counter&) = delete;
  sigpipe_counter& operator=(const sigpipe_counter&) = delete;

 private:
  struct sigaction old_{};
};

}  // namespace goro_test
