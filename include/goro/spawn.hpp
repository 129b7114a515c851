// Starting tasks: goro::go (Go's `go f(x)`) and goro::spawn (the same with a join handle).
//
//   goro::go(f, args...);                  // detached, like `go f(args...)`
//   auto h = goro::spawn(f, args...);      // joinable
//   T v = co_await std::move(h);           // the result, or the task's exception
//
// f and args are decay-copied into the new task's frame, so a lambda with captures and
// temporaries passed as arguments stay alive as long as the task: nothing dangles after
// go returns. f may be a coroutine returning goro::task<T> or a plain callable returning
// T. Each task records the source location it was started at (panic messages, dumps).
//
// Contract
//   - go and spawn never suspend and never run f inline: the task is queued on the
//     calling worker (stealable by the others), or on the global queue when called from
//     a thread outside the runtime. Outside goro::run they throw std::logic_error.
//   - an exception escaping a detached task goes to the panic handler (runtime.hpp); a
//     joinable task hands it to whoever awaits the handle. A handle dropped without
//     being awaited detaches the task, and an exception it had thrown, or throws later,
//     goes to the panic handler: nothing is lost silently.
//   - awaiting a handle suspends until the task finishes, then resumes on the thread that
//     finished it (or at once if it already has).
//
// g++ 12: a lambda with captures written as a temporary inside a co_await expression,
// as in `co_await goro::spawn([p = std::move(p)] {...})`, has its captures destroyed
// twice (a g++ 12 coroutine bug; clang is correct). Name the handle first:
// `auto h = goro::spawn([...] {...}); co_await std::move(h);`.
#pragma once

#include <coroutine>
#include <functional>
#include <source_location>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "goro/task.hpp"

namespace goro {

template <class T>
class join_handle;

namespace detail {

// What a spawned callable produces: task<T> -> T, otherwise its plain result.
template <class R>
struct spawn_result {
  using type = R;
};
template <class T>
struct spawn_result<task<T>> {
  using type = T;
};
template <class F, class... Args>
using spawn_result_t = typename spawn_result<std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>>::type;

template <class T>
struct root_promise;

template <class T>
struct root_coroutine {
  using promise_type = root_promise<T>;
  std::coroutine_handle<promise_type> frame;
};

template <class T>
struct root_promise : pooled_frame, joinable<T>, returns_value<root_promise<T>, T> {
  root_coroutine<T> get_return_object() noexcept {
    auto h = std::coroutine_handle<root_promise>::from_promise(*this);
    this->frame = h;
    return {h};
  }
  struct initial_awaiter {
    root_promise& p;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<>) const noexcept {}
    void await_resume() const noexcept {
      set_current_task(&p);
      p.note_running();
    }
  };
  initial_awaiter initial_suspend() noexcept { return {*this}; }

  struct final_awaiter {
    bool await_ready() noexcept { return false; }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<root_promise> self) noexcept {
      return self.promise().finish();
    }
    void await_resume() noexcept {}
  };
  final_awaiter final_suspend() noexcept { return {}; }
  void unhandled_exception() noexcept { this->result.set_exception(std::current_exception()); }
};

// The body of every spawned task: owns the decayed callable and arguments.
//
// g++ 12 workaround (temporaries in co_await expressions): the task returned by f is
// stored in a named local before it is awaited instead of awaiting the temporary
// directly; test/spawn_test.cpp "arguments and captures are destroyed exactly once"
// catches a regression.
template <class T, class F, class... Args>
root_coroutine<T> root_body(F f, Args... args) {
  using R = std::invoke_result_t<F, Args...>;
  if constexpr (is_task<R>::value) {
    R body = std::invoke(std::move(f), std::move(args)...);
    if constexpr (std::is_void_v<T>)
      co_await std::move(body);
    else
      co_return co_await std::move(body);
  } else if constexpr (std::is_void_v<T>) {
    std::invoke(std::move(f), std::move(args)...);
    co_return;
  } else {
    co_return std::invoke(std::move(f), std::move(args)...);
  }
}

// A function whose parameters are all taken by value can be called at spawn time: the
// coroutine copies its arguments into its own frame, which then serves as the task's
// root, with no wrapper frame (one allocation and two resumptions fewer per spawn).
template <class F>
struct spawns_directly : std::false_type {};
template <class R, class... Ps>
struct spawns_directly<R (*)(Ps...)> : std::bool_constant<is_task<R>::value && (std::is_object_v<Ps> && ...)> {};

template <class F, class... Args>
joinable<spawn_result_t<F, Args...>>& start_root(std::uintptr_t join_state, const std::source_location& where, F&& f,
                                                 Args&&... args) {
  using T = spawn_result_t<F, Args...>;
  joinable<T>* p;
  if constexpr (spawns_directly<std::decay_t<F>>::value)
    p = &detail_release_frame(std::invoke(std::forward<F>(f), std::forward<Args>(args)...)).promise();
  else
    p = &root_body<T, std::decay_t<F>, std::decay_t<Args>...>(std::forward<F>(f), std::forward<Args>(args)...)
             .frame.promise();
  p->trace().started_at.store(where, std::memory_order_relaxed);  // published by submit, read as a diagnostic
  p->join.store(join_state, std::memory_order_relaxed);  // not shared yet: submit publishes it
  try {
    submit(*p);
  } catch (...) {
    release(*p);  // out of line: see release()
    throw;
  }
  return *p;
}

}  // namespace detail

// A joinable spawned task. Move-only; awaiting it (once) yields the task's result or
// rethrows its exception. Dropping it detaches the task.
template <class T>
class [[nodiscard]] join_handle {
 public:
  join_handle() noexcept = default;  // empty: owns no task (like a moved-from handle)
  join_handle(join_handle&& other) noexcept : root_(std::exchange(other.root_, nullptr)) {}
  join_handle& operator=(join_handle&& other) noexcept {
    if (this != &other) {
      drop();
      root_ = std::exchange(other.root_, nullptr);
    }
    return *this;
  }
  ~join_handle() { drop(); }

  // True once the task has finished (its result is ready). Does not suspend.
  bool done() const noexcept {
    // acquire: pairs with the task's release exchange; a true answer makes the result visible.
    return root_ && root_->join.load(std::memory_order_acquire) == detail::root_base::join_done;
  }

  auto operator co_await() && { return awaiter{std::exchange(root_, nullptr), {}}; }

 protected:
  explicit join_handle(detail::joinable<T>* root) noexcept : root_(root) {}

 private:
  struct awaiter {
    // Destroyed while parked (goro::run ending, or a deadlock), it leaves the task alone:
    // goro::run's sweep destroys a task whose awaiter will never resume.
    detail::joinable<T>* root;
    detail::parked_task parked;
    bool await_ready() const {
      if (!root) throw std::logic_error("goro: co_await on an empty join_handle (moved from or already awaited)");
      // acquire: pairs with the task's release exchange to join_done.
      return root->join.load(std::memory_order_acquire) == detail::root_base::join_done;
    }
    bool await_suspend(std::coroutine_handle<> caller) noexcept {
      // No wait site: `co_await handle` calls nothing that could take a source_location.
      // The dump names the awaited task's id instead (as the capacity).
      parked.park(detail::wait_kind::join, root, root->trace().id.load(std::memory_order_relaxed), {});
      std::uintptr_t expected = detail::root_base::join_running;
      // release: publishes the caller's frame to the task, which resumes it (its
      // acquire exchange). acquire on failure: the task finished, its result is visible.
      return root->join.compare_exchange_strong(expected, reinterpret_cast<std::uintptr_t>(caller.address()),
                                                std::memory_order_release, std::memory_order_acquire);
    }
    T await_resume() {
      parked.resumed();
      // The task is done and we are the only party left: collect and free it.
      struct releaser {
        detail::joinable<T>* root;
        ~releaser() { detail::release(*root); }
      } on_exit{root};
      return root->result.take();
    }
  };

  void drop() noexcept { detach(std::exchange(root_, nullptr)); }

  // Nobody will collect the task: it frees itself when it finishes, or now if it has.
  static void detach(detail::joinable<T>* root) noexcept {
    if (!root) return;
    // acq_rel: release hands the frame over to the task if it is still running; acquire
    // pairs with its release exchange when it is done, so reading its error is safe.
    const std::uintptr_t old = root->join.exchange(detail::root_base::join_detached, std::memory_order_acq_rel);
    if (old == detail::root_base::join_done) {
      if (root->error) detail::report_panic(root->error, root->started_at());
      detail::release(*root);
    }
  }

  detail::joinable<T>* root_ = nullptr;
};

// goro::go(f, args...): start f(args...) as a detached task. See the top of this file.
template <class F, class... Args>
struct go {
  explicit go(F&& f, Args&&... args, std::source_location where = std::source_location::current()) {
    detail::start_root(detail::root_base::join_detached, where, std::forward<F>(f), std::forward<Args>(args)...);
  }
};
template <class F, class... Args>
go(F&&, Args&&...) -> go<F, Args...>;

// goro::spawn(f, args...): start f(args...) as a task and return its join handle.
template <class F, class... Args>
struct [[nodiscard]] spawn : join_handle<detail::spawn_result_t<F, Args...>> {
  explicit spawn(F&& f, Args&&... args, std::source_location where = std::source_location::current())
      : join_handle<detail::spawn_result_t<F, Args...>>(&detail::start_root(
            detail::root_base::join_running, where, std::forward<F>(f), std::forward<Args>(args)...)) {}
};
template <class F, class... Args>
spawn(F&&, Args&&...) -> spawn<F, Args...>;

}  // namespace goro
