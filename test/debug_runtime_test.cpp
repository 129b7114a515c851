// Tests for the runtime side of include/goro/debug.hpp: goro::stats, task ids, the dump
// and leak-summary formats, external_handle's rules, GORO_LOG, the worker name in log
// lines, and the SIGQUIT dump. (What each primitive records when a task parks on it is
// test/debug_test.cpp and test/debug_io_test.cpp; deadlocks and leaks have suites of
// their own.)
//
// Results are collected in plain variables and checked after goro::run returns, on the
// test thread.
#include <doctest/doctest.h>

#include <goro/goro.hpp>

#include "test_support.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

// Sends everything written to fd 2 into a file while it lives; text() reads it so far.
class capture_stderr {
 public:
  capture_stderr() : path_("/tmp/goro-debug-runtime-stderr-" + std::to_string(getpid())) {
    std::fflush(stderr);
    saved_ = dup(2);
    const int fd = open(path_.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
    dup2(fd, 2);
    close(fd);
  }
  ~capture_stderr() {
    std::fflush(stderr);
    dup2(saved_, 2);
    close(saved_);
    unlink(path_.c_str());
  }
  std::string text() const {
    std::fflush(stderr);
    std::ifstream in(path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  std::string path_;
  int saved_;
};

goro::task<> park_on(goro::chan<int> ch) { co_await ch.recv(); }

goro::task<> finish_at_once() { co_return; }

// Waits (bounded) until `n` tasks besides the caller are parked.
goro::task<bool> until_parked(std::size_t n) {
  const auto give_up = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < give_up) {
    const auto tasks = goro::task_snapshot();
    if (std::count_if(tasks.begin(), tasks.end(),
                      [](const goro::task_info& t) { return t.state == goro::task_state::parked; }) >= long(n))
      co_return true;
    co_await goro::yield();
  }
  co_return false;
}

}  // namespace

TEST_CASE("stats: task counts, parks, wake-ups and I/O are counted per worker") {
  goro::runtime_stats before, after;
  bool parked = false;
  goro::run(goro::config{.maxprocs = 2}, [&]() -> goro::task<> {
    before = goro::stats();
    for (int i = 0; i < 100; ++i) {
      auto h = goro::spawn(finish_at_once);
      co_await std::move(h);
    }
    // A sleep parks the workers in their rings; a pipe read is one I/O operation.
    co_await goro::sleep_for(20ms);
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) co_return;  // `parked` stays false
    goro::file reader(fds[0]);
    std::thread writer([fd = fds[1], handle = goro::external_handle()]() mutable {
      std::this_thread::sleep_for(20ms);  // lets the read park first (not needed for correctness)
      [[maybe_unused]] auto n = write(fd, "x", 1);
      close(fd);
    });
    char byte;
    auto [n, err] = co_await reader.read(std::span<char>(&byte, 1));
    writer.join();
    parked = n == 1 && !err;
    after = goro::stats();
  });
  CHECK(parked);
  REQUIRE(after.workers.size() == 2);
  CHECK(after.tasks_spawned - before.tasks_spawned == 100);
  CHECK(after.tasks_completed - before.tasks_completed == 100);
  CHECK(after.tasks_live == 1);  // main
  std::uint64_t parks = 0, submissions = 0, completions = 0;
  for (const auto& w : after.workers) {
    parks += w.parks;
    submissions += w.io_submissions;
    completions += w.io_completions;
  }
  CHECK(parks >= 1);
  CHECK(submissions >= 1);
  CHECK(completions >= 1);
  CHECK(goro::stats().workers.empty());  // outside goro::run
}

TEST_CASE("task ids: main is 1, every live task has its own") {
  std::vector<goro::task_info> tasks;
  // The parked tasks are left behind on purpose: no leak report for them.
  goro::run(goro::config{.maxprocs = 2, .leak_check = goro::config::leak_mode::off}, [&]() -> goro::task<> {
    goro::chan<int> never;
    for (int i = 0; i < 300; ++i) goro::go(park_on, never);
    if (co_await until_parked(300)) tasks = goro::task_snapshot();
  });
  REQUIRE(tasks.size() == 301);
  CHECK(tasks.front().id == 1);
  CHECK(tasks.front().state == goro::task_state::running);
  std::set<std::uint64_t> ids;
  for (const auto& t : tasks) ids.insert(t.id);
  CHECK(ids.size() == tasks.size());
  CHECK(goro::task_snapshot().empty());  // outside goro::run
}

TEST_CASE("dump format: state, wait, detail, sites") {
  const auto here = std::source_location::current();
  goro::task_info parked;
  parked.id = 7;
  parked.state = goro::task_state::parked;
  parked.waiting_on = "chan recv";
  parked.waiting_detail = "chan 0x1 (capacity 0)";
  parked.parked_for = 1500ms;
  parked.started_at = here;
  parked.wait_site = here;
  goro::task_info runnable;
  runnable.id = 8;
  runnable.state = goro::task_state::runnable;
  runnable.started_at = here;
  std::ostringstream out;
  goro::dump_tasks(out, {parked, runnable});
  const std::string at = std::string(here.file_name()) + ":" + std::to_string(here.line());
  CHECK(out.str() == "task 7 [chan recv, 1.5 s]:\n"
                     "    waiting at " + at + " in " + here.function_name() + ": chan 0x1 (capacity 0)\n"
                     "    started at " + at + " in " + here.function_name() + "\n\n"
                     "task 8 [runnable]:\n"
                     "    started at " + at + " in " + here.function_name() + "\n\n");
}

TEST_CASE("leak summary: grouped by start, wait and site, largest group first") {
  const auto a = std::source_location::current();
  const auto b = std::source_location::current();
  std::vector<goro::task_info> tasks;
  for (int i = 0; i < 3; ++i) {
    goro::task_info t;
    t.state = goro::task_state::parked;
    t.waiting_on = "chan recv";
    t.started_at = a;
    t.wait_site = b;
    tasks.push_back(t);
  }
  goro::task_info lone;
  lone.state = goro::task_state::runnable;
  lone.started_at = b;
  tasks.push_back(lone);
  const std::string file = a.file_name();
  const std::string text = goro::summarize_leaks(tasks);
  CHECK(text == "4 tasks were still alive when the main task returned (destroyed; see goro::config::leak_check):\n"
                "  3 tasks started at " + file + ":" + std::to_string(a.line()) + " parked on chan recv at " + file +
                    ":" + std::to_string(b.line()) + "\n"
                "  1 task started at " + file + ":" + std::to_string(b.line()) + " runnable (never ran, or yielded)");
}

TEST_CASE("external_handle: only inside goro::run; moving hands the count over") {
  CHECK_THROWS_AS(goro::external_handle(), std::logic_error);
  // A handle moved around and dropped on another thread counts once: when the last one
  // is gone, a deadlock is reported again.
  bool threw = false;
  try {
    goro::run([]() -> goro::task<> {
      goro::external_handle first;
      goro::external_handle second = std::move(first);
      goro::external_handle third;
      third = std::move(second);
      std::thread([h = std::move(third)] {}).detach();
      goro::chan<int> never;
      co_await never.recv();  // asleep forever once the thread dropped the handle
    });
  } catch (const goro::deadlock_error&) {
    threw = true;
  }
  CHECK(threw);
}

TEST_CASE("GORO_LOG: sets the runtime logger's level; a bad value names the variable") {
  setenv("GORO_LOG", "loud", 1);
  std::string message;
  try {
    goro::run([]() -> goro::task<> { co_return; });
  } catch (const goro::config_error& e) {
    message = e.what();
  }
  CHECK(message.find("GORO_LOG=\"loud\"") != std::string::npos);
  CHECK(message.find("trace, debug, info, warn, error or off") != std::string::npos);

  setenv("GORO_LOG", "debug", 1);
  std::string logged;
  {
    capture_stderr capture;
    bool threw = false;
    try {
      goro::run(goro::config{.maxprocs = 1}, []() -> goro::task<> {
        goro::chan<int> never;
        co_await never.recv();
      });
    } catch (const goro::deadlock_error&) {
      threw = true;
    }
    CHECK(threw);
    logged = capture.text();
  }
  unsetenv("GORO_LOG");
  spdlog::get("goro")->set_level(spdlog::level::warn);  // the default, for the next cases
  // The debug line of the deadlock check, written by the worker that found it.
  CHECK(logged.find("[goro w0] [debug] every task is asleep: deadlock") != std::string::npos);
}

TEST_CASE("SIGQUIT prints the task dump to stderr and the program goes on") {
  std::string dump;
  bool went_on = false;
  struct sigaction during {}, after {};
  {
    capture_stderr capture;
    goro::run(goro::config{.maxprocs = 2}, [&]() -> goro::task<> {
      sigaction(SIGQUIT, nullptr, &during);
      goro::chan<int> never;
      goro::go(park_on, never);
      co_await until_parked(1);
      if (during.sa_handler == SIG_DFL) co_return;  // not installed: raising would end the test
      raise(SIGQUIT);
      // The dump comes from goro's own thread: wait for it, bounded.
      const auto give_up = std::chrono::steady_clock::now() + 5s;
      while (capture.text().find("park_on") == std::string::npos && std::chrono::steady_clock::now() < give_up)
        co_await goro::sleep_for(5ms);
      dump = capture.text();
      went_on = true;
      never.close();
    });
  }
  sigaction(SIGQUIT, nullptr, &after);
  CHECK(went_on);
  CHECK((during.sa_handler != SIG_DFL));
  CHECK((after.sa_handler == SIG_DFL));  // restored when goro::run returned
  CHECK(dump.find("SIGQUIT: goro task dump") != std::string::npos);
  CHECK(dump.find("task 1 [") != std::string::npos);
  CHECK(dump.find("park_on") != std::string::npos);

  // Opted out: SIGQUIT keeps its default action (which would end the process).
  goro::run(goro::config{.dump_on_sigquit = false}, [&]() -> goro::task<> {
    sigaction(SIGQUIT, nullptr, &during);
    co_return;
  });
  CHECK((during.sa_handler == SIG_DFL));
}
