// goro::context: Go's context package, a cancellation tree with deadlines and values.
//
//   auto [ctx, cancel] = goro::with_timeout(parent, 300ms);
//   auto r = co_await goro::select(in.recv(), ctx.done());
//   if (r.index() == 1) return std::get<1>(r);         // goro::errc::canceled / deadline_exceeded
//   if (auto ec = co_await goro::sleep_for(ctx, 1s)) ...  // ends early once ctx is done
//
// Contract
//   - context is a cheap shared handle (one pointer, reference counted). A default
//     constructed context is background(): never cancelled, no deadline, no values.
//   - with_cancel / with_timeout / with_deadline / with_cancel_cause return
//     {ctx, cancel}. Calling cancel (from any thread, any number of times) or destroying
//     it cancels ctx: Go's forgotten-cancel leak cannot happen. cancel_func is move-only.
//   - Cancelling a context cancels every descendant before cancel returns (each one's
//     err() says so), with the same err and cause, and wakes every task waiting on
//     their done(). A child created under an already-cancelled parent is born cancelled.
//     A cancelled context unlinks itself from its parent, so a long-lived parent keeps
//     no trace of its cancelled children.
//   - err() is empty while the context is live, then errc::canceled or
//     errc::deadline_exceeded, forever. cause(ctx) is the cause given to a
//     cancel_cause_func (or inherited from the ancestor whose cancel reached ctx), else
//     err().
//   - deadline() is the earliest deadline on the chain. A deadline is a timer on the
//     creating task's worker, removed when the context is cancelled early. Contexts
//     with a deadline are created inside a goro task (std::logic_error otherwise).
//   - ctx.value<K>() is the value bound to key type K by the nearest with_value on the
//     chain, or null. A key type names its value type: struct user { using value_type =
//     std::string; }; with_value(ctx, user{}, "ann"); ctx.value<user>() -> const string*.
//   - ctx.done() is awaitable (it returns err()) and is a case of goro::select (its
//     result is err()). background()'s done() never completes, like a nil channel.
//   - without_cancel(parent) keeps parent's values but none of its cancellation or
//     deadline.
//   - after_func(ctx, f) runs f once, on its own task, when ctx is done; its handle's
//     stop() prevents that if f has not started (true if it did prevent it).
//   - done(), sleep_for/sleep_until(ctx, ...) and after_func take a defaulted
//     std::source_location, never passed by hand: goro::dump_tasks shows that call as
//     the wait site of a task parked there (and as where after_func's task started).
//
// Go: context.Background, WithCancel, WithTimeout, WithDeadline, WithValue,
// WithCancelCause, Cause, AfterFunc, WithoutCancel; ctx.Done(), Err(), Deadline(),
// Value(). Design: lib/context.cpp.
#pragma once

#include <atomic>
#include <chrono>
#include <coroutine>
#include <memory>
#include <optional>
#include <source_location>
#include <system_error>
#include <type_traits>
#include <utility>

#include "goro/chan.hpp"
#include "goro/detail/select_case.hpp"
#include "goro/errc.hpp"
#include "goro/select.hpp"
#include "goro/spawn.hpp"
#include "goro/task.hpp"
#include "goro/time.hpp"

namespace goro {

namespace detail {

struct context_node;  // lib/context.cpp

void context_retain(context_node* n) noexcept;   // null-safe
void context_release(context_node* n) noexcept;  // null-safe
// The nearest cancellable node on n's chain (n itself if cancellable), or null.
context_node* context_canceler(context_node* n) noexcept;
std::error_code context_err(const context_node* canceler) noexcept;
std::error_code context_cause(const context_node* canceler) noexcept;
std::optional<clock::time_point> context_deadline(const context_node* canceler) noexcept;
void context_cancel(context_node* canceler, errc err, std::error_code cause) noexcept;

// Waiting on done(): the canceler's lock and waiter queue (goro/detail/parking.hpp).
short_lock& context_lock(context_node* canceler) noexcept;
bool context_done_locked(const context_node* canceler) noexcept;
void context_enqueue_locked(context_node* canceler, waiter& w) noexcept;
void context_dequeue_locked(context_node* canceler, waiter& w) noexcept;
// Parks w (for task) unless the canceler is already done; returns whether it parked.
// A parking task's wait goes to `parked` (context_done at `where`) first, if given.
bool context_park(context_node* canceler, waiter& w, std::coroutine_handle<> task, parked_task* parked = nullptr,
                  const std::source_location& where = {}) noexcept;

// Values: payloads of with_value, identified by the address of key_id<K>.
struct context_value_base {
  virtual ~context_value_base() = default;
};
template <class V>
struct context_value final : context_value_base {
  template <class U>
  explicit context_value(U&& u) : value(std::forward<U>(u)) {}
  V value;
};
template <class K>
inline constexpr char key_id = 0;
const context_value_base* context_find_value(const context_node* n, const void* key) noexcept;

// Node constructors. A parent of null is background().
context_node* context_make_cancel(context_node* parent, std::optional<clock::time_point> deadline);
context_node* context_make_value(context_node* parent, const void* key, std::unique_ptr<context_value_base> v);
context_node* context_make_detached(context_node* parent);

}  // namespace detail

class context;

// The case ctx.done() returns: awaitable, and a case of goro::select. Holds a reference
// to the context, so it may outlive the handle it came from.
class [[nodiscard]] done_case final : public detail::select_case {
 public:
  using result_type = std::error_code;

  done_case(const done_case& other) noexcept : select_case(other), node_(other.node_) {
    detail::context_retain(node_);
  }
  done_case& operator=(const done_case&) = delete;
  ~done_case() {
    // Parked when its task was destroyed (goro::run ending): leave the queue. `queued`
    // is cleared only under the context's lock, by the canceller that then woke us.
    if (waiter_.queued) {
      detail::short_lock_guard lock(detail::context_lock(node_));
      if (waiter_.queued) detail::context_dequeue_locked(node_, waiter_);
    }
    detail::context_release(node_);
  }

  bool await_ready() const noexcept { return node_ && detail::context_err(node_); }
  bool await_suspend(std::coroutine_handle<> h) noexcept {
    if (!node_) {  // background: never done (its frame is destroyed when run ends)
      parked_.park(detail::wait_kind::context_done, nullptr, 0, where_);
      return true;
    }
    waiter_.select = nullptr;
    return detail::context_park(node_, waiter_, h, &parked_, where_);
  }
  std::error_code await_resume() const noexcept {
    parked_.resumed();
    return take_result();
  }
  std::error_code take_result() const noexcept { return detail::context_err(node_); }

  detail::short_lock* guard() noexcept override { return node_ ? &detail::context_lock(node_) : nullptr; }
  bool complete_locked(std::coroutine_handle<>*) noexcept override {
    return node_ && detail::context_done_locked(node_);
  }
  void arm_locked(detail::select_state& s, int index, std::coroutine_handle<> task) noexcept override {
    if (!node_) return;
    waiter_.select = &s;
    waiter_.case_index = index;
    waiter_.task = task;
    detail::context_enqueue_locked(node_, waiter_);
  }
  void disarm_locked() noexcept override {
    if (node_ && waiter_.queued) detail::context_dequeue_locked(node_, waiter_);
  }

 private:
  friend class context;
  done_case(detail::context_node* canceler, const std::source_location& where) noexcept
      : select_case(where), node_(canceler) {
    detail::context_retain(node_);
  }

  detail::context_node* node_;  // the canceler; null: never done
  detail::waiter waiter_;
  detail::parked_task parked_;  // set only when awaited on its own and parked (a select records its own)
};

class context {
 public:
  context() noexcept = default;  // background()
  context(const context& other) noexcept : node_(other.node_) { detail::context_retain(node_); }
  context(context&& other) noexcept : node_(std::exchange(other.node_, nullptr)) {}
  context& operator=(context other) noexcept {
    std::swap(node_, other.node_);
    return *this;
  }
  ~context() { detail::context_release(node_); }

  done_case done(std::source_location where = std::source_location::current()) const noexcept {
    return done_case(detail::context_canceler(node_), where);
  }
  std::error_code err() const noexcept { return detail::context_err(detail::context_canceler(node_)); }
  std::optional<clock::time_point> deadline() const noexcept {
    return detail::context_deadline(detail::context_canceler(node_));
  }
  template <class K>
  const typename K::value_type* value() const noexcept {
    auto* v = detail::context_find_value(node_, &detail::key_id<K>);
    return v ? &static_cast<const detail::context_value<typename K::value_type>*>(v)->value : nullptr;
  }

  // For goro's own primitives: the node (null for background).
  detail::context_node* node() const noexcept { return node_; }
  // Adopts a node reference.
  explicit context(detail::context_node* adopted) noexcept : node_(adopted) {}

 private:
  detail::context_node* node_ = nullptr;
};

inline context background() noexcept { return context(); }

// Cancels its context when called or destroyed (Go's CancelFunc). Move-only.
class cancel_func {
 public:
  cancel_func() noexcept = default;  // owns nothing
  cancel_func(cancel_func&& other) noexcept : node_(std::exchange(other.node_, nullptr)) {}
  cancel_func& operator=(cancel_func&& other) noexcept {
    if (this != &other) {
      reset();
      node_ = std::exchange(other.node_, nullptr);
    }
    return *this;
  }
  ~cancel_func() { reset(); }

  void operator()() const noexcept {
    if (node_) detail::context_cancel(node_, errc::canceled, {});
  }

  explicit cancel_func(detail::context_node* adopted) noexcept : node_(adopted) {}

 protected:
  void reset() noexcept {
    if (!node_) return;
    detail::context_cancel(node_, errc::canceled, {});
    detail::context_release(std::exchange(node_, nullptr));
  }
  detail::context_node* node_ = nullptr;
};

// with_cancel_cause's cancel: cancel(cause) records why (Go's CancelCauseFunc); an
// empty cause, or cancel(), records errc::canceled.
class cancel_cause_func : public cancel_func {
 public:
  using cancel_func::cancel_func;
  using cancel_func::operator();
  void operator()(std::error_code cause) const noexcept {
    if (node_) detail::context_cancel(node_, errc::canceled, cause);
  }
};

template <class Cancel>
struct with_cancel_result {
  context ctx;
  Cancel cancel;
};

namespace detail {
template <class Cancel>
with_cancel_result<Cancel> make_cancelable(const context& parent, std::optional<clock::time_point> deadline) {
  context_node* n = context_make_cancel(parent.node(), deadline);
  context_retain(n);  // one reference for the context, one for the cancel function
  return {context(n), Cancel(n)};
}
}  // namespace detail

inline with_cancel_result<cancel_func> with_cancel(const context& parent) {
  return detail::make_cancelable<cancel_func>(parent, std::nullopt);
}
inline with_cancel_result<cancel_cause_func> with_cancel_cause(const context& parent) {
  return detail::make_cancelable<cancel_cause_func>(parent, std::nullopt);
}
inline with_cancel_result<cancel_func> with_deadline(const context& parent, clock::time_point deadline) {
  return detail::make_cancelable<cancel_func>(parent, deadline);
}
template <class Rep, class Period>
with_cancel_result<cancel_func> with_timeout(const context& parent, std::chrono::duration<Rep, Period> d) {
  return with_deadline(parent, clock::now() + std::chrono::ceil<clock::duration>(d));
}

template <class K, class U>
context with_value(const context& parent, K, U&& v) {
  using V = typename K::value_type;
  static_assert(std::is_constructible_v<V, U&&>, "goro::with_value: the value must convert to K::value_type");
  return context(detail::context_make_value(parent.node(), &detail::key_id<K>,
                                            std::make_unique<detail::context_value<V>>(std::forward<U>(v))));
}

inline context without_cancel(const context& parent) { return context(detail::context_make_detached(parent.node())); }

// Go's context.Cause: empty while ctx is live; then the cause, else ctx.err().
inline std::error_code cause(const context& ctx) noexcept {
  return detail::context_cause(detail::context_canceler(ctx.node()));
}

// ---- waiting with a context ----

// co_await sleep_for(ctx, d) / sleep_until(ctx, tp): sleeps like goro::sleep_for, but
// ends early once ctx is done. Returns empty after a full sleep, else ctx.err().
class [[nodiscard]] context_sleep {
 public:
  // Recorded as a sleep, not as the select it is (its record is fixed before it parks:
  // the time left is taken now).
  context_sleep(const context& ctx, clock::time_point deadline, const std::source_location& where)
      : select_(detail::select_wait{detail::wait_kind::sleep, nullptr, detail::wait_ms(deadline)}, ctx.done(where),
                after_case(deadline, where)) {}
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h) noexcept { return select_.await_suspend(h); }
  std::error_code await_resume() {
    auto r = select_.await_resume();
    return r.index() == 0 ? std::get<0>(r) : std::error_code();
  }

 private:
  select_awaiter<done_case, after_case> select_;
};

inline context_sleep sleep_until(const context& ctx, clock::time_point deadline,
                                 std::source_location where = std::source_location::current()) {
  return {ctx, deadline, where};
}
template <class Rep, class Period>
context_sleep sleep_for(const context& ctx, std::chrono::duration<Rep, Period> d,
                        std::source_location where = std::source_location::current()) {
  return {ctx, clock::now() + std::chrono::ceil<clock::duration>(d), where};
}

// ---- after_func ----

namespace detail {
struct after_func_state {
  // pending -> running (the task claimed it) or pending -> stopped (stop() claimed it).
  enum : int { pending, running, stopped };
  std::atomic<int> state{pending};
  chan<> stop_signal;  // closed by a successful stop(), so the waiting task ends
};

// Waits (as a select at after_func's call) for ctx or a stop, then runs f.
template <class F>
task<> after_func_body(context ctx, F f, std::shared_ptr<after_func_state> s, std::source_location where) {
  auto r = co_await select(ctx.done(where), s->stop_signal.recv(where));
  int expected = after_func_state::pending;
  // relaxed: the winner only needs to be unique; f's effects are published by f itself.
  if (r.index() != 0 || !s->state.compare_exchange_strong(expected, after_func_state::running,
                                                          std::memory_order_relaxed))
    co_return;
  if constexpr (is_task<std::invoke_result_t<F&>>::value) {
    auto body = f();  // named first: g++ 12, see goro/spawn.hpp
    co_await std::move(body);
  } else {
    f();
  }
}
}  // namespace detail

// after_func's handle. Dropping it does not stop anything.
class after_func_handle {
 public:
  // Prevents f from running; true if it did (f had not started and was not stopped).
  bool stop() const {
    int expected = detail::after_func_state::pending;
    // relaxed: see after_func_body.
    if (!state_->state.compare_exchange_strong(expected, detail::after_func_state::stopped,
                                               std::memory_order_relaxed))
      return false;
    state_->stop_signal.close();
    return true;
  }

  explicit after_func_handle(std::shared_ptr<detail::after_func_state> s) noexcept : state_(std::move(s)) {}

 private:
  std::shared_ptr<detail::after_func_state> state_;
};

// Runs f() (a plain function or a coroutine returning task<>) on its own task once ctx
// is done (at once if it already is). An exception from f goes to the panic handler.
template <class F>
after_func_handle after_func(const context& ctx, F f, std::source_location where = std::source_location::current()) {
  static_assert(std::is_invocable_v<F&>, "goro::after_func: f must be callable with no arguments");
  auto s = std::make_shared<detail::after_func_state>();
  // goro::go's own location parameter would be taken by its argument pack: started at
  // `where` through goro::go's implementation instead.
  detail::start_root(detail::root_base::join_detached, where, &detail::after_func_body<F>, ctx, std::move(f), s,
                     where);
  return after_func_handle(std::move(s));
}

}  // namespace goro
