// goro::chan<T>: Go's channels for tasks.
//
//   goro::chan<int> ch(16);                    // buffered; goro::chan<int> ch; is unbuffered
//   goro::go([](goro::send_chan<int> out) -> goro::task<> {
//     for (int i = 0; i < 3; ++i) co_await out.send(i);
//     out.close();
//   }, ch);
//   while (auto v = co_await ch.recv()) use(*v);  // ends once closed and drained
//   (keep the declaration: g++ 12 miscompiles a bare `while (co_await ...)` in a
//   coroutine with parameters, see README's "Known compiler issues")
//
// Contract
//   - chan<T> is a cheap shared handle (one pointer, reference counted); copies refer to
//     the same channel. send_chan<T> / recv_chan<T> are the same handle restricted to one
//     direction at compile time (Go's chan<- T and <-chan T); a chan<T> converts to both.
//   - `co_await ch.send(v)` suspends until the value is delivered: to a receiver for an
//     unbuffered channel, into the buffer for a buffered one. It throws
//     closed_channel_error if the channel is closed (before, or while the sender waits).
//     send(std::move(v)) moves v only when the send happens; send(v) copies v first.
//   - `co_await ch.recv()` suspends until a value arrives and returns it, or returns an
//     empty optional once the channel is closed and every buffered value was received.
//   - close() wakes every waiting receiver (they get empty) and every waiting sender
//     (they throw). Closing a closed channel throws closed_channel_error.
//   - try_send / try_recv never suspend and may be called from any thread.
//   - Every error is detected before anything changes: the channel stays usable.
//   - Each channel is FIFO: values are received in the order their sends completed, and
//     waiting senders and receivers are served in arrival order.
//   - A nil channel (chan<T> ch = nullptr; or ch = nullptr) is Go's nil channel: send
//     and recv on it wait forever, a select never chooses its cases (switch a case off
//     at run time), close throws panic_error.
//   - chan<> (chan<void>) carries no payload: send() and recv() -> bool, no storage.
//   - T must be nothrow move-constructible: values move under the channel's lock.
//   - Waking: a task woken by another task's send/recv/close runs next on the waker's
//     worker (where idle workers may take it). Buffered send/recv with nobody waiting
//     allocate nothing; waiting allocates nothing either (the waiter lives in the
//     awaiting task's frame).
//   - An operation object (ch.send(v), ch.recv()) borrows the channel and, for
//     send(std::move(v)), the value: await it (or pass it to select) in the expression
//     that creates it.
//   - Every send and recv is also a case of goro::select (goro/select.hpp).
//   - send() and recv() take a defaulted std::source_location, never passed by hand: a
//     task parked on the operation shows that call as its wait site (goro::dump_tasks).
//
// Go: make(chan T, n), ch <- v, v, ok := <-ch, close, len, cap, chan<- T, <-chan T.
// Design: lib/chan.cpp (Go's hchan).
#pragma once

#include <concepts>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <memory>
#include <new>
#include <optional>
#include <source_location>
#include <string>
#include <type_traits>
#include <utility>

#include "goro/detail/chan_core.hpp"
#include "goro/detail/select_case.hpp"
#include "goro/runtime.hpp"

namespace goro {

// Send on a closed channel, or close of a closed channel (Go panics on both).
class closed_channel_error : public panic_error {
 public:
  using panic_error::panic_error;
};

// What a receive returns: the value, or empty once the channel is closed and drained.
// For chan<void>: true for a received signal, false once closed and drained.
template <class T>
using recv_result = std::conditional_t<std::is_void_v<T>, bool, std::optional<std::conditional_t<std::is_void_v<T>, int, T>>>;

// What try_recv returns. `value` holds the value iff status == done.
template <class T>
struct try_recv_result {
  try_status status = try_status::not_ready;
  recv_result<T> value{};
  explicit operator bool() const noexcept { return status == try_status::done; }
};

// The result of a send case that won a select.
struct sent {};

namespace detail {

// Raw storage for the one value a receive delivers.
template <class T>
class value_slot {
 public:
  void* address() noexcept { return bytes_; }
  std::optional<T> take() noexcept {  // moves the constructed value out and destroys it
    T* p = std::launder(reinterpret_cast<T*>(bytes_));
    std::optional<T> r(std::move(*p));
    p->~T();
    return r;
  }
  void destroy() noexcept { std::launder(reinterpret_cast<T*>(bytes_))->~T(); }

 private:
  alignas(T) unsigned char bytes_[sizeof(T)];
};

template <>
class value_slot<void> {
 public:
  void* address() noexcept { return nullptr; }
  bool take() noexcept { return true; }
  void destroy() noexcept {}
};

// send's parameter type, well-formed for T = void (whose send() takes nothing).
struct no_value {};
template <class T>
using value_arg = std::conditional_t<std::is_void_v<T>, no_value, T>;

}  // namespace detail

namespace detail {

// What a send and a receive share: the channel, the waiter, co_await, and the select
// case interface. Op supplies prepare(), which sets the waiter's direction and element.
template <class Op>
class chan_case : public select_case {
 public:
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h) {
    self().prepare();
    return chan_complete_or_park(core_, waiter_, h, parked_, where_);
  }

  short_lock* guard() noexcept final { return core_ ? &chan_lock(core_) : nullptr; }
  bool complete_locked(std::coroutine_handle<>* wake) noexcept final {
    if (!core_) return false;
    self().prepare();
    return chan_complete_locked(core_, waiter_, wake);
  }
  void arm_locked(select_state& s, int index, std::coroutine_handle<> task) noexcept final {
    if (!core_) return;
    self().prepare();
    waiter_.select = &s;
    waiter_.case_index = index;
    waiter_.task = task;
    chan_enqueue_locked(core_, waiter_);
  }
  void disarm_locked() noexcept final {
    if (core_) chan_dequeue_locked(core_, waiter_);
  }

 protected:
  chan_case(chan_core* c, const std::source_location& where) noexcept : select_case(where), core_(c) {}
  chan_case(chan_case&& other) noexcept : select_case(other), core_(other.core_) {}  // before it is awaited
  chan_case& operator=(chan_case&&) = delete;
  ~chan_case() {
    // Parked when its task was destroyed (goro::run ending): leave the queue. `queued`
    // is only cleared under the channel's lock by a waker that then woke this task, or
    // by the task itself, so the read is ordered after the last write.
    if (waiter_.queued) chan_forget(core_, waiter_);
  }

  chan_core* core_;
  chan_waiter waiter_;
  parked_task parked_;  // set only when awaited on its own and parked (a select records its own)

 private:
  Op& self() noexcept { return static_cast<Op&>(*this); }
};

}  // namespace detail

// The awaitable of ch.recv(), also a receive case of goro::select.
template <class T>
class [[nodiscard]] recv_op final : public detail::chan_case<recv_op<T>> {
  using base = detail::chan_case<recv_op<T>>;

 public:
  using result_type = recv_result<T>;

  recv_op(detail::chan_core* c, const std::source_location& where) noexcept : base(c, where) {}
  recv_op(recv_op&&) noexcept = default;  // before it is awaited
  ~recv_op() {
    // Woken with a value but destroyed before taking it.
    if (this->waiter_.status == detail::chan_waiter::done) slot_.destroy();
  }

  result_type await_resume() noexcept {
    this->parked_.resumed();
    return take_result();
  }

  // The outcome, once: the value, or empty if the channel was closed.
  result_type take_result() noexcept {
    if (this->waiter_.status != detail::chan_waiter::done) return result_type{};
    this->waiter_.status = detail::chan_waiter::pending;  // taken
    return slot_.take();
  }

 private:
  friend base;
  void prepare() noexcept {
    this->waiter_.sending = false;
    this->waiter_.elem = slot_.address();  // here, not at construction: the op may have moved
  }

  [[no_unique_address]] detail::value_slot<T> slot_;
};

// The awaitable of ch.send(v), also a send case of goro::select.
template <class T>
class [[nodiscard]] send_op final : public detail::chan_case<send_op<T>> {
  using base = detail::chan_case<send_op<T>>;

 public:
  using result_type = sent;

  // Refers to the caller's value and moves it only if and when the send happens.
  send_op(detail::chan_core* c, detail::value_arg<T>&& v, const std::source_location& where) noexcept
      : base(c, where), source_(std::addressof(v)) {}
  // Sends a copy, made now.
  send_op(detail::chan_core* c, const detail::value_arg<T>& v, const std::source_location& where)
      : base(c, where), copy_(std::in_place, v) {}
  // chan<void>'s send().
  send_op(detail::chan_core* c, const std::source_location& where) noexcept : base(c, where) {}
  send_op(send_op&&) noexcept = default;  // before it is awaited

  void await_resume() {
    this->parked_.resumed();
    take_result();
  }

  // The outcome: throws closed_channel_error if the channel was closed.
  sent take_result() {
    if (this->waiter_.status == detail::chan_waiter::closed) detail::chan_throw_closed("send on closed channel");
    return {};
  }

 private:
  friend base;
  void prepare() noexcept {
    this->waiter_.sending = true;
    if constexpr (!std::is_void_v<T>)
      this->waiter_.elem = copy_ ? static_cast<void*>(&*copy_) : static_cast<void*>(source_);
  }

  detail::value_arg<T>* source_ = nullptr;
  std::optional<detail::value_arg<T>> copy_;
};

enum class chan_dir { both, send_only, recv_only };

// The one channel handle type; use it through the aliases chan, send_chan, recv_chan.
template <class T, chan_dir Dir>
class basic_chan {
  static_assert(std::is_void_v<T> || (std::is_object_v<T> && !std::is_const_v<T> &&
                                      std::is_nothrow_move_constructible_v<T> && std::is_nothrow_destructible_v<T>),
                "goro::chan<T>: T must be void or a non-const object type that is nothrow move-constructible "
                "(values move under the channel's lock)");
  static constexpr bool can_send = Dir != chan_dir::recv_only;
  static constexpr bool can_recv = Dir != chan_dir::send_only;
  static constexpr bool has_value = !std::is_void_v<T>;
  using arg = detail::value_arg<T>;

 public:
  using value_type = T;

  // chan<T>: a new unbuffered channel. send_chan / recv_chan: nil.
  basic_chan() requires(Dir == chan_dir::both) : basic_chan(0) {}
  basic_chan() noexcept requires(Dir != chan_dir::both) = default;
  // A new channel buffering `capacity` values; 0 is unbuffered. Throws panic_error if
  // capacity is negative. (A template so that chan<T> ch(0) is not read as nil.)
  template <std::integral I>
    requires(Dir == chan_dir::both && !std::is_same_v<I, bool>)
  explicit basic_chan(I capacity) {
    if (std::cmp_less(capacity, 0)) throw panic_error("goro::chan: negative capacity " + std::to_string(capacity));
    if (std::cmp_greater(capacity, SIZE_MAX)) throw std::length_error("goro::chan: capacity too large");
    core_ = detail::chan_create(static_cast<std::size_t>(capacity), ops());
  }
  // The nil channel.
  basic_chan(std::nullptr_t) noexcept {}
  // A chan<T> restricted to one direction.
  template <chan_dir From>
    requires(From == chan_dir::both && Dir != chan_dir::both)
  basic_chan(const basic_chan<T, From>& other) noexcept : core_(other.core_) {
    detail::chan_retain(core_);
  }

  basic_chan(const basic_chan& other) noexcept : core_(other.core_) { detail::chan_retain(core_); }
  basic_chan(basic_chan&& other) noexcept : core_(std::exchange(other.core_, nullptr)) {}
  basic_chan& operator=(basic_chan other) noexcept {
    std::swap(core_, other.core_);
    return *this;
  }
  ~basic_chan() { detail::chan_release(core_); }

  // ---- sending ----
  send_op<T> send(arg&& v, std::source_location where = std::source_location::current()) const noexcept
    requires(can_send && has_value)
  {
    return send_op<T>(core_, std::move(v), where);
  }
  send_op<T> send(const arg& v, std::source_location where = std::source_location::current()) const
    requires(can_send && has_value && std::is_copy_constructible_v<arg>)
  {
    return send_op<T>(core_, v, where);
  }
  send_op<T> send(std::source_location where = std::source_location::current()) const noexcept
    requires(can_send && !has_value)
  {
    return send_op<T>(core_, where);
  }

  // Sends without waiting: true if sent (to a waiting receiver or into the buffer),
  // false if that would wait (v is then left untouched). Throws closed_channel_error.
  bool try_send(arg&& v) const requires(can_send && has_value) { return detail::chan_try_send(core_, &v); }
  bool try_send(const arg& v) const requires(can_send && has_value && std::is_copy_constructible_v<arg>) {
    arg copy(v);
    return detail::chan_try_send(core_, &copy);
  }
  bool try_send() const requires(can_send && !has_value) { return detail::chan_try_send(core_, nullptr); }

  // Closes the channel (see the contract). Throws closed_channel_error if already
  // closed, panic_error for a nil channel.
  void close() const requires can_send { detail::chan_close(core_); }

  // ---- receiving ----
  recv_op<T> recv(std::source_location where = std::source_location::current()) const noexcept requires can_recv {
    return recv_op<T>(core_, where);
  }

  // Receives without waiting: status done with the value, not_ready, or closed (closed
  // and drained).
  try_recv_result<T> try_recv() const requires can_recv {
    detail::value_slot<T> slot;
    const try_status status = detail::chan_try_recv(core_, slot.address());
    // Built in place: T need not be move-assignable.
    if (status == try_status::done) return {status, slot.take()};
    return {status, {}};
  }

  // ---- state ----
  std::size_t size() const noexcept { return detail::chan_size(core_); }          // buffered now (Go's len)
  std::size_t capacity() const noexcept { return detail::chan_capacity(core_); }  // Go's cap
  explicit operator bool() const noexcept { return core_ != nullptr; }            // not nil
  basic_chan& operator=(std::nullptr_t) noexcept {
    detail::chan_release(std::exchange(core_, nullptr));
    return *this;
  }
  // Same channel (whatever the directions).
  template <chan_dir D2>
  bool operator==(const basic_chan<T, D2>& other) const noexcept {
    return core_ == other.core_;
  }
  bool operator==(std::nullptr_t) const noexcept { return core_ == nullptr; }

 private:
  template <class, chan_dir>
  friend class basic_chan;
  static const detail::elem_ops* ops() noexcept {
    if constexpr (has_value)
      return &detail::elem_ops_for<T>;
    else
      return nullptr;
  }

  detail::chan_core* core_ = nullptr;
};

template <class T = void>
using chan = basic_chan<T, chan_dir::both>;
template <class T = void>
using send_chan = basic_chan<T, chan_dir::send_only>;
template <class T = void>
using recv_chan = basic_chan<T, chan_dir::recv_only>;

}  // namespace goro
