// Tests for include/goro/wait_group.hpp: goro::wait_group (Go's sync.WaitGroup).
//
// How "suspended" and "parked" are observed without sleeping
//   1. With maxprocs = 1 nothing is stolen and nothing is preempted: a task that bumps a
//      counter right before `co_await wg.wait()` is parked in the group's waiter list by
//      the time any other task runs. The main task yields until every waiter has bumped
//      the counter, so all of them are parked before it calls done().
//   2. With maxprocs = 1, the only worker is idle (runtime::idle_count, lib/runtime.hpp)
//      only when every task is parked; a plain std::thread waits for that before calling
//      done(), so the wake-up really comes from outside the runtime. It holds a
//      goro::external_handle meanwhile, or goro::run would report a deadlock.
//   3. A probe task queued before a co_await runs only if the awaiting task suspends.
// A watchdog ends the binary with a message if a test hangs (a lost wake-up) instead
// of letting it sit until meson's timeout. Two tests are mainly for the sanitizer builds:
// "wait() sees everything written before the done() calls" (a missing acquire is a
// TSan report; x86 hides it) and "destroyed as soon as wait() returns" (a done() that
// touches the group after letting the waiter through is an ASan use-after-free).
#include <doctest/doctest.h>

#include <goro/goro.hpp>

#include "test_support.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "runtime.hpp"  // detail::runtime::current()->idle_count

using namespace std::chrono_literals;
using goro_test::watchdog;

namespace {

// Ends the process with a failure, naming the test, if it is still alive after `limit`:
// a hang is a failure, reported at once rather than by meson's timeout.

// Spins (yielding the CPU) until the runtime's only worker is parked, i.e. every task
// is suspended. Called from a thread outside the runtime.
void wait_until_worker_idle(goro::detail::runtime& rt) {
  while (rt.idle_count.load(std::memory_order_relaxed) == 0) std::this_thread::yield();
}

std::string what_of(const std::exception& e) { return e.what(); }

}  // namespace

// Intent: wait() on a counter at zero (never used, or brought back to zero) completes
// without suspending; the probe task cannot run in between.
TEST_CASE("wait on zero does not suspend") {
  goro::wait_group fresh;
  CHECK(fresh.count() == 0);
  CHECK(fresh.wait().await_ready());

  bool suspended_fresh = true, suspended_back_to_zero = true, probe_ran_at_end = false;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    bool probe_ran = false;
    goro::go([&] { probe_ran = true; });
    goro::wait_group wg;
    co_await wg.wait();
    suspended_fresh = probe_ran;
    wg.add(3);
    wg.done();
    wg.add(-2);
    co_await wg.wait();
    suspended_back_to_zero = probe_ran;
    co_await goro::yield();  // positive control: a real suspension lets the probe run
    probe_ran_at_end = probe_ran;
  });
  CHECK_FALSE(suspended_fresh);
  CHECK_FALSE(suspended_back_to_zero);
  CHECK(probe_ran_at_end);
}

// Intent: 100 tasks parked on one group all resume after the last done() and none
// before: done() calls that leave the counter above zero wake nobody.
TEST_CASE("100 parked waiters all resume after the last done and none before") {
  constexpr int waiters = 100;
  int entered_before_done = -1, resumed_before_done = -1, resumed_after_first_dones = -1, resumed_at_end = -1;
  std::int64_t count_after_first_dones = -1;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::wait_group wg, finished;
    int entered = 0, resumed = 0;
    wg.add(3);
    for (int i = 0; i < waiters; ++i) {
      finished.add(1);
      goro::go([&]() -> goro::task<> {
        ++entered;
        co_await wg.wait();
        ++resumed;
        finished.done();
      });
    }
    while (entered < waiters) co_await goro::yield();  // all parked (see the top of the file)
    entered_before_done = entered;
    resumed_before_done = resumed;
    wg.done();
    wg.done();
    co_await goro::yield();  // would let wrongly woken waiters run
    resumed_after_first_dones = resumed;
    count_after_first_dones = wg.count();
    wg.done();
    co_await finished.wait();
    resumed_at_end = resumed;
  });
  CHECK(entered_before_done == waiters);
  CHECK(resumed_before_done == 0);
  CHECK(resumed_after_first_dones == 0);
  CHECK(count_after_first_dones == 1);
  CHECK(resumed_at_end == waiters);
}

// Intent: the same with two workers, where waiters race the last done(): some park, some
// find the counter at zero. Every one of them must come through.
TEST_CASE("100 waiters on two workers racing the last done all resume") {
  watchdog dog("100 waiters on two workers", 60s);
  constexpr int waiters = 100;
  std::atomic<int> resumed{0};
  for (int round = 0; round < 20; ++round) {
    goro::run(goro::config{.maxprocs = 2}, [&]() -> goro::task<> {
      goro::wait_group wg, finished;
      wg.add(1);
      for (int i = 0; i < waiters; ++i) {
        finished.add(1);
        goro::go([&]() -> goro::task<> {
          co_await wg.wait();
          resumed.fetch_add(1, std::memory_order_relaxed);
          finished.done();
        });
        if (i == waiters / 2) wg.done();  // half are started before the counter reaches zero
      }
      co_await finished.wait();
    });
  }
  CHECK(resumed.load() == 20 * waiters);
}

// Intent: a group that went back to zero is reusable: in the second round, a new waiter
// parks again (it does not see a stale "done") and is woken by the second round's last
// done().
TEST_CASE("reuse after reaching zero: a second round waits and wakes again") {
  std::vector<std::string> log;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::wait_group wg;
    for (int round = 1; round <= 3; ++round) {
      goro::wait_group finished;
      bool entered = false, resumed = false;
      wg.add(2);
      finished.add(1);
      goro::go([&]() -> goro::task<> {
        entered = true;
        co_await wg.wait();
        resumed = true;
        finished.done();
      });
      while (!entered) co_await goro::yield();
      wg.done();
      co_await goro::yield();
      log.push_back("round " + std::to_string(round) + ": after 1 of 2 dones resumed=" + (resumed ? "yes" : "no"));
      wg.done();
      co_await finished.wait();
      log.push_back("round " + std::to_string(round) + ": after 2 of 2 dones resumed=" + (resumed ? "yes" : "no") +
                    " count=" + std::to_string(wg.count()));
    }
  });
  std::vector<std::string> expected;
  for (int round = 1; round <= 3; ++round) {
    expected.push_back("round " + std::to_string(round) + ": after 1 of 2 dones resumed=no");
    expected.push_back("round " + std::to_string(round) + ": after 2 of 2 dones resumed=yes count=0");
  }
  CHECK(log == expected);
}

// Intent: done() on a counter at zero is Go's "negative WaitGroup counter" panic:
// goro::panic_error with a message naming wait_group and the negative counter; the
// counter stays at 0 and the group keeps working (outside and inside the runtime).
TEST_CASE("done below zero throws panic_error and changes nothing") {
  goro::wait_group wg;
  std::string message;
  try {
    wg.done();
    FAIL("done() on a zero counter did not throw");
  } catch (const goro::panic_error& e) {
    message = what_of(e);
  }
  CHECK(message.find("wait_group") != std::string::npos);
  CHECK(message.find("negative") != std::string::npos);
  CHECK(message.find("add(-1)") != std::string::npos);    // the offending call
  CHECK(message.find("counter 0") != std::string::npos);  // and the counter it met
  CHECK(wg.count() == 0);
  CHECK(wg.wait().await_ready());

  // Still usable: up, down, and below zero again.
  wg.add(2);
  wg.done();
  wg.done();
  CHECK(wg.count() == 0);
  CHECK_THROWS_AS(wg.done(), goro::panic_error);
  CHECK(wg.count() == 0);

  // From a task: the exception reaches the task like any other, and the group still
  // parks and wakes a waiter afterwards.
  bool threw = false, waiter_woke = false;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::wait_group g, finished;
    try {
      g.done();
    } catch (const goro::panic_error&) {
      threw = true;
    }
    g.add(1);
    finished.add(1);
    goro::go([&]() -> goro::task<> {
      co_await g.wait();
      waiter_woke = true;
      finished.done();
    });
    co_await goro::yield();
    g.done();
    co_await finished.wait();
  });
  CHECK(threw);
  CHECK(waiter_woke);
}

// Intent: add() with a negative delta larger than the counter throws panic_error naming
// the delta and the counter, leaves the counter as it was and wakes nobody; the right
// delta then brings it to zero and wakes the waiter.
TEST_CASE("add with a too large negative delta throws and leaves the counter unchanged") {
  goro::wait_group wg;
  wg.add(3);
  std::string message;
  try {
    wg.add(-4);
    FAIL("add(-4) on a counter of 3 did not throw");
  } catch (const goro::panic_error& e) {
    message = what_of(e);
  }
  CHECK(message.find("add(-4)") != std::string::npos);
  CHECK(message.find("counter 3") != std::string::npos);
  CHECK(wg.count() == 3);
  CHECK_THROWS_AS(wg.add(std::numeric_limits<std::int64_t>::min()), goro::panic_error);
  CHECK(wg.count() == 3);
  wg.add(-3);
  CHECK(wg.count() == 0);

  // With a parked waiter: the refused add does not wake it.
  bool woke_after_refused_add = true, woke_at_end = false;
  std::int64_t count_after_refused_add = -1;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::wait_group g, finished;
    bool entered = false, woke = false;
    g.add(2);
    finished.add(1);
    goro::go([&]() -> goro::task<> {
      entered = true;
      co_await g.wait();
      woke = true;
      finished.done();
    });
    while (!entered) co_await goro::yield();
    try {
      g.add(-5);
    } catch (const goro::panic_error&) {
    }
    co_await goro::yield();
    woke_after_refused_add = woke;
    count_after_refused_add = g.count();
    g.add(-2);
    co_await finished.wait();
    woke_at_end = woke;
  });
  CHECK_FALSE(woke_after_refused_add);
  CHECK(count_after_refused_add == 2);
  CHECK(woke_at_end);
}

// Intent: the counter is 32 bits, as Go's: an add that would take it past INT32_MAX is
// refused with panic_error and leaves it unchanged, whatever the delta (computing
// counter + delta must not itself overflow: UBSan checks that for INT64_MAX).
TEST_CASE("add that would overflow the 32-bit counter throws and leaves the counter unchanged") {
  constexpr std::int64_t max32 = std::numeric_limits<std::int32_t>::max();
  constexpr std::int64_t max64 = std::numeric_limits<std::int64_t>::max();
  goro::wait_group wg;
  CHECK_THROWS_AS(wg.add(max32 + 1), goro::panic_error);
  CHECK(wg.count() == 0);
  CHECK_THROWS_AS(wg.add(max64), goro::panic_error);
  CHECK(wg.count() == 0);
  wg.add(max32);
  CHECK(wg.count() == max32);
  std::string message;
  try {
    wg.add(1);
  } catch (const goro::panic_error& e) {
    message = what_of(e);
  }
  CHECK(message.find("wait_group") != std::string::npos);
  CHECK(message.find("overflow") != std::string::npos);
  CHECK(wg.count() == max32);
  CHECK_THROWS_AS(wg.add(max64), goro::panic_error);  // counter + delta is past INT64_MAX
  CHECK(wg.count() == max32);
  wg.add(-max32);
  CHECK(wg.count() == 0);
  wg.add(1);
  CHECK_THROWS_AS(wg.add(max64), goro::panic_error);
  CHECK(wg.count() == 1);
  wg.done();
  CHECK(wg.count() == 0);
}

// Intent: the add that reaches zero wakes exactly the waiters registered before it. The
// group is reused (add again, a new waiter parks) before the woken waiter has even run:
// the woken one still runs, the new one stays parked until the second round's done().
TEST_CASE("reuse before the woken waiters have run: they still run and the new waiter keeps waiting") {
  std::vector<std::string> log;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::wait_group wg, finished;
    bool first_entered = false, second_entered = false;
    wg.add(1);
    finished.add(2);
    goro::go([&]() -> goro::task<> {
      first_entered = true;
      co_await wg.wait();
      log.push_back("first resumed");
      finished.done();
    });
    while (!first_entered) co_await goro::yield();
    wg.done();   // makes the first waiter runnable; it cannot run before we suspend
    wg.add(1);   // round two starts at once
    goro::go([&]() -> goro::task<> {
      second_entered = true;
      co_await wg.wait();
      log.push_back("second resumed");
      finished.done();
    });
    while (!second_entered) co_await goro::yield();
    co_await goro::yield();
    log.push_back("round two still open, count " + std::to_string(wg.count()));
    wg.done();
    co_await finished.wait();
  });
  CHECK(log == std::vector<std::string>{"first resumed", "round two still open, count 1", "second resumed"});
}

// Intent: a task parked in wait() when goro::run ends is destroyed, not resumed
// ("those tasks never resume"); its waiter unlinks itself, so the group (which outlives
// the run) stays consistent: its counter is unchanged, a later done() does not touch the
// dead waiter, and the group parks and wakes a waiter in the next run.
TEST_CASE("a waiter destroyed at shutdown leaves the group consistent") {
  goro::wait_group wg;
  wg.add(1);
  bool dead_waiter_resumed = false;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    bool entered = false;
    goro::go([&]() -> goro::task<> {
      entered = true;
      co_await wg.wait();
      dead_waiter_resumed = true;
    });
    while (!entered) co_await goro::yield();
  });  // the waiter is still parked: destroyed here
  CHECK_FALSE(dead_waiter_resumed);
  CHECK(wg.count() == 1);

  bool live_waiter_resumed = false, resumed_before_done = true;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::wait_group finished;
    bool entered = false;
    finished.add(1);
    goro::go([&]() -> goro::task<> {
      entered = true;
      co_await wg.wait();
      live_waiter_resumed = true;
      finished.done();
    });
    while (!entered) co_await goro::yield();
    co_await goro::yield();
    resumed_before_done = live_waiter_resumed;
    wg.done();
    co_await finished.wait();
  });
  CHECK_FALSE(resumed_before_done);
  CHECK(live_waiter_resumed);
  CHECK_FALSE(dead_waiter_resumed);
  CHECK(wg.count() == 0);
}

// Intent: wait() returning is an acquire of everything the done() callers did before
// done(): a child on the other worker fills a plain (non-atomic) buffer, calls done(), and
// the parent reads it after wait(). On x86 a missing acquire cannot corrupt the values,
// but ThreadSanitizer reports it; on weaker hardware the values would be stale. 20,000
// rounds, so wait() also meets a done() that lands between its await_ready and its
// await_suspend.
TEST_CASE("wait() sees everything written before the done() calls it waited for") {
  constexpr int rounds = 20'000;
  long stale = 0;
  goro::run(goro::config{.maxprocs = 2}, [&]() -> goro::task<> {
    for (int i = 0; i < rounds; ++i) {
      long payload[4] = {0, 0, 0, 0};  // published only through done() / wait()
      goro::wait_group wg;
      wg.add(1);
      goro::go([&wg, &payload, i] {
        for (long& p : payload) p = i + 1;
        wg.done();
      });
      co_await wg.wait();
      for (long p : payload) stale += p != i + 1;
    }
  });
  CHECK(stale == 0);
}

// Intent: done() called from a plain std::thread (not a worker) wakes a task parked in
// wait(): the wake-up goes through the global queue and rouses the parked worker.
TEST_CASE("done from a std::thread outside the runtime wakes a parked task") {
  watchdog dog("done from a std::thread", 60s);
  for (int round = 0; round < 50; ++round) {
    bool resumed = false;
    std::int64_t count_seen_by_task = -1;
    goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
      goro::wait_group wg;
      wg.add(1);
      // The handle: the outsider acts while the only task is parked (else: a deadlock).
      std::thread outsider([&wg, &rt = *goro::detail::runtime::current(), hold = goro::external_handle()] {
        wait_until_worker_idle(rt);  // the only task is parked in wg.wait()
        wg.done();
      });
      co_await wg.wait();
      resumed = true;
      count_seen_by_task = wg.count();
      outsider.join();  // done() may still be returning; wg must outlive it
    });
    CHECK(resumed);
    CHECK(count_seen_by_task == 0);
  }
}

// Intent: several plain threads and tasks on two workers hammer one group together
// (200,000 add/done pairs from outside, 200,000 from tasks) while a task waits on a
// separate hold; the counter ends at zero and the waiter wakes exactly once.
TEST_CASE("add/done from std::threads and tasks together end at zero") {
  watchdog dog("add/done from std::threads and tasks", 60s);
  constexpr int threads = 2, tasks = 8, pairs = 100'000 / 4;
  std::int64_t count_before_release = -1, count_at_end = -1;
  int waiter_wakes = 0;
  goro::run(goro::config{.maxprocs = 2}, [&]() -> goro::task<> {
    goro::wait_group wg, finished;
    wg.add(1);  // the hold: keeps the counter above zero until everybody is done
    std::atomic<int> wakes{0};
    finished.add(1);
    goro::go([&]() -> goro::task<> {
      co_await wg.wait();
      wakes.fetch_add(1, std::memory_order_relaxed);
      finished.done();
    });
    std::vector<std::thread> outsiders;
    for (int t = 0; t < threads; ++t)
      outsiders.emplace_back([&] {
        for (int i = 0; i < pairs * 4; ++i) {
          wg.add(1);
          wg.done();
        }
      });
    goro::wait_group workers_done;
    for (int t = 0; t < tasks; ++t) {
      workers_done.add(1);
      goro::go([&]() -> goro::task<> {
        for (int i = 0; i < pairs; ++i) {
          wg.add(2);
          wg.done();
          wg.done();
          if (i % 4096 == 0) co_await goro::yield();
        }
        workers_done.done();
      });
    }
    co_await workers_done.wait();
    for (auto& t : outsiders) t.join();
    count_before_release = wg.count();
    wg.done();  // release the hold
    co_await finished.wait();
    count_at_end = wg.count();
    waiter_wakes = wakes.load();
  });
  CHECK(count_before_release == 1);
  CHECK(count_at_end == 0);
  CHECK(waiter_wakes == 1);
}

// Intent: 1,000,000 add/done pairs from 32 tasks on two workers, with no hold, so the
// counter keeps crossing zero while four tasks keep waiting on it; it ends at zero and
// every wait() returns (a lost wake-up would leave a waiter parked: the watchdog fires).
TEST_CASE("one million add/done pairs contended by both workers end at zero and no waiter is lost") {
  watchdog dog("one million add/done pairs", 120s);
  constexpr int tasks = 32, pairs = 1'000'000 / tasks, waiters = 4;
  std::int64_t count_at_end = -1;
  std::atomic<long> waits_returned{0};
  goro::run(goro::config{.maxprocs = 2}, [&]() -> goro::task<> {
    goro::wait_group wg, workers_done, waiters_done;
    std::atomic<bool> stop{false};
    for (int w = 0; w < waiters; ++w) {
      waiters_done.add(1);
      goro::go([&]() -> goro::task<> {
        // relaxed: `stop` only ends the loop; the final wait below is the real check.
        while (!stop.load(std::memory_order_relaxed)) {
          co_await wg.wait();
          waits_returned.fetch_add(1, std::memory_order_relaxed);
          co_await goro::yield();
        }
        co_await wg.wait();  // the counter is at zero for good by now, or about to be
        waiters_done.done();
      });
    }
    for (int t = 0; t < tasks; ++t) {
      workers_done.add(1);
      goro::go([&]() -> goro::task<> {
        for (int i = 0; i < pairs; ++i) {
          wg.add(1);
          wg.done();
          if (i % 1024 == 0) co_await goro::yield();
        }
        workers_done.done();
      });
    }
    co_await workers_done.wait();
    stop.store(true, std::memory_order_relaxed);
    co_await waiters_done.wait();
    count_at_end = wg.count();
  });
  CHECK(count_at_end == 0);
  CHECK(waits_returned.load() > 0);
}

// Intent: as in Go, once wait() has returned the group may be destroyed, even if the
// done() that released it is still returning on another thread: done() must not touch
// the group after its decrement lets a waiter through. Each round heap-allocates a
// group so ASan sees a use after free and TSan a race with the free; a helper thread
// calls done() while the main task waits. Odd rounds first watch count() reach zero, so
// wait() returns without suspending right after the helper's decrement (the window
// between done()'s decrement and its return); even rounds wait at once and usually park.
TEST_CASE("a wait_group may be destroyed as soon as wait() returns") {
  watchdog dog("destroy after wait", 120s);
  constexpr int rounds = 40'000;
  int completed = 0;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    std::atomic<goro::wait_group*> handoff{nullptr};
    std::atomic<bool> quit{false};
    // The handle: the helper's done() wakes main, the only task, parked in wait().
    std::thread helper([&, hold = goro::external_handle()] {
      for (;;) {
        // acquire: pairs with the release store below, so the group is fully built.
        goro::wait_group* g = handoff.exchange(nullptr, std::memory_order_acquire);
        if (g) {
          g->done();
        } else if (quit.load(std::memory_order_relaxed)) {
          return;
        } else {
          std::this_thread::yield();
        }
      }
    });
    for (int i = 0; i < rounds; ++i) {
      auto wg = std::make_unique<goro::wait_group>();
      wg->add(1);
      handoff.store(wg.get(), std::memory_order_release);  // pairs with the helper's acquire exchange
      if (i % 2 == 1)
        while (wg->count() != 0) std::this_thread::yield();  // the helper may share our core
      co_await wg->wait();
      wg.reset();  // allowed: wait() returned
      ++completed;
    }
    quit.store(true, std::memory_order_relaxed);
    helper.join();
  });
  CHECK(completed == rounds);
}
