// Helpers shared by goro's test suites.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace goro_test {

// An instance-counting value: every construction and destruction is counted, and a
// destruction of an already destroyed object (a double destroy) is counted separately.
struct counted {
  static inline std::atomic<int> constructed{0};
  static inline std::atomic<int> destroyed{0};
  static inline std::atomic<int> destroyed_twice{0};
  static constexpr std::uint32_t alive_mark = 0xA11CE, dead_mark = 0xDEAD;

  int value;
  volatile std::uint32_t mark = alive_mark;

  explicit counted(int v) : value(v) { constructed.fetch_add(1, std::memory_order_relaxed); }
  counted(const counted& o) : value(o.value) { constructed.fetch_add(1, std::memory_order_relaxed); }
  counted(counted&& o) noexcept : value(o.value) { constructed.fetch_add(1, std::memory_order_relaxed); }
  ~counted() {
    if (mark != alive_mark) destroyed_twice.fetch_add(1, std::memory_order_relaxed);
    mark = dead_mark;
    destroyed.fetch_add(1, std::memory_order_relaxed);
  }
  bool alive() const { return mark == alive_mark; }
  static void reset() {
    constructed = 0;
    destroyed = 0;
    destroyed_twice = 0;
  }
  static int live() { return constructed.load() - destroyed.load(); }
};

// Ends the process with a failure if it is still alive after `limit`: turns a hang (a
// lost wake-up, a deadlock) into a failing test with a message. `detail` adds to the
// message (e.g. the seed that reproduces the run).
class watchdog {
 public:
  watchdog(std::string what, std::chrono::seconds limit, std::function<std::string()> detail = {})
      : thread_([this, what = std::move(what), limit, detail = std::move(detail)] {
          std::unique_lock lock(mu_);
          if (!cv_.wait_for(lock, limit, [this] { return finished_; })) {
            std::fprintf(stderr, "watchdog: %s still running after %llds: a lost wake-up or a deadlock%s\n",
                         what.c_str(), static_cast<long long>(limit.count()), detail ? detail().c_str() : "");
            std::_Exit(EXIT_FAILURE);  // not abort(): doctest's signal handler is not signal-safe
          }
        }) {}
  ~watchdog() {
    {
      std::lock_guard lock(mu_);
      finished_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool finished_ = false;  // under mu_
  std::thread thread_;     // last: starts after the fields above exist
};

}  // namespace goro_test
