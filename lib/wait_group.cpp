// goro::wait_group; the design is at the top of include/goro/wait_group.hpp.
#include "goro/wait_group.hpp"

#include <string>

#include "goro/detail/scheduler_hooks.hpp"
#include "goro/runtime.hpp"

namespace goro {

void wait_group::add(std::int64_t delta) {
  // relaxed: the CAS below re-reads the value it replaces.
  std::int64_t old = counter_.load(std::memory_order_relaxed);
  std::int64_t now;
  do {
    now = old + delta;
    if (now < 0)
      throw panic_error("goro::wait_group: negative counter (add(" + std::to_string(delta) + ") with counter " +
                        std::to_string(old) + ")");
    // acq_rel: release publishes the work done before done() to the waiters (their
    // acquire load in await_ready, or the mutex below); acquire makes the waker see
    // what the other done() callers published before it resumes the waiters.
  } while (!counter_.compare_exchange_weak(old, now, std::memory_order_acq_rel, std::memory_order_relaxed));
  if (now != 0 || delta == 0) return;

  wait_awaiter* ready;
  {
    std::lock_guard lock(mu_);
    ready = head_;
    head_ = tail_ = nullptr;
    for (wait_awaiter* w = ready; w; w = w->next) w->linked = false;
  }
  // Resume outside the lock; read `next` before scheduling, the waiter may run at once.
  while (ready) {
    wait_awaiter* next = ready->next;
    detail::schedule(ready->waiter);
    ready = next;
  }
}

bool wait_group::wait_awaiter::await_ready() const noexcept {
  // acquire: pairs with the release of the add that made it zero.
  return group->counter_.load(std::memory_order_acquire) == 0;
}

bool wait_group::wait_awaiter::await_suspend(std::coroutine_handle<> h) {
  std::lock_guard lock(group->mu_);
  // Under the mutex: if the counter is non-zero here, the add that will make it zero has
  // not yet taken the mutex (it takes it after its CAS), so it will find this waiter.
  // acquire: as in await_ready, when it is already zero.
  if (group->counter_.load(std::memory_order_acquire) == 0) return false;
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
  }
}

wait_group::~wait_group() {
  std::lock_guard lock(mu_);
  while (head_) unlink(*head_);
}

}  // namespace goro
