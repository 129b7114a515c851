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
// Go: time.Sleep.
#pragma once

#include <chrono>
#include <coroutine>

namespace goro {

using clock = std::chrono::steady_clock;

namespace detail {
// Parks h on the calling worker's timer heap until `deadline`.
void add_timer(clock::time_point deadline, std::coroutine_handle<> h);
}  // namespace detail

struct sleep_awaiter {
  clock::time_point deadline;
  bool await_ready() const noexcept { return clock::now() >= deadline; }
  void await_suspend(std::coroutine_handle<> h) const { detail::add_timer(deadline, h); }
  void await_resume() const noexcept {}
};

inline sleep_awaiter sleep_until(clock::time_point deadline) noexcept { return {deadline}; }

template <class Rep, class Period>
sleep_awaiter sleep_for(std::chrono::duration<Rep, Period> d) noexcept {
  return {clock::now() + std::chrono::ceil<clock::duration>(d)};
}

}  // namespace goro
