// Tests for sizing the runtime: GOMAXPROCS, the CPU affinity mask and the cgroup v2
// cpu.max quota (lib/config.hpp), as seen through goro::maxprocs() and goro::run
// (include/goro/runtime.hpp), and goro::config's validation.
//
// The environment and the affinity mask are process state: every test that changes one
// restores it with a guard, so the order the tests run in does not matter and nothing
// leaks into other suites. No test here starts more than one runtime at a time.
#include <doctest/doctest.h>

#include <goro/goro.hpp>

#include <sched.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "config.hpp"

namespace {

// Sets (or unsets, with nullptr) an environment variable for the guard's lifetime.
class env_guard {
 public:
  env_guard(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value)
      ::setenv(name, value, 1);
    else
      ::unsetenv(name);
  }
  ~env_guard() {
    if (old_)
      ::setenv(name_, old_->c_str(), 1);
    else
      ::unsetenv(name_);
  }
  env_guard(const env_guard&) = delete;
  env_guard& operator=(const env_guard&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// The CPUs the calling thread may run on, as goro reads them.
unsigned affinity_cpus() {
  cpu_set_t set;
  REQUIRE(sched_getaffinity(0, sizeof set, &set) == 0);
  return static_cast<unsigned>(CPU_COUNT(&set));
}

// The what() of the config_error that parse_maxprocs throws for `value`, or a note that
// it threw nothing.
std::string parse_error(const std::string& value) {
  try {
    const unsigned n = goro::detail::parse_maxprocs(value);
    return "no error (parsed as " + std::to_string(n) + ")";
  } catch (const goro::config_error& e) {
    return e.what();
  }
}

}  // namespace

// Intent: well-formed GOMAXPROCS values parse to their number, surrounding blanks
// (a trailing newline from `export GOMAXPROCS=$(nproc)`) included.
TEST_CASE("parse_maxprocs accepts positive integers up to 4096") {
  using goro::detail::parse_maxprocs;
  CHECK(parse_maxprocs("4") == 4);
  CHECK(parse_maxprocs("1") == 1);
  CHECK(parse_maxprocs("64") == 64);
  CHECK(parse_maxprocs("4096") == 4096);
  CHECK(parse_maxprocs(" 8 ") == 8);
  CHECK(parse_maxprocs("2\n") == 2);
}

// Intent: every malformed value throws config_error whose message names the variable and
// repeats the value as given (quoted, so an empty or blank value is visible too).
TEST_CASE("parse_maxprocs rejects bad values with a config_error naming GOMAXPROCS and the value") {
  const std::vector<std::string> bad{"0",  "-1", "abc",  "",     "4x",  "99999", "4097", "+4",
                                     "0x10", "4.0", "1 2", "   ", "18446744073709551617"};
  for (const auto& value : bad) {
    CAPTURE(value);
    CHECK_THROWS_AS(goro::detail::parse_maxprocs(value), goro::config_error);
    const std::string message = parse_error(value);
    CAPTURE(message);
    CHECK(message.find("GOMAXPROCS") != std::string::npos);
    CHECK(message.find('"' + value + '"') != std::string::npos);
  }
}

// Intent: a cgroup v2 cpu.max file gives its limit rounded up to whole CPUs, and nothing
// when it is unlimited ("max ...") or cannot be read as "<quota> <period>".
TEST_CASE("parse_cpu_max reads a cgroup v2 cpu.max quota rounded up to whole CPUs") {
  using goro::detail::parse_cpu_max;
  CHECK(parse_cpu_max("max 100000") == std::nullopt);
  CHECK(parse_cpu_max("max 100000\n") == std::nullopt);
  CHECK(parse_cpu_max("150000 100000") == 2u);
  CHECK(parse_cpu_max("50000 100000") == 1u);
  CHECK(parse_cpu_max("200000 100000") == 2u);
  CHECK(parse_cpu_max("200001 100000") == 3u);
  CHECK(parse_cpu_max("100000 100000\n") == 1u);  // as read from the file
  CHECK(parse_cpu_max("1 100000") == 1u);         // a sliver of a CPU still needs one worker
  CHECK(parse_cpu_max("400000 50000") == 8u);

  // Garbage: nothing, never a made-up limit.
  for (const char* garbage : {"", "max", "abc", "abc def", "100000", "100000 0", "100000 abc", "-5 100000",
                              "150000 100000 7", "150000\t100000x"}) {
    CAPTURE(garbage);
    CHECK(parse_cpu_max(garbage) == std::nullopt);
  }
}

// Intent: outside goro::run, maxprocs() is what run would start now: GOMAXPROCS when set
// (read at every call, not cached), and a config_error for a malformed value.
TEST_CASE("maxprocs() outside run honours GOMAXPROCS and rejects a malformed one") {
  {
    env_guard env("GOMAXPROCS", "3");
    CHECK(goro::maxprocs() == 3);
  }
  {
    env_guard env("GOMAXPROCS", "7");
    CHECK(goro::maxprocs() == 7);
  }
  {
    env_guard env("GOMAXPROCS", "abc");
    CHECK_THROWS_AS(goro::maxprocs(), goro::config_error);
    try {
      goro::maxprocs();
    } catch (const goro::config_error& e) {
      CHECK(std::string(e.what()).find("GOMAXPROCS=\"abc\"") != std::string::npos);
    }
  }
}

// Intent: goro::run with a malformed GOMAXPROCS throws config_error before starting
// anything: the main task's body never runs, no runtime is left registered (num_tasks()
// is 0 and the next run works).
TEST_CASE("goro::run with GOMAXPROCS=abc throws config_error before starting anything") {
  bool body_ran = false;
  {
    env_guard env("GOMAXPROCS", "abc");
    CHECK_THROWS_AS(goro::run([&] { body_ran = true; }), goro::config_error);
    CHECK_THROWS_AS(goro::run([&]() -> goro::task<int> {
                      body_ran = true;
                      co_return 1;
                    }),
                    goro::config_error);
  }
  CHECK_FALSE(body_ran);
  CHECK(goro::num_tasks() == 0);
  CHECK(goro::run(goro::config{.maxprocs = 1}, [] { return 42; }) == 42);
}

// Intent: an explicit config::maxprocs wins over GOMAXPROCS (the variable is only read
// when maxprocs is 0), and inside run maxprocs() reports the running runtime's workers.
TEST_CASE("an explicit config::maxprocs ignores GOMAXPROCS and maxprocs() reports the running runtime") {
  env_guard env("GOMAXPROCS", "abc");
  unsigned seen = 0;
  CHECK_NOTHROW(goro::run(goro::config{.maxprocs = 2}, [&] { seen = goro::maxprocs(); }));
  CHECK(seen == 2);
  CHECK_NOTHROW(goro::run(goro::config{.maxprocs = 1}, [&] { seen = goro::maxprocs(); }));
  CHECK(seen == 1);
}

// Intent: GOMAXPROCS is the default worker count of goro::run.
TEST_CASE("goro::run starts GOMAXPROCS workers") {
  env_guard env("GOMAXPROCS", "2");
  unsigned seen = 0;
  goro::run([&] { seen = goro::maxprocs(); });
  CHECK(seen == 2);
}

// Intent: without GOMAXPROCS, maxprocs() is the number of CPUs in the affinity mask,
// possibly lowered by a cgroup quota: between 1 and that count.
TEST_CASE("without GOMAXPROCS maxprocs() is between 1 and the affinity CPU count") {
  env_guard env("GOMAXPROCS", nullptr);
  const unsigned n = goro::maxprocs();
  CHECK(n >= 1);
  CHECK(n <= affinity_cpus());
}

// Intent: the affinity mask really is read: pinned to one CPU, maxprocs() is 1 and run
// starts one worker. The mask is restored afterwards.
TEST_CASE("without GOMAXPROCS an affinity mask of one CPU gives one worker") {
  env_guard env("GOMAXPROCS", nullptr);
  cpu_set_t old;
  REQUIRE(sched_getaffinity(0, sizeof old, &old) == 0);
  int first = -1;
  for (int cpu = 0; cpu < CPU_SETSIZE && first < 0; ++cpu)
    if (CPU_ISSET(cpu, &old)) first = cpu;
  REQUIRE(first >= 0);
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(first, &one);
  REQUIRE(sched_setaffinity(0, sizeof one, &one) == 0);
  struct restore {
    cpu_set_t* mask;
    ~restore() { sched_setaffinity(0, sizeof *mask, mask); }
  } on_exit{&old};

  CHECK(goro::maxprocs() == 1);
  unsigned seen = 0;
  goro::run([&] { seen = goro::maxprocs(); });
  CHECK(seen == 1);
}

// Intent: config::local_queue_size must be a power of two >= 2; anything else is a
// config_error from goro::run before the main task runs, naming the bad size.
TEST_CASE("goro::run rejects a local_queue_size that is not a power of two >= 2") {
  for (unsigned size : {0u, 1u, 3u, 6u, 100u, 257u}) {
    CAPTURE(size);
    bool body_ran = false;
    std::string message;
    try {
      goro::run(goro::config{.maxprocs = 1, .local_queue_size = size}, [&] { body_ran = true; });
    } catch (const goro::config_error& e) {
      message = e.what();
    }
    CHECK_FALSE(body_ran);
    CHECK(message.find("local_queue_size") != std::string::npos);
    CHECK(message.find(std::to_string(size)) != std::string::npos);
  }
  for (unsigned size : {2u, 4u, 1024u}) {
    CAPTURE(size);
    CHECK(goro::run(goro::config{.maxprocs = 1, .local_queue_size = size}, [] { return 7; }) == 7);
  }
}
