// Tests for include/goro/sync.hpp: goro::mutex, goro::shared_mutex, goro::once,
// goro::semaphore. (goro::group has test/group_test.cpp; races are in
// test/stress/sync_stress_test.cpp.)
//
// How "parked" and "in order" are observed without sleeping
//   1. With maxprocs = 1 nothing is stolen and nothing is preempted: a task that bumps a
//      counter right before `co_await m.lock()` (or any other wait) has either parked or
//      gone past the co_await by the time another task runs. The main task yields until
//      the counter says the task got there (then a few more times, `settle`), so tasks
//      queue in the order the main task started them, and a flag set after the co_await
//      tells whether the wait returned.
//   2. A probe task queued before a co_await runs only if the awaiting task suspends.
//   3. A plain std::thread that must act while every task is parked waits for the only
//      worker to be idle (runtime::idle_count, lib/runtime.hpp); it holds a
//      goro::external_handle meanwhile, or goro::run would report a deadlock.
// No sleep orders two tasks: the sleeps below create the "has waited more than 1 ms"
// condition of the mutex's starvation mode or a context's deadline, or give a wrong
// implementation time to misbehave.
//
// What each group checks
//   - mutex: try_lock, lock without suspending when free, a parked waiter woken by
//     unlock (from the locker, another task, a std::thread), scoped_lock at scope end,
//     on exception, moved and unlocked early; unlock of an unlocked mutex is a
//     panic_error that changes nothing; starvation mode's FIFO hand-off ahead of a task
//     that keeps re-locking; exact count of a small two-worker run; a waiter destroyed
//     at shutdown leaves the mutex consistent, also one that an unlock had already woken
//     (the mutex outlives the run, and the next run's waiters must still be woken).
//   - shared_mutex: readers together (all N hold it at once), a writer alone, a queued
//     writer holding back later readers, a writer's unlock admitting the readers queued
//     before the next writer, FIFO grants (a reader queued behind a queued writer comes
//     after it), try_* and scoped variants, the four unlock misuses, waiters destroyed at
//     shutdown.
//   - once: exactly one run under concurrent callers that all return after it and see
//     its effect, a coroutine f that suspends while callers wait, an exception that
//     reaches its caller and lets the next (waiting or later) caller run f, done().
//   - semaphore: weights, try_acquire, FIFO with a large request at the head, release
//     granting several waiters, acquire(ctx) on success / cancel / deadline taking
//     nothing on failure, a cancelled head letting the waiters behind it through, the
//     misuses (size, negative, over-release), acquire as a select case with a channel
//     (and a losing acquire case at the head unblocking the waiters behind it), waiters
//     destroyed at shutdown.
// Results are collected in plain variables and checked on the test thread after
// goro::run returns, so doctest assertions stay off worker threads.
#include <doctest/doctest.h>

#include <goro/goro.hpp>

#include "test_support.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "runtime.hpp"  // detail::runtime::current()->idle_count

using namespace std::chrono_literals;
using goro_test::watchdog;

namespace {

// Lets every runnable task run until it parks (maxprocs = 1; see the top of the file).
goro::task<> settle(int rounds = 8) {
  for (int i = 0; i < rounds; ++i) co_await goro::yield();
}

// Spins (yielding the CPU) until the runtime's only worker is parked, i.e. every task is
// suspended. Called from a thread outside the runtime.
void wait_until_worker_idle(goro::detail::runtime& rt) {
  while (rt.idle_count.load(std::memory_order_relaxed) == 0) std::this_thread::yield();
}

std::string show(const std::vector<int>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

// The message of a panic_error thrown by f, or "" if none was thrown.
template <class F>
std::string panic_message(F&& f) {
  try {
    f();
  } catch (const goro::panic_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

// ================================================================ mutex

// Intent: try_lock takes a free mutex and refuses a held one, outside the runtime too
// ("try_* may be called from any thread"); unlock frees it again.
TEST_CASE("mutex: try_lock takes a free mutex and refuses a held one") {
  goro::mutex m;
  CHECK(m.try_lock());
  CHECK_FALSE(m.try_lock());
  m.unlock();
  CHECK(m.try_lock());
  CHECK_FALSE(m.try_lock());
  m.unlock();

  // From another thread while this one holds it.
  REQUIRE(m.try_lock());
  bool other_thread_got_it = true;
  std::thread([&] { other_thread_got_it = m.try_lock(); }).join();
  CHECK_FALSE(other_thread_got_it);
  m.unlock();
  std::thread([&] { other_thread_got_it = m.try_lock(); }).join();
  CHECK(other_thread_got_it);
  m.unlock();
}

// Intent: co_await lock() on a free mutex does not suspend (the probe cannot run in
// between); on a held one it parks until unlock, and the waiter then holds the lock
// (try_lock fails until it unlocks).
TEST_CASE("mutex: lock does not suspend when free and parks until unlock when held") {
  watchdog dog("mutex lock/unlock", 60s);
  bool suspended_when_free = true, try_lock_while_held = true, waiter_in_before_unlock = true,
       waiter_in_after_unlock = false, try_lock_while_waiter_holds = true, try_lock_at_end = false;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::mutex m;
    bool probe_ran = false;
    goro::go([&] { probe_ran = true; });
    co_await m.lock();
    suspended_when_free = probe_ran;
    try_lock_while_held = m.try_lock();

    bool entered = false, in = false, release = false;
    goro::wait_group finished;
    finished.add(1);
    goro::chan<> gate;
    goro::go([&]() -> goro::task<> {
      entered = true;
      co_await m.lock();
      in = true;
      co_await gate.recv();  // holds the lock until the main task has looked
      release = true;
      m.unlock();
      finished.done();
    });
    while (!entered) co_await goro::yield();
    co_await settle();
    waiter_in_before_unlock = in;
    m.unlock();
    while (!in) co_await goro::yield();
    waiter_in_after_unlock = in;
    try_lock_while_waiter_holds = m.try_lock();
    gate.close();
    co_await finished.wait();
    try_lock_at_end = release && m.try_lock();
    if (try_lock_at_end) m.unlock();
  });
  CHECK_FALSE(suspended_when_free);
  CHECK_FALSE(try_lock_while_held);
  CHECK_FALSE(waiter_in_before_unlock);
  CHECK(waiter_in_after_unlock);
  CHECK_FALSE(try_lock_while_waiter_holds);
  CHECK(try_lock_at_end);
}

// Intent: scoped_lock() returns a mutex_lock that owns the lock and unlocks it at scope
// end, when an exception leaves the scope, and once only when unlocked early or moved.
TEST_CASE("mutex: scoped_lock unlocks at scope end, on exception, early and after a move") {
  watchdog dog("mutex scoped_lock", 60s);
  bool owned = false, held_in_scope = false, free_after_scope = false, caught = false, free_after_throw = false,
       early_unlock_frees = false, owns_after_early = true, moved_from_owns = true, moved_to_owns = false,
       held_after_move = false, free_after_moved_scope = false, assign_released_old = false;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::mutex m, other;
    {
      auto lock = co_await m.scoped_lock();
      owned = lock.owns_lock();
      held_in_scope = !m.try_lock();
    }
    free_after_scope = m.try_lock();
    if (free_after_scope) m.unlock();

    try {
      auto lock = co_await m.scoped_lock();
      throw std::runtime_error("leaving the scope");
    } catch (const std::runtime_error&) {
      caught = true;
    }
    free_after_throw = m.try_lock();
    if (free_after_throw) m.unlock();

    {
      auto lock = co_await m.scoped_lock();
      lock.unlock();
      early_unlock_frees = m.try_lock();  // we now hold it by hand
      owns_after_early = lock.owns_lock();
    }  // the lock object must not unlock a second time (that would free our manual lock)
    if (early_unlock_frees) {
      early_unlock_frees = !m.try_lock();  // still held by the manual lock
      m.unlock();
    }

    {
      auto lock = co_await m.scoped_lock();
      goro::mutex_lock moved = std::move(lock);
      moved_from_owns = lock.owns_lock();
      moved_to_owns = moved.owns_lock();
      held_after_move = !m.try_lock();
      auto second = co_await other.scoped_lock();
      second = std::move(moved);  // move assignment unlocks `other`, takes over m's lock
      assign_released_old = other.try_lock();
      if (assign_released_old) other.unlock();
    }  // m unlocked once, by `second`
    free_after_moved_scope = m.try_lock();
    if (free_after_moved_scope) m.unlock();
  });
  CHECK(owned);
  CHECK(held_in_scope);
  CHECK(free_after_scope);
  CHECK(caught);
  CHECK(free_after_throw);
  CHECK(early_unlock_frees);
  CHECK_FALSE(owns_after_early);
  CHECK_FALSE(moved_from_owns);
  CHECK(moved_to_owns);
  CHECK(held_after_move);
  CHECK(assign_released_old);
  CHECK(free_after_moved_scope);
}

// Intent: unlock of an unlocked mutex is Go's "unlock of unlocked mutex": a panic_error,
// thrown before anything changes: the mutex stays usable (try_lock succeeds, a later
// lock works), outside the runtime and inside it.
TEST_CASE("mutex: unlock of an unlocked mutex throws panic_error and leaves it usable") {
  watchdog dog("mutex unlock misuse", 60s);
  goro::mutex m;
  const std::string message = panic_message([&] { m.unlock(); });
  INFO("message: " << message);
  CHECK_FALSE(message.empty());
  CHECK(m.try_lock());
  m.unlock();
  CHECK_THROWS_AS(m.unlock(), goro::panic_error);  // a second unlock after a real one
  CHECK(m.try_lock());
  CHECK_FALSE(m.try_lock());
  m.unlock();

  bool threw = false, try_lock_after = false, lock_after = false, waiter_got_it = false;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::mutex mu;
    co_await mu.lock();
    mu.unlock();
    try {
      mu.unlock();
    } catch (const goro::panic_error&) {
      threw = true;
    }
    try_lock_after = mu.try_lock();
    if (try_lock_after) mu.unlock();
    co_await mu.lock();
    lock_after = true;
    // And it still parks and wakes a waiter.
    goro::wait_group finished;
    finished.add(1);
    bool entered = false;
    goro::go([&]() -> goro::task<> {
      entered = true;
      co_await mu.lock();
      waiter_got_it = true;
      mu.unlock();
      finished.done();
    });
    while (!entered) co_await goro::yield();
    mu.unlock();
    co_await finished.wait();
  });
  CHECK(threw);
  CHECK(try_lock_after);
  CHECK(lock_after);
  CHECK(waiter_got_it);
}

// Intent: a Go mutex is not tied to its locker: a task locks, another task unlocks, and a
// third one parked in lock() gets it.
TEST_CASE("mutex: unlock from a different task than the locker wakes a waiter") {
  watchdog dog("mutex unlock from another task", 60s);
  bool third_in_before = true, third_in_after = false, free_at_end = false;
  goro::run(goro::config{.maxprocs = 2}, [&]() -> goro::task<> {
    goro::mutex m;
    goro::chan<> locked, unlock_now;
    goro::wait_group finished;
    std::atomic<bool> third_in{false};
    finished.add(3);
    goro::go([&]() -> goro::task<> {  // the locker: locks and goes away
      co_await m.lock();
      locked.close();
      finished.done();
    });
    co_await locked.recv();
    goro::go([&]() -> goro::task<> {  // the waiter
      co_await m.lock();
      third_in.store(true);
      m.unlock();
      finished.done();
    });
    goro::go([&]() -> goro::task<> {  // the unlocker
      co_await unlock_now.recv();
      m.unlock();
      finished.done();
    });
    co_await goro::sleep_for(20ms);  // gives a wrong implementation time to let the waiter in
    third_in_before = third_in.load();
    unlock_now.close();
    co_await finished.wait();
    third_in_after = third_in.load();
    free_at_end = m.try_lock();
  });
  CHECK_FALSE(third_in_before);
  CHECK(third_in_after);
  CHECK(free_at_end);
}

// Intent: unlock may be called from a thread outside the runtime: with the only task
// parked in lock() and the worker idle, a std::thread's unlock wakes it.
TEST_CASE("mutex: unlock from a std::thread wakes a parked task") {
  watchdog dog("mutex unlock from a std::thread", 60s);
  int resumed = 0;
  for (int round = 0; round < 20; ++round) {
    goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
      goro::mutex m;
      co_await m.lock();
      // The handle: the outsider acts while the only task is parked (else: a deadlock).
      std::thread outsider([&m, &rt = *goro::detail::runtime::current(), hold = goro::external_handle()] {
        wait_until_worker_idle(rt);  // the main task is parked in the second lock()
        m.unlock();
      });
      co_await m.lock();  // parks: we hold it; the outsider's unlock hands it over
      ++resumed;
      m.unlock();
      outsider.join();
    });
  }
  CHECK(resumed == 20);
}

// Intent: the starvation guarantee. Five waiters queue in a known order behind the main
// task, which holds the lock for 5 ms (so each has waited more than 1 ms). The main task
// then barges: 20 times it unlocks and at once locks again, holding the lock across a
// yield each time. In normal mode alone, each unlock only wakes the head waiter, and the
// running unlocker takes the free lock straight back before the woken one retries: the
// waiters would get nothing until the main task stops. In starvation mode unlock hands
// the lock to the oldest waiter and the main task's lock() queues behind the waiters.
// Checked: the waiters get the lock in arrival order, and at most one of the main
// task's re-locks (the one Go's design allows before the woken head notices how long it
// has waited) comes before the last waiter's.
TEST_CASE("mutex: in starvation mode waiters get the lock in arrival order, ahead of a task that keeps re-locking") {
  watchdog dog("mutex starvation FIFO", 60s);
  constexpr int waiters = 5, rounds = 20;
  std::vector<int> order;
  int relocks_before_last_waiter = -1, relocks = 0;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::mutex m;
    goro::wait_group finished;
    int entered = 0, waiters_in = 0, early = 0;
    co_await m.lock();
    for (int i = 0; i < waiters; ++i) {
      finished.add(1);
      goro::go([&, i]() -> goro::task<> {
        ++entered;
        co_await m.lock();
        order.push_back(i);
        ++waiters_in;
        co_await goro::yield();  // holds the lock across a suspension
        m.unlock();
        finished.done();
      });
      while (entered <= i) co_await goro::yield();  // waiter i parked before waiter i + 1 starts
      co_await settle();
    }
    co_await goro::sleep_for(5ms);  // every waiter has now waited more than 1 ms
    for (int r = 0; r < rounds; ++r) {
      m.unlock();
      co_await m.lock();  // a barge whenever the lock is free
      ++relocks;
      if (waiters_in < waiters) ++early;
      co_await goro::yield();
    }
    m.unlock();
    co_await finished.wait();
    relocks_before_last_waiter = early;
  });
  CHECK(show(order) == show({0, 1, 2, 3, 4}));
  CHECK(relocks_before_last_waiter <= 1);
  CHECK(relocks == rounds);
}

// Intent: a waiter that an unlock has woken (normal mode) but whose task is destroyed by
// the end of goro::run before it retried must not leave the mutex believing a woken
// waiter is still on its way: in the next run, a new waiter parks and the holder's
// unlock must wake it. (Otherwise unlock wakes nobody, forever: a lost wake-up.)
TEST_CASE("mutex: a woken waiter destroyed at shutdown before it retried does not block later wake-ups") {
  watchdog dog("mutex woken waiter destroyed at shutdown", 60s);
  goro::mutex m;
  bool dead_resumed = false;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    co_await m.lock();
    bool entered = false;
    goro::go([&]() -> goro::task<> {
      entered = true;
      co_await m.lock();
      dead_resumed = true;
    });
    while (!entered) co_await goro::yield();
    co_await settle();
    m.unlock();  // wakes the waiter (normal mode: it waited far less than 1 ms) ...
  });            // ... and run ends before it could retry
  bool live_resumed = false;
  int winner = -1;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    co_await m.lock();
    goro::chan<> got_it;
    bool entered = false;
    goro::go([&]() -> goro::task<> {
      entered = true;
      co_await m.lock();
      live_resumed = true;
      m.unlock();
      got_it.close();
    });
    while (!entered) co_await goro::yield();
    co_await settle();
    m.unlock();
    auto r = co_await goro::select(got_it.recv(), goro::after(2s));  // far beyond a wake-up
    winner = static_cast<int>(r.index());
  });
  INFO("dead waiter resumed: " << dead_resumed);
  CHECK(live_resumed);
  CHECK(winner == 0);
}

// Intent: a small version of the stress suite's hammer, on two workers: a non-atomic
// counter incremented under the mutex by 4 tasks ends exact (lock, scoped_lock and
// try_lock mixed).
TEST_CASE("mutex: four tasks on two workers increment a plain counter exactly") {
  watchdog dog("mutex small hammer", 120s);
  constexpr int tasks = 4, per_task = 20'000;
  long counter = 0;
  goro::run(goro::config{.maxprocs = 2}, [&]() -> goro::task<> {
    goro::mutex m;
    goro::wait_group finished;
    for (int t = 0; t < tasks; ++t) {
      finished.add(1);
      goro::go([&, t]() -> goro::task<> {
        for (int i = 0; i < per_task; ++i) {
          switch ((i + t) % 3) {
            case 0: {
              co_await m.lock();
              ++counter;
              m.unlock();
              break;
            }
            case 1: {
              auto lock = co_await m.scoped_lock();
              ++counter;
              break;
            }
            default:
              if (!m.try_lock()) co_await m.lock();
              ++counter;
              m.unlock();
          }
          if (i % 512 == 0) co_await goro::yield();
        }
        finished.done();
      });
    }
    co_await finished.wait();
  });
  CHECK(counter == long{tasks} * per_task);
}

// Intent: a task parked in lock() when goro::run ends is destroyed, not resumed; its
// waiter leaves the queue (lock_awaiter's destructor), so the mutex, which outlives the
// run, stays consistent: the holder's unlock (outside the runtime) touches no dead waiter
// and frees the mutex, and in the next run it parks and wakes a waiter again.
TEST_CASE("mutex: a waiter destroyed at shutdown leaves the mutex consistent") {
  watchdog dog("mutex waiter destroyed at shutdown", 60s);
  goro::mutex m;
  bool dead_waiter_resumed = false;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    co_await m.lock();
    int entered = 0;
    for (int i = 0; i < 3; ++i)
      goro::go([&]() -> goro::task<> {
        ++entered;
        co_await m.lock();
        dead_waiter_resumed = true;
      });
    while (entered < 3) co_await goro::yield();
    co_await settle();
  });  // the waiters are still parked: destroyed here; m stays locked by the main task
  CHECK_FALSE(dead_waiter_resumed);
  CHECK_FALSE(m.try_lock());
  m.unlock();
  CHECK(m.try_lock());
  m.unlock();

  bool live_waiter_resumed = false;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    co_await m.lock();
    goro::wait_group finished;
    finished.add(1);
    bool entered = false;
    goro::go([&]() -> goro::task<> {
      entered = true;
      co_await m.lock();
      live_waiter_resumed = true;
      m.unlock();
      finished.done();
    });
    while (!entered) co_await goro::yield();
    m.unlock();
    co_await finished.wait();
  });
  CHECK(live_waiter_resumed);
  CHECK_FALSE(dead_waiter_resumed);
  CHECK(m.try_lock());
  m.unlock();
}

// ================================================================ shared_mutex

// Intent: try_lock_shared succeeds any number of times while no writer holds it;
// try_lock only when nobody holds it; both from outside the runtime.
TEST_CASE("shared_mutex: try_lock and try_lock_shared") {
  goro::shared_mutex m;
  CHECK(m.try_lock_shared());
  CHECK(m.try_lock_shared());
  CHECK(m.try_lock_shared());
  CHECK_FALSE(m.try_lock());
  m.unlock_shared();
  m.unlock_shared();
  CHECK_FALSE(m.try_lock());  // one reader left
  m.unlock_shared();
  CHECK(m.try_lock());
  CHECK_FALSE(m.try_lock());
  CHECK_FALSE(m.try_lock_shared());
  bool other_thread_shared = true;
  std::thread([&] { other_thread_shared = m.try_lock_shared(); }).join();
  CHECK_FALSE(other_thread_shared);
  m.unlock();
  std::thread([&] {
    other_thread_shared = m.try_lock_shared();
    if (other_thread_shared) m.unlock_shared();
  }).join();
  CHECK(other_thread_shared);
  CHECK(m.try_lock());
  m.unlock();
}

// Intent: readers hold it together: 8 reader tasks each take the shared lock and keep it
// until the main task, seeing all 8 inside at once, opens a gate. A reader that had to
// wait for another to leave would keep the count below 8 (and the main task would give
// up after its bounded number of yields).
TEST_CASE("shared_mutex: many readers hold it at once") {
  watchdog dog("shared_mutex readers together", 60s);
  constexpr int readers = 8;
  int max_inside = 0, finished_readers = 0;
  bool writer_refused_while_reading = false;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::shared_mutex m;
    goro::chan<> gate;
    goro::wait_group finished;
    int inside = 0;
    for (int i = 0; i < readers; ++i) {
      finished.add(1);
      goro::go([&]() -> goro::task<> {
        co_await m.lock_shared();
        ++inside;
        max_inside = std::max(max_inside, inside);
        co_await gate.recv();
        --inside;
        m.unlock_shared();
        ++finished_readers;
        finished.done();
      });
    }
    for (int i = 0; i < 1000 && inside < readers; ++i) co_await goro::yield();
    writer_refused_while_reading = !m.try_lock();
    gate.close();
    co_await finished.wait();
  });
  CHECK(max_inside == readers);
  CHECK(writer_refused_while_reading);
  CHECK(finished_readers == readers);
}

// Intent: the same on four workers, readers taking and releasing the shared lock in a
// loop: at some point more than one reader is inside (with a brief hold each time).
TEST_CASE("shared_mutex: readers on several workers overlap") {
  watchdog dog("shared_mutex readers overlap", 60s);
  int max_inside = 0;
  goro::run(goro::config{.maxprocs = 4}, [&]() -> goro::task<> {
    goro::shared_mutex m;
    goro::wait_group finished;
    std::atomic<int> inside{0}, max_seen{0};
    for (int i = 0; i < 4; ++i) {
      finished.add(1);
      goro::go([&]() -> goro::task<> {
        for (int r = 0; r < 2000 && max_seen.load() < 2; ++r) {
          co_await m.lock_shared();
          const int now = inside.fetch_add(1) + 1;
          int seen = max_seen.load();
          while (now > seen && !max_seen.compare_exchange_weak(seen, now)) {
          }
          co_await goro::sleep_for(100us);  // a hold long enough for another reader to come in
          inside.fetch_sub(1);
          m.unlock_shared();
        }
        finished.done();
      });
    }
    co_await finished.wait();
    max_inside = max_seen.load();
  });
  CHECK(max_inside >= 2);
}

// Intent: a writer is alone: while it holds the lock, readers and a second writer that
// arrive park (none gets in, however long the writer holds it), and try_* fail. When it
// unlocks, the readers that queued before the second writer are admitted together, and
// the second writer gets the lock only after both left.
TEST_CASE("shared_mutex: a writer excludes everybody; its unlock admits the readers queued before the next writer") {
  watchdog dog("shared_mutex writer exclusive", 60s);
  std::vector<std::string> log;
  bool try_shared_while_writing = true, try_lock_while_writing = true, anyone_in_while_writing = true;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::shared_mutex m;
    goro::chan<> release_readers;
    goro::wait_group finished;
    int entered = 0;
    int readers_inside = 0;
    bool anyone_in = false;
    co_await m.lock();
    for (int i = 1; i <= 2; ++i) {
      finished.add(1);
      goro::go([&, i]() -> goro::task<> {
        ++entered;
        co_await m.lock_shared();
        anyone_in = true;
        ++readers_inside;
        log.push_back("R" + std::to_string(i) + " in with " + std::to_string(readers_inside) + " readers");
        co_await release_readers.recv();
        --readers_inside;
        log.push_back("R" + std::to_string(i) + " out");
        m.unlock_shared();
        finished.done();
      });
      while (entered < i) co_await goro::yield();
    }
    finished.add(1);
    goro::go([&]() -> goro::task<> {
      ++entered;
      co_await m.lock();
      anyone_in = true;
      log.push_back("W2 in with " + std::to_string(readers_inside) + " readers");
      m.unlock();
      finished.done();
    });
    while (entered < 3) co_await goro::yield();
    co_await goro::sleep_for(5ms);  // however long the writer holds it
    co_await settle();
    anyone_in_while_writing = anyone_in;
    try_shared_while_writing = m.try_lock_shared();
    try_lock_while_writing = m.try_lock();
    log.push_back("W1 out");
    m.unlock();
    // Both readers must be able to get in now; then they are let out.
    for (int i = 0; i < 1000 && readers_inside < 2; ++i) co_await goro::yield();
    release_readers.close();
    co_await finished.wait();
  });
  CHECK_FALSE(anyone_in_while_writing);
  CHECK_FALSE(try_shared_while_writing);
  CHECK_FALSE(try_lock_while_writing);
  // The two readers were granted together by W1's unlock (in whichever order the
  // scheduler then runs them); W2 came in only after both left.
  std::string got;
  for (auto& s : log) got += s + "; ";
  INFO("log: " << got);
  REQUIRE(log.size() == 6);
  CHECK(log[0] == "W1 out");
  CHECK(log[1].find(" in with 1 readers") != std::string::npos);
  CHECK(log[2].find(" in with 2 readers") != std::string::npos);
  CHECK(log[1].substr(0, 2) != log[2].substr(0, 2));
  CHECK(log[3].find(" out") != std::string::npos);
  CHECK(log[4].find(" out") != std::string::npos);
  CHECK(log[5] == "W2 in with 0 readers");
}

// Intent: a waiting writer stops new readers: with a reader inside and a writer queued,
// a reader arriving later cannot try_lock_shared and, once parked, gets in only after
// the writer got the lock and released it.
TEST_CASE("shared_mutex: a reader arriving after a queued writer waits until the writer got and released the lock") {
  watchdog dog("shared_mutex writer blocks new readers", 60s);
  std::vector<std::string> log;
  bool late_try_shared = true;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::shared_mutex m;
    goro::chan<> writer_release;
    goro::wait_group finished;
    int entered = 0;
    co_await m.lock_shared();  // R0: the main task reads
    log.push_back("R0 in");
    finished.add(2);
    goro::go([&]() -> goro::task<> {
      ++entered;
      co_await m.lock();
      log.push_back("W in");
      co_await writer_release.recv();  // holds the lock until told
      log.push_back("W out");
      m.unlock();
      finished.done();
    });
    while (entered < 1) co_await goro::yield();
    co_await settle();
    late_try_shared = m.try_lock_shared();
    if (late_try_shared) m.unlock_shared();
    goro::go([&]() -> goro::task<> {
      ++entered;
      co_await m.lock_shared();
      log.push_back("R1 in");
      m.unlock_shared();
      finished.done();
    });
    while (entered < 2) co_await goro::yield();
    co_await goro::sleep_for(2ms);
    co_await settle();
    log.push_back("R0 out");
    m.unlock_shared();
    co_await settle();
    co_await goro::sleep_for(2ms);  // R1 must still be out: the writer holds the lock
    co_await settle();
    writer_release.close();
    co_await finished.wait();
  });
  CHECK_FALSE(late_try_shared);
  std::string got;
  for (auto& s : log) got += s + "; ";
  CHECK(got == "R0 in; R0 out; W in; W out; R1 in; ");
}

// Intent: the contract's "grants are FIFO": with a writer holding the lock and, queued
// in this order, reader R1, writer W2, reader R2, the unlock admits R1 only (a reader
// behind a queued writer waits for it), then W2, then R2.
TEST_CASE("shared_mutex: grants are FIFO: a reader queued behind a queued writer comes after it") {
  watchdog dog("shared_mutex FIFO grants", 60s);
  std::vector<std::string> log;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::shared_mutex m;
    goro::wait_group finished;
    int entered = 0;
    co_await m.lock();
    auto reader = [&](std::string name) -> goro::task<> {
      ++entered;
      co_await m.lock_shared();
      log.push_back(name + " in");
      co_await settle();  // stays inside while others could come in
      log.push_back(name + " out");
      m.unlock_shared();
      finished.done();
    };
    auto writer = [&](std::string name) -> goro::task<> {
      ++entered;
      co_await m.lock();
      log.push_back(name + " in");
      co_await settle();
      log.push_back(name + " out");
      m.unlock();
      finished.done();
    };
    finished.add(3);
    goro::go(reader, std::string("R1"));
    while (entered < 1) co_await goro::yield();
    goro::go(writer, std::string("W2"));
    while (entered < 2) co_await goro::yield();
    goro::go(reader, std::string("R2"));
    while (entered < 3) co_await goro::yield();
    co_await settle();
    m.unlock();
    co_await finished.wait();
  });
  std::string got;
  for (auto& s : log) got += s + "; ";
  CHECK(got == "R1 in; R1 out; W2 in; W2 out; R2 in; R2 out; ");
}

// Intent: scoped_lock / scoped_lock_shared return lock objects that release the right
// kind of lock at scope end and on exception.
TEST_CASE("shared_mutex: scoped_lock and scoped_lock_shared release at scope end and on exception") {
  watchdog dog("shared_mutex scoped", 60s);
  bool shared_owned = false, second_reader_ok = false, writer_refused_in_shared = false, free_after_shared = false,
       exclusive_owned = false, reader_refused_in_exclusive = false, free_after_exclusive = false, caught = false,
       free_after_throw_shared = false, free_after_throw_exclusive = false;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::shared_mutex m;
    {
      auto lock = co_await m.scoped_lock_shared();
      shared_owned = lock.owns_lock();
      auto second = co_await m.scoped_lock_shared();
      second_reader_ok = second.owns_lock();
      writer_refused_in_shared = !m.try_lock();
    }
    free_after_shared = m.try_lock();
    if (free_after_shared) m.unlock();
    {
      auto lock = co_await m.scoped_lock();
      exclusive_owned = lock.owns_lock();
      reader_refused_in_exclusive = !m.try_lock_shared();
    }
    free_after_exclusive = m.try_lock();
    if (free_after_exclusive) m.unlock();
    int throws = 0;
    try {
      auto lock = co_await m.scoped_lock_shared();
      throw std::runtime_error("out");
    } catch (const std::runtime_error&) {
      ++throws;
    }
    free_after_throw_shared = m.try_lock();
    if (free_after_throw_shared) m.unlock();
    try {
      auto lock = co_await m.scoped_lock();
      throw std::runtime_error("out");
    } catch (const std::runtime_error&) {
      ++throws;
    }
    free_after_throw_exclusive = m.try_lock();
    if (free_after_throw_exclusive) m.unlock();
    caught = throws == 2;
  });
  CHECK(shared_owned);
  CHECK(second_reader_ok);
  CHECK(writer_refused_in_shared);
  CHECK(free_after_shared);
  CHECK(exclusive_owned);
  CHECK(reader_refused_in_exclusive);
  CHECK(free_after_exclusive);
  CHECK(caught);
  CHECK(free_after_throw_shared);
  CHECK(free_after_throw_exclusive);
}

// Intent: the misuses Go's RWMutex throws on, each a panic_error that changes nothing:
// unlock and unlock_shared of an unlocked mutex, unlock while only readers hold it (the
// readers still hold it), unlock_shared while a writer holds it (the writer still does).
TEST_CASE("shared_mutex: unlock misuse throws panic_error and changes nothing") {
  goro::shared_mutex m;
  CHECK_THROWS_AS(m.unlock(), goro::panic_error);
  CHECK_THROWS_AS(m.unlock_shared(), goro::panic_error);
  CHECK(m.try_lock());  // still free
  m.unlock();

  REQUIRE(m.try_lock_shared());
  CHECK_THROWS_AS(m.unlock(), goro::panic_error);  // read-locked, not write-locked
  CHECK_FALSE(m.try_lock());                       // the reader still holds it
  CHECK(m.try_lock_shared());                      // and readers still get in
  m.unlock_shared();
  m.unlock_shared();
  CHECK_THROWS_AS(m.unlock_shared(), goro::panic_error);  // one unlock_shared too many
  CHECK(m.try_lock());

  CHECK_THROWS_AS(m.unlock_shared(), goro::panic_error);  // write-locked, not read-locked
  CHECK_FALSE(m.try_lock_shared());                       // the writer still holds it
  CHECK_FALSE(m.try_lock());
  m.unlock();
  CHECK_THROWS_AS(m.unlock(), goro::panic_error);
  CHECK(m.try_lock_shared());
  m.unlock_shared();
  CHECK(m.try_lock());
  m.unlock();
}

// Intent: a task parked in lock()/lock_shared() when goro::run ends leaves the queue, so
// the shared_mutex, which outlives the run, is consistent: the main task's leftover
// write lock can be released outside the runtime and the mutex works again.
TEST_CASE("shared_mutex: waiters destroyed at shutdown leave it consistent") {
  watchdog dog("shared_mutex waiters destroyed at shutdown", 60s);
  goro::shared_mutex m;
  bool resumed = false;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    co_await m.lock();
    int entered = 0;
    goro::go([&]() -> goro::task<> {
      ++entered;
      co_await m.lock_shared();
      resumed = true;
    });
    goro::go([&]() -> goro::task<> {
      ++entered;
      co_await m.lock();
      resumed = true;
    });
    while (entered < 2) co_await goro::yield();
    co_await settle();
  });
  CHECK_FALSE(resumed);
  CHECK_FALSE(m.try_lock_shared());
  m.unlock();
  CHECK(m.try_lock_shared());
  m.unlock_shared();
  CHECK(m.try_lock());
  m.unlock();
}

// ================================================================ once

// Intent: done() is false until a call completes f; then f never runs again, for any f.
TEST_CASE("once: f runs on the first call only; done() follows") {
  watchdog dog("once basics", 60s);
  bool done_before = true, done_after = false;
  int first_runs = 0, second_runs = 0;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::once o;
    done_before = o.done();
    auto first = [&] { ++first_runs; };
    auto second = [&] { ++second_runs; };
    co_await o.call(first);
    co_await o.call(first);
    co_await o.call(second);
    done_after = o.done();
  });
  CHECK_FALSE(done_before);
  CHECK(done_after);
  CHECK(first_runs == 1);
  CHECK(second_runs == 0);
}

// Intent: 64 tasks on four workers call one once concurrently; f (a coroutine that
// yields a few times, so callers pile up while it runs) runs exactly once, and every
// caller returns only after it completed: each sees f's (plain, non-atomic) result.
TEST_CASE("once: many concurrent callers: f runs once and every caller sees its effect") {
  watchdog dog("once concurrent callers", 60s);
  constexpr int callers = 64, rounds = 50;
  int runs_total = 0, rounds_with_one_run = 0;
  std::atomic<int> stale{0}, returned{0};
  goro::run(goro::config{.maxprocs = 4}, [&]() -> goro::task<> {
    for (int round = 0; round < rounds; ++round) {
      goro::once o;
      int runs = 0;          // written by f only
      long value = 0;        // written by f only; read by callers after call() returns
      goro::wait_group finished;
      for (int i = 0; i < callers; ++i) {
        finished.add(1);
        goro::go([&]() -> goro::task<> {
          auto f = [&]() -> goro::task<> {
            ++runs;
            co_await goro::yield();
            co_await goro::yield();
            value = 4242;
          };
          co_await o.call(f);
          if (value != 4242 || !o.done()) stale.fetch_add(1);
          returned.fetch_add(1);
          finished.done();
        });
      }
      co_await finished.wait();
      runs_total += runs;
      rounds_with_one_run += runs == 1;
    }
  });
  CHECK(runs_total == rounds);
  CHECK(rounds_with_one_run == rounds);
  CHECK(stale.load() == 0);
  CHECK(returned.load() == callers * rounds);
}

// Intent: a coroutine f that suspends (on a channel) keeps the other callers waiting:
// they park in call() and return only once f finished, without running their own f.
TEST_CASE("once: a coroutine f that suspends keeps the other callers waiting until it finishes") {
  watchdog dog("once suspending f", 60s);
  int f_runs = 0, other_f_runs = 0, returned_before_f_finished = -1, returned_at_end = 0;
  bool done_while_running = true, done_at_end = false;
  std::vector<std::string> log;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::once o;
    goro::chan<> gate;
    goro::wait_group finished;
    int entered = 0, returned = 0;
    finished.add(3);
    goro::go([&]() -> goro::task<> {
      auto f = [&]() -> goro::task<> {
        ++f_runs;
        log.push_back("f starts");
        co_await gate.recv();
        log.push_back("f ends");
      };
      ++entered;
      co_await o.call(f);
      log.push_back("runner returns");
      ++returned;
      finished.done();
    });
    while (entered < 1) co_await goro::yield();
    for (int i = 0; i < 2; ++i)
      goro::go([&]() -> goro::task<> {
        auto f = [&] { ++other_f_runs; };
        ++entered;
        co_await o.call(f);
        log.push_back("waiter returns");
        ++returned;
        finished.done();
      });
    while (entered < 3) co_await goro::yield();
    co_await settle();
    returned_before_f_finished = returned;
    done_while_running = o.done();
    gate.close();
    co_await finished.wait();
    returned_at_end = returned;
    done_at_end = o.done();
  });
  CHECK(f_runs == 1);
  CHECK(other_f_runs == 0);
  CHECK(returned_before_f_finished == 0);
  CHECK_FALSE(done_while_running);
  CHECK(returned_at_end == 3);
  CHECK(done_at_end);
  REQUIRE(log.size() == 5);
  CHECK(log[0] == "f starts");
  CHECK(log[1] == "f ends");
  CHECK(std::count(log.begin(), log.end(), "waiter returns") == 2);
}

// Intent: std::call_once's rule: an exception from f reaches its caller, the once stays
// not done, and a later call runs f again; once that succeeds, f never runs again.
TEST_CASE("once: an exception from f reaches its caller and a later call runs f again") {
  watchdog dog("once exception", 60s);
  int attempts = 0;
  std::string caught;
  bool done_after_throw = true, done_after_success = false;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::once o;
    auto failing = [&] {
      ++attempts;
      throw std::runtime_error("first attempt fails");
    };
    try {
      co_await o.call(failing);
    } catch (const std::runtime_error& e) {
      caught = e.what();
    }
    done_after_throw = o.done();
    auto succeeding = [&]() -> goro::task<> {
      ++attempts;
      co_await goro::yield();
    };
    co_await o.call(succeeding);
    done_after_success = o.done();
    co_await o.call(failing);  // done: not run, does not throw
    co_await o.call(succeeding);
  });
  CHECK(caught == "first attempt fails");
  CHECK_FALSE(done_after_throw);
  CHECK(done_after_success);
  CHECK(attempts == 2);
}

// Intent: when f throws while other callers wait, the exception goes to the runner only;
// one waiting caller then runs its own f, and the other returns after that f finished
// without running its f.
TEST_CASE("once: when f throws, one waiting caller runs its f and the other waits for that one") {
  watchdog dog("once exception with waiters", 60s);
  std::vector<std::string> log;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::once o;
    goro::chan<> gate;
    goro::wait_group finished;
    int entered = 0;
    finished.add(3);
    goro::go([&]() -> goro::task<> {
      auto f = [&]() -> goro::task<> {
        log.push_back("A runs");
        co_await gate.recv();
        throw std::runtime_error("A fails");
      };
      ++entered;
      try {
        co_await o.call(f);
        log.push_back("A returns");
      } catch (const std::runtime_error& e) {
        log.push_back(std::string("A caught: ") + e.what());
      }
      finished.done();
    });
    while (entered < 1) co_await goro::yield();
    for (const char* name : {"B", "C"}) {
      goro::go([&, name]() -> goro::task<> {
        auto f = [&, name]() -> goro::task<> {
          log.push_back(std::string(name) + " runs");
          co_await goro::yield();
          log.push_back(std::string(name) + " finishes");
        };
        ++entered;
        try {
          co_await o.call(f);
          log.push_back(std::string(name) + " returns");
        } catch (const std::exception& e) {
          log.push_back(std::string(name) + " caught: " + e.what());
        }
        finished.done();
      });
      const int want = name[0] == 'B' ? 2 : 3;
      while (entered < want) co_await goro::yield();
      co_await settle();
    }
    gate.close();
    co_await finished.wait();
  });
  std::string got;
  for (auto& s : log) got += s + "; ";
  INFO("log: " << got);
  // A's failure reaches A only; one of the waiters (B or C) runs its f; the other waits
  // for it and returns without running its own.
  CHECK(std::count(log.begin(), log.end(), "A caught: A fails") == 1);
  const auto b_ran = std::count(log.begin(), log.end(), "B runs"), c_ran = std::count(log.begin(), log.end(), "C runs");
  CHECK(b_ran + c_ran == 1);
  const std::string runner = b_ran ? "B" : "C", other = b_ran ? "C" : "B";
  auto at = [&](const std::string& s) { return std::find(log.begin(), log.end(), s) - log.begin(); };
  CHECK(at(runner + " finishes") < at(runner + " returns"));
  CHECK(at(runner + " finishes") < at(other + " returns"));
  CHECK(at(other + " returns") < static_cast<std::ptrdiff_t>(log.size()));
  CHECK(log.size() == 6);
}

// ================================================================ semaphore

// Intent: the constructor's contract and the weighted, non-suspending API outside the
// runtime: size(), available(), try_acquire(n) takes n units when they are free,
// release(n) gives them back.
TEST_CASE("semaphore: weighted try_acquire and release") {
  CHECK_THROWS_AS(goro::semaphore(-1), goro::panic_error);
  goro::semaphore empty(0);
  CHECK(empty.size() == 0);
  CHECK(empty.available() == 0);

  goro::semaphore s(10);
  CHECK(s.size() == 10);
  CHECK(s.available() == 10);
  CHECK(s.try_acquire(3));
  CHECK(s.available() == 7);
  CHECK(s.try_acquire());  // n = 1
  CHECK(s.available() == 6);
  CHECK_FALSE(s.try_acquire(7));
  CHECK(s.available() == 6);
  CHECK(s.try_acquire(6));
  CHECK(s.available() == 0);
  CHECK_FALSE(s.try_acquire(1));
  s.release(4);
  CHECK(s.available() == 4);
  s.release();
  CHECK(s.available() == 5);
  s.release(5);
  CHECK(s.available() == 10);
  CHECK(s.try_acquire(10));
  CHECK(s.available() == 0);
  s.release(10);
  CHECK(s.size() == 10);
}

// Intent: co_await acquire(n) with enough free units does not suspend (probe); without,
// it parks until releases (from a task or a std::thread) make n units free, and takes
// them.
TEST_CASE("semaphore: acquire parks until enough units are released") {
  watchdog dog("semaphore acquire parks", 60s);
  bool suspended_when_free = true, in_after_partial_release = true, in_at_end = false;
  std::int64_t available_after_grant = -1, available_at_end = -1;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::semaphore s(5);
    bool probe_ran = false;
    goro::go([&] { probe_ran = true; });
    co_await s.acquire(4);
    suspended_when_free = probe_ran;
    bool entered = false, in = false;
    goro::wait_group finished;
    finished.add(1);
    goro::go([&]() -> goro::task<> {
      entered = true;
      co_await s.acquire(3);
      in = true;
      finished.done();
    });
    while (!entered) co_await goro::yield();
    co_await settle();
    s.release(1);  // 2 free: not enough
    co_await settle();
    in_after_partial_release = in;
    std::thread([&s] { s.release(2); }).join();  // 4 free: the waiter takes 3
    co_await finished.wait();
    in_at_end = in;
    available_after_grant = s.available();
    s.release(1);
    s.release(3);
    available_at_end = s.available();
  });
  CHECK_FALSE(suspended_when_free);
  CHECK_FALSE(in_after_partial_release);
  CHECK(in_at_end);
  CHECK(available_after_grant == 1);
  CHECK(available_at_end == 5);
}

// Intent: FIFO: a large request at the head is not overtaken by smaller ones queued
// behind it, even while enough units for them are free; try_acquire does not overtake it
// either. Once the large one fits, it and the small ones that then fit are granted.
TEST_CASE("semaphore: a large request at the head is not overtaken by smaller ones") {
  watchdog dog("semaphore FIFO large head", 60s);
  std::vector<std::string> log;
  bool try_acquire_overtook = true;
  std::int64_t available_while_blocked = -1, available_at_end = -1;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::semaphore s(10);
    goro::wait_group finished;
    int entered = 0;
    co_await s.acquire(10);
    auto waiter = [&](std::string name, std::int64_t n) -> goro::task<> {
      ++entered;
      co_await s.acquire(n);
      log.push_back(name);
      finished.done();
    };
    finished.add(3);
    goro::go(waiter, std::string("large 8"), std::int64_t{8});
    while (entered < 1) co_await goro::yield();
    goro::go(waiter, std::string("small 1"), std::int64_t{1});
    while (entered < 2) co_await goro::yield();
    goro::go(waiter, std::string("small 2"), std::int64_t{2});
    while (entered < 3) co_await goro::yield();
    co_await settle();
    s.release(5);  // 5 free: enough for both small ones, not for the head
    co_await settle();
    log.push_back("released 5");
    try_acquire_overtook = s.try_acquire(1);
    if (try_acquire_overtook) s.release(1);
    available_while_blocked = s.available();
    s.release(5);  // 10 free: the head takes 8, then small 1 (9) fits, small 2 (11) does not
    co_await settle();
    log.push_back("released 10");
    s.release(8);  // the head gives its units back: small 2 fits
    co_await finished.wait();
    s.release(1);
    s.release(2);
    available_at_end = s.available();
  });
  // The second release grants the head and then small 1 (the scheduler runs the two in
  // either order), not small 2, which fits only after the head gave its units back.
  std::string got;
  for (auto& e : log) got += e + "; ";
  INFO("log: " << got);
  CHECK((got == "released 5; large 8; small 1; released 10; small 2; " ||
         got == "released 5; small 1; large 8; released 10; small 2; "));
  CHECK_FALSE(try_acquire_overtook);
  CHECK(available_while_blocked == 5);
  CHECK(available_at_end == 10);
}

// Intent: one release can grant several queued waiters at once: all that fit.
TEST_CASE("semaphore: one release grants every queued waiter that fits") {
  watchdog dog("semaphore release grants several", 60s);
  std::vector<int> granted;
  std::int64_t available_after = -1;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::semaphore s(10);
    goro::wait_group finished;
    int entered = 0;
    co_await s.acquire(10);
    for (int i = 0; i < 4; ++i) {
      finished.add(1);
      goro::go([&, i]() -> goro::task<> {
        ++entered;
        co_await s.acquire(i + 1);  // 1 + 2 + 3 + 4 = 10
        granted.push_back(i);
        finished.done();
      });
      while (entered <= i) co_await goro::yield();
    }
    co_await settle();
    s.release(10);
    co_await finished.wait();
    available_after = s.available();
  });
  std::sort(granted.begin(), granted.end());
  CHECK(show(granted) == show({0, 1, 2, 3}));
  CHECK(available_after == 0);
}

// Intent: grants are FIFO: four waiters of one unit each, queued in a known order, get
// the units one release at a time in that order.
TEST_CASE("semaphore: releases of one unit grant the waiters in arrival order") {
  watchdog dog("semaphore FIFO grants", 60s);
  std::vector<int> order;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::semaphore s(4);
    goro::wait_group finished;
    int entered = 0;
    co_await s.acquire(4);
    for (int i = 0; i < 4; ++i) {
      finished.add(1);
      goro::go([&, i]() -> goro::task<> {
        ++entered;
        co_await s.acquire(1);
        order.push_back(i);
        finished.done();
      });
      while (entered <= i) co_await goro::yield();
      co_await settle();
    }
    for (int i = 0; i < 4; ++i) {
      s.release(1);
      co_await settle();
    }
    co_await finished.wait();
    s.release(4);
  });
  CHECK(show(order) == show({0, 1, 2, 3}));
}

// Intent: acquire(ctx, n) returns an empty error_code once it took the units; when ctx
// is cancelled while it waits it returns ctx.err() (errc::canceled) and takes nothing;
// when ctx's deadline passes, errc::deadline_exceeded and nothing taken.
TEST_CASE("semaphore: acquire(ctx) returns empty on success and ctx.err() when ctx ends the wait, taking nothing") {
  watchdog dog("semaphore acquire with context", 60s);
  std::error_code on_success{goro::errc::canceled}, on_cancel, on_deadline;
  std::int64_t available_after_success = -1, available_after_cancel = -1, available_after_deadline = -1,
               available_at_end = -1;
  bool cancel_returned_before_cancel = true;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::semaphore s(4);
    on_success = co_await s.acquire(goro::background(), 3);
    available_after_success = s.available();  // 1

    auto [ctx, cancel] = goro::with_cancel(goro::background());
    bool returned = false;
    goro::wait_group finished;
    finished.add(1);
    goro::go([&, ctx = ctx]() -> goro::task<> {
      on_cancel = co_await s.acquire(ctx, 2);
      returned = true;
      finished.done();
    });
    co_await settle();
    cancel_returned_before_cancel = returned;
    cancel();
    co_await finished.wait();
    available_after_cancel = s.available();  // still 1

    auto [short_ctx, cancel_short] = goro::with_timeout(goro::background(), 5ms);
    on_deadline = co_await s.acquire(short_ctx, 4);
    available_after_deadline = s.available();
    s.release(3);
    available_at_end = s.available();
  });
  CHECK_FALSE(on_success);
  CHECK(available_after_success == 1);
  CHECK_FALSE(cancel_returned_before_cancel);
  CHECK(on_cancel == goro::errc::canceled);
  CHECK(available_after_cancel == 1);
  CHECK(on_deadline == goro::errc::deadline_exceeded);
  CHECK(available_after_deadline == 1);
  CHECK(available_at_end == 4);
}

// Intent: with a context already cancelled, acquire(ctx) may take the units or report
// the cancellation (both are ready: the select picks one), but its answer always matches
// what it did: empty error_code <=> units taken.
TEST_CASE("semaphore: acquire(ctx) with a done ctx reports exactly what it did") {
  watchdog dog("semaphore acquire with a done ctx", 60s);
  int inconsistent = 0, took = 0, refused = 0;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::semaphore s(3);
    auto [ctx, cancel] = goro::with_cancel(goro::background());
    cancel();
    for (int i = 0; i < 200; ++i) {
      const std::int64_t before = s.available();
      const std::error_code ec = co_await s.acquire(ctx, 2);
      const std::int64_t after = s.available();
      if (ec) {
        ++refused;
        inconsistent += !(ec == goro::errc::canceled && after == before);
      } else {
        ++took;
        inconsistent += after != before - 2;
        s.release(2);
      }
    }
  });
  CHECK(inconsistent == 0);
  CHECK(took + refused == 200);
}

// Intent: golang.org/x/sync's rule: a waiter at the head whose ctx is cancelled leaves
// the queue and lets the waiters behind it through if the free units suffice for them.
TEST_CASE("semaphore: a cancelled waiter at the head lets the waiters behind it proceed") {
  watchdog dog("semaphore cancelled head", 60s);
  std::error_code head_result, second_result{goro::errc::canceled};
  bool second_in_before_cancel = true, second_in_after_cancel = false;
  std::int64_t available_after = -1;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::semaphore s(10);
    co_await s.acquire(5);  // 5 free
    auto [ctx, cancel] = goro::with_cancel(goro::background());
    goro::wait_group finished;
    int entered = 0;
    bool second_in = false;
    finished.add(2);
    goro::go([&, ctx = ctx]() -> goro::task<> {  // the head: wants 8
      ++entered;
      head_result = co_await s.acquire(ctx, 8);
      finished.done();
    });
    while (entered < 1) co_await goro::yield();
    goro::go([&]() -> goro::task<> {  // behind it: 3 would fit, but FIFO holds it back
      ++entered;
      second_result = co_await s.acquire(goro::background(), 3);
      second_in = true;
      finished.done();
    });
    while (entered < 2) co_await goro::yield();
    co_await settle();
    second_in_before_cancel = second_in;
    cancel();
    co_await finished.wait();
    second_in_after_cancel = second_in;
    available_after = s.available();
  });
  CHECK_FALSE(second_in_before_cancel);
  CHECK(head_result == goro::errc::canceled);
  CHECK(second_in_after_cancel);
  CHECK_FALSE(second_result);
  CHECK(available_after == 2);
}

// Intent: the misuses are panic_errors thrown before anything changes: a request larger
// than the size or negative (acquire, acquire(ctx), try_acquire), a release of more units
// than are held or a negative one.
TEST_CASE("semaphore: misuse throws panic_error and changes nothing") {
  goro::semaphore s(5);
  CHECK_THROWS_AS((void)s.acquire(6), goro::panic_error);
  CHECK_THROWS_AS((void)s.acquire(-1), goro::panic_error);
  CHECK_THROWS_AS((void)s.acquire(goro::background(), 6), goro::panic_error);
  CHECK_THROWS_AS(s.try_acquire(6), goro::panic_error);
  CHECK_THROWS_AS(s.try_acquire(-1), goro::panic_error);
  CHECK(s.available() == 5);

  CHECK_THROWS_AS(s.release(), goro::panic_error);  // nothing held
  CHECK(s.available() == 5);
  REQUIRE(s.try_acquire(3));
  const std::string message = panic_message([&] { s.release(4); });
  INFO("message: " << message);
  CHECK_FALSE(message.empty());
  CHECK(s.available() == 2);  // unchanged by the refused release
  CHECK_THROWS_AS(s.release(-1), goro::panic_error);
  CHECK(s.available() == 2);
  s.release(3);
  CHECK(s.available() == 5);
  CHECK_THROWS_AS(s.release(1), goro::panic_error);
  CHECK(s.available() == 5);

  // Inside the runtime, with a waiter parked: a refused release wakes nobody.
  bool waiter_in_after_refused = true, waiter_in_at_end = false, threw_in_task = false;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::semaphore t(4);
    co_await t.acquire(4);
    bool in = false, entered = false;
    goro::wait_group finished;
    finished.add(1);
    goro::go([&]() -> goro::task<> {
      entered = true;
      co_await t.acquire(2);
      in = true;
      finished.done();
    });
    while (!entered) co_await goro::yield();
    try {
      t.release(5);
    } catch (const goro::panic_error&) {
      threw_in_task = true;
    }
    co_await settle();
    waiter_in_after_refused = in;
    t.release(4);
    co_await finished.wait();
    waiter_in_at_end = in;
  });
  CHECK(threw_in_task);
  CHECK_FALSE(waiter_in_after_refused);
  CHECK(waiter_in_at_end);
}

// Intent: acquire(n) is a case of goro::select: with units free it wins (even against a
// ready channel, sometimes) and takes them; while they are not free, a channel case wins
// and nothing is taken; when units are released while the select is parked, the acquire
// case wins and takes them.
TEST_CASE("semaphore: acquire as a select case together with a channel") {
  watchdog dog("semaphore select case", 60s);
  int acquire_won_free = 0, default_won_free = 0, chan_won_blocked = -1, acquire_won_parked = -1;
  std::int64_t available_after_chan_win = -1, available_after_parked_win = -1, value_received = -1;
  bool default_when_blocked = false;
  int inconsistent = 0;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::semaphore s(3);
    // Units free: with default, the acquire wins every time.
    for (int i = 0; i < 20; ++i) {
      auto r = co_await goro::select(s.acquire(2), goro::default_case);
      if (r.index() == 0) {
        ++acquire_won_free;
        inconsistent += s.available() != 1;
        s.release(2);
      } else {
        ++default_won_free;
      }
    }
    // Units free and a channel ready: either may win; the answer matches the effect.
    goro::chan<int> ready(100);
    for (int i = 0; i < 100; ++i) {
      co_await ready.send(i);
      auto r = co_await goro::select(s.acquire(2), ready.recv());
      if (r.index() == 0) {
        inconsistent += s.available() != 1 || ready.size() != 1;
        s.release(2);
        (void)ready.try_recv();
      } else {
        inconsistent += s.available() != 3 || ready.size() != 0;
      }
    }
    co_await s.acquire(3);  // nothing free now
    {
      auto r = co_await goro::select(s.acquire(1), goro::default_case);
      default_when_blocked = r.index() == 1;
    }
    goro::chan<int> ch;
    goro::go([&]() -> goro::task<> { co_await ch.send(77); });
    {
      auto r = co_await goro::select(s.acquire(1), ch.recv());
      chan_won_blocked = static_cast<int>(r.index());
      if (r.index() == 1) value_received = std::get<1>(r).value_or(-1);
      available_after_chan_win = s.available();
    }
    goro::go([&]() -> goro::task<> {
      co_await settle();
      s.release(2);
    });
    {
      auto r = co_await goro::select(s.acquire(2), ch.recv());  // nobody sends on ch now
      acquire_won_parked = static_cast<int>(r.index());
      available_after_parked_win = s.available();
    }
    s.release(3);
  });
  CHECK(acquire_won_free == 20);
  CHECK(default_won_free == 0);
  CHECK(inconsistent == 0);
  CHECK(default_when_blocked);
  CHECK(chan_won_blocked == 1);
  CHECK(value_received == 77);
  CHECK(available_after_chan_win == 0);
  CHECK(acquire_won_parked == 0);
  CHECK(available_after_parked_win == 0);
}

// Intent: a select whose acquire case sits at the head of the queue and loses to a
// channel leaves the queue and, like a cancelled head, lets the waiter behind it through.
TEST_CASE("semaphore: an acquire case at the head that loses a select lets the waiters behind it proceed") {
  watchdog dog("semaphore select head loses", 60s);
  int head_won = -1;
  bool second_in_before = true, second_in_after = false;
  std::int64_t available_after = -1;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::semaphore s(10);
    co_await s.acquire(6);  // 4 free
    goro::chan<> wake;
    goro::wait_group finished;
    int entered = 0;
    bool second_in = false;
    finished.add(2);
    goro::go([&]() -> goro::task<> {
      ++entered;
      auto r = co_await goro::select(s.acquire(7), wake.recv());
      head_won = static_cast<int>(r.index());
      finished.done();
    });
    while (entered < 1) co_await goro::yield();
    goro::go([&]() -> goro::task<> {
      ++entered;
      co_await s.acquire(4);
      second_in = true;
      finished.done();
    });
    while (entered < 2) co_await goro::yield();
    co_await settle();
    second_in_before = second_in;
    wake.close();
    co_await finished.wait();
    second_in_after = second_in;
    available_after = s.available();
  });
  CHECK(head_won == 1);
  CHECK_FALSE(second_in_before);
  CHECK(second_in_after);
  CHECK(available_after == 0);
}

// Intent: tasks parked in acquire() or acquire(ctx) when goro::run ends leave the queue:
// the semaphore, which outlives the run, takes releases outside the runtime without
// touching them, and ends with every unit free.
TEST_CASE("semaphore: waiters destroyed at shutdown leave it consistent") {
  watchdog dog("semaphore waiters destroyed at shutdown", 60s);
  goro::semaphore s(4);
  bool resumed = false;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    co_await s.acquire(4);
    int entered = 0;
    goro::go([&]() -> goro::task<> {
      ++entered;
      co_await s.acquire(2);
      resumed = true;
    });
    goro::go([&]() -> goro::task<> {
      ++entered;
      auto [ctx, cancel] = goro::with_cancel(goro::background());
      auto ec = co_await s.acquire(ctx, 1);
      (void)ec;
      resumed = true;
    });
    while (entered < 2) co_await goro::yield();
    co_await settle();
  });
  CHECK_FALSE(resumed);
  CHECK(s.available() == 0);
  s.release(4);
  CHECK(s.available() == 4);
  CHECK(s.try_acquire(4));
  s.release(4);
}
