// goro's channels: Go's hchan (src/runtime/chan.go) for coroutines.
//
// A channel is one lock, a ring buffer of `cap` elements, and two FIFO queues of parked
// waiters (goro/detail/parking.hpp): receivers waiting for a value, senders waiting for
// room or for a receiver. Every operation runs under the lock and never suspends inside
// it; a peer found parked is completed directly (its value moved straight between the
// two tasks' frames: direct hand-off) and woken after the lock is released.
//
// Invariants (under the lock), "waiter" meaning one whose select has not been won
// elsewhere (a won select's waiters may linger until that select removes them or a
// waker drops them, and are skipped by dequeue_claimed):
//   1. At least one of sendq and recvq has no waiter, except when one select waits to
//      both send and receive on an unbuffered channel (it never pairs with itself: a
//      select polls every case before it parks any).
//   2. Buffered: count > 0 implies recvq has no waiter; count < cap implies sendq has
//      no waiter.
//   3. closed implies both queues are empty: close completes every waiter, and no
//      operation parks on a closed channel.
//   4. count <= cap; the elements are buf[(head + i) % cap] for i < count, constructed;
//      every other slot is raw storage.
//
// The operations, each under the lock (send_locked / recv_locked):
//   send: closed -> fails (the caller throws); a receiver parked -> hand the value to it;
//         room in the buffer -> append; else park (or report not ready).
//   recv: closed and empty -> ends (empty result); a sender parked -> unbuffered: take
//         its value; buffered (so full): take the head and append the sender's value;
//         an element buffered -> take the head; else park (or report not ready).
//   close: closed -> fails; else mark closed and complete every parked waiter with
//          `closed` (receivers get nothing, senders throw).
// Every failure is detected before anything changes, so the channel stays usable.
//
// Lock rank: channel (goro/detail/short_lock.hpp). A select holds several channel locks,
// taken in address order (lib/select.cpp); nothing else is taken under a channel lock
// except a worker's timer lock (a select arming or disarming its timer case).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

#include "goro/chan.hpp"
#include "goro/detail/chan_core.hpp"
#include "goro/detail/scheduler_hooks.hpp"

namespace goro::detail {

// Laid out for the hot path: everything an operation writes under the lock sits in the
// first cache line with the lock itself; the second holds what never changes (and the
// reference count, written only when handles are copied or dropped).
struct alignas(64) chan_core {
  chan_core(std::size_t cap, const elem_ops* ops, unsigned char* buf) noexcept : cap(cap), ops(ops), buf(buf) {}

  // ---- first cache line: the lock and what it guards ----
  short_lock lock{lock_rank::select_guard};
  bool closed = false;   // under lock
  std::size_t head = 0;  // under lock: slot of the oldest buffered element (< cap)
  // Buffered elements: written under lock, read without it by chan_size (relaxed, a
  // snapshot as Go's len(ch)).
  std::atomic<std::size_t> count{0};
  waiter_queue recvq;  // under lock
  waiter_queue sendq;  // under lock

  // ---- second cache line (offsetof(cap) == 64 is checked below) ----
  const std::size_t cap;
  const elem_ops* const ops;  // null: no payload (chan<void>), so no storage either
  unsigned char* const buf;   // cap slots of ops->size bytes, right after this struct
  // Handles alive. relaxed increments (a handle is copied from a live one); acq_rel
  // decrement so that the last owner sees every other owner's writes before freeing.
  std::atomic<std::size_t> refs{1};

  // Slot of the i-th buffered element, i < cap: head + i < 2 cap, so one compare wraps it
  // (no division on the hot path).
  void* slot(std::size_t i) const noexcept {
    const std::size_t k = head + i;
    return buf + (k >= cap ? k - cap : k) * ops->size;
  }
  std::size_t buffered() const noexcept { return count.load(std::memory_order_relaxed); }  // under lock
  void set_count(std::size_t n) noexcept { count.store(n, std::memory_order_relaxed); }    // under lock

  // Constructs *dst from *src: a fixed-size copy for trivially copyable elements (no
  // indirect call; most channels carry ints and pointers), else the element's move.
  void move_elem(void* dst, void* src) const noexcept {
    if (!ops) return;
    if (!ops->trivial) return ops->move_construct(dst, src);
    switch (ops->size) {
      case 1: return static_cast<void>(std::memcpy(dst, src, 1));
      case 2: return static_cast<void>(std::memcpy(dst, src, 2));
      case 4: return static_cast<void>(std::memcpy(dst, src, 4));
      case 8: return static_cast<void>(std::memcpy(dst, src, 8));
      case 16: return static_cast<void>(std::memcpy(dst, src, 16));
      default: std::memcpy(dst, src, ops->size);
    }
  }
  void destroy_elem(void* p) const noexcept {
    if (ops && !ops->trivial) ops->destroy(p);
  }
  // Moves the head element out to dst and frees its slot (not the count).
  void pop_head(void* dst) noexcept {
    if (ops) {
      void* h = slot(0);
      move_elem(dst, h);
      destroy_elem(h);
    }
    head = head + 1 == cap ? 0 : head + 1;
  }
};

static_assert(offsetof(chan_core, cap) == 64, "chan_core: the lock's cache line holds exactly the guarded state");

namespace {

// Completes w's operation if it can complete now; the parked peer it completed, if any,
// goes to *wake (to be scheduled once the lock is released).
bool send_locked(chan_core& c, chan_waiter& w, std::coroutine_handle<>* wake) noexcept {
  if (c.closed) {
    w.status = chan_waiter::closed;
    return true;
  }
  if (waiter* r = c.recvq.dequeue_claimed()) {
    auto& receiver = static_cast<chan_waiter&>(*r);
    c.move_elem(receiver.elem, w.elem);
    receiver.status = chan_waiter::done;
    *wake = receiver.task;
    w.status = chan_waiter::done;
    return true;
  }
  const std::size_t n = c.buffered();
  if (n < c.cap) {
    if (c.ops) c.move_elem(c.slot(n), w.elem);
    c.set_count(n + 1);
    w.status = chan_waiter::done;
    return true;
  }
  return false;
}

bool recv_locked(chan_core& c, chan_waiter& w, std::coroutine_handle<>* wake) noexcept {
  const std::size_t n = c.buffered();
  if (c.closed && n == 0) {
    w.status = chan_waiter::closed;
    return true;
  }
  if (waiter* s = c.sendq.dequeue_claimed()) {
    auto& sender = static_cast<chan_waiter&>(*s);
    if (c.cap == 0) {
      c.move_elem(w.elem, sender.elem);
    } else {
      // Full (invariant 2): the head goes to us, the sender's value to the freed slot,
      // which is the tail once head moves on.
      void* freed = c.ops ? c.slot(0) : nullptr;
      c.pop_head(w.elem);
      c.move_elem(freed, sender.elem);
    }
    sender.status = chan_waiter::done;
    *wake = sender.task;
    w.status = chan_waiter::done;
    return true;
  }
  if (n > 0) {
    c.pop_head(w.elem);
    c.set_count(n - 1);
    w.status = chan_waiter::done;
    return true;
  }
  return false;
}

bool complete_locked(chan_core& c, chan_waiter& w, std::coroutine_handle<>* wake) noexcept {
  return w.sending ? send_locked(c, w, wake) : recv_locked(c, w, wake);
}

}  // namespace

bool chan_complete_or_park(chan_core* c, chan_waiter& w, std::coroutine_handle<> h, parked_task& parked,
                           const std::source_location& where) {
  const wait_kind kind = w.sending ? wait_kind::chan_send : wait_kind::chan_recv;
  if (!c) {  // a nil channel: parked forever, in no queue
    parked.park(kind, nullptr, 0, where);
    return true;
  }
  std::coroutine_handle<> wake;
  {
    short_lock_guard lock(c->lock);
    if (!complete_locked(*c, w, &wake)) {
      // Recorded here, not first thing in await_suspend: only an operation that parks
      // pays for it, and under the lock, so before any waker can find w.
      parked.park(kind, c, c->cap, where);
      w.task = h;
      (w.sending ? c->sendq : c->recvq).push_back(w);
      return true;  // w is not touched again here: a waker may resume the task at once
    }
  }
  if (wake) schedule(wake);
  return false;
}

void chan_throw_closed(const char* what) { throw closed_channel_error(std::string("goro::chan: ") + what); }

chan_core* chan_create(std::size_t capacity, const elem_ops* ops) {
  const std::size_t align = std::max(alignof(chan_core), ops ? ops->align : std::size_t{1});
  const std::size_t header = (sizeof(chan_core) + align - 1) / align * align;
  const std::size_t elem = ops ? ops->size : 0;
  if (elem != 0 && capacity > (SIZE_MAX - header) / elem)
    throw std::length_error("goro::chan: capacity " + std::to_string(capacity) + " is too large");
  void* mem = ::operator new(header + capacity * elem, std::align_val_t(align));
  return ::new (mem) chan_core(capacity, ops, static_cast<unsigned char*>(mem) + header);
}

void chan_retain(chan_core* c) noexcept {
  if (c) c->refs.fetch_add(1, std::memory_order_relaxed);  // see chan_core::refs
}

void chan_release(chan_core* c) noexcept {
  // acq_rel: see chan_core::refs.
  if (!c || c->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  if (c->ops)
    for (std::size_t i = 0, n = c->buffered(); i < n; ++i) c->destroy_elem(c->slot(i));
  const std::size_t align = std::max(alignof(chan_core), c->ops ? c->ops->align : std::size_t{1});
  c->~chan_core();
  ::operator delete(static_cast<void*>(c), std::align_val_t(align));
}

std::size_t chan_size(const chan_core* c) noexcept {
  return c ? c->count.load(std::memory_order_relaxed) : 0;  // a snapshot (Go's len)
}

std::size_t chan_capacity(const chan_core* c) noexcept { return c ? c->cap : 0; }

void chan_close(chan_core* c) {
  if (!c) throw panic_error("goro::chan: close of nil channel");
  // Complete every waiter under the lock, chained through `next` (free once out of a
  // queue); wake them after.
  waiter* woken = nullptr;
  {
    short_lock_guard lock(c->lock);
    if (c->closed) chan_throw_closed("close of closed channel");
    c->closed = true;
    for (waiter_queue* q : {&c->recvq, &c->sendq}) {
      while (waiter* w = q->dequeue_claimed()) {
        static_cast<chan_waiter*>(w)->status = chan_waiter::closed;
        w->next = woken;
        woken = w;
      }
    }
  }
  while (woken) {
    waiter* w = woken;
    woken = w->next;  // read before the wake-up: the task may destroy w at once
    schedule(w->task);
  }
}

bool chan_try_send(chan_core* c, void* elem) {
  if (!c) return false;  // a nil channel is never ready
  chan_waiter w;
  w.sending = true;
  w.elem = elem;
  std::coroutine_handle<> wake;
  {
    short_lock_guard lock(c->lock);
    if (!send_locked(*c, w, &wake)) return false;
  }
  if (w.status == chan_waiter::closed) chan_throw_closed("send on closed channel");
  if (wake) schedule(wake);
  return true;
}

try_status chan_try_recv(chan_core* c, void* slot) {
  if (!c) return try_status::not_ready;
  chan_waiter w;
  w.elem = slot;
  std::coroutine_handle<> wake;
  {
    short_lock_guard lock(c->lock);
    if (!recv_locked(*c, w, &wake)) return try_status::not_ready;
  }
  if (wake) schedule(wake);
  return w.status == chan_waiter::closed ? try_status::closed : try_status::done;
}

void chan_forget(chan_core* c, chan_waiter& w) noexcept {
  short_lock_guard lock(c->lock);
  chan_dequeue_locked(c, w);
}

short_lock& chan_lock(chan_core* c) noexcept { return c->lock; }

bool chan_complete_locked(chan_core* c, chan_waiter& w, std::coroutine_handle<>* wake) noexcept {
  return complete_locked(*c, w, wake);
}

void chan_enqueue_locked(chan_core* c, chan_waiter& w) noexcept { (w.sending ? c->sendq : c->recvq).push_back(w); }

void chan_dequeue_locked(chan_core* c, chan_waiter& w) noexcept {
  if (w.queued) (w.sending ? c->sendq : c->recvq).remove(w);
}

}  // namespace goro::detail
