// Helpers shared by goro's test suites.
#pragma once

#include <doctest/doctest.h>

#include <goro/goro.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <malloc.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define GORO_TEST_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define GORO_TEST_SANITIZER 1
#endif
#endif
#ifdef GORO_TEST_SANITIZER
// From the sanitizer runtime (<sanitizer/allocator_interface.h>, which g++ 12 on Debian
// does not install): bytes the application has allocated and not freed; memory in
// ASan's quarantine is not counted.
extern "C" std::size_t __sanitizer_get_current_allocated_bytes();
#endif

namespace goro_test {

// Resident memory of the process, in KiB (/proc/self/statm).
inline long resident_kib() {
  long size = 0, resident = -1;
  if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &size, &resident) != 2) resident = -1;
    std::fclose(f);
  }
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

// Bytes the application has allocated and not freed.
inline long long live_heap_bytes() {
#ifdef GORO_TEST_SANITIZER
  return static_cast<long long>(__sanitizer_get_current_allocated_bytes());
#else
  const struct mallinfo2 mi = mallinfo2();
  return static_cast<long long>(mi.uordblks + mi.hblkhd);  // small chunks + mmapped big ones
#endif
}

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

// Violations seen inside tasks (doctest is not thread-safe, so no check runs inside a
// task), checked by the test thread after goro::run: with CHECK_NO_PROBLEMS (the count
// and the first) or check() (every one, as a failed check of its own).
class problems {
 public:
  void add(std::string what) {
    std::lock_guard lock(mu_);
    all_.push_back(std::move(what));
  }
  void expect(bool ok, const std::string& what) {
    if (!ok) add(what);
  }
  int count() const {
    std::lock_guard lock(mu_);
    return static_cast<int>(all_.size());
  }
  std::string first() const {
    std::lock_guard lock(mu_);
    return all_.empty() ? std::string() : all_.front();
  }
  void check() const {  // on the test thread, after goro::run
    std::lock_guard lock(mu_);
    for (const auto& s : all_) FAIL_CHECK(s);
    CHECK(all_.empty());
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> all_;  // under mu_
};

// One check that a goro_test::problems is empty, naming how many there were and the
// first (a macro, so that a failure names the caller's line).
#define CHECK_NO_PROBLEMS(p)                                                          \
  do {                                                                                \
    INFO((p).count() << " violations seen inside tasks; the first: " << (p).first()); \
    CHECK((p).count() == 0);                                                          \
  } while (0)

// ---------------------------------------------------------------- stress tests

// splitmix64: a small, fast, well-mixed generator; the stress tests' random choices.
inline std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// A seeded random source: rng r{seed}; the same seed gives the same choices.
struct rng {
  std::uint64_t state;
  std::uint64_t next() { return splitmix64(state); }
  std::uint32_t below(std::uint32_t n) { return n == 0 ? 0 : static_cast<std::uint32_t>(next() % n); }
  template <class T>
  void shuffle(std::vector<T>& v) {
    for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[below(static_cast<std::uint32_t>(i))]);
  }
};

// The base seed of a stress test: GORO_STRESS_SEED=<n> if set (to rerun a failure),
// otherwise random.
inline std::uint64_t base_seed() {
  if (const char* env = std::getenv("GORO_STRESS_SEED")) return std::strtoull(env, nullptr, 10);
  std::random_device rd;
  return (std::uint64_t(rd()) << 32) ^ rd();
}

// The seed that reruns what is running, for stress_watchdog's message.
inline std::atomic<std::uint64_t> current_seed{0};

// base_seed(), also made the current_seed: the seed a test case that uses one seed
// throughout starts with.
inline std::uint64_t test_case_seed() {
  const std::uint64_t seed = base_seed();
  current_seed.store(seed);
  return seed;
}

// A watchdog whose message names GORO_STRESS_SEED=<current_seed> to reproduce the run.
inline watchdog stress_watchdog(const char* what, std::chrono::seconds limit) {
  return watchdog(what, limit, [] {
    return "; reproduce with GORO_STRESS_SEED=" + std::to_string(current_seed.load());
  });
}

// num_tasks() once the tasks of a run are done: every task was joined or waited for,
// but one may still be taking its final step on another worker; give it up to 10 s.
inline goro::task<std::size_t> settled_num_tasks() {
  const auto give_up = goro::clock::now() + std::chrono::seconds(10);
  while (goro::num_tasks() != 1 && goro::clock::now() < give_up) co_await goro::yield();
  co_return goro::num_tasks();
}

}  // namespace goro_test
