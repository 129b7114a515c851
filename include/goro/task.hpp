// goro::task<T>: the coroutine type of goro code, the counterpart of a Go function call.
//
// A task is lazy: calling a coroutine that returns task<T> allocates its frame (from the
// calling worker's frame pool) and runs nothing. `co_await` starts it by symmetric
// transfer and, when it finishes, control transfers straight back to the awaiter, so a
// chain of co_awaits costs no scheduler round trip and no stack (see detail::transfer).
//
// Contract
//   - move-only; awaiting consumes it: the result (or the exception the body threw) is
//     handed to the awaiter, on the thread that ran the body's last step;
//   - a task that is destroyed without being awaited never runs;
//   - a task<T&> returns the reference; a task<> (task<void>) returns nothing.
//
// Go: an ordinary function call. To run something concurrently use goro::go or
// goro::spawn (spawn.hpp).
#pragma once

#include <cassert>
#include <coroutine>
#include <exception>
#include <memory>
#include <type_traits>
#include <utility>
#include <variant>

#include "goro/detail/scheduler_hooks.hpp"

namespace goro {

template <class T = void>
class task;

namespace detail {

// Result slot of a coroutine: empty, a value (or reference), or an exception.
template <class T>
class result_slot {
 public:
  template <class U>
  void set_value(U&& v) {
    if constexpr (std::is_reference_v<T>)
      state_.template emplace<1>(std::addressof(v));
    else
      state_.template emplace<1>(std::forward<U>(v));
  }
  void set_exception(std::exception_ptr e) noexcept { state_.template emplace<2>(std::move(e)); }
  bool has_exception() const noexcept { return state_.index() == 2; }
  std::exception_ptr exception() const noexcept {
    return state_.index() == 2 ? std::get<2>(state_) : nullptr;
  }

  // Moves the value out, or rethrows the stored exception.
  T take() {
    if (state_.index() == 2) std::rethrow_exception(std::get<2>(state_));
    assert(state_.index() == 1 && "goro: result taken from a coroutine that did not finish");
    if constexpr (std::is_reference_v<T>)
      return static_cast<T>(*std::get<1>(state_));
    else
      return std::move(std::get<1>(state_));
  }

 private:
  using stored = std::conditional_t<std::is_reference_v<T>, std::add_pointer_t<std::remove_reference_t<T>>, T>;
  std::variant<std::monostate, stored, std::exception_ptr> state_;
};

template <>
class result_slot<void> {
 public:
  void set_exception(std::exception_ptr e) noexcept { error_ = std::move(e); }
  bool has_exception() const noexcept { return error_ != nullptr; }
  std::exception_ptr exception() const noexcept { return error_; }
  void take() {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  std::exception_ptr error_;
};

// return_value / return_void, chosen by T.
template <class Promise, class T>
struct returns_value {
  template <class U = T>
    requires std::convertible_to<U&&, T>
  void return_value(U&& v) {
    static_cast<Promise*>(this)->result.set_value(std::forward<U>(v));
  }
};
template <class Promise>
struct returns_value<Promise, void> {
  void return_void() noexcept {}
};

// What a join handle needs of a spawned task: its header and its result.
template <class T>
struct joinable : root_base {
  result_slot<T> result;

  // The spawned body has finished: publish its outcome, return where to transfer to.
  std::coroutine_handle<> finish() noexcept {
    error = result.exception();
    return finish_root(*this);
  }
};

// A task's frame can itself be a spawned task's root (goro::spawn of a function taking
// its parameters by value needs no wrapper frame; see start_root in spawn.hpp), so every
// task frame carries a root header (frame_pool.hpp). An awaited task has a
// continuation; a spawned one has none and finishes through finish_root.
template <class T>
struct task_promise : pooled_frame, joinable<T>, returns_value<task_promise<T>, T> {
  std::coroutine_handle<> continuation;  // the awaiter; set before the body first runs

  task<T> get_return_object() noexcept;
  // A task frame started by a worker, not awaited, is a spawned task's root: it becomes
  // the current task (scheduler_hooks.hpp).
  struct initial_awaiter {
    task_promise& p;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<>) const noexcept {}
    void await_resume() const noexcept {
      if (p.continuation) return;
      set_current_task(&p);
      p.note_running();
    }
  };
  initial_awaiter initial_suspend() noexcept { return {*this}; }

  struct final_awaiter {
    bool await_ready() noexcept { return false; }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<task_promise> self) noexcept {
      task_promise& p = self.promise();
      return p.continuation ? transfer(p.continuation) : p.finish();
    }
    void await_resume() noexcept {}
  };
  final_awaiter final_suspend() noexcept { return {}; }
  void unhandled_exception() noexcept { this->result.set_exception(std::current_exception()); }
};

template <class T>
struct is_task : std::false_type {};
template <class T>
struct is_task<task<T>> : std::true_type {};

}  // namespace detail

template <class T>
class [[nodiscard]] task {
 public:
  using promise_type = detail::task_promise<T>;
  using value_type = T;

  task(task&& other) noexcept : frame_(std::exchange(other.frame_, nullptr)) {}
  task& operator=(task&& other) noexcept {
    if (this != &other) {
      if (frame_) frame_.destroy();
      frame_ = std::exchange(other.frame_, nullptr);
    }
    return *this;
  }
  task(const task&) = delete;
  task& operator=(const task&) = delete;
  ~task() {
    if (frame_) frame_.destroy();
  }

  // Suspends the awaiter, runs the task, resumes the awaiter with its result. Rethrows
  // the task's exception.
  auto operator co_await() && noexcept { return awaiter{frame_}; }
  auto operator co_await() & noexcept { return awaiter{frame_}; }

 private:
  friend struct detail::task_promise<T>;
  explicit task(std::coroutine_handle<promise_type> frame) noexcept : frame_(frame) {}

  struct awaiter {
    std::coroutine_handle<promise_type> frame;
    bool await_ready() const noexcept { return false; }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<> caller) noexcept {
      assert(frame && "goro: co_await on an empty (moved-from) task");
      frame.promise().continuation = caller;
      return detail::transfer(frame);
    }
    T await_resume() { return frame.promise().result.take(); }
  };

  // Hands the frame over (to goro::spawn, which makes it a root).
  friend std::coroutine_handle<promise_type> detail_release_frame(task&& t) noexcept {
    return std::exchange(t.frame_, nullptr);
  }

  std::coroutine_handle<promise_type> frame_;
};

template <class T>
task<T> detail::task_promise<T>::get_return_object() noexcept {
  const auto h = std::coroutine_handle<task_promise>::from_promise(*this);
  this->frame = h;
  return task<T>(h);
}

}  // namespace goro
