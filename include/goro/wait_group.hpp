// goro::wait_group: Go's sync.WaitGroup.
//
//   goro::wait_group wg;
//   for (...) { wg.add(1); goro::go([&wg] { ...; wg.done(); }); }
//   co_await wg.wait();
//
// Contract
//   - add(n) / done() never suspend and may be called from any thread, inside or outside
//     the runtime. A change that would make the counter negative (or overflow its 32
//     bits, as Go's) throws goro::panic_error and leaves the counter unchanged.
//   - wait() suspends until the counter is zero (not at all if it already is); any number
//     of tasks may wait. When the counter reaches zero every waiter is made runnable, on
//     the worker that made it zero. The group is reusable once it is back at zero.
//   - destroying a wait_group while tasks wait on it is a bug in the program; those tasks
//     never resume (they are destroyed when goro::run ends).
//   - wait() takes a defaulted std::source_location, never passed by hand: a task parked
//     there shows that call as its wait site (goro::dump_tasks).
//
// Design (Go's sync.WaitGroup): one atomic word holds the counter (high 32 bits, signed)
// and the number of registered waiters (low 32 bits), a sum type in one word:
//   counter == 0            - no waiters are registered (an add that reaches zero resets
//                             the waiter count in the same CAS);
//   counter > 0, waiters n  - n tasks are parked in the FIFO list or about to be (they
//                             register and enqueue in one critical section of mu_).
// add (a fetch_add for a positive delta) and done (a CAS) touch nothing else unless
// they bring the counter to zero with waiters registered; only then do they take the
// mutex, and then the group is still alive because the only tasks entitled to destroy it are parked in it. The add
// that reaches zero wakes exactly the n waiters it saw, from the head of the list: a task
// that starts waiting afterwards (the group reused) stays behind them.
#pragma once

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <mutex>
#include <source_location>

#include "goro/detail/scheduler_hooks.hpp"

namespace goro {

class wait_group {
 public:
  wait_group() = default;
  wait_group(const wait_group&) = delete;
  wait_group& operator=(const wait_group&) = delete;
  ~wait_group();

  void add(std::int64_t delta);
  void done() { add(-1); }

  struct wait_awaiter {
    wait_awaiter(wait_group* g, const std::source_location& w) noexcept : group(g), where(w) {}

    wait_group* group;
    std::source_location where;  // wait()'s caller
    std::coroutine_handle<> waiter;
    wait_awaiter* next = nullptr;  // under group->mu_
    wait_awaiter* prev = nullptr;  // under group->mu_
    bool linked = false;           // under group->mu_; false again before the waiter is resumed
    detail::parked_task parked;

    bool await_ready() const noexcept;
    bool await_suspend(std::coroutine_handle<> h);
    void await_resume() const noexcept { parked.resumed(); }
    ~wait_awaiter();  // a waiter destroyed while parked (runtime shutdown) unlinks itself
  };
  [[nodiscard]] wait_awaiter wait(std::source_location where = std::source_location::current()) noexcept {
    return wait_awaiter(this, where);
  }

  // The current counter (a snapshot).
  std::int64_t count() const noexcept {
    return counter_of(state_.load(std::memory_order_relaxed));  // a snapshot, no ordering
  }

 private:
  static std::int64_t counter_of(std::uint64_t state) noexcept {
    return static_cast<std::int32_t>(static_cast<std::uint32_t>(state >> 32));
  }
  static std::uint32_t waiters_of(std::uint64_t state) noexcept { return static_cast<std::uint32_t>(state); }
  void unlink(wait_awaiter& w) noexcept;  // caller holds mu_

  std::atomic<std::uint64_t> state_{0};  // counter << 32 | registered waiters
  std::mutex mu_;
  wait_awaiter* head_ = nullptr;  // under mu_
  wait_awaiter* tail_ = nullptr;  // under mu_
};

}  // namespace goro
