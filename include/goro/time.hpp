// Sleeping: co_await goro::sleep_for(d) / goro::sleep_until(tp).
//
// Contract
//   - suspends the task until steady_clock reaches the deadline; never resumes early
//     (the timer fires only once now() >= deadline); a deadline already passed (or a
//     zero or negative duration) does not suspend at all;
//   - the timer lives in the calling worker's timer heap; when it fires the task becomes
//     runnable on that worker (where an idle worker may steal it), and timers that fire
//     together resume in deadline order; a parked worker sleeps in its io_uring with the
//     nearest deadline as timeout;
//   - sleep_for(ctx, d), which ends early when a context is cancelled, is in
//     goro/context.hpp.
//   - both take a defaulted std::source_location, never passed by hand: a sleeping task
//     shows that call as its wait site (goro::dump_tasks).
//
// goro::timer and goro::ticker (Go's time.Timer and time.Ticker) deliver the time on a
// channel of capacity 1:
//   goro::ticker tick(100ms);
//   while (auto t = co_await tick.channel().recv()) { ... }   // every 100 ms
//   - timer(d) fires once, d from now. stop() returns true if the timer's value had not
//     been received yet (not fired, or fired and still buffered); reset(d) re-arms it and
//     returns the same. After stop() or reset() returns, no value from the earlier
//     arming is received: a buffered one is discarded (Go 1.23's rules; unlike Go 1.23,
//     channel().size() shows a buffered value as 1).
//   - ticker(period) fires every period (period > 0, else panic_error), on the grid
//     start + k * period; a receiver slower than the period gets the ticks it can take
//     and the rest are dropped, as Go does. stop() stops it; reset(period) restarts it.
//   - Both are created and reset inside goro tasks (std::logic_error otherwise: the
//     timer goes to the calling worker's heap); stop() and the destructor work from any
//     thread. Destroying one stops it. Their channel never closes (as in Go).
//
// Go: time.Sleep, time.NewTimer, time.NewTicker. goro::after(d), the timer case of a
// select, is in goro/select.hpp.
#pragma once

#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <source_location>

#include "goro/chan.hpp"
#include "goro/detail/short_lock.hpp"

namespace goro {

using clock = std::chrono::steady_clock;

namespace detail {

// An entry of a worker's timer heap (lib/runtime.cpp), kept in the waiting task's frame:
// arming a timer allocates nothing.
struct timer_node {
  static constexpr std::size_t not_queued = SIZE_MAX;

  clock::time_point deadline;
  // Called by the owning worker, under its timer lock, once now() >= deadline: returns
  // the task to make runnable, or null. Must not block or take a lock (it runs under the
  // `timers` rank, see goro/detail/short_lock.hpp).
  std::coroutine_handle<> (*fire)(timer_node&) noexcept = nullptr;
  // Optional: called by the same worker right after it released the timer lock, for
  // work that takes locks (cancelling a context, sending on a channel). `fire` must
  // then keep the node alive until after_fire has run (a reference count, say).
  void (*after_fire)(timer_node&) noexcept = nullptr;

  // The worker whose heap holds it: set by timer_add; cleared under that worker's timer
  // lock when the node is cancelled or goro::run ends, and when it fires, as the
  // worker's last touch of the node, after fire() returned (a release store). Read by
  // timer_cancel without the lock, with acquire: null means fire() has finished (or the
  // node was never queued, or run ended: that null happens-before anything after run),
  // and a stale non-null only makes it take a lock that still exists.
  std::atomic<void*> owner{nullptr};
  // Under the owner's timer lock:
  std::uint64_t seq = 0;                 // FIFO among equal deadlines
  std::size_t heap_index = not_queued;   // position in the heap; not_queued once fired or removed
};

// Puts t in the calling worker's heap. Throws std::logic_error outside a goro task.
void timer_add(timer_node& t);
// Removes t unless it already fired; returns whether it removed it. When it returns,
// t's `fire` is not running and will not run, so t may be destroyed (unless an
// after_fire is still due: see after_fire). Any thread.
bool timer_cancel(timer_node& t) noexcept;

// The time left until `deadline`, in whole milliseconds rounded up (0 if passed): what
// goro::dump_tasks shows for a sleep.
inline std::size_t wait_ms(clock::time_point deadline) noexcept {
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - clock::now()).count();
  return left > 0 ? static_cast<std::size_t>(left) : 0;
}

}  // namespace detail

class sleep_awaiter : detail::timer_node {
 public:
  sleep_awaiter(clock::time_point deadline, const std::source_location& where) noexcept : where_(where) {
    this->deadline = deadline;
    fire = [](timer_node& t) noexcept { return static_cast<sleep_awaiter&>(t).task_; };
  }
  sleep_awaiter(const sleep_awaiter&) = delete;
  sleep_awaiter& operator=(const sleep_awaiter&) = delete;
  // A task destroyed while asleep (goro::run ending) takes its timer out of the heap.
  ~sleep_awaiter() {
    if (heap_index != not_queued) detail::timer_cancel(*this);
  }

  bool await_ready() const noexcept { return clock::now() >= deadline; }
  void await_suspend(std::coroutine_handle<> h) {
    parked_.park(detail::wait_kind::sleep, nullptr, detail::wait_ms(deadline), where_);
    task_ = h;
    detail::timer_add(*this);
  }
  void await_resume() const noexcept { parked_.resumed(); }

 private:
  std::coroutine_handle<> task_;
  std::source_location where_;
  detail::parked_task parked_;
};

namespace detail {
struct timer_state;  // lib/timers.cpp
timer_state* timer_create();                     // not armed yet
void timer_destroy(timer_state* t) noexcept;     // stops it and drops the handle's reference
// Arms it for `deadline`, then every `period` after (zero: once); returns whether a value
// of the earlier arming was still to come. Throws std::logic_error outside a goro task.
bool timer_start(timer_state* t, clock::time_point deadline, clock::duration period);
bool timer_stop(timer_state* t);                 // any thread; the same return value
recv_chan<clock::time_point> timer_channel(timer_state* t) noexcept;

// What timer and ticker share: the state, armed at construction, stopped at destruction.
class timer_handle {
 public:
  timer_handle(const timer_handle&) = delete;
  timer_handle& operator=(const timer_handle&) = delete;
  ~timer_handle() { timer_destroy(t_); }

  recv_chan<clock::time_point> channel() const noexcept { return timer_channel(t_); }

 protected:
  timer_handle(clock::duration first, clock::duration period) : t_(timer_create()) {
    try {
      start(first, period);
    } catch (...) {
      timer_destroy(t_);
      throw;
    }
  }
  bool start(clock::duration first, clock::duration period) { return timer_start(t_, clock::now() + first, period); }
  bool stop_timer() { return timer_stop(t_); }

 private:
  timer_state* t_;
};
}  // namespace detail

// Go's time.Timer: one value on channel() when it fires. See the contract above.
class timer : public detail::timer_handle {
 public:
  template <class Rep, class Period>
  explicit timer(std::chrono::duration<Rep, Period> d)
      : timer_handle(std::chrono::ceil<clock::duration>(d), clock::duration::zero()) {}

  bool stop() { return stop_timer(); }
  template <class Rep, class Period>
  bool reset(std::chrono::duration<Rep, Period> d) {
    return start(std::chrono::ceil<clock::duration>(d), clock::duration::zero());
  }
};

// Go's time.Ticker: a value on channel() every period. See the contract above.
class ticker : public detail::timer_handle {
 public:
  template <class Rep, class Period>
  explicit ticker(std::chrono::duration<Rep, Period> period) : timer_handle(check(period), check(period)) {}

  void stop() { stop_timer(); }
  template <class Rep, class Period>
  void reset(std::chrono::duration<Rep, Period> period) {
    const auto p = check(period);
    start(p, p);
  }

 private:
  template <class Rep, class Period>
  static clock::duration check(std::chrono::duration<Rep, Period> period) {
    const auto p = std::chrono::ceil<clock::duration>(period);
    if (p <= clock::duration::zero()) throw panic_error("goro::ticker: the period must be positive");
    return p;
  }
};

inline sleep_awaiter sleep_until(clock::time_point deadline,
                                 std::source_location where = std::source_location::current()) noexcept {
  return sleep_awaiter(deadline, where);
}

template <class Rep, class Period>
sleep_awaiter sleep_for(std::chrono::duration<Rep, Period> d,
                        std::source_location where = std::source_location::current()) noexcept {
  return sleep_awaiter(clock::now() + std::chrono::ceil<clock::duration>(d), where);
}

}  // namespace goro
