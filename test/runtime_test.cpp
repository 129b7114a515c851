// Tests for include/goro/runtime.hpp: goro::run, goro::maxprocs, goro::num_tasks and the
// runtime's life cycle.
//
// What the contract promises and how each part is checked
//   1. run returns the main task's value (coroutine or plain callable) and rethrows its
//      exception; a new run can follow any number of times.
//   2. Misuse throws std::logic_error: run inside run (from a task, and from a foreign
//      thread while a run is active), go/spawn with no run active (before any run and
//      after one); the callable never runs and its decay-copies are destroyed.
//   3. num_tasks is exact when the runtime is quiet: 1 with main alone; N + 1 while N
//      spawned tasks are parked; 1 again once they finished. "Finished" is counted in a
//      task's final step, after its body, so main joins the tasks' handles: a join
//      resumes only after that final step, which makes the count exact, not a race.
//   4. Shutdown: when main returns, tasks parked on a wait_group that never reaches zero,
//      sleeping for an hour, or queued and never started are destroyed (their
//      instance-counting locals and arguments too) and never resumed; run returns at
//      once, not after the hour.
//   5. A thread outside the runtime can start tasks (go and spawn) while run is active.
//   6. An idle runtime sleeps: the process's CPU time over a 300 ms goro::sleep_for in
//      main, after a burst of work, stays under 10% (30 ms), generous on purpose.
//
// Results are collected in plain variables and checked on the test thread after
// goro::run returns, which joins the workers: doctest assertions stay off worker threads.
#include <doctest/doctest.h>

#include <goro/goro.hpp>

#include "test_support.hpp"

#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using goro_test::counted;

namespace {

constexpr goro::config two_workers{.maxprocs = 2};
constexpr goro::config one_worker{.maxprocs = 1};

// Counts its instances. mark is volatile so that the destructor's store survives
// dead-store elimination and a second destruction is seen.

goro::task<int> square(int x) { co_return x * x; }

double cpu_ms(const rusage& r) {
  const auto tv_ms = [](const timeval& t) { return t.tv_sec * 1000.0 + t.tv_usec / 1000.0; };
  return tv_ms(r.ru_utime) + tv_ms(r.ru_stime);
}

}  // namespace

// Intent: run hands back what main returned: a coroutine's value, a plain callable's
// value, and nothing for a void main (which still ran).
TEST_CASE("run returns the main task's value") {
  CHECK(goro::run(two_workers, []() -> goro::task<int> { co_return co_await square(6) + 6; }) == 42);
  CHECK(goro::run(two_workers, [] { return std::string("plain main"); }) == "plain main");
  bool ran = false;
  goro::run(two_workers, [&ran]() -> goro::task<> {
    ran = true;
    co_return;
  });
  CHECK(ran);
}

// Intent: an exception escaping main is rethrown by run, with its message, for a
// coroutine and a plain callable; the next run works.
TEST_CASE("run rethrows the main task's exception") {
  CHECK_THROWS_WITH_AS(goro::run(two_workers, []() -> goro::task<int> {
                         throw std::runtime_error("main failed");
                         co_return 0;
                       }),
                       "main failed", std::runtime_error);
  CHECK_THROWS_WITH_AS(goro::run(two_workers, []() -> int { throw std::out_of_range("plain main failed"); }),
                       "plain main failed", std::out_of_range);
  CHECK(goro::run(two_workers, []() -> goro::task<int> { co_return co_await square(3); }) == 9);
}

// Intent: runs follow one another, with different worker counts, each starting and
// joining tasks of its own; nothing of a run is visible in the next.
TEST_CASE("run works several times in a row") {
  for (unsigned round = 0; round < 12; ++round) {
    const unsigned workers = 1 + round % 3;
    const int tasks = 10 + static_cast<int>(round);
    CAPTURE(round);
    CHECK(goro::num_tasks() == 0);
    const long sum = goro::run(goro::config{.maxprocs = workers}, [tasks]() -> goro::task<long> {
      std::vector<goro::join_handle<int>> handles;
      for (int i = 0; i < tasks; ++i) handles.push_back(goro::spawn(square, i));
      long total = 0;
      for (auto& h : handles) total += co_await std::move(h);
      co_return total;
    });
    CHECK(sum == long{tasks - 1} * tasks * (2 * tasks - 1) / 6);
  }
  CHECK(goro::num_tasks() == 0);
}

// Intent: goro::run while a run is active throws std::logic_error without running its
// callable, whether called from a task or from a foreign thread; the active runtime
// carries on.
TEST_CASE("goro::run inside a running goro::run throws std::logic_error") {
  bool from_task_threw = false, from_thread_threw = false;
  bool nested_ran = false;
  int after = 0;
  goro::run(two_workers, [&]() -> goro::task<> {
    try {
      goro::run(one_worker, [&nested_ran] { nested_ran = true; });
    } catch (const std::logic_error&) {
      from_task_threw = true;
    }
    std::thread([&] {
      try {
        goro::run(one_worker, [&nested_ran] { nested_ran = true; });
      } catch (const std::logic_error&) {
        from_thread_threw = true;
      }
    }).join();
    after = co_await goro::spawn(square, 5);
  });
  CHECK(from_task_threw);
  CHECK(from_thread_threw);
  CHECK_FALSE(nested_ran);
  CHECK(after == 25);
}

// Intent: go and spawn with no run active throw std::logic_error, before any run and
// after one returned; the callable never runs and what was copied for it is destroyed.
TEST_CASE("goro::go and goro::spawn outside goro::run throw std::logic_error") {
  counted::reset();
  std::atomic<int> ran{0};
  const auto go_outside = [&ran] { goro::go([&ran](counted) { ran.fetch_add(1); }, counted{1}); };
  const auto spawn_outside = [&ran] {
    auto h = goro::spawn([c = counted{2}, &ran]() -> goro::task<int> {
      ran.fetch_add(1);
      co_return c.value;
    });
  };
  CHECK_THROWS_AS(go_outside(), std::logic_error);
  CHECK_THROWS_AS(spawn_outside(), std::logic_error);
  goro::run(one_worker, [] {});
  CHECK_THROWS_AS(go_outside(), std::logic_error);
  CHECK_THROWS_AS(spawn_outside(), std::logic_error);
  CHECK(ran.load() == 0);
  CHECK(counted::live() == 0);
  CHECK(counted::destroyed_twice.load() == 0);
}

// Intent: num_tasks counts main and the spawned tasks that have not finished: 1 with main
// alone, N + 1 while N tasks are parked on a wait_group, 1 after they finished (joined:
// see point 3 at the top), 0 outside run.
TEST_CASE("num_tasks counts the live tasks exactly when the runtime is quiet") {
  constexpr int n = 16;
  std::size_t alone = 0, after_spawn = 0, while_parked = 0, after_join = 0;
  CHECK(goro::num_tasks() == 0);
  goro::run(two_workers, [&]() -> goro::task<> {
    alone = goro::num_tasks();
    goro::wait_group parked, gate;
    parked.add(n);
    gate.add(1);
    std::vector<goro::join_handle<void>> handles;
    for (int i = 0; i < n; ++i)
      handles.push_back(goro::spawn([&]() -> goro::task<> {
        parked.done();
        co_await gate.wait();
      }));
    after_spawn = goro::num_tasks();
    co_await parked.wait();
    while_parked = goro::num_tasks();
    gate.done();
    for (auto& h : handles) co_await std::move(h);
    after_join = goro::num_tasks();
  });
  CHECK(alone == 1);
  CHECK(after_spawn == n + 1);
  CHECK(while_parked == n + 1);
  CHECK(after_join == 1);
  CHECK(goro::num_tasks() == 0);
}

// Intent: maxprocs() inside run reports the configured worker count.
TEST_CASE("maxprocs() inside run equals config.maxprocs") {
  for (unsigned n : {1u, 2u, 3u, 5u}) {
    CAPTURE(n);
    CHECK(goro::run(goro::config{.maxprocs = n}, [] { return goro::maxprocs(); }) == n);
  }
}

// Intent: when main returns, detached tasks that are still parked (on a wait_group that
// never reaches zero, on an hour-long sleep) are destroyed without being resumed, their
// locals with them, and run returns at once; a task queued but not started when main
// returns (one worker, busy with main until it returns) is destroyed with its argument.
TEST_CASE("when main returns, parked and queued tasks are destroyed and run returns promptly") {
  constexpr int per_kind = 8;
  counted::reset();
  goro::wait_group never;  // outlives run; never reaches zero
  never.add(1);
  goro::wait_group parked;  // outlives run: the last parked.done() may still be running as main returns
  std::atomic<int> resumed{0};
  const auto start = goro::clock::now();
  goro::run(two_workers, [&]() -> goro::task<> {
    parked.add(2 * per_kind);
    for (int i = 0; i < per_kind; ++i) {
      goro::go([&]() -> goro::task<> {
        counted local{1};
        parked.done();
        co_await never.wait();
        resumed.fetch_add(1);
      });
      goro::go([&]() -> goro::task<> {
        counted local{2};
        parked.done();
        co_await goro::sleep_for(1h);
        resumed.fetch_add(1);
      });
    }
    co_await parked.wait();
  });
  const auto elapsed = goro::clock::now() - start;
  CHECK(counted::constructed.load() == 2 * per_kind);  // every task started
  CHECK(counted::live() == 0);
  CHECK(counted::destroyed_twice.load() == 0);
  CHECK(resumed.load() == 0);
  CHECK(never.count() == 1);
  CHECK(elapsed < 10s);  // far below the hour the sleepers asked for

  counted::reset();
  bool queued_ran = false;
  goro::run(one_worker, [&]() -> goro::task<> {
    goro::go([&queued_ran](counted) { queued_ran = true; }, counted{3});
    co_return;
  });
  CHECK_FALSE(queued_ran);
  CHECK(counted::constructed.load() >= 1);
  CHECK(counted::live() == 0);
  CHECK(counted::destroyed_twice.load() == 0);
}

// Intent: a plain std::thread, outside the runtime, starts a detached task (go) and a
// joinable one (spawn) while run is active; both run on a worker, and main joins the
// handle made on the foreign thread.
TEST_CASE("a task started from a thread outside the runtime runs") {
  bool go_ran_on_worker = false;
  int joined = 0;
  goro::run(two_workers, [&]() -> goro::task<> {
    goro::wait_group ran;
    ran.add(1);
    std::thread::id go_thread;
    std::optional<goro::join_handle<int>> handle;
    std::thread foreign([&] {
      goro::go([&go_thread, &ran] {
        go_thread = std::this_thread::get_id();
        ran.done();
      });
      handle.emplace(goro::spawn(square, 7));
    });
    const std::thread::id foreign_id = foreign.get_id();
    foreign.join();
    co_await ran.wait();
    go_ran_on_worker = go_thread != foreign_id && go_thread != std::thread::id();
    joined = co_await std::move(*handle);
  });
  CHECK(go_ran_on_worker);
  CHECK(joined == 49);
}

// Intent: workers with nothing to do sleep in the kernel. After a burst of work (so both
// workers were busy), main sleeps 300 ms; the whole process's CPU time over the sleep
// must stay under 30 ms (10%), generous on purpose.
TEST_CASE("an idle runtime uses almost no CPU") {
  double used_ms = -1, slept_ms = -1;
  goro::run(two_workers, [&]() -> goro::task<> {
    goro::wait_group burst;
    burst.add(10'000);
    for (int i = 0; i < 10'000; ++i)
      goro::go([&burst] { burst.done(); });
    co_await burst.wait();
    rusage before{}, after{};
    getrusage(RUSAGE_SELF, &before);
    const auto t0 = goro::clock::now();
    co_await goro::sleep_for(300ms);
    slept_ms = std::chrono::duration<double, std::milli>(goro::clock::now() - t0).count();
    getrusage(RUSAGE_SELF, &after);
    used_ms = cpu_ms(after) - cpu_ms(before);
  });
  INFO("CPU time over the sleep: ", used_ms, " ms; slept ", slept_ms, " ms");
  CHECK(slept_ms >= 300.0);
  CHECK(used_ms >= 0.0);
  CHECK(used_ms < 30.0);
}
