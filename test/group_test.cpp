// Tests for include/goro/group.hpp: goro::group, Go's errgroup (golang.org/x/sync/errgroup)
// with a context (WithContext + context.Cause).
//
// What each test checks, against the header's contract
//   - Success: members of all four kinds (coroutine returning task<> or
//     task<std::error_code>, plain callable returning void or std::error_code) run;
//     wait() returns an empty error_code after all finished, and only then cancels
//     context() (members saw it live; afterwards err() is errc::canceled).
//   - First failure wins: error_codes returned at distinct times (timers on one worker
//     fire in deadline order), the first one is wait()'s result and cause(context());
//     the other members, parked on context().done() in a select with a long after(),
//     stop early (the test takes milliseconds, not the 30 s of their timers); later
//     failures are dropped, an exception included.
//   - An exception: rethrown by wait() only after every member finished (a slow member
//     that ignores the context has finished by then); cause is errc::task_threw.
//   - set_limit(n): at most n members run f at once and all run (the maximum is exactly
//     n on one worker, at most n on four); try_go refuses when the limit is reached and
//     starts a member when a slot is free; set_limit while members run is a panic_error;
//     set_limit(0) is Go's "no new members": try_go returns false, a go() member waits
//     without running f or panicking.
//   - Arguments and the callable are decay-copied into the member: a std::string argument
//     overwritten and destroyed in the caller's scope arrives intact, a reference
//     parameter binds to the member's copy, goro_test::counted values are destroyed
//     exactly once and none leaks.
//   - The parent's cancellation and deadline reach context(); members started by
//     members are waited for; a member queued for a slot still runs after a failure and
//     sees the cancelled context; destroying the group while members run (one queued for
//     a slot) cancels its context and the members finish on their own (ASan checks what
//     they share); go() outside goro::run throws std::logic_error and leaves the group
//     usable; wait() on an empty group returns at once.
// Results are collected in plain variables and checked on the test thread after
// goro::run returns, so doctest assertions stay off worker threads. Every test runs
// under a watchdog.
#include <doctest/doctest.h>

#include <goro/goro.hpp>

#include "test_support.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using goro_test::watchdog;
using steady = goro::clock;  // not `using goro::clock`: it would clash with ::clock()

namespace {

const std::error_code first_error = std::make_error_code(std::errc::io_error);
const std::error_code second_error = std::make_error_code(std::errc::broken_pipe);
const std::error_code late_error = std::make_error_code(std::errc::interrupted);

// A member that waits for ctx to be done (or 30 s, far beyond any test) and reports
// whether ctx ended the wait. A coroutine with parameters: no bare co_await in a
// condition (g++ 12, README "Known compiler issues").
goro::task<bool> stopped_by(goro::context ctx) {
  auto r = co_await goro::select(ctx.done(), goro::after(30s));
  co_return r.index() == 0;
}

// Lets every runnable task run until it parks (maxprocs = 1: nothing runs in parallel,
// so after a few yields every other task has parked or finished).
goro::task<> settle(int rounds = 8) {
  for (int i = 0; i < rounds; ++i) co_await goro::yield();
}

}  // namespace

// Intent: every kind of member runs; wait() returns empty after all of them finished;
// context() stays live while they run and is cancelled by wait() (Go's Wait cancels the
// derived context), with cause canceled.
TEST_CASE("group: all members succeed: wait returns empty and then cancels the context") {
  watchdog dog("group all succeed", 60s);
  int coroutine_void = 0, coroutine_ec = 0, plain_void = 0, plain_ec = 0, saw_cancelled_while_running = 0;
  std::error_code result{goro::errc::canceled}, err_before_wait{goro::errc::canceled}, err_after_wait, cause_after_wait;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::group g;
    const goro::context ctx = g.context();
    for (int i = 0; i < 3; ++i) {
      g.go([&]() -> goro::task<> {
        co_await goro::yield();
        saw_cancelled_while_running += static_cast<bool>(ctx.err());
        ++coroutine_void;
      });
      g.go([&]() -> goro::task<std::error_code> {
        co_await goro::sleep_for(1ms);
        saw_cancelled_while_running += static_cast<bool>(ctx.err());
        ++coroutine_ec;
        co_return std::error_code();
      });
      g.go([&] {
        saw_cancelled_while_running += static_cast<bool>(ctx.err());
        ++plain_void;
      });
      g.go([&]() -> std::error_code {
        saw_cancelled_while_running += static_cast<bool>(ctx.err());
        ++plain_ec;
        return {};
      });
    }
    err_before_wait = g.context().err();
    result = co_await g.wait();
    err_after_wait = g.context().err();
    cause_after_wait = goro::cause(g.context());
  });
  CHECK_FALSE(result);
  CHECK(coroutine_void == 3);
  CHECK(coroutine_ec == 3);
  CHECK(plain_void == 3);
  CHECK(plain_ec == 3);
  CHECK(saw_cancelled_while_running == 0);
  CHECK_FALSE(err_before_wait);
  CHECK(err_after_wait == goro::errc::canceled);
  CHECK(cause_after_wait == goro::errc::canceled);
}

// Intent: wait() on a group with no members returns empty at once, and cancels context().
TEST_CASE("group: wait on an empty group returns empty at once") {
  watchdog dog("group empty", 60s);
  std::error_code result{goro::errc::canceled}, err_after;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::group g;
    result = co_await g.wait();
    err_after = g.context().err();
  });
  CHECK_FALSE(result);
  CHECK(err_after == goro::errc::canceled);
}

// Intent: the first failure wins. Member "first" returns first_error after 10 ms, member
// "second" second_error after 40 ms (unless the context stops it first), four members
// wait on context().done() with a 30 s timer and return late_error when stopped, one
// member succeeds at once. wait() returns first_error, cause(context()) is first_error,
// err() canceled; the waiting members were stopped by the context, so the whole test
// takes far less than their 30 s.
TEST_CASE("group: the first error wins, cancels the context with it as cause, and stops the others") {
  watchdog dog("group first error wins", 60s);
  std::error_code result, cause_seen, err_seen, cause_seen_by_member;
  int stopped_early = 0, second_fired = 0;
  double elapsed_s = -1;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    const auto start = steady::now();
    goro::group g;
    const goro::context ctx = g.context();
    g.go([] {});  // succeeds
    g.go([ctx]() -> goro::task<std::error_code> {
      auto r = co_await goro::select(ctx.done(), goro::after(10ms));
      co_return r.index() == 1 ? first_error : late_error;
    });
    g.go([ctx, &second_fired]() -> goro::task<std::error_code> {
      auto r = co_await goro::select(ctx.done(), goro::after(40ms));
      second_fired += r.index() == 1;
      co_return r.index() == 1 ? second_error : late_error;
    });
    for (int i = 0; i < 4; ++i)
      g.go([ctx, &stopped_early, &cause_seen_by_member]() -> goro::task<std::error_code> {
        const bool stopped = co_await stopped_by(ctx);
        if (stopped) {
          ++stopped_early;
          cause_seen_by_member = goro::cause(ctx);
          co_return late_error;
        }
        co_return std::error_code();
      });
    result = co_await g.wait();
    cause_seen = goro::cause(g.context());
    err_seen = g.context().err();
    elapsed_s = std::chrono::duration<double>(steady::now() - start).count();
  });
  INFO("the 40 ms member's timer fired: " << second_fired);
  CHECK(result == first_error);
  CHECK(cause_seen == first_error);
  CHECK(cause_seen_by_member == first_error);
  CHECK(err_seen == goro::errc::canceled);
  CHECK(stopped_early == 4);
  CHECK(elapsed_s < 10);  // generous: the stopped members' timers were 30 s
}

// Intent: a member's exception is rethrown by wait(), but only after every member has
// finished: a slow member that ignores the context (it sleeps 50 ms) has finished when
// the exception arrives. cause is errc::task_threw; members watching the context saw it.
TEST_CASE("group: an exception from a member is rethrown by wait after all members finished") {
  watchdog dog("group exception", 60s);
  std::string caught;
  bool slow_finished_at_catch = false, watcher_stopped = false;
  std::error_code cause_seen, err_seen;
  goro::run(goro::config{.maxprocs = 2}, [&]() -> goro::task<> {
    goro::group g;
    std::atomic<bool> slow_finished{false};
    const goro::context ctx = g.context();
    g.go([&]() -> goro::task<> {
      co_await goro::sleep_for(50ms);  // ignores the context
      slow_finished.store(true);
    });
    g.go([]() -> goro::task<> {
      co_await goro::sleep_for(2ms);
      throw std::runtime_error("member failed");
    });
    g.go([ctx, &watcher_stopped]() -> goro::task<> { watcher_stopped = co_await stopped_by(ctx); });
    try {
      auto ec = co_await g.wait();
      caught = "no exception; wait returned " + ec.message();
    } catch (const std::runtime_error& e) {
      caught = e.what();
      slow_finished_at_catch = slow_finished.load();
    }
    cause_seen = goro::cause(g.context());
    err_seen = g.context().err();
  });
  CHECK(caught == "member failed");
  CHECK(slow_finished_at_catch);
  CHECK(watcher_stopped);
  CHECK(cause_seen == goro::errc::task_threw);
  CHECK(err_seen == goro::errc::canceled);
}

// Intent: the first failure is what wait() reports whatever its kind: an error_code
// returned before an exception wins (wait returns it, does not throw); an exception
// before an error_code wins (wait throws). A plain callable's exception counts too.
TEST_CASE("group: the first failure wins whatever its kind; later ones are dropped") {
  watchdog dog("group failure kinds", 60s);
  std::error_code ec_first_result, ec_first_cause;
  bool ec_first_threw = true;
  std::string exception_first_caught, plain_caught;
  std::error_code exception_first_cause, plain_cause;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    {
      goro::group g;
      g.go([]() -> std::error_code { return first_error; });
      g.go([]() -> goro::task<> {
        co_await goro::sleep_for(5ms);
        throw std::runtime_error("late exception");
      });
      try {
        ec_first_result = co_await g.wait();
        ec_first_threw = false;
      } catch (...) {
        ec_first_threw = true;
      }
      ec_first_cause = goro::cause(g.context());
    }
    {
      goro::group g;
      g.go([]() -> goro::task<std::error_code> {
        co_await goro::yield();
        throw std::logic_error("early exception");
      });
      g.go([]() -> goro::task<std::error_code> {
        co_await goro::sleep_for(5ms);
        co_return second_error;
      });
      try {
        auto ec = co_await g.wait();
        exception_first_caught = "returned " + ec.message();
      } catch (const std::logic_error& e) {
        exception_first_caught = e.what();
      }
      exception_first_cause = goro::cause(g.context());
    }
    {
      goro::group g;
      g.go([] { throw std::out_of_range("plain callable threw"); });
      try {
        auto ec = co_await g.wait();
        plain_caught = "returned " + ec.message();
      } catch (const std::out_of_range& e) {
        plain_caught = e.what();
      }
      plain_cause = goro::cause(g.context());
    }
  });
  CHECK_FALSE(ec_first_threw);
  CHECK(ec_first_result == first_error);
  CHECK(ec_first_cause == first_error);
  CHECK(exception_first_caught == "early exception");
  CHECK(exception_first_cause == goro::errc::task_threw);
  CHECK(plain_caught == "plain callable threw");
  CHECK(plain_cause == goro::errc::task_threw);
}

// Intent: set_limit(3) on one worker: with 12 members that each hold their slot across a
// short sleep, exactly 3 run at once at the peak (never more) and all 12 run.
TEST_CASE("group: set_limit(n) bounds concurrently running members to n, and all run") {
  watchdog dog("group set_limit", 60s);
  constexpr int members = 12, limit = 3;
  int max_running = 0, ran = 0;
  std::error_code result{goro::errc::canceled};
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::group g;
    g.set_limit(limit);
    int running = 0;
    for (int i = 0; i < members; ++i)
      g.go([&]() -> goro::task<> {
        ++running;
        max_running = std::max(max_running, running);
        co_await goro::sleep_for(2ms);
        co_await goro::yield();
        --running;
        ++ran;
      });
    result = co_await g.wait();
  });
  CHECK_FALSE(result);
  CHECK(max_running == limit);
  CHECK(ran == members);
}

// Intent: the same on four workers with plain callables and coroutines mixed: the number
// running never exceeds the limit, and every member runs.
TEST_CASE("group: set_limit on four workers: never more than n at once") {
  watchdog dog("group set_limit four workers", 60s);
  constexpr int members = 200, limit = 5;
  std::atomic<int> running{0}, max_running{0}, ran{0};
  goro::run(goro::config{.maxprocs = 4}, [&]() -> goro::task<> {
    goro::group g;
    g.set_limit(limit);
    auto enter = [&] {
      const int now = running.fetch_add(1) + 1;
      int seen = max_running.load();
      while (now > seen && !max_running.compare_exchange_weak(seen, now)) {
      }
    };
    for (int i = 0; i < members; ++i) {
      if (i % 2)
        g.go([&]() -> goro::task<> {
          enter();
          co_await goro::yield();
          running.fetch_sub(1);
          ran.fetch_add(1);
        });
      else
        g.go([&] {
          enter();
          std::this_thread::yield();
          running.fetch_sub(1);
          ran.fetch_add(1);
        });
    }
    auto ec = co_await g.wait();
    (void)ec;
  });
  CHECK(max_running.load() <= limit);
  CHECK(max_running.load() >= 1);
  CHECK(ran.load() == members);
}

// Intent: try_go with the limit reached returns false and does not run the callable;
// with a slot free it returns true and the member runs. Without a limit it always
// starts the member.
TEST_CASE("group: try_go refuses when the limit is reached and starts a member when a slot is free") {
  watchdog dog("group try_go", 60s);
  bool first = false, second = false, third = true, after_wait = false, unlimited = false;
  int ran = 0, refused_ran = 0;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::group g;
    g.set_limit(2);
    goro::chan<> gate;
    auto blocker = [&]() -> goro::task<> {
      co_await gate.recv();
      ++ran;
    };
    first = g.try_go(blocker);
    second = g.try_go(blocker);
    third = g.try_go([&] { ++refused_ran; });
    co_await goro::yield();
    gate.close();
    auto ec = co_await g.wait();
    (void)ec;
    after_wait = g.try_go([&] { ++ran; });
    auto ec2 = co_await g.wait();
    (void)ec2;

    goro::group free_group;
    unlimited = true;
    for (int i = 0; i < 50; ++i) unlimited = unlimited && free_group.try_go([&] { ++ran; });
    auto ec3 = co_await free_group.wait();
    (void)ec3;
  });
  CHECK(first);
  CHECK(second);
  CHECK_FALSE(third);
  CHECK(refused_ran == 0);
  CHECK(after_wait);
  CHECK(unlimited);
  CHECK(ran == 2 + 1 + 50);
}

// Intent: changing the limit while members run is a panic_error (as in Go) and changes
// nothing (the old limit still holds); once they finished it is allowed again, and a
// negative limit removes it.
TEST_CASE("group: set_limit while members run throws panic_error") {
  watchdog dog("group set_limit while running", 60s);
  bool threw = false, refused_by_old_limit = false, set_after_wait = false, unlimited_after_reset = false;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::group g;
    g.set_limit(1);
    goro::chan<> gate;
    g.go([&]() -> goro::task<> { co_await gate.recv(); });
    co_await settle();  // the member has taken the only slot
    try {
      g.set_limit(5);
    } catch (const goro::panic_error&) {
      threw = true;
    }
    refused_by_old_limit = !g.try_go([] {});
    gate.close();
    auto ec = co_await g.wait();
    (void)ec;
    try {
      g.set_limit(2);
      set_after_wait = true;
    } catch (const goro::panic_error&) {
    }
    g.set_limit(-1);
    goro::chan<> hold;
    unlimited_after_reset = true;
    for (int i = 0; i < 10; ++i)
      unlimited_after_reset = unlimited_after_reset && g.try_go([&]() -> goro::task<> { co_await hold.recv(); });
    hold.close();
    auto ec2 = co_await g.wait();
    (void)ec2;
  });
  CHECK(threw);
  CHECK(refused_by_old_limit);
  CHECK(set_after_wait);
  CHECK(unlimited_after_reset);
}

// Intent: Go's SetLimit(0) ("a limit of zero will prevent any new goroutines from being
// added"): try_go refuses (returns false; "starts a member only if a slot is free now,
// and returns whether it did"), and a go() member waits for a slot that never comes,
// without calling f and without a panic. goro::run then ends with it parked (destroyed).
TEST_CASE("group: with set_limit(0), try_go returns false and a go() member waits without running") {
  watchdog dog("group limit zero", 60s);
  std::mutex mu;
  std::vector<std::string> panics;  // under mu
  goro::set_panic_handler([&](const goro::panic_info& info) {
    std::string what = "<not a std::exception>";
    try {
      std::rethrow_exception(info.exception);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    std::lock_guard lock(mu);
    panics.push_back(what);
  });
  std::string try_go_result = "not run";
  bool f_ran = false;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::group g;
    g.set_limit(0);
    try {
      try_go_result = g.try_go([&] { f_ran = true; }) ? "true" : "false";
    } catch (const std::exception& e) {
      try_go_result = std::string("threw: ") + e.what();
    }
    g.go([&] { f_ran = true; });
    co_await settle();
    co_await goro::sleep_for(2ms);
  });
  goro::set_panic_handler({});
  std::string panic_list;
  for (auto& p : panics) panic_list += p + "; ";
  INFO("panics: " << panic_list);
  CHECK(try_go_result == "false");
  CHECK_FALSE(f_ran);
  CHECK(panics.empty());
}

// Intent: go() and try_go() outside goro::run throw std::logic_error (goro::go's rule)
// and leave the group as it was: no member counted (set_limit is allowed, wait returns
// at once), and the slot try_go had taken is given back.
TEST_CASE("group: go outside goro::run throws and leaves the group usable") {
  watchdog dog("group go outside run", 60s);
  goro::group g;
  g.set_limit(1);
  CHECK_THROWS_AS(g.go([] {}), std::logic_error);
  CHECK_THROWS_AS(g.try_go([] {}), std::logic_error);
  CHECK_NOTHROW(g.set_limit(1));  // no member is counted as running
  bool slot_free = false, ran = false;
  std::error_code result{goro::errc::canceled};
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    slot_free = g.try_go([&] { ran = true; });
    result = co_await g.wait();
  });
  CHECK(slot_free);
  CHECK(ran);
  CHECK_FALSE(result);
}

// Intent: f and args are decay-copied into the member: a std::string argument that the
// caller overwrites and destroys right after go() arrives intact (by value and through a
// const& parameter, which binds to the member's copy); a lambda's by-value capture too;
// goro_test::counted arguments are destroyed exactly once and none outlives the run.
TEST_CASE("group: arguments are decay-copied and survive the caller's scope") {
  watchdog dog("group argument copies", 60s);
  const std::string text = "a string long enough to live on the heap, not in the small-string buffer";
  std::string by_value, by_ref, by_capture, temporary;
  int counted_value = 0;
  goro_test::counted::reset();
  goro::run(goro::config{.maxprocs = 2}, [&]() -> goro::task<> {
    goro::group g;
    goro::chan<> gate;
    {
      std::string local = text;
      g.go([&](std::string s) -> goro::task<> {
        co_await gate.recv();
        by_value = s;
      }, local);
      g.go([&](const std::string& s) -> goro::task<> {
        co_await gate.recv();
        by_ref = s;
      }, local);
      g.go([&, s = local]() -> goro::task<> {
        co_await gate.recv();
        by_capture = s;
      });
      g.go([&](const std::string& s) -> goro::task<> {
        co_await gate.recv();
        temporary = s;
      }, std::string(text));
      g.go([&](const goro_test::counted& c) -> goro::task<> {
        co_await gate.recv();
        counted_value = c.alive() ? c.value : -1;
      }, goro_test::counted(41));
      local.assign(local.size(), 'x');  // overwritten, then destroyed at the brace
    }
    co_await goro::yield();
    gate.close();
    auto ec = co_await g.wait();
    (void)ec;
  });
  CHECK(by_value == text);
  CHECK(by_ref == text);
  CHECK(by_capture == text);
  CHECK(temporary == text);
  CHECK(counted_value == 41);
  CHECK(goro_test::counted::live() == 0);
  CHECK(goro_test::counted::destroyed_twice.load() == 0);
}

// Intent: the parent's cancellation reaches context(): members waiting on it stop; it is
// not a member failure, so wait() returns empty; err() and cause() are canceled.
TEST_CASE("group: parent context cancellation reaches the group's context") {
  watchdog dog("group parent cancel", 60s);
  int stopped = 0;
  std::error_code result{goro::errc::deadline_exceeded}, err_seen, cause_seen;
  goro::run(goro::config{.maxprocs = 2}, [&]() -> goro::task<> {
    auto [parent, cancel] = goro::with_cancel(goro::background());
    goro::group g(parent);
    const goro::context ctx = g.context();
    std::atomic<int> stopped_count{0};
    for (int i = 0; i < 3; ++i)
      g.go([ctx, &stopped_count]() -> goro::task<> {
        const bool s = co_await stopped_by(ctx);
        if (s) stopped_count.fetch_add(1);
      });
    co_await goro::sleep_for(2ms);
    cancel();
    result = co_await g.wait();
    err_seen = g.context().err();
    cause_seen = goro::cause(g.context());
    stopped = stopped_count.load();
  });
  CHECK(stopped == 3);
  CHECK_FALSE(result);
  CHECK(err_seen == goro::errc::canceled);
  CHECK(cause_seen == goro::errc::canceled);
}

// Intent: a parent whose deadline passes: the group's context ends with deadline_exceeded.
TEST_CASE("group: a parent deadline reaches the group's context") {
  watchdog dog("group parent deadline", 60s);
  bool stopped = false;
  std::error_code err_seen;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    auto [parent, cancel] = goro::with_timeout(goro::background(), 5ms);
    goro::group g(parent);
    const goro::context ctx = g.context();
    g.go([ctx, &stopped]() -> goro::task<> { stopped = co_await stopped_by(ctx); });
    auto ec = co_await g.wait();
    (void)ec;
    err_seen = ctx.err();
  });
  CHECK(stopped);
  CHECK(err_seen == goro::errc::deadline_exceeded);
}

// Intent: a member may start further members (Go allows g.Go from inside a member);
// wait() waits for them too, since they were started before their starter finished.
TEST_CASE("group: members started by members are waited for") {
  watchdog dog("group nested members", 60s);
  std::atomic<int> leaves{0};
  int leaves_at_wait = -1;
  goro::run(goro::config{.maxprocs = 2}, [&]() -> goro::task<> {
    goro::group g;
    for (int i = 0; i < 4; ++i)
      g.go([&]() -> goro::task<> {
        for (int j = 0; j < 4; ++j)
          g.go([&]() -> goro::task<> {
            co_await goro::sleep_for(1ms);
            leaves.fetch_add(1);
          });
        co_await goro::yield();
      });
    auto ec = co_await g.wait();
    (void)ec;
    leaves_at_wait = leaves.load();
  });
  CHECK(leaves_at_wait == 16);
}

// Intent: a member queued for a slot when another fails still runs f (go() started it;
// the limit only delays it), and it sees the cancelled context at once.
TEST_CASE("group: a member queued for a slot still runs after a failure and sees the cancelled context") {
  watchdog dog("group queued member after failure", 60s);
  bool queued_ran = false;
  std::error_code queued_saw, result;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::group g;
    g.set_limit(1);
    const goro::context ctx = g.context();
    g.go([]() -> goro::task<std::error_code> {
      co_await goro::sleep_for(1ms);
      co_return first_error;
    });
    co_await settle();  // the failing member holds the only slot
    g.go([ctx, &queued_ran, &queued_saw] {
      queued_ran = true;
      queued_saw = ctx.err();
    });
    result = co_await g.wait();
  });
  CHECK(result == first_error);
  CHECK(queued_ran);
  CHECK(queued_saw == goro::errc::canceled);
}

// Intent: destroying a group while members run cancels its context; the members keep
// what they share alive and finish on their own. On one worker with a limit of 1: a
// member that ignores the context holds the slot (sleeping), a watcher of the context
// and a plain member are queued for the slot; the group is destroyed; the sleeper
// finishes, and the queued ones get the slot in turn, the watcher stopping at once and
// the plain member seeing the cancelled context. A wait_group outside the group shows
// they all finished; ASan checks that nothing they touch was freed with the group. The
// same on two workers, where members may run before or after the group is gone.
TEST_CASE("group: destroying a group while members run does not crash; the members finish") {
  watchdog dog("group destroyed while running", 60s);
  int rounds_done = 0, watchers_stopped = 0, sleepers_finished = 0, plain_ran = 0, plain_saw_cancel = 0;
  for (unsigned procs : {1u, 2u}) {
    goro::run(goro::config{.maxprocs = procs}, [&]() -> goro::task<> {
      for (int round = 0; round < 20; ++round) {
        goro::wait_group finished;
        finished.add(3);
        bool watcher_stopped = false, sleeper_finished = false, ran = false;
        std::error_code saw;
        {
          auto g = std::make_unique<goro::group>();
          g->set_limit(1);
          const goro::context ctx = g->context();
          g->go([&finished, &sleeper_finished]() -> goro::task<> {
            co_await goro::sleep_for(2ms);  // ignores the context
            sleeper_finished = true;
            finished.done();
          });
          if (procs == 1) co_await settle();  // the sleeper holds the slot
          g->go([ctx, &finished, &watcher_stopped]() -> goro::task<> {
            watcher_stopped = co_await stopped_by(ctx);
            finished.done();
          });
          g->go([ctx, &finished, &ran, &saw] {
            ran = true;
            saw = ctx.err();
            finished.done();
          });
          if (procs == 1) co_await settle();  // both queued for the slot
          g.reset();
        }
        co_await finished.wait();
        ++rounds_done;
        watchers_stopped += watcher_stopped;
        sleepers_finished += sleeper_finished;
        plain_ran += ran;
        if (procs == 1) plain_saw_cancel += saw == goro::errc::canceled;
      }
    });
  }
  CHECK(rounds_done == 40);
  CHECK(sleepers_finished == 40);
  CHECK(plain_ran == 40);
  CHECK(watchers_stopped == 40);  // a watcher ends only by the context: its timer is 30 s
  CHECK(plain_saw_cancel == 20);
}
