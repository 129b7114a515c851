// goro::wait_group: Go's sync.WaitGroup.
//
//   goro::wait_group wg;
//   for (...) { wg.add(1); goro::go([&wg] { ...; wg.done(); }); }
//   co_await wg.wait();
//
// Contract
//   - add(n) / done() never suspend and may be called from any thread, inside or outside
//     the runtime. A change that would make the counter negative throws
//     goro::panic_error and leaves the counter unchanged.
//   - wait() suspends until the counter is zero (not at all if it already is); any number
//     of tasks may wait. When the counter reaches zero every waiter is made runnable, on
//     the worker that made it zero. The group is reusable once it is back at zero.
//   - destroying a wait_group while tasks wait on it is a bug in the program; those tasks
//     never resume (they are destroyed when goro::run ends).
//
// Design: the counter is one atomic, so add and done cost one CAS and no lock; the mutex
// guards only the waiter list and is taken by wait() and by the add that reaches zero.
// Invariant: a waiter is in the list only while the counter, read under the mutex, was
// non-zero; the add that reaches zero takes the mutex after its CAS, so it sees every
// waiter that saw a non-zero counter (proof at wait_group::wait_awaiter::await_suspend).
#pragma once

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <mutex>

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
    wait_group* group;
    std::coroutine_handle<> waiter;
    wait_awaiter* next = nullptr;  // under group->mu_
    wait_awaiter* prev = nullptr;  // under group->mu_
    bool linked = false;           // under group->mu_; false again before the waiter is resumed

    bool await_ready() const noexcept;
    bool await_suspend(std::coroutine_handle<> h);
    void await_resume() const noexcept {}
    ~wait_awaiter();  // a waiter destroyed while parked (runtime shutdown) unlinks itself
  };
  [[nodiscard]] wait_awaiter wait() noexcept { return wait_awaiter{this, {}}; }

  // The current counter (a snapshot).
  std::int64_t count() const noexcept { return counter_.load(std::memory_order_relaxed); }

 private:
  void unlink(wait_awaiter& w) noexcept;  // caller holds mu_

  std::atomic<std::int64_t> counter_{0};
  std::mutex mu_;
  wait_awaiter* head_ = nullptr;  // under mu_
  wait_awaiter* tail_ = nullptr;  // under mu_
};

}  // namespace goro
