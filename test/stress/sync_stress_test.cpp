// Stress tests for goro::mutex, goro::shared_mutex, goro::semaphore and goro::once
// (lib/sync.cpp): many tasks on every worker hammering one primitive with every way of
// using it, with invariants only the primitive can keep, meant to be run under
// ThreadSanitizer (a missing acquire/release pair is a report there) as well as plain.
//
// Design
//   1. Mutex hammer. 8 tasks x 200,000 critical sections on all workers (at least 2),
//      each section entered by lock(), scoped_lock() or try_lock() with lock() as the
//      fallback, picked at random per section. The section increments a plain (non
//      atomic) counter and a pair a/b (a first, b last; sometimes with a yield in
//      between, so another task could run while the lock is held): entering, a == b
//      must hold. One task now and then holds the lock across a 1.5 ms sleep, which
//      pushes the waiters past the 1 ms threshold into starvation mode, so hand-offs are
//      exercised too. A plain std::thread joins in with try_lock (try_* and unlock are
//      allowed from any thread; its unlock may have to wake a task). Each lock()'s wait
//      is timed: the requirement is that no waiter waits more than 1 s. The
//      final count must be exact.
//   2. shared_mutex writer progress. 6 readers re-acquire the shared lock in a loop
//      (lock_shared, scoped_lock_shared, try_lock_shared with fallback) until both
//      writers are done; 2 writers each complete 20,000 exclusive sections, each of which
//      bumps a version and rewrites 8 slots with it, yielding half way through now and
//      then. Readers (and writers, on entry) check that every slot equals the version:
//      a torn write seen means a reader and a writer were inside together. Every wait is
//      timed (< 1 s: neither side starves), and every reader must have got in while the
//      writers were still at work.
//   3. Semaphore with random weights. 16 tasks x 20,000 acquisitions of 1..size units on
//      a semaphore of random size (1-12), by acquire, try_acquire with fallback,
//      acquire(ctx) with a short deadline, acquire(ctx) whose cancel is sent to a task
//      that calls it after a random number of yields, select(acquire, channel), and
//      select(acquire, after). The invariant "units held <= size" is checked with a
//      plain counter. The semaphore cannot guard it (it admits several holders at once),
//      so a goro::mutex does: a holder adds its units after acquiring and subtracts them
//      before releasing, so the counter never exceeds the units really held, and a
//      counter above size proves an over-grant. A holder of all `size` units is alone by
//      definition: it does a non-atomic read-yield-write on a variable no other
//      synchronisation guards (a lost update, or a TSan report, if two were inside). A
//      release goes through a releaser task now and then (release from another task).
//      Every acquire that failed (error_code, or a select won by another case) must
//      have taken nothing: at the end available() == size.
//   4. acquire(ctx) racing cancel. 20,000 rounds: the main task holds some of a small
//      semaphore's units while three waiters with their own contexts and random weights
//      park; the main task then cancels the contexts and releases its units in a random
//      order with random yields in between, on two workers, so grants and cancels race.
//      A waiter that got the units releases them; one that did not must see
//      errc::canceled. After every round available() == size: no unit leaked.
//   5. once under racing callers: 10,000 fresh once objects, 4 callers each on all
//      workers; f is plain, a coroutine that yields, or one that throws on its first
//      invocation. f succeeds exactly once per object, an exception reaches exactly one
//      caller (and then f runs exactly twice), and every caller that returned normally
//      sees f's non-atomic result. The run reports how many callers came in while
//      another caller's f was in flight (about a quarter of them on two workers), to
//      show the race is really run.
// No check runs inside a task (doctest is not thread-safe): tasks record violations in a
// `problems` list checked after goro::run. Every run checks goro::num_tasks() == 1 at its
// end (nothing stranded).
//
// Seeds: GORO_STRESS_SEED=<n> fixes the base seed (otherwise random); it fixes every
// random choice of a test (kinds of lock, weights, modes, yields), not the interleaving.
// Every failed check prints it, and so does the watchdog (300 s per test case) if a run
// hangs.
//
// g++ 12.2 note: the task bodies are coroutines with parameters; none has a co_await as
// the bare condition of an if or while (README "Known compiler issues").
#include <doctest/doctest.h>

#include <goro/goro.hpp>

#include "test_support.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using goro_test::problems;
using goro_test::rng;
using goro_test::settled_num_tasks;
using goro_test::test_case_seed;
using goro_test::watchdog;
using steady = goro::clock;  // not `using goro::clock`: it would clash with ::clock()

namespace {

// ---------------------------------------------------------------- helpers

watchdog stress_watchdog(const char* what) { return goro_test::stress_watchdog(what, 300s); }

// Every worker the machine has, and at least two so that tasks really run in parallel.
unsigned all_workers() { return std::max(2u, std::thread::hardware_concurrency()); }

double ms(steady::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// ---------------------------------------------------------------- 1. mutex hammer

struct hammer_state {
  goro::mutex m;
  long counter = 0;   // under m
  long a = 0, b = 0;  // under m: equal whenever m is free
  goro::wait_group finished;
  problems bad;
};

struct hammer_result {
  steady::duration max_wait{};
  long waits = 0, fallbacks = 0, yields_holding = 0, long_holds = 0;
};

// The critical section: a/b must be equal on entry (nobody else is inside or half done).
goro::task<> hammer_section(hammer_state& s, hammer_result& out, bool yield_inside, bool long_hold) {
  if (s.a != s.b) s.bad.add("mutex: entered with a=" + std::to_string(s.a) + " b=" + std::to_string(s.b));
  ++s.a;
  ++s.counter;
  if (yield_inside) {
    ++out.yields_holding;
    co_await goro::yield();
  }
  if (long_hold) {
    ++out.long_holds;
    co_await goro::sleep_for(1500us);  // the waiters pass 1 ms: starvation mode
  }
  ++s.b;
}

goro::task<> hammer_task(hammer_state& s, hammer_result& out, std::uint64_t seed, int iterations, bool long_holder) {
  rng r{seed};
  for (int i = 0; i < iterations; ++i) {
    const std::uint32_t kind = r.below(3);
    const bool yield_inside = r.below(256) == 0;
    const bool long_hold = long_holder && i % 4096 == 4095;
    const auto t0 = steady::now();
    if (kind == 0) {
      co_await s.m.lock();
      out.max_wait = std::max(out.max_wait, steady::now() - t0);
      ++out.waits;
      auto section = hammer_section(s, out, yield_inside, long_hold);
      co_await std::move(section);
      s.m.unlock();
    } else if (kind == 1) {
      auto lock = co_await s.m.scoped_lock();
      out.max_wait = std::max(out.max_wait, steady::now() - t0);
      ++out.waits;
      auto section = hammer_section(s, out, yield_inside, long_hold);
      co_await std::move(section);
    } else {
      const bool got = s.m.try_lock();
      if (!got) {
        ++out.fallbacks;
        co_await s.m.lock();
        out.max_wait = std::max(out.max_wait, steady::now() - t0);
        ++out.waits;
      }
      auto section = hammer_section(s, out, yield_inside, long_hold);
      co_await std::move(section);
      s.m.unlock();
    }
    if (r.below(128) == 0) co_await goro::yield();
  }
  s.finished.done();
}

}  // namespace

TEST_CASE("mutex hammer: 8 tasks x 200,000 sections on all workers, exact count, no wait over 1 s") {
  auto dog = stress_watchdog("mutex hammer");
  const std::uint64_t seed = test_case_seed();
  constexpr int tasks = 8, iterations = 200'000;
  const unsigned procs = all_workers();
  hammer_state s;
  std::vector<hammer_result> results(tasks);
  long thread_sections = 0, thread_tries = 0;
  std::size_t tasks_left = 0;
  const auto start = steady::now();
  goro::run(goro::config{.maxprocs = procs}, [&]() -> goro::task<> {
    std::atomic<bool> stop{false};
    // A plain thread competing through try_lock (and an unlock that may wake a task).
    // The handle: its unlock may wake a task while every task is parked.
    std::thread outsider([&, hold = goro::external_handle()] {
      while (!stop.load(std::memory_order_relaxed) && thread_tries < 5'000'000) {  // relaxed: only ends the loop
        ++thread_tries;
        if (!s.m.try_lock()) {
          std::this_thread::yield();
          continue;
        }
        if (s.a != s.b) s.bad.add("mutex: the std::thread entered with a != b");
        ++s.a;
        ++s.counter;
        ++s.b;
        ++thread_sections;
        s.m.unlock();
        if (thread_sections % 64 == 0) std::this_thread::yield();
      }
    });
    rng r{seed};
    for (int t = 0; t < tasks; ++t) {
      s.finished.add(1);
      goro::go(hammer_task, std::ref(s), std::ref(results[t]), r.next(), iterations, t == 0);
    }
    co_await s.finished.wait();
    stop.store(true, std::memory_order_relaxed);
    outsider.join();
    tasks_left = co_await settled_num_tasks();
  });
  const double elapsed_ms = ms(steady::now() - start);
  steady::duration max_wait{};
  long waits = 0, fallbacks = 0, yields_holding = 0, long_holds = 0;
  for (auto& r : results) {
    max_wait = std::max(max_wait, r.max_wait);
    waits += r.waits;
    fallbacks += r.fallbacks;
    yields_holding += r.yields_holding;
    long_holds += r.long_holds;
  }
  INFO("seed " << seed << " (GORO_STRESS_SEED), maxprocs " << procs);
  MESSAGE("mutex hammer: " << elapsed_ms << " ms, maxprocs " << procs << ", longest lock() wait " << ms(max_wait)
                           << " ms over " << waits << " waits (" << fallbacks << " try_lock fallbacks), "
                           << yields_holding << " yields and " << long_holds << " 1.5 ms sleeps holding the lock; "
                           << "std::thread: " << thread_sections << " sections in " << thread_tries << " tries");
  CHECK_NO_PROBLEMS(s.bad);
  CHECK(s.counter == long{tasks} * iterations + thread_sections);
  CHECK(s.a == s.counter);
  CHECK(s.b == s.counter);
  CHECK(ms(max_wait) < 1000.0);  // the requirement: no waiter waits more than 1 s
  CHECK(tasks_left == 1);
  CHECK(s.m.try_lock());
  s.m.unlock();
}

// ---------------------------------------------------------------- 2. shared_mutex writer progress

namespace {

constexpr int rw_slots = 8;

struct rw_state {
  goro::shared_mutex m;
  long version = 0;            // under m (exclusive)
  long slots[rw_slots] = {};   // under m (exclusive): all equal to version whenever no writer is inside
  std::atomic<int> writers_left{0};
  goro::wait_group finished;
  problems bad;
};

struct rw_result {
  steady::duration max_wait{};
  long sections = 0, sections_while_writing = 0;
};

void check_slots(rw_state& s, const char* who) {
  for (long v : s.slots)
    if (v != s.version) {
      s.bad.add(std::string(who) + ": slot " + std::to_string(v) + " != version " + std::to_string(s.version));
      return;
    }
}

goro::task<> rw_reader(rw_state& s, rw_result& out, std::uint64_t seed) {
  rng r{seed};
  for (;;) {
    const std::uint32_t kind = r.below(3);
    const auto t0 = steady::now();
    std::optional<goro::shared_mutex::shared_lock> scoped;
    if (kind == 0) {
      co_await s.m.lock_shared();
    } else if (kind == 1) {
      scoped.emplace(co_await s.m.scoped_lock_shared());
    } else {
      const bool got = s.m.try_lock_shared();
      if (!got) co_await s.m.lock_shared();
    }
    out.max_wait = std::max(out.max_wait, steady::now() - t0);
    check_slots(s, "reader");
    if (r.below(64) == 0) {
      co_await goro::yield();  // holding the shared lock
      check_slots(s, "reader after a yield");
    }
    if (scoped)
      scoped.reset();
    else
      s.m.unlock_shared();
    ++out.sections;
    // relaxed: a progress flag; the data is published by the lock.
    const bool writing = s.writers_left.load(std::memory_order_relaxed) > 0;
    out.sections_while_writing += writing;
    if (!writing) break;
    if (r.below(32) == 0) co_await goro::yield();
  }
  s.finished.done();
}

goro::task<> rw_writer(rw_state& s, rw_result& out, std::uint64_t seed, int sections) {
  rng r{seed};
  for (int i = 0; i < sections; ++i) {
    const std::uint32_t kind = r.below(3);
    const auto t0 = steady::now();
    std::optional<goro::shared_mutex::exclusive_lock> scoped;
    if (kind == 0) {
      co_await s.m.lock();
    } else if (kind == 1) {
      scoped.emplace(co_await s.m.scoped_lock());
    } else {
      const bool got = s.m.try_lock();
      if (!got) co_await s.m.lock();
    }
    out.max_wait = std::max(out.max_wait, steady::now() - t0);
    check_slots(s, "writer on entry");
    ++s.version;
    const bool yield_half_way = r.below(16) == 0;
    for (int k = 0; k < rw_slots; ++k) {
      s.slots[k] = s.version;
      if (yield_half_way && k == rw_slots / 2) co_await goro::yield();
    }
    if (scoped)
      scoped.reset();
    else
      s.m.unlock();
    ++out.sections;
    if (r.below(8) == 0) co_await goro::yield();
  }
  s.writers_left.fetch_sub(1, std::memory_order_relaxed);  // relaxed: see rw_reader
  s.finished.done();
}

}  // namespace

TEST_CASE("shared_mutex: 2 writers complete their sections while 6 readers keep re-acquiring") {
  auto dog = stress_watchdog("shared_mutex writer progress");
  const std::uint64_t seed = test_case_seed();
  constexpr int readers = 6, writers = 2, sections = 20'000;
  const unsigned procs = all_workers();
  rw_state s;
  std::vector<rw_result> reader_results(readers), writer_results(writers);
  std::size_t tasks_left = 0;
  const auto start = steady::now();
  goro::run(goro::config{.maxprocs = procs}, [&]() -> goro::task<> {
    rng r{seed};
    s.writers_left.store(writers);
    for (int i = 0; i < readers; ++i) {
      s.finished.add(1);
      goro::go(rw_reader, std::ref(s), std::ref(reader_results[i]), r.next());
    }
    co_await goro::yield();  // readers first: the writers arrive at a busy lock
    for (int i = 0; i < writers; ++i) {
      s.finished.add(1);
      goro::go(rw_writer, std::ref(s), std::ref(writer_results[i]), r.next(), sections);
    }
    co_await s.finished.wait();
    tasks_left = co_await settled_num_tasks();
  });
  const double elapsed_ms = ms(steady::now() - start);
  steady::duration reader_max{}, writer_max{};
  long reader_sections = 0, min_reader_while_writing = -1;
  for (auto& r : reader_results) {
    reader_max = std::max(reader_max, r.max_wait);
    reader_sections += r.sections;
    min_reader_while_writing = min_reader_while_writing < 0 ? r.sections_while_writing
                                                            : std::min(min_reader_while_writing, r.sections_while_writing);
  }
  for (auto& w : writer_results) writer_max = std::max(writer_max, w.max_wait);
  INFO("seed " << seed << " (GORO_STRESS_SEED), maxprocs " << procs);
  MESSAGE("shared_mutex: " << elapsed_ms << " ms, " << reader_sections << " reader sections, longest waits: reader "
                           << ms(reader_max) << " ms, writer " << ms(writer_max) << " ms");
  CHECK_NO_PROBLEMS(s.bad);
  CHECK(s.version == long{writers} * sections);
  for (auto& w : writer_results) CHECK(w.sections == sections);
  CHECK(min_reader_while_writing >= 1);  // every reader got in while the writers worked
  CHECK(ms(writer_max) < 1000.0);
  CHECK(ms(reader_max) < 1000.0);
  CHECK(elapsed_ms < 120'000.0);  // generous: a writer starved by readers would never end
  CHECK(tasks_left == 1);
  CHECK(s.m.try_lock());
  s.m.unlock();
}

// ---------------------------------------------------------------- 3. semaphore with random weights

namespace {

struct sem_state {
  explicit sem_state(std::int64_t n) : sem(n), size(n) {}
  goro::semaphore sem;
  const std::int64_t size;
  goro::mutex m;
  std::int64_t held = 0, max_held = 0;  // under m: never above the units really held
  long exclusive_value = 0;             // touched only by a holder of all `size` units
  std::atomic<long> exclusive_entries{0};
  goro::chan<std::int64_t> to_releaser{16};
  goro::chan<goro::cancel_func> to_canceller{64};
  goro::chan<int> noise{1};
  std::atomic<long> acquired{0}, deadline_failures{0}, cancel_failures{0}, select_lost{0}, released_elsewhere{0};
  goro::wait_group workers;
  problems bad;
};

goro::task<> sem_worker(sem_state& s, std::uint64_t seed, int iterations) {
  rng r{seed};
  for (int i = 0; i < iterations; ++i) {
    const std::int64_t w = 1 + r.below(static_cast<std::uint32_t>(s.size));
    const std::uint32_t mode = r.below(6);
    bool got = false;
    if (mode == 0) {
      co_await s.sem.acquire(w);
      got = true;
    } else if (mode == 1) {
      got = s.sem.try_acquire(w);
      if (!got) {
        co_await s.sem.acquire(w);
        got = true;
      }
    } else if (mode == 2) {
      auto [ctx, cancel] = goro::with_timeout(goro::background(), std::chrono::microseconds(r.below(300)));
      const std::error_code ec = co_await s.sem.acquire(ctx, w);
      got = !ec;
      if (ec) {
        s.deadline_failures.fetch_add(1, std::memory_order_relaxed);
        if (ec != goro::errc::deadline_exceeded) s.bad.add("acquire(ctx) with a deadline: " + ec.message());
      }
    } else if (mode == 3) {
      auto [ctx, cancel] = goro::with_cancel(goro::background());
      co_await s.to_canceller.send(std::move(cancel));  // cancelled some yields from now, racing us
      const std::error_code ec = co_await s.sem.acquire(ctx, w);
      got = !ec;
      if (ec) {
        s.cancel_failures.fetch_add(1, std::memory_order_relaxed);
        if (ec != goro::errc::canceled) s.bad.add("acquire(ctx) cancelled: " + ec.message());
      }
    } else if (mode == 4) {
      auto res = co_await goro::select(s.sem.acquire(w), s.noise.recv());
      got = res.index() == 0;
    } else {
      auto res = co_await goro::select(s.sem.acquire(w), goro::after(std::chrono::microseconds(r.below(200))));
      got = res.index() == 0;
    }
    if (!got) {
      if (mode >= 4) s.select_lost.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    s.acquired.fetch_add(1, std::memory_order_relaxed);
    {
      auto lock = co_await s.m.scoped_lock();
      s.held += w;
      s.max_held = std::max(s.max_held, s.held);
      if (s.held > s.size)
        s.bad.add("semaphore over-granted: " + std::to_string(s.held) + " units held of " + std::to_string(s.size));
    }
    if (w == s.size) {  // alone by definition
      const long v = s.exclusive_value;
      co_await goro::yield();
      s.exclusive_value = v + 1;
      s.exclusive_entries.fetch_add(1, std::memory_order_relaxed);
    } else if (r.below(8) == 0) {
      co_await goro::yield();  // holding the units
    }
    {
      auto lock = co_await s.m.scoped_lock();
      s.held -= w;
    }
    if (r.below(8) == 0) {
      s.released_elsewhere.fetch_add(1, std::memory_order_relaxed);
      co_await s.to_releaser.send(w);  // released by another task
    } else {
      s.sem.release(w);
    }
  }
  s.workers.done();
}

goro::task<> sem_releaser(sem_state& s) {
  for (;;) {
    auto n = co_await s.to_releaser.recv();
    if (!n) break;
    s.sem.release(*n);
  }
}

goro::task<> sem_canceller(sem_state& s, std::uint64_t seed) {
  rng r{seed};
  for (;;) {
    auto c = co_await s.to_canceller.recv();
    if (!c) break;
    const std::uint32_t yields = r.below(4);
    for (std::uint32_t i = 0; i < yields; ++i) co_await goro::yield();
    (*c)();
  }
}

goro::task<> sem_noise(sem_state& s, goro::chan<> stop) {
  for (;;) {
    auto res = co_await goro::select(s.noise.send(1), stop.recv());
    if (res.index() == 1) break;
    co_await goro::yield();
  }
}

}  // namespace

TEST_CASE("semaphore: random weights over 16 tasks never over-grant and leak nothing") {
  auto dog = stress_watchdog("semaphore random weights");
  const std::uint64_t seed = test_case_seed();
  constexpr int tasks = 16, iterations = 20'000;
  const unsigned procs = all_workers();
  rng pick{seed};
  const std::int64_t size = 1 + pick.below(12);
  sem_state s(size);
  std::size_t tasks_left = 0;
  std::int64_t available_at_end = -1;
  const auto start = steady::now();
  goro::run(goro::config{.maxprocs = procs}, [&]() -> goro::task<> {
    goro::wait_group helpers;
    goro::chan<> stop_noise;
    helpers.add(3);
    goro::go([&]() -> goro::task<> {
      auto body = sem_releaser(s);
      co_await std::move(body);
      helpers.done();
    });
    goro::go([&, c = pick.next()]() -> goro::task<> {
      auto body = sem_canceller(s, c);
      co_await std::move(body);
      helpers.done();
    });
    goro::go([&]() -> goro::task<> {
      auto body = sem_noise(s, stop_noise);
      co_await std::move(body);
      helpers.done();
    });
    for (int t = 0; t < tasks; ++t) {
      s.workers.add(1);
      goro::go(sem_worker, std::ref(s), pick.next(), iterations);
    }
    co_await s.workers.wait();
    s.to_releaser.close();
    s.to_canceller.close();
    stop_noise.close();
    co_await helpers.wait();
    available_at_end = s.sem.available();
    tasks_left = co_await settled_num_tasks();
  });
  const double elapsed_ms = ms(steady::now() - start);
  INFO("seed " << seed << " (GORO_STRESS_SEED), size " << size << ", maxprocs " << procs);
  MESSAGE("semaphore of size " << size << ": " << elapsed_ms << " ms, " << s.acquired.load() << " acquisitions, "
                               << s.deadline_failures.load() << " deadline and " << s.cancel_failures.load()
                               << " cancel failures, " << s.select_lost.load() << " selects lost, "
                               << s.exclusive_entries.load() << " exclusive holds, " << s.released_elsewhere.load()
                               << " releases by another task, max held " << s.max_held);
  CHECK_NO_PROBLEMS(s.bad);
  CHECK(s.max_held <= size);
  CHECK(s.held == 0);
  CHECK(s.exclusive_value == s.exclusive_entries.load());
  CHECK(available_at_end == size);
  CHECK(tasks_left == 1);
}

// ---------------------------------------------------------------- 4. acquire(ctx) racing cancel

namespace {

struct cancel_round {
  goro::semaphore* sem;
  std::int64_t weight = 0;
  std::error_code result;
  bool returned = false;
};

goro::task<> cancel_waiter(cancel_round& w, goro::context ctx, goro::wait_group& finished, problems& bad,
                           std::uint64_t seed) {
  rng r{seed};
  const std::error_code ec = co_await w.sem->acquire(ctx, w.weight);
  w.result = ec;
  w.returned = true;
  if (!ec) {
    const std::uint32_t yields = r.below(3);
    for (std::uint32_t i = 0; i < yields; ++i) co_await goro::yield();
    w.sem->release(w.weight);
  } else if (ec != goro::errc::canceled) {
    bad.add("acquire(ctx) returned " + ec.message());
  }
  finished.done();
}

}  // namespace

TEST_CASE("semaphore: acquire(ctx) racing cancel and release never leaks a unit") {
  auto dog = stress_watchdog("semaphore acquire(ctx) racing cancel");
  const std::uint64_t seed = test_case_seed();
  constexpr int rounds = 20'000, waiters = 3;
  constexpr std::int64_t size = 4;
  problems bad;
  long leaked_rounds = 0, successes = 0, cancels = 0;
  std::size_t tasks_left = 0;
  goro::run(goro::config{.maxprocs = 2}, [&]() -> goro::task<> {
    rng r{seed};
    goro::semaphore sem(size);
    for (int round = 0; round < rounds; ++round) {
      const std::int64_t hold = r.below(size + 1);
      if (hold) co_await sem.acquire(hold);
      std::vector<cancel_round> ws(waiters);
      std::vector<goro::cancel_func> cancels_left;
      goro::wait_group finished;
      for (auto& w : ws) {
        w.sem = &sem;
        w.weight = 1 + r.below(size);
        auto [ctx, cancel] = goro::with_cancel(goro::background());
        cancels_left.push_back(std::move(cancel));
        finished.add(1);
        goro::go(cancel_waiter, std::ref(w), ctx, std::ref(finished), std::ref(bad), r.next());
      }
      // Cancel every context and release the hold, in a random order, yielding a random
      // number of times in between: grants (by the release) race the cancels.
      std::vector<int> order(waiters);
      for (int i = 0; i < waiters; ++i) order[i] = i;
      for (int i = waiters - 1; i > 0; --i) std::swap(order[i], order[r.below(static_cast<std::uint32_t>(i + 1))]);
      const std::uint32_t release_at = r.below(waiters + 1);
      for (int i = 0; i <= waiters; ++i) {
        if (static_cast<std::uint32_t>(i) == release_at && hold) sem.release(hold);
        if (i < waiters) {
          const std::uint32_t yields = r.below(3);
          for (std::uint32_t y = 0; y < yields; ++y) co_await goro::yield();
          cancels_left[order[i]]();
        }
      }
      co_await finished.wait();
      for (auto& w : ws) {
        if (!w.returned) bad.add("a waiter did not return");
        (w.result ? cancels : successes) += 1;
      }
      if (sem.available() != size) {
        ++leaked_rounds;
        bad.add("round " + std::to_string(round) + ": available " + std::to_string(sem.available()) + " of " +
                std::to_string(size));
        break;
      }
    }
    tasks_left = co_await settled_num_tasks();
  });
  INFO("seed " << seed << " (GORO_STRESS_SEED)");
  MESSAGE("acquire(ctx) racing cancel: " << successes << " acquired, " << cancels << " cancelled");
  CHECK_NO_PROBLEMS(bad);
  CHECK(leaked_rounds == 0);
  CHECK(successes + cancels == long{rounds} * waiters);
  CHECK(tasks_left == 1);
}

// ---------------------------------------------------------------- 5. once under racing callers

namespace {

enum class once_mode : std::uint8_t { plain, coroutine, throws_first };

struct once_round {
  goro::once o;
  once_mode mode = once_mode::plain;
  long value = 0;  // written by f only; read by callers after call() returned
  std::atomic<int> invocations{0}, successes{0}, exceptions{0};
  goro::wait_group finished;
  problems* bad = nullptr;
};

goro::task<> once_caller(once_round& rd, std::atomic<long>& overlapped) {
  bool ran_f = false;  // this caller's own f was invoked
  auto plain = [&rd, &ran_f] {
    ran_f = true;
    if (rd.mode == once_mode::throws_first && rd.invocations.fetch_add(1) == 0) throw std::runtime_error("first");
    if (rd.mode != once_mode::throws_first) rd.invocations.fetch_add(1);
    rd.value = 1234;
    rd.successes.fetch_add(1);
  };
  auto coroutine = [&rd, &ran_f]() -> goro::task<> {
    ran_f = true;
    rd.invocations.fetch_add(1);
    co_await goro::yield();
    rd.value = 1234;
    rd.successes.fetch_add(1);
  };
  const bool done_on_entry = rd.o.done();
  bool threw = false;
  try {
    if (rd.mode == once_mode::coroutine) {
      auto call = rd.o.call(coroutine);
      co_await std::move(call);
    } else {
      auto call = rd.o.call(plain);
      co_await std::move(call);
    }
  } catch (const std::runtime_error&) {
    threw = true;
    rd.exceptions.fetch_add(1);
  }
  if (!threw && (rd.value != 1234 || !rd.o.done())) rd.bad->add("a caller returned before f's effect was visible");
  // Came in before f was done and left without running its own f: it met another
  // caller's f in flight (it waited, or f finished in between).
  if (!done_on_entry && !ran_f) overlapped.fetch_add(1, std::memory_order_relaxed);
  rd.finished.done();
}

}  // namespace

TEST_CASE("once: 10,000 fresh once objects under racing callers") {
  auto dog = stress_watchdog("once racing callers");
  const std::uint64_t seed = test_case_seed();
  constexpr int rounds = 10'000, callers = 4;
  const unsigned procs = all_workers();
  problems bad;
  long wrong_runs = 0, wrong_exceptions = 0;
  std::atomic<long> overlapped{0};
  std::size_t tasks_left = 0;
  goro::run(goro::config{.maxprocs = procs}, [&]() -> goro::task<> {
    rng r{seed};
    for (int round = 0; round < rounds; ++round) {
      auto rd = std::make_unique<once_round>();
      rd->mode = static_cast<once_mode>(r.below(3));
      rd->bad = &bad;
      for (int c = 0; c < callers; ++c) {
        rd->finished.add(1);
        goro::go(once_caller, std::ref(*rd), std::ref(overlapped));
      }
      co_await rd->finished.wait();
      const bool throws = rd->mode == once_mode::throws_first;
      if (rd->successes.load() != 1 || rd->invocations.load() != (throws ? 2 : 1)) {
        if (wrong_runs++ == 0)
          bad.add("round " + std::to_string(round) + ": f invoked " + std::to_string(rd->invocations.load()) +
                  " times, succeeded " + std::to_string(rd->successes.load()) + " times");
      }
      if (rd->exceptions.load() != (throws ? 1 : 0)) ++wrong_exceptions;
    }
    tasks_left = co_await settled_num_tasks();
  });
  INFO("seed " << seed << " (GORO_STRESS_SEED), maxprocs " << procs);
  MESSAGE("once: " << overlapped.load() << " of " << rounds * callers
                   << " callers came in while another caller's f was in flight");
  CHECK_NO_PROBLEMS(bad);
  CHECK(wrong_runs == 0);
  CHECK(wrong_exceptions == 0);
  CHECK(tasks_left == 1);
}
