// Tests for include/goro/time.hpp: goro::sleep_for and goro::sleep_until.
//
// What the contract promises and how each part is checked
//   1. Never early: every sleep is timed with goro::clock around the co_await and the
//      elapsed time must be >= the requested one, for one task and for many tasks on two
//      workers. No upper bound per sleep (a loaded machine may be late); only the 100,000
//      sleeps batch has a generous bound, since a batch that slow means timers are broken.
//   2. No suspension for a deadline already passed: a probe task is queued on the only
//      worker (maxprocs = 1, nothing can steal it) before the co_await; it can run only
//      if the sleeping task suspends. A positive control (a real sleep) shows the probe
//      does run when the task suspends.
//   3. Order: maxprocs = 1 so every timer sits in the same heap and the order is the
//      library's, not the OS scheduler's; timers that come due together (the worker was
//      busy past their deadlines) must resume in deadline order too, equal deadlines in
//      the order their tasks went to sleep.
//   4. Both workers: the worker a task goes to sleep on is read from the private
//      detail::current_worker (lib/runtime.hpp). Where it wakes is not checked: a fired
//      timer's task may be stolen by an idle worker (time.hpp).
//
// Results are collected in plain variables and checked on the test thread after
// goro::run returns: doctest assertions stay off worker threads.
#include <doctest/doctest.h>

#include <goro/goro.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "runtime.hpp"  // detail::current_worker, to see which worker a task runs on

using namespace std::chrono_literals;
using steady = goro::clock;  // not `using goro::clock`: it would clash with ::clock()

namespace {

// A sleep that returned too early: what was asked and what was measured.
struct early_wake {
  double requested_us;
  double elapsed_us;
};

template <class Rep, class Period>
double to_us(std::chrono::duration<Rep, Period> d) {
  return std::chrono::duration<double, std::micro>(d).count();
}

unsigned worker_index() { return goro::detail::current_worker->index; }

// "[10, 20, 30]": an order, printable in a failed CHECK.
std::string show(const std::vector<int>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

}  // namespace

// Intent: one task sleeps many times, for lengths from 1 ns to 10 ms written in several
// duration types (integral ns/us/ms, fractional ms and s); no sleep may end before the
// requested time has passed.
TEST_CASE("sleep_for never returns early: one task with many lengths and duration types") {
  std::vector<early_wake> early;
  int sleeps = 0;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    auto check = [&](auto d) -> goro::task<> {
      const auto start = steady::now();
      co_await goro::sleep_for(d);
      const auto elapsed = steady::now() - start;
      if (elapsed < d) early.push_back({to_us(d), to_us(elapsed)});
      ++sleeps;
    };
    for (int rep = 0; rep < 4; ++rep) {
      co_await check(1ns);
      co_await check(1us);
      co_await check(10us);
      co_await check(50us);
      co_await check(100us);
      co_await check(250us);
      co_await check(500us);
      co_await check(1ms);
      co_await check(2ms);
      co_await check(5ms);
      co_await check(10ms);
      co_await check(std::chrono::duration<double, std::milli>(1.5));      // fractional: rounded up
      co_await check(std::chrono::duration<double>(0.0023456789));        // 2.3456789 ms
      co_await check(std::chrono::duration<long long, std::nano>(777'777));
    }
  });
  CHECK(sleeps == 4 * 14);
  for (const auto& e : early) FAIL_CHECK("slept " << e.elapsed_us << " us of the requested " << e.requested_us << " us");
  CHECK(early.empty());
}

// Intent: 32 tasks on two workers, each doing 40 sleeps of pseudo-random length in
// [0, 2 ms], half through sleep_for and half through sleep_until; none may end early
// (for sleep_until: steady::now() after the co_await must be >= the deadline).
TEST_CASE("sleep_for and sleep_until never return early: 32 concurrent tasks on two workers") {
  constexpr int tasks = 32, sleeps_per_task = 40;
  std::mutex mu;
  std::vector<early_wake> early;  // under mu
  std::atomic<int> sleeps{0};
  goro::run(goro::config{.maxprocs = 2}, [&]() -> goro::task<> {
    goro::wait_group wg;
    for (int t = 0; t < tasks; ++t) {
      wg.add(1);
      goro::go([&](std::uint64_t rng) -> goro::task<> {
        for (int i = 0; i < sleeps_per_task; ++i) {
          rng = rng * 6364136223846793005ull + 1442695040888963407ull;  // LCG (Knuth's MMIX)
          const auto d = std::chrono::microseconds((rng >> 33) % 2001);
          const auto start = steady::now();
          if (i % 2 == 0) {
            co_await goro::sleep_for(d);
          } else {
            const auto deadline = start + d;
            co_await goro::sleep_until(deadline);
            if (steady::now() < deadline) {
              std::lock_guard lock(mu);
              early.push_back({to_us(d), to_us(steady::now() - start)});
            }
          }
          const auto elapsed = steady::now() - start;
          if (elapsed < d) {
            std::lock_guard lock(mu);
            early.push_back({to_us(d), to_us(elapsed)});
          }
          sleeps.fetch_add(1, std::memory_order_relaxed);
        }
        wg.done();
      }, std::uint64_t(t) * 0x9E3779B97F4A7C15ull + 1);
    }
    co_await wg.wait();
  });
  CHECK(sleeps.load() == tasks * sleeps_per_task);
  for (const auto& e : early) FAIL_CHECK("slept " << e.elapsed_us << " us of the requested " << e.requested_us << " us");
  CHECK(early.empty());
}

// Intent: a zero or negative duration, and a deadline already passed, complete without
// suspending. The probe task can only run while the main task is suspended (one worker);
// the last sleep is a real one and must let the probe run (the probe works).
TEST_CASE("zero and negative durations and past deadlines do not suspend") {
  // Without a runtime: the awaiter is ready at once, so await_suspend is never called.
  CHECK(goro::sleep_for(0ms).await_ready());
  CHECK(goro::sleep_for(0ns).await_ready());
  CHECK(goro::sleep_for(-1ns).await_ready());
  CHECK(goro::sleep_for(-5s).await_ready());
  CHECK(goro::sleep_for(std::chrono::duration<double>(-0.5)).await_ready());
  CHECK(goro::sleep_until(steady::now()).await_ready());
  CHECK(goro::sleep_until(steady::now() - 1ms).await_ready());
  CHECK(goro::sleep_until(steady::time_point{}).await_ready());  // the clock's epoch, long past
  CHECK_FALSE(goro::sleep_for(1h).await_ready());
  CHECK_FALSE(goro::sleep_until(steady::now() + 1h).await_ready());

  // In a running task: nothing else gets to run.
  std::vector<std::string> suspended_on;
  bool probe_ran_after_real_sleep = false;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    bool probe_ran = false;
    goro::go([&] { probe_ran = true; });
    auto expect_no_suspension = [&](const char* what) {
      if (probe_ran) suspended_on.push_back(what);
    };
    co_await goro::sleep_for(0ms);
    expect_no_suspension("sleep_for(0ms)");
    co_await goro::sleep_for(-1ns);
    expect_no_suspension("sleep_for(-1ns)");
    co_await goro::sleep_for(-10s);
    expect_no_suspension("sleep_for(-10s)");
    co_await goro::sleep_until(steady::now());
    expect_no_suspension("sleep_until(now)");
    co_await goro::sleep_until(steady::now() - 1s);
    expect_no_suspension("sleep_until(now - 1s)");
    co_await goro::sleep_until(steady::time_point{});
    expect_no_suspension("sleep_until(epoch)");
    co_await goro::sleep_for(1ms);  // positive control: this one suspends
    probe_ran_after_real_sleep = probe_ran;
  });
  for (const auto& s : suspended_on) FAIL_CHECK(s << " suspended the task");
  CHECK(suspended_on.empty());
  CHECK(probe_ran_after_real_sleep);
}

// Intent: tasks started in the order 30 ms, 10 ms, 20 ms wake in deadline order
// (10, 20, 30), each no earlier than asked. One worker: a single timer heap decides.
TEST_CASE("sleepers of 30 then 10 then 20 ms wake in deadline order") {
  std::vector<int> woke;
  std::vector<early_wake> early;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::wait_group wg;
    for (int ms : {30, 10, 20}) {
      wg.add(1);
      goro::go([&](int len) -> goro::task<> {
        const auto start = steady::now();
        co_await goro::sleep_for(std::chrono::milliseconds(len));
        const auto elapsed = steady::now() - start;
        if (elapsed < std::chrono::milliseconds(len)) early.push_back({len * 1000.0, to_us(elapsed)});
        woke.push_back(len);
        wg.done();
      }, ms);
    }
    co_await wg.wait();
  });
  CHECK(show(woke) == show({10, 20, 30}));
  CHECK(early.empty());
}

// Intent: when the worker comes late (it was busy) and several timers are due at once,
// the tasks still resume in deadline order, and among equal deadlines in the order they
// went to sleep (timer_entry::seq, "FIFO among equal deadlines"). The main task keeps
// the only worker busy past every deadline, so all timers come due together.
TEST_CASE("timers that come due together resume in deadline order and equal deadlines first-come first-served") {
  std::vector<int> registered, woke;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::wait_group wg;
    const auto base = steady::now();
    // ids 0-2: deadlines base+30, base+10, base+20 ms; ids 3-6: all at base+40 ms.
    const std::array<steady::duration, 7> offsets{30ms, 10ms, 20ms, 40ms, 40ms, 40ms, 40ms};
    for (int id = 0; id < 7; ++id) {
      wg.add(1);
      goro::go([&](int me, steady::time_point deadline) -> goro::task<> {
        registered.push_back(me);
        co_await goro::sleep_until(deadline);
        woke.push_back(me);
        wg.done();
      }, id, base + offsets[id]);
    }
    while (registered.size() < 7) co_await goro::yield();  // every sleeper is in the heap
    // Occupy the only worker until every deadline has passed (the point of the test, not
    // a way around a race).
    while (steady::now() < base + 50ms) {
    }
    co_await wg.wait();
  });
  REQUIRE(registered.size() == 7);
  std::vector<int> expected{1, 2, 0};  // 10, 20, 30 ms
  for (int id : registered)
    if (id >= 3) expected.push_back(id);  // equal deadlines: the order they went to sleep
  INFO("went to sleep in the order " << show(registered));
  CHECK(show(woke) == show(expected));
}

// Intent: 100,000 tasks each sleep 50 ms at once on two workers; all complete, none
// early, and the batch takes well under 5 s (the timers fire together, not one by one).
TEST_CASE("100k concurrent 50 ms sleeps all complete in well under 5 s") {
  constexpr int n = 100'000;
  std::atomic<int> woke{0}, early{0};
  steady::duration batch{};
  goro::run(goro::config{.maxprocs = 2}, [&]() -> goro::task<> {
    goro::wait_group wg;
    const auto start = steady::now();
    for (int i = 0; i < n; ++i) {
      wg.add(1);
      goro::go([&]() -> goro::task<> {
        const auto begin = steady::now();
        co_await goro::sleep_for(50ms);
        if (steady::now() - begin < 50ms) early.fetch_add(1, std::memory_order_relaxed);
        woke.fetch_add(1, std::memory_order_relaxed);
        wg.done();
      });
    }
    co_await wg.wait();
    batch = steady::now() - start;
  });
  CHECK(woke.load() == n);
  CHECK(early.load() == 0);
  CHECK(batch >= 50ms);
  CHECK(batch < 5s);
  MESSAGE("100,000 sleeps of 50 ms took " << to_us(batch) / 1000 << " ms");
}

namespace {

// One sleeper's record: the worker it went to sleep on, and whether it woke early.
struct sleeper_record {
  unsigned slept_on;
  bool early;
};

// Runs rounds of 32 sleepers on two workers until both workers have had sleepers (at
// most 200 rounds). Each sleeper burns ~100 us of CPU first so the spawning worker is
// busy and the other one steals.
std::vector<sleeper_record> sleep_on_both_workers() {
  std::mutex mu;
  std::vector<sleeper_record> records;  // under mu
  goro::run(goro::config{.maxprocs = 2}, [&]() -> goro::task<> {
    for (int round = 0; round < 200; ++round) {
      goro::wait_group wg;
      for (int i = 0; i < 32; ++i) {
        wg.add(1);
        goro::go([&](int k) -> goro::task<> {
          const auto spin_until = steady::now() + 100us;
          while (steady::now() < spin_until) {
          }
          const unsigned before = worker_index();
          const auto d = std::chrono::microseconds(200 + 50 * (k % 8));
          const auto start = steady::now();
          co_await goro::sleep_for(d);
          const bool was_early = steady::now() - start < d;
          {
            std::lock_guard lock(mu);
            records.push_back({before, was_early});
          }
          wg.done();
        }, i);
      }
      co_await wg.wait();
      std::lock_guard lock(mu);
      const bool w0 = std::any_of(records.begin(), records.end(), [](auto& r) { return r.slept_on == 0; });
      const bool w1 = std::any_of(records.begin(), records.end(), [](auto& r) { return r.slept_on == 1; });
      if (w0 && w1) break;
    }
  });
  return records;
}

}  // namespace

// Intent: sleeping works on both workers: each worker has its own timer heap and parks
// with its own timeout; every sleeper on either worker wakes, none early.
TEST_CASE("sleeping tasks on both workers all wake and none early") {
  const auto records = sleep_on_both_workers();
  REQUIRE(!records.empty());
  CHECK(records.size() % 32 == 0);
  std::array<int, 2> slept{}, early{};
  for (const auto& r : records) {
    REQUIRE(r.slept_on < 2);
    ++slept[r.slept_on];
    early[r.slept_on] += r.early;
  }
  const std::size_t rounds = records.size() / 32;
  INFO(rounds << " rounds of 32 sleepers; " << slept[0] << " slept on worker 0, " << slept[1] << " on worker 1");
  CHECK(slept[0] > 0);
  CHECK(slept[1] > 0);
  CHECK(early[0] == 0);
  CHECK(early[1] == 0);
}
