// Parked tasks' entries in wait queues (Go's sudog) and the single-winner decision of a
// parked select (Go's selectDone). Channels use them now; any primitive a select can
// wait on (a context's done(), ...) uses the same two pieces.
//
// Protocol for a waker (a channel send, a close, a timer, ...):
//   1. Under the lock of the queue's owner, pop a waiter.
//   2. claim() it. A plain operation's waiter is always claimed. A select case's waiter
//      is claimed only by the first waker of that select: claim() CASes the select's
//      `winner` from none to the case's index. A waker that loses the CAS drops the
//      waiter (it is already out of the queue) and tries the next one, as Go's dequeue
//      does; the select removes its remaining waiters itself when it resumes.
//   3. Complete the operation into the claimed waiter (value, status), still under the
//      lock, release the lock, then make `task` runnable (detail::schedule). The waiter
//      may be destroyed as soon as the task runs, so the waker touches nothing after
//      scheduling.
#pragma once

#include <atomic>
#include <coroutine>

#include "goro/detail/scheduler_hooks.hpp"

namespace goro::detail {

// The one parked select all of whose waiters share it.
struct select_state {
  static constexpr int none = -1;
  // none while parked; then the index of the case that won. Written once, by the CAS of
  // the winning waker; read by the select after it resumes.
  std::atomic<int> winner{none};

  bool try_win(int case_index) noexcept {
    int expected = none;
    // acq_rel: the winner's release is not what publishes the result (the wake-up through
    // detail::schedule does that), but a losing waker's acquire makes it see that the
    // select is gone before it moves on; relaxed on failure: the loser reads nothing else.
    return winner.compare_exchange_strong(expected, case_index, std::memory_order_acq_rel,
                                          std::memory_order_relaxed);
  }
};

// A parked operation. All fields are written by the task before it enqueues the waiter
// and, afterwards, only under the lock of the queue it is in.
struct waiter {
  waiter* next = nullptr;
  waiter* prev = nullptr;
  bool queued = false;               // in a queue
  std::coroutine_handle<> task;      // the task to wake
  select_state* select = nullptr;    // set for a select case: the select it belongs to
  int case_index = 0;                // its index in that select
  // Set for a waiter that is not a parked task (an I/O operation watching its context,
  // lib/io.cpp): called instead of scheduling `task`, after the lock is released.
  void (*on_wake)(waiter&) noexcept = nullptr;

  // Step 2 of the protocol: may the caller complete this waiter?
  bool claim() noexcept { return !select || select->try_win(case_index); }
};

// An intrusive FIFO of waiters, under its owner's lock.
struct waiter_queue {
  waiter* head = nullptr;
  waiter* tail = nullptr;

  void push_back(waiter& w) noexcept {
    w.next = nullptr;
    w.prev = tail;
    (tail ? tail->next : head) = &w;
    tail = &w;
    w.queued = true;
  }

  void remove(waiter& w) noexcept {
    (w.prev ? w.prev->next : head) = w.next;
    (w.next ? w.next->prev : tail) = w.prev;
    w.next = w.prev = nullptr;
    w.queued = false;
  }

  // Steps 1-2: the first waiter the caller may complete, out of the queue; null if none.
  waiter* dequeue_claimed() noexcept {
    while (waiter* w = head) {
      remove(*w);
      if (w->claim()) return w;
    }
    return nullptr;
  }
};

// Waiters a waker took out of their queue (steps 1-3 above), to be woken once it has
// released the lock (step 3), in the order appended; chained through `next`.
class wake_list {
 public:
  wake_list() noexcept = default;
  wake_list(const wake_list&) = delete;
  wake_list& operator=(const wake_list&) = delete;

  void append(waiter& w) noexcept {
    w.next = nullptr;
    *last_ = &w;
    last_ = &w.next;
  }
  bool empty() const noexcept { return !first_; }
  // Makes every task runnable (or calls on_wake). Each link is read before its task is
  // scheduled: the woken task may destroy its waiter at once.
  void wake_all() noexcept {
    for (waiter* w = first_; w;) {
      waiter* next = w->next;
      if (w->on_wake)
        w->on_wake(*w);
      else
        schedule(w->task);
      w = next;
    }
    first_ = nullptr;
    last_ = &first_;
  }

 private:
  waiter* first_ = nullptr;
  waiter** last_ = &first_;
};

}  // namespace goro::detail
