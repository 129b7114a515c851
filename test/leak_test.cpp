// Tests for goro::config::leak_check and goro::leak_error (include/goro/runtime.hpp,
// include/goro/debug.hpp): what goro::run reports about tasks still alive when the main
// task returns.
//
// What the contract promises and how each part is checked
//   1. The seed's leak: 100 workers parked on a channel nobody sends to, main returns.
//      With fail, goro::run throws leak_error (once the tasks were destroyed): tasks()
//      holds the 100, each parked on "chan recv"; what() is summarize_leaks(tasks()), a
//      header line naming the 100, then "100 tasks started at leak_test.cpp:<go line>
//      parked on chan recv at leak_test.cpp:<recv line>". The lines are recorded by the
//      code itself (`at(x, __LINE__);` on the line of the call), so they cannot drift.
//   2. With warn (the default), goro::run returns main's value and the "goro" logger got
//      exactly one warning, holding that summary. With off, nothing is logged.
//   3. The fix: the workers select on the channel and a context's done(); main cancels
//      the context and waits for them with a wait_group. Nothing is reported, even with
//      fail, on one worker and on two (where a worker's last step after its done() may
//      still be running when main resumes: goro::run must not count it as a leak).
//   4. Tasks that were started but never ran (10 started on one worker, main returns at
//      once) are counted too, as runnable.
//   5. goro's own tasks (signal_notify's readers) are never reported.
//   6. A leaked task parked joining another leaked task: both are reported and destroyed.
// In every case the leaked tasks' frames are destroyed: each holds an instance-counting
// local (test_support.hpp's counted) and none is left alive after goro::run.
//
// Capturing the log: this binary registers the "goro" logger, with a sink that keeps
// every line, before anything logs (lib/log.cpp then uses it as it is).
//
// Results are collected in plain variables and checked on the test thread after
// goro::run returns or throws (it joins its workers first): doctest stays off workers.
#include <doctest/doctest.h>

#include <goro/goro.hpp>

#include "test_support.hpp"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <signal.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using goro_test::counted;
using goro_test::watchdog;

namespace {

// Off (meson -Dtask_trace=false), tasks record no wait: the summary has no wait sites.
constexpr bool traced = GORO_TASK_TRACE;
constexpr int workers = 100;

// Keeps every line the "goro" logger writes, with its level.
class capture_sink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::vector<std::pair<spdlog::level::level_enum, std::string>> take() {
    std::lock_guard lock(mutex_);
    return std::exchange(lines_, {});
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {  // under mutex_ (base_sink)
    lines_.emplace_back(msg.level, std::string(msg.payload.data(), msg.payload.size()));
  }
  void flush_() override {}

 private:
  std::vector<std::pair<spdlog::level::level_enum, std::string>> lines_;  // under mutex_
};

std::shared_ptr<capture_sink> register_goro_logger() {
  auto sink = std::make_shared<capture_sink>();
  auto logger = std::make_shared<spdlog::logger>("goro", sink);
  logger->set_level(spdlog::level::warn);  // the library's default level
  spdlog::register_logger(logger);
  return sink;
}
const std::shared_ptr<capture_sink> goro_log = register_goro_logger();

// The lines of the calls that started and parked the leaked tasks. Relaxed: the tasks
// write them, the test reads them after goro::run, which joins its workers first;
// atomics because many tasks write the same value.
std::atomic<unsigned> go_line{0}, recv_line{0};
void at(std::atomic<unsigned>& line, unsigned here) { line.store(here, std::memory_order_relaxed); }

goro::config with(goro::config::leak_mode mode, unsigned procs = 2) {
  return goro::config{.maxprocs = procs, .leak_check = mode};
}

// Yields until `n` tasks besides main are parked (task_snapshot), at most 10 s, so
// that main returns with every worker parked where the summary should say. (Untraced,
// the snapshot cannot tell parked tasks: it returns at once.)
goro::task<> until_parked(std::size_t n) {
  if (!traced) co_return;
  const auto give_up = goro::clock::now() + 10s;
  for (;;) {
    std::size_t parked = 0;
    for (const auto& t : goro::task_snapshot()) parked += t.id != 1 && t.state == goro::task_state::parked;
    if (parked >= n || goro::clock::now() > give_up) co_return;
    co_await goro::yield();
  }
}

// ---------------------------------------------------------------- the seed's leak

// A worker waiting for jobs nobody will send.
goro::task<> wait_for_a_job(goro::chan<int> jobs) {
  const counted local(1);
  at(recv_line, __LINE__); auto job = co_await jobs.recv();
  (void)job;
}

goro::task<int> leak_workers() {
  goro::chan<int> jobs;
  for (int i = 0; i < workers; ++i) {
    at(go_line, __LINE__); goro::go(wait_for_a_job, jobs);
  }
  co_await until_parked(workers);
  co_return 42;  // the bug: nobody sends a job, nobody closes jobs
}

// Whether `text` has a summary line "<count> tasks started at <dir/>leak_test.cpp:<start>
// <what>", where <what> ends the line: the file name may have a directory in front, as
// the compiler spelled it. (No std::regex: g++ 12 warns inside it under ASan -O2.)
bool has_summary_line(const std::string& text, int count, int start, const std::string& what) {
  const std::string head = std::to_string(count) + " tasks started at ";
  const std::string site = "leak_test.cpp:" + std::to_string(start) + " " + what;
  std::size_t begin = 0;
  while (begin <= text.size()) {
    std::size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(begin, end - begin);
    line.erase(0, line.find_first_not_of(' '));
    if (line.rfind(head, 0) == 0 && line.size() >= site.size() &&
        line.compare(line.size() - site.size(), site.size(), site) == 0 &&
        line.find(' ', head.size()) == line.size() - site.size() + site.find(' '))
      return true;
    begin = end + 1;
  }
  return false;
}

// The summary line the seed's leak must produce.
bool has_leak_line(const std::string& text, int count) {
  std::string what;
  if (traced)
    what = "parked on chan recv at ";  // then the receive's site, checked below
  const int start = go_line.load(std::memory_order_relaxed);
  if (!traced) return has_summary_line(text, count, start, "parked on chan recv");
  const std::string recv = "leak_test.cpp:" + std::to_string(recv_line.load(std::memory_order_relaxed));
  // "<count> tasks started at .../leak_test.cpp:<start> parked on chan recv at .../leak_test.cpp:<recv>"
  std::size_t begin = 0;
  while (begin <= text.size()) {
    std::size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(begin, end - begin);
    const std::size_t mid = line.find(" " + what);
    if (mid != std::string::npos && line.size() >= recv.size() &&
        line.compare(line.size() - recv.size(), recv.size(), recv) == 0 &&
        has_summary_line(line.substr(0, mid) + " ", count, start, ""))
      return true;
    begin = end + 1;
  }
  return false;
}

// ---------------------------------------------------------------- the fix

goro::task<> work_until_cancelled(goro::chan<int> jobs, goro::context ctx, goro::wait_group* wg) {
  const counted local(2);
  for (;;) {
    auto r = co_await goro::select(jobs.recv(), ctx.done());
    if (r.index() == 1) break;
  }
  wg->done();
}

goro::task<int> stop_workers_with_a_context() {
  goro::chan<int> jobs;
  auto [ctx, cancel] = goro::with_cancel(goro::background());
  goro::wait_group wg;
  for (int i = 0; i < workers; ++i) {
    wg.add(1);
    goro::go(work_until_cancelled, jobs, ctx, &wg);
  }
  co_await until_parked(workers);
  cancel();
  co_await wg.wait();
  co_return 42;
}

// ---------------------------------------------------------------- never ran

constexpr int never_ran = 10;
goro::task<> never_runs() {
  const counted local(3);
  co_return;
}
goro::task<int> start_and_return_at_once() {
  for (int i = 0; i < never_ran; ++i) {
    at(go_line, __LINE__); goro::go{never_runs};
  }
  co_return 42;
}

// ---------------------------------------------------------------- a join in the leak

goro::task<> wait_forever(goro::chan<int> never) {
  const counted local(4);
  auto v = co_await never.recv();
  (void)v;
}
goro::task<> join_a_task_that_waits_forever(goro::chan<int> never) {
  const counted local(4);
  auto h = goro::spawn(wait_forever, never);
  co_await std::move(h);
}
goro::task<int> leak_a_joiner_and_its_joinee() {
  goro::chan<int> never;
  goro::go(join_a_task_that_waits_forever, never);
  co_await until_parked(2);
  co_return 42;
}

}  // namespace

// Intent: point 1: with fail, the seed's leak is a leak_error with the right count and
// sites, thrown after the leaked tasks were destroyed.
TEST_CASE("leak_check fail: 100 workers parked on a channel nobody sends to") {
  watchdog dog("leak fail", 60s);
  counted::reset();
  goro_log->take();
  bool threw = false;
  std::string what;
  std::vector<goro::task_info> tasks;
  try {
    goro::run(with(goro::config::leak_mode::fail), leak_workers);
  } catch (const goro::leak_error& e) {
    threw = true;
    what = e.what();
    tasks = e.tasks();
  }
  REQUIRE(threw);
  INFO("what():\n" << what);
  CHECK(what == goro::summarize_leaks(tasks));
  CHECK(what.substr(0, what.find('\n')).find(std::to_string(workers)) != std::string::npos);
  CHECK(has_leak_line(what, workers));
  REQUIRE(tasks.size() == static_cast<std::size_t>(workers));
  if (traced) {
    int parked_on_recv = 0;
    for (const auto& t : tasks) parked_on_recv += t.state == goro::task_state::parked && t.waiting_on == "chan recv";
    CHECK(parked_on_recv == workers);
  }
  CHECK(counted::constructed.load() == workers);
  CHECK(counted::live() == 0);
  CHECK(goro_log->take().empty());  // fail throws instead of logging
}

// Intent: point 2: with warn (the default), run returns main's value and logs exactly one
// warning, the summary.
TEST_CASE("leak_check warn: one warning with the summary, and run returns main's value") {
  watchdog dog("leak warn", 60s);
  CHECK(goro::config{}.leak_check == goro::config::leak_mode::warn);
  counted::reset();
  goro_log->take();
  const int got = goro::run(with(goro::config::leak_mode::warn), leak_workers);
  CHECK(got == 42);
  const auto lines = goro_log->take();
  REQUIRE(lines.size() == 1);
  INFO("the warning:\n" << lines[0].second);
  CHECK(lines[0].first == spdlog::level::warn);
  CHECK(has_leak_line(lines[0].second, workers));
  CHECK(counted::live() == 0);
}

// Intent: point 2: with off, nothing is logged and run returns; the tasks are destroyed.
TEST_CASE("leak_check off: nothing logged") {
  watchdog dog("leak off", 60s);
  counted::reset();
  goro_log->take();
  const int got = goro::run(with(goro::config::leak_mode::off), leak_workers);
  CHECK(got == 42);
  CHECK(goro_log->take().empty());
  CHECK(counted::constructed.load() == workers);
  CHECK(counted::live() == 0);
}

// Intent: point 3: the fixed program reports nothing even with fail. 50 runs on two
// workers, where the workers' last steps race main's return.
TEST_CASE("the fix: workers stopped through a context report nothing, even with fail") {
  watchdog dog("leak fixed", 120s);
  for (unsigned procs : {1u, 2u}) {
    CAPTURE(procs);
    const int runs = procs == 1 ? 1 : 50;
    int returned = 0;
    std::string error;
    goro_log->take();
    for (int i = 0; i < runs && error.empty(); ++i) {
      try {
        returned += goro::run(with(goro::config::leak_mode::fail, procs), stop_workers_with_a_context) == 42;
      } catch (const std::exception& e) {
        error = "run " + std::to_string(i) + ": " + e.what();
      }
    }
    CHECK(error == "");
    CHECK(returned == runs);
    CHECK(goro_log->take().empty());
  }
}

// Intent: point 4: tasks started but never run are counted (as runnable), and destroyed
// without having run.
TEST_CASE("leak_check fail: tasks that never ran are reported as runnable") {
  watchdog dog("never ran", 60s);
  counted::reset();
  bool threw = false;
  std::string what;
  std::vector<goro::task_info> tasks;
  try {
    goro::run(with(goro::config::leak_mode::fail, 1), start_and_return_at_once);
  } catch (const goro::leak_error& e) {
    threw = true;
    what = e.what();
    tasks = e.tasks();
  }
  REQUIRE(threw);
  INFO("what():\n" << what);
  CHECK(tasks.size() == static_cast<std::size_t>(never_ran));
  int runnable = 0;
  for (const auto& t : tasks) runnable += t.state == goro::task_state::runnable;
  CHECK(runnable == never_ran);
  CHECK(has_summary_line(what, never_ran, go_line.load(std::memory_order_relaxed),
                         "runnable (never ran, or yielded)"));
  CHECK(counted::constructed.load() == 0);  // never ran: the local was never built
}

// Intent: a leaked task parked in a join (co_await on a join_handle) and the task it
// joins are both reported and both destroyed: destroying the joiner drops its handle,
// which must detach the joinee so that it is destroyed too. A joinee left behind would
// keep its frame forever and show up in the next run's task_snapshot.
TEST_CASE("leak_check fail: a leaked joiner and the task it joins are both destroyed") {
  watchdog dog("leaked join", 60s);
  for (unsigned procs : {1u, 2u}) {
    CAPTURE(procs);
    counted::reset();
    std::size_t reported = 0;
    try {
      goro::run(with(goro::config::leak_mode::fail, procs), leak_a_joiner_and_its_joinee);
    } catch (const goro::leak_error& e) {
      reported = e.tasks().size();
    }
    CHECK(reported == 2);
    CHECK(counted::constructed.load() == 2);
    CHECK(counted::live() == 0);
    const std::size_t next_run_sees = goro::run(with(goro::config::leak_mode::off, procs), []() -> goro::task<std::size_t> {
      co_return goro::task_snapshot().size();
    });
    CHECK(next_run_sees == 1);  // main alone
  }
}

// Intent: point 5: goro's own tasks are not the program's leak: signal_notify's readers
// are alive when main returns, and fail reports nothing.
TEST_CASE("leak_check fail: goro's own tasks are not reported") {
  watchdog dog("internal tasks", 60s);
  goro_log->take();
  const int got = goro::run(with(goro::config::leak_mode::fail), []() -> goro::task<int> {
    auto sigs = goro::signal_notify({SIGUSR2});
    (void)sigs;
    co_return 42;
  });
  CHECK(got == 42);
  CHECK(goro_log->take().empty());
}
