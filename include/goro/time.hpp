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
//   - not cancellable yet (the context issue adds sleep_for(ctx, d)).
//
// Go: time.Sleep. goro::after(d), the timer case of a select, is in goro/select.hpp.
#pragma once

#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>

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

  // The worker whose heap holds it: set by timer_add, cleared (under that worker's timer
  // lock) when the node fires or goro::run ends, so that a frame destroyed after run
  // returned never reaches a worker that no longer exists. Read by timer_cancel without
  // the lock (relaxed: a stale non-null only makes it take a lock that still exists,
  // since a null written at the end of run happens-before anything that runs after it).
  std::atomic<void*> owner{nullptr};
  // Under the owner's timer lock:
  std::uint64_t seq = 0;                 // FIFO among equal deadlines
  std::size_t heap_index = not_queued;   // position in the heap; not_queued once fired or removed
};

// Puts t in the calling worker's heap. Throws std::logic_error outside a goro task.
void timer_add(timer_node& t);
// Removes t unless it already fired. When it returns, t's `fire` is not running and will
// not run, so t may be destroyed. Any thread.
void timer_cancel(timer_node& t) noexcept;

}  // namespace detail

class sleep_awaiter : detail::timer_node {
 public:
  explicit sleep_awaiter(clock::time_point deadline) noexcept {
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
    task_ = h;
    detail::timer_add(*this);
  }
  void await_resume() const noexcept {}

 private:
  std::coroutine_handle<> task_;
};

inline sleep_awaiter sleep_until(clock::time_point deadline) noexcept { return sleep_awaiter(deadline); }

template <class Rep, class Period>
sleep_awaiter sleep_for(std::chrono::duration<Rep, Period> d) noexcept {
  return sleep_awaiter(clock::now() + std::chrono::ceil<clock::duration>(d));
}

}  // namespace goro
