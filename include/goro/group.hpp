// goro::group: Go's errgroup. Runs tasks that share a context; the first failure
// cancels the others, and wait() reports it after every member has finished.
//
//   goro::group g(ctx);
//   for (auto& url : urls) g.go(fetch, g.context(), url);   // fetch returns task<std::error_code>
//   if (auto ec = co_await g.wait()) ...                     // the first error, or empty
//
// Contract
//   - A member is f(args...): a coroutine returning task<> or task<std::error_code>, or
//     a plain callable returning void or std::error_code. f and args are decay-copied
//     into the member's task, as with goro::go. A member fails when it throws or
//     returns a non-empty error_code.
//   - The first failure wins: it cancels context() with cause errc::task_threw (an
//     exception) or the returned error_code (Go's WithContext + context.Cause), and is
//     what wait() reports; later failures are dropped.
//   - co_await g.wait() suspends until every member started so far has finished, then
//     cancels context() (as Go's Wait does), and returns the first error_code, or
//     rethrows the first exception. Empty if no member failed.
//   - set_limit(n) bounds how many members run f at once (n < 0: no limit). go() never
//     suspends: with the limit reached, the new member waits (FIFO) for a slot before it
//     calls f (Go's Go blocks the caller instead). try_go() starts a member only if a
//     slot is free now, and returns whether it did. Changing the limit while members
//     are running is a panic_error, as in Go. A limit of 0 admits nobody (Go's rule):
//     try_go returns false, and a go() member waits forever without calling f.
//   - Destroying the group cancels its context; members still running keep what they
//     share alive and finish on their own.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <source_location>
#include <system_error>
#include <type_traits>
#include <utility>

#include "goro/chan.hpp"
#include "goro/context.hpp"
#include "goro/spawn.hpp"
#include "goro/sync.hpp"
#include "goro/task.hpp"
#include "goro/wait_group.hpp"

namespace goro {

namespace detail {

struct group_state {
  explicit group_state(const context& parent) : cancelable(with_cancel_cause(parent)) {}

  // The first failure: claimed by one CAS, written by its winner before wg.done(),
  // read by wait() after wg.wait() (which orders it).
  void fail(std::error_code ec, std::exception_ptr e) noexcept {
    bool expected = false;
    // relaxed: only uniqueness is needed; the wait group publishes what the winner wrote.
    if (!failed.compare_exchange_strong(expected, true, std::memory_order_relaxed)) return;
    error = ec;
    exception = std::move(e);
    cancelable.cancel(ec);
  }

  with_cancel_result<cancel_cause_func> cancelable;
  wait_group wg;
  std::optional<semaphore> limit;  // replaced only while no member runs
  std::atomic<bool> failed{false};
  std::error_code error;
  std::exception_ptr exception;
};

template <class F, class... Args>
task<> group_member(std::shared_ptr<group_state> s, bool has_slot, F f, Args... args) {
  if (s->limit && !has_slot) {
    if (s->limit->size() == 0) {  // set_limit(0): Go's "no new members"; this one never runs
      chan<> never = nullptr;
      auto forever = never.recv();  // named: g++ 12, see goro/spawn.hpp
      co_await forever;
    }
    auto slot = s->limit->acquire(1);
    co_await slot;
  }
  using R = std::invoke_result_t<F&, Args&...>;
  std::error_code ec;
  try {
    if constexpr (std::is_same_v<R, task<std::error_code>>) {
      auto body = std::invoke(f, args...);
      ec = co_await std::move(body);
    } else if constexpr (std::is_same_v<R, task<>>) {
      auto body = std::invoke(f, args...);
      co_await std::move(body);
    } else if constexpr (std::is_same_v<R, std::error_code>) {
      ec = std::invoke(f, args...);
    } else {
      static_assert(std::is_void_v<R>,
                    "goro::group members return task<>, task<std::error_code>, void or std::error_code");
      std::invoke(f, args...);
    }
  } catch (...) {
    s->fail(errc::task_threw, std::current_exception());
  }
  if (ec) s->fail(ec, nullptr);
  if (s->limit) s->limit->release(1);
  s->wg.done();
}

}  // namespace detail

class group {
 public:
  group() : group(background()) {}
  explicit group(const context& parent) : s_(std::make_shared<detail::group_state>(parent)) {}
  group(const group&) = delete;
  group& operator=(const group&) = delete;
  ~group() { s_->cancelable.cancel(); }

  // The context every member should watch: cancelled by the first failure, by wait(),
  // or by the parent.
  const goro::context& context() const noexcept { return s_->cancelable.ctx; }

  void set_limit(std::int64_t n) {
    if (s_->wg.count() != 0) throw panic_error("goro::group::set_limit called while members are running");
    if (n < 0)
      s_->limit.reset();
    else
      s_->limit.emplace(n);
  }

  template <class F, class... Args>
  void go(F&& f, Args&&... args) {
    start(false, std::forward<F>(f), std::forward<Args>(args)...);
  }

  template <class F, class... Args>
  bool try_go(F&& f, Args&&... args) {
    if (s_->limit && (s_->limit->size() == 0 || !s_->limit->try_acquire(1))) return false;
    start(true, std::forward<F>(f), std::forward<Args>(args)...);
    return true;
  }

  // See the contract at the top. `where` is the wait site goro::dump_tasks shows for a
  // task parked here (never passed by hand).
  task<std::error_code> wait(std::source_location where = std::source_location::current()) {
    auto all = s_->wg.wait(where);  // named: g++ 12, see goro/spawn.hpp
    co_await all;
    s_->cancelable.cancel();
    if (s_->exception) std::rethrow_exception(s_->exception);
    co_return s_->error;
  }

 private:
  template <class F, class... Args>
  void start(bool has_slot, F&& f, Args&&... args) {
    s_->wg.add(1);
    try {
      goro::go(&detail::group_member<std::decay_t<F>, std::decay_t<Args>...>, s_, has_slot, std::forward<F>(f),
               std::forward<Args>(args)...);
    } catch (...) {
      if (has_slot) s_->limit->release(1);
      s_->wg.done();
      throw;
    }
  }

  std::shared_ptr<detail::group_state> s_;
};

}  // namespace goro
