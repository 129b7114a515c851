// The sync toolbox (include/goro/sync.hpp): mutex, shared_mutex, once, semaphore.
//
// goro::mutex: Go's sync.Mutex (src/sync/mutex.go) for tasks.
//   state_ is a set of flags in one word, a sum type:
//     locked      - somebody holds the mutex;
//     has_waiters - the FIFO queue is non-empty (changed only under queue_lock_);
//     woken       - a waiter was taken off the queue by a normal-mode unlock and has not
//                   retried yet: unlock wakes no second one meanwhile;
//     starving    - unlock hands the mutex to the queue's head; nobody may take it
//                   otherwise (changed only under queue_lock_).
//   Invariant: starving implies locked (a hand-off keeps `locked` set for the new owner,
//   and starvation is entered only by a waiter that found the mutex locked).
//   lock: a CAS from "not locked, not starving" to locked (try_lock). Failing that, the
//   awaiter starts a retry frame (one frame from the frame pool: a woken waiter must be
//   able to try again and park again, which an awaiter's await_resume cannot do). The
//   frame, under queue_lock_, either takes the mutex or sets has_waiters and parks:
//   at the back the first time, at the front after a normal-mode wake-up (Go's LIFO for
//   re-queued waiters). A re-queued waiter that has waited more than 1 ms (Go's
//   starvationThresholdNs) sets starving.
//   unlock: a CAS from exactly `locked` to 0; anything else goes through unlock_slow,
//   under queue_lock_: in starvation mode it hands over to the head (leaving starvation
//   when that was the last waiter or it waited less than 1 ms, as Go does); in normal
//   mode it clears locked and, unless a woken waiter is in flight, wakes the head,
//   which then competes with running tasks for the mutex.
//   Races: state_ changes outside queue_lock_ only by the two fast-path CASes, which
//   touch `locked` alone; every slow-path change is a CAS loop under queue_lock_, so a
//   fast-path CAS in between makes it re-read.
//
// shared_mutex, once and semaphore keep all their state under one short_lock each; a
// releaser grants waiters under that lock, so a woken waiter owns what it waited for
// (no retry). shared_mutex and once wake them after unlocking; the semaphore wakes
// under its lock, because a select case leaving the head of its queue (disarm_locked,
// called under the lock) may unblock the requests behind it. That is safe: schedule()
// takes only leaf locks (goro/detail/short_lock.hpp).
#include "goro/sync.hpp"

#include <chrono>
#include <exception>

#include "goro/detail/scheduler_hooks.hpp"

namespace goro {

using namespace std::chrono_literals;

namespace {

// Go's starvationThresholdNs.
constexpr auto starvation_threshold = 1ms;

}  // namespace

// ---------------------------------------------------------------- mutex

struct mutex_access {
  // The retry frame of a contended lock (see the top).
  struct retry {
    struct promise_type : detail::pooled_frame {
      std::coroutine_handle<> continuation;
      mutex::lock_awaiter* owner = nullptr;

      retry get_return_object() noexcept { return {std::coroutine_handle<promise_type>::from_promise(*this)}; }
      std::suspend_always initial_suspend() noexcept { return {}; }
      struct final_awaiter {
        bool await_ready() noexcept { return false; }
        std::coroutine_handle<> await_suspend(std::coroutine_handle<promise_type> self) noexcept {
          promise_type& p = self.promise();
          const std::coroutine_handle<> next = p.continuation;
          p.owner->slow_ = nullptr;
          self.destroy();
          return detail::transfer(next);
        }
        void await_resume() noexcept {}
      };
      final_awaiter final_suspend() noexcept { return {}; }
      void return_void() noexcept {}
      void unhandled_exception() noexcept { std::terminate(); }  // nothing in the body throws
    };
    std::coroutine_handle<promise_type> frame;
  };

  // One attempt under queue_lock_: take the mutex (no suspension) or park.
  struct attempt {
    mutex::lock_awaiter& owner;  // the awaiter in the locking task's frame
    mutex& m;
    mutex::waiter& w;
    bool requeue;  // woken by a normal-mode unlock: clear `woken`, park at the front

    bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> frame) noexcept {
      detail::short_lock_guard guard(m.queue_lock_);
      std::uint32_t s = m.state_.load(std::memory_order_relaxed);  // a first guess for the CASes
      for (;;) {
        std::uint32_t next = requeue ? s & ~mutex::woken : s;
        if (!(s & (mutex::locked | mutex::starving))) {
          // acquire: pairs with the release of the unlock that freed it.
          if (m.state_.compare_exchange_weak(s, next | mutex::locked, std::memory_order_acquire,
                                             std::memory_order_relaxed))
            return false;
          continue;
        }
        next |= mutex::has_waiters;
        if (requeue && clock::now() - w.since > starvation_threshold) next |= mutex::starving;
        // relaxed: the queue itself is published by queue_lock_.
        if (m.state_.compare_exchange_weak(s, next, std::memory_order_relaxed, std::memory_order_relaxed)) break;
      }
      // The locking task's wait, recorded the first time it parks: this runs in the
      // same native call as its co_await, so current_task() is that task (a requeued
      // retry may run on any worker, where it is not: its record stands anyway).
      if (!requeue) owner.parked_.park(detail::wait_kind::mutex, &m, 0, owner.where_);
      w.task = frame;
      if (w.since == clock::time_point()) w.since = clock::now();
      if (requeue && m.queue_.head) {
        // At the front (the queue has no push_front: splice in before the head).
        detail::waiter* head = m.queue_.head;
        w.prev = nullptr;
        w.next = head;
        head->prev = &w;
        m.queue_.head = &w;
        w.queued = true;
      } else {
        m.queue_.push_back(w);
      }
      return true;
    }
    bool await_resume() const noexcept { return w.handed_off; }
  };

  // Undoes a parked attempt when the frame is destroyed while parked (goro::run ending):
  // still queued - leave the queue; taken off by a normal-mode unlock - clear `woken`,
  // which is this waiter's, or no unlock would wake anyone again; handed the mutex -
  // unlock it, since nobody will.
  struct undo_on_destroy {
    mutex& m;
    mutex::waiter& w;
    bool finished = false;  // the frame ran to its end: nothing to undo
    ~undo_on_destroy() {
      if (finished) return;
      if (w.handed_off) {
        m.unlock();  // cannot throw: the mutex is locked, for this waiter
        return;
      }
      detail::short_lock_guard guard(m.queue_lock_);
      std::uint32_t clear = mutex::woken;
      if (w.queued) {
        m.queue_.remove(w);
        clear = m.queue_.head ? 0 : mutex::has_waiters | mutex::starving;
      }
      std::uint32_t s = m.state_.load(std::memory_order_relaxed);
      // relaxed: a flag change under queue_lock_, which publishes the queue.
      while (!m.state_.compare_exchange_weak(s, s & ~clear, std::memory_order_relaxed, std::memory_order_relaxed)) {
      }
    }
  };

  static retry lock_slow(mutex::lock_awaiter& owner) {
    mutex& m = owner.m_;
    mutex::waiter w;
    undo_on_destroy undo{m, w};
    bool requeue = false;
    for (;;) {
      attempt a{owner, m, w, requeue};
      const bool handed_off = co_await a;
      if (handed_off || !w.task) break;  // handed over, or taken without parking
      w.task = nullptr;
      requeue = true;
    }
    undo.finished = true;
  }
};

std::coroutine_handle<> mutex::lock_awaiter::await_suspend(std::coroutine_handle<> task) {
  auto frame = mutex_access::lock_slow(*this).frame;
  frame.promise().continuation = task;
  frame.promise().owner = this;
  slow_ = frame;
  return frame;
}


void mutex::unlock_slow() {
  {
    // Nobody to wake (no waiters, or a woken one already on its way) and no hand-off:
    // clear `locked` without the queue lock, as Go's unlockSlow does. Safe: the flags
    // that decide it change only by CAS, so a change in between makes the CAS fail.
    std::uint32_t s = state_.load(std::memory_order_relaxed);  // a first guess for the CAS
    while ((s & locked) && !(s & starving) && (!(s & has_waiters) || (s & woken)))
      // release: as in unlock().
      if (state_.compare_exchange_weak(s, s & ~locked, std::memory_order_release, std::memory_order_relaxed)) return;
  }
  detail::waiter* wake = nullptr;
  {
    detail::short_lock_guard guard(queue_lock_);
    std::uint32_t s = state_.load(std::memory_order_relaxed);  // a first guess for the CAS
    bool hand_off;
    for (;;) {
      if (!(s & locked)) throw panic_error("goro::mutex::unlock: the mutex is not locked");
      std::uint32_t next;
      hand_off = s & starving;
      wake = nullptr;
      if (hand_off) {
        wake = queue_.head;  // starving implies waiters
        next = s;            // `locked` stays: it now belongs to the head
        if (!wake->next)
          next &= ~(has_waiters | starving);
        else if (clock::now() - static_cast<waiter*>(wake)->since < starvation_threshold)
          next &= ~starving;
      } else if ((s & has_waiters) && !(s & woken)) {
        wake = queue_.head;
        next = (s & ~locked) | woken;
        if (!wake->next) next &= ~has_waiters;
      } else {
        next = s & ~locked;
      }
      // release: publishes the critical section to the next owner (the acquire of a
      // later lock, or the hand-off's wake-up).
      if (state_.compare_exchange_weak(s, next, std::memory_order_release, std::memory_order_relaxed)) break;
    }
    if (wake) {
      queue_.remove(*wake);
      static_cast<waiter*>(wake)->handed_off = hand_off;
    }
  }
  if (wake) detail::schedule(wake->task);
}

// ---------------------------------------------------------------- shared_mutex

bool shared_mutex::try_lock() noexcept {
  detail::short_lock_guard guard(lock_);
  if (writer_ || readers_ != 0 || queue_.head) return false;
  writer_ = true;
  return true;
}

bool shared_mutex::try_lock_shared() noexcept {
  detail::short_lock_guard guard(lock_);
  if (writer_ || queue_.head) return false;  // a queued waiter means a writer waits ahead
  ++readers_;
  return true;
}

bool shared_mutex::lock_awaiter::await_suspend(std::coroutine_handle<> task) noexcept {
  detail::short_lock_guard guard(m_.lock_);
  if (!m_.writer_ && !m_.queue_.head && (!w_.exclusive || m_.readers_ == 0)) {
    if (w_.exclusive)
      m_.writer_ = true;
    else
      ++m_.readers_;
    return false;
  }
  // Under the lock, so before a granter can find w_; and only when the task parks.
  parked_.park(w_.exclusive ? detail::wait_kind::rwmutex_lock : detail::wait_kind::rwmutex_rlock, &m_, 0, where_);
  w_.task = task;
  m_.queue_.push_back(w_);
  return true;
}

shared_mutex::lock_awaiter::~lock_awaiter() {
  if (!w_.queued) return;  // cleared only under lock_ by the granter, before the wake-up
  detail::wake_list granted;
  {
    detail::short_lock_guard guard(m_.lock_);
    m_.queue_.remove(w_);
    m_.grant_locked(granted);  // it may have blocked readers behind it
  }
  granted.wake_all();
}

void shared_mutex::grant_locked(detail::wake_list& granted) noexcept {
  while (auto* w = static_cast<waiter*>(queue_.head)) {
    if (writer_) break;
    if (w->exclusive) {
      if (readers_ != 0 || !granted.empty()) break;
      writer_ = true;
    } else {
      ++readers_;
    }
    queue_.remove(*w);
    granted.append(*w);
    if (w->exclusive) break;
  }
}

void shared_mutex::unlock() {
  detail::wake_list granted;
  {
    detail::short_lock_guard guard(lock_);
    if (!writer_) throw panic_error("goro::shared_mutex::unlock: not locked for writing");
    writer_ = false;
    grant_locked(granted);
  }
  granted.wake_all();
}

void shared_mutex::unlock_shared() {
  detail::wake_list granted;
  {
    detail::short_lock_guard guard(lock_);
    if (readers_ == 0) throw panic_error("goro::shared_mutex::unlock_shared: not locked for reading");
    if (--readers_ == 0) grant_locked(granted);
  }
  granted.wake_all();
}

// ---------------------------------------------------------------- once

bool once::begin_awaiter::await_ready() noexcept { return o.done(); }

bool once::begin_awaiter::await_suspend(std::coroutine_handle<> task) noexcept {
  detail::short_lock_guard guard(o.lock_);
  const int s = o.state_.load(std::memory_order_relaxed);  // written under lock_
  if (s == finished) return false;
  if (s == idle) {
    o.state_.store(running, std::memory_order_relaxed);  // under lock_; nobody reads it for data
    mine = true;
    return false;
  }
  parked.park(detail::wait_kind::once, &o, 0, where);  // under the lock: before finish can find w
  w.task = task;
  o.waiters_.push_back(w);
  return true;
}

once::begin_awaiter::~begin_awaiter() {
  if (!w.queued) return;  // cleared only under lock_ by finish, before the wake-up
  detail::short_lock_guard guard(o.lock_);
  o.waiters_.remove(w);
}

void once::finish(bool ok) noexcept {
  detail::wake_list woken;
  {
    detail::short_lock_guard guard(lock_);
    // release: pairs with done()'s acquire, publishing f's effects to every caller.
    state_.store(ok ? finished : idle, std::memory_order_release);
    while (detail::waiter* w = waiters_.head) {  // all of them: they look again
      waiters_.remove(*w);
      woken.append(*w);
    }
  }
  woken.wake_all();
}

// ---------------------------------------------------------------- semaphore

semaphore::semaphore(std::int64_t size) : size_(size) {
  if (size < 0) throw panic_error("goro::semaphore: negative size " + std::to_string(size));
}

void semaphore::check_request(std::int64_t n) const {
  if (n < 0 || n > size_)
    throw panic_error("goro::semaphore: a request for " + std::to_string(n) + " units of a semaphore of size " +
                      std::to_string(size_) + " can never be granted");
}

semaphore::acquire_case::acquire_case(semaphore& s, std::int64_t n, const std::source_location& where)
    : select_case(where), sem_(&s) {
  s.check_request(n);
  w_.n = n;
}

semaphore::acquire_case::~acquire_case() {
  if (!w_.queued) return;  // cleared only under the lock, before a wake-up
  detail::short_lock_guard guard(sem_->lock_);
  disarm_locked();
}

bool semaphore::acquire_case::await_suspend(std::coroutine_handle<> task) noexcept {
  detail::short_lock_guard guard(sem_->lock_);
  if (sem_->take_locked(w_.n)) return false;
  // Under the lock, so before a releaser can find w_; and only when the task parks.
  parked_.park(detail::wait_kind::semaphore, sem_, static_cast<std::size_t>(w_.n), where_);
  w_.select = nullptr;
  w_.task = task;
  sem_->queue_.push_back(w_);
  return true;
}

void semaphore::acquire_case::arm_locked(detail::select_state& s, int index, std::coroutine_handle<> task) noexcept {
  w_.select = &s;
  w_.case_index = index;
  w_.task = task;
  sem_->queue_.push_back(w_);
}

void semaphore::acquire_case::disarm_locked() noexcept {
  if (!w_.queued) return;
  const bool was_head = sem_->queue_.head == &w_;
  sem_->queue_.remove(w_);
  // A request leaving the head may unblock smaller ones behind it. Waking under the
  // lock is safe: schedule() takes only leaf locks.
  if (was_head) sem_->wake_locked();
}

bool semaphore::take_locked(std::int64_t n) noexcept {
  if (size_ - used_ < n || queue_.head) return false;
  used_ += n;
  return true;
}

void semaphore::wake_locked() noexcept {
  while (auto* w = static_cast<waiter*>(queue_.head)) {
    if (w->n > size_ - used_) break;  // FIFO: the head blocks the rest
    queue_.remove(*w);
    if (!w->claim()) continue;  // its select already chose another case
    used_ += w->n;
    detail::schedule(w->task);
  }
}

bool semaphore::try_acquire(std::int64_t n) {
  check_request(n);
  detail::short_lock_guard guard(lock_);
  return take_locked(n);
}

void semaphore::release(std::int64_t n) {
  detail::short_lock_guard guard(lock_);
  if (n < 0 || n > used_)
    throw panic_error("goro::semaphore::release of " + std::to_string(n) + " units, but " + std::to_string(used_) +
                      " are held");
  used_ -= n;
  wake_locked();
}

std::int64_t semaphore::available() const noexcept {
  detail::short_lock_guard guard(lock_);
  return size_ - used_;
}

}  // namespace goro
