// The untyped channel behind goro::chan<T> (Go's hchan), implemented in lib/chan.cpp.
// The typed handles in goro/chan.hpp describe their element with an elem_ops table and
// move values through void pointers, so one compiled implementation serves every T.
#pragma once

#include <coroutine>
#include <cstddef>
#include <new>
#include <source_location>
#include <type_traits>
#include <utility>

#include "goro/detail/parking.hpp"
#include "goro/detail/short_lock.hpp"

namespace goro {
// The outcome of a non-blocking operation (try_recv).
enum class try_status { done, not_ready, closed };
}  // namespace goro

namespace goro::detail {

// How the channel moves and destroys its elements. Moves happen under the channel's
// lock, so they must not throw (chan<T> requires nothrow-move-constructible T).
struct elem_ops {
  std::size_t size;
  std::size_t align;
  bool trivial;  // trivially copyable and destructible: moved by memcpy, never destroyed
  void (*move_construct)(void* dst, void* src) noexcept;  // constructs *dst from std::move(*src)
  void (*destroy)(void* p) noexcept;
};

template <class T>
inline constexpr elem_ops elem_ops_for{
    sizeof(T), alignof(T), std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>,
    [](void* dst, void* src) noexcept { ::new (dst) T(std::move(*static_cast<T*>(src))); },
    [](void* p) noexcept { static_cast<T*>(p)->~T(); }};

struct chan_core;  // opaque

// A parked send or receive, also the waiter of a send or receive case of a select.
struct chan_waiter : waiter {
  enum status_t : unsigned char {
    pending,  // nothing happened yet
    done,     // the value was taken (send) or delivered into `elem` (receive)
    closed,   // the channel was closed: the send must throw, the receive is empty
  };
  void* elem = nullptr;    // send: the value to move from; receive: storage to construct in
  bool sending = false;    // which of the channel's queues it parks in
  status_t status = pending;  // written under the channel's lock by the waker
};

// Life cycle. capacity 0 is unbuffered; ops is null for a channel without payload.
chan_core* chan_create(std::size_t capacity, const elem_ops* ops);
void chan_retain(chan_core* c) noexcept;
void chan_release(chan_core* c) noexcept;

std::size_t chan_size(const chan_core* c) noexcept;
std::size_t chan_capacity(const chan_core* c) noexcept;

// Throws closed_channel_error if already closed (the channel is left as it was),
// panic_error for a nil channel.
void chan_close(chan_core* c);
// Throws closed_channel_error("goro::chan: " + what).
[[noreturn]] void chan_throw_closed(const char* what);

// co_await send/receive: completes at once (returns false) or parks `w` with task h
// (returns true; a nil channel parks it forever), recording the wait in `parked` (at
// `where`) first. w.elem and w.sending are set by the caller. The outcome is in w.status
// once it completed or the task was woken.
bool chan_complete_or_park(chan_core* c, chan_waiter& w, std::coroutine_handle<> h, parked_task& parked,
                           const std::source_location& where);

// Non-blocking operations. try_send moves from *elem only when it returns true, and
// throws closed_channel_error on a closed channel. try_recv constructs into *slot.
bool chan_try_send(chan_core* c, void* elem);
try_status chan_try_recv(chan_core* c, void* slot);

// A parked waiter whose task is being destroyed (goro::run ending): unlink it.
void chan_forget(chan_core* c, chan_waiter& w) noexcept;

// For select (lib/select.cpp), all under chan_lock(c):
short_lock& chan_lock(chan_core* c) noexcept;
// Completes w's operation if it can complete now; the peer to wake, if any, goes to *wake.
bool chan_complete_locked(chan_core* c, chan_waiter& w, std::coroutine_handle<>* wake) noexcept;
void chan_enqueue_locked(chan_core* c, chan_waiter& w) noexcept;
void chan_dequeue_locked(chan_core* c, chan_waiter& w) noexcept;  // if still queued

}  // namespace goro::detail
