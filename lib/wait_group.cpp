// goro::wait_group; the design is at the top of include/goro/wait_group.hpp.
#include "goro/wait_group.hpp"

#include <string>

#include "goro/detail/scheduler_hooks.hpp"
#include "goro/runtime.hpp"

namespace goro {

namespace {
[[noreturn]] void refuse(const char* what, std::int64_t delta, std::int64_t counter) {
  throw panic_error(std::string("goro::wait_group: ") + what + " (add(" + std::to_string(delta) + ") with counter " +
                    std::to_string(counter) + ")");
}
}  // namespace

void wait_group::add(std::int64_t delta) {
  if (delta > 0 && delta <= INT32_MAX) {
    // A positive delta cannot reach zero or go negative: one fetch_add instead of a CAS
    // loop (Go's Add), the common case of a contended group. Only an overflow is undone
    // (a transient that cannot cross zero, so no waiter is affected).
    // release: orders the caller's writes before a later done(); no acquire needed.
    const std::uint64_t old = state_.fetch_add(static_cast<std::uint64_t>(delta) << 32, std::memory_order_release);
    if (counter_of(old) + delta <= INT32_MAX) return;
    state_.fetch_sub(static_cast<std::uint64_t>(delta) << 32, std::memory_order_relaxed);  // undo; no ordering
    refuse("counter overflow", delta, counter_of(old));
  }
  // relaxed: the CAS below re-reads the value it replaces.
  std::uint64_t old = state_.load(std::memory_order_relaxed);
  std::uint64_t next;
  std::int64_t now;
  do {
    if (__builtin_add_overflow(counter_of(old), delta, &now)) now = INT64_MAX;  // refused below
    if (now < 0) refuse("negative counter", delta, counter_of(old));
    if (now > INT32_MAX) refuse("counter overflow", delta, counter_of(old));
    // Reaching zero resets the waiter count: this add takes over waking them.
    next = now == 0 ? 0 : (static_cast<std::uint64_t>(now) << 32 | waiters_of(old));
    // acq_rel: release publishes the work done before done() to the waiters (their
    // acquire in await_ready/await_suspend); acquire makes this waker see what the
    // other done() callers published before it resumes the waiters.
  } while (!state_.compare_exchange_weak(old, next, std::memory_order_acq_rel, std::memory_order_relaxed));
  const std::uint32_t to_wake = now == 0 ? waiters_of(old) : 0;
  if (to_wake == 0) return;  // do not touch the group again: a waiter may free it now

  // The to_wake waiters registered before our CAS are in the list (they enqueue in the
  // same critical section in which they register), at its head.
  wait_awaiter* ready;
  {
    std::lock_guard lock(mu_);
    ready = head_;
    if (!ready) return;  // every registered waiter was destroyed meanwhile (shutdown)
    wait_awaiter* last = ready;
    last->linked = false;
    for (std::uint32_t i = 1; i < to_wake && last->next; ++i) {
      last = last->next;
      last->linked = false;
    }
    head_ = last->next;
    (head_ ? head_->prev : tail_) = nullptr;
    last->next = nullptr;
  }
  // Resume outside the lock; read `next` before scheduling, the waiter may run at once.
  while (ready) {
    wait_awaiter* next_waiter = ready->next;
    detail::schedule(ready->waiter);
    ready = next_waiter;
  }
}

bool wait_group::wait_awaiter::await_ready() const noexcept {
  // acquire: pairs with the release of the add that made it zero.
  return counter_of(group->state_.load(std::memory_order_acquire)) == 0;
}

bool wait_group::wait_awaiter::await_suspend(std::coroutine_handle<> h) {
  std::lock_guard lock(group->mu_);
  // Register (waiters + 1) only while the counter is non-zero; an add that reaches zero
  // after this CAS sees the registration and, taking mu_ after us, finds this waiter.
  // acquire: when the counter is already zero we return without a CAS, and the waiter
  // must see what the done() callers published (pairs with their release CAS).
  std::uint64_t old = group->state_.load(std::memory_order_acquire);
  do {
    if (counter_of(old) == 0) return false;
    // acquire on failure/success: as in await_ready when the counter turns out zero.
  } while (!group->state_.compare_exchange_weak(old, old + 1, std::memory_order_acquire, std::memory_order_acquire));
  // Registered, but no add can wake us before we release mu_: the record comes first.
  parked.park(detail::wait_kind::wait_group, group, 0, where);
  waiter = h;
  prev = group->tail_;
  next = nullptr;
  (prev ? prev->next : group->head_) = this;
  group->tail_ = this;
  linked = true;
  return true;
}

void wait_group::unlink(wait_awaiter& w) noexcept {
  (w.prev ? w.prev->next : head_) = w.next;
  (w.next ? w.next->prev : tail_) = w.prev;
  w.linked = false;
}

wait_group::wait_awaiter::~wait_awaiter() {
  // `linked` was cleared under the mutex before a normal resume, which happens-before
  // this destructor, so reading it unlocked is safe; it is true only when the task is
  // destroyed while parked (runtime shutdown), and then nothing else runs.
  if (linked) {
    std::lock_guard lock(group->mu_);
    group->unlink(*this);
    // Unregister too, unless an add already reset the count (it then wakes one fewer).
    std::uint64_t old = group->state_.load(std::memory_order_relaxed);  // the CAS re-reads it
    while (counter_of(old) != 0 && waiters_of(old) != 0 &&
           !group->state_.compare_exchange_weak(old, old - 1, std::memory_order_relaxed)) {
    }
  }
}

wait_group::~wait_group() {
  std::lock_guard lock(mu_);
  while (head_) unlink(*head_);
}

}  // namespace goro
