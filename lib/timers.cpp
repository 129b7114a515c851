// goro::timer and goro::ticker (include/goro/time.hpp): Go's time.Timer and time.Ticker
// on the worker timer heaps.
//
// A timer_state is a timer_node plus a channel of capacity 1, reference counted: the
// handle holds one reference and each firing pins one until its after_fire has run.
//
// Protocol (all under the state's own lock, rank timer_object, taken before the
// channel's and the worker timer heap's, see goro/detail/short_lock.hpp):
//   - start (constructor, reset): remove the node from its heap if queued, discard a
//     value still in the channel (Go 1.23: no stale value after Stop or Reset), set the
//     deadline and period, mark it armed, add it to the calling worker's heap.
//   - stop: remove the node, discard a buffered value, disarm; report whether a value
//     was still to come or not yet received (armed, or buffered): Go 1.23's Stop.
//   - firing: fire() (under the heap's lock) only pins the state; after_fire (after that
//     lock) takes the state's lock and delivers only if the state is armed and its
//     deadline has passed. An after_fire made stale by a stop or reset therefore does
//     nothing, even when the node was meanwhile re-armed on another worker and fired
//     there too: the first after_fire to run delivers and disarms (timer) or moves the
//     deadline to the next grid point (ticker), so the other one finds the deadline in
//     the future or the state disarmed. Before delivering, it removes the node from any
//     heap it was re-added to, so a node is never queued twice.
//   - a ticker delivers with try_send: a tick the receiver has no room for is dropped,
//     and the next deadline is the first grid point (start + k * period) after now.
#include <stdexcept>

#include "goro/time.hpp"
#include "runtime.hpp"

namespace goro::detail {

struct timer_state final : timer_node {

  std::atomic<std::uint32_t> refs{1};
  short_lock lock{lock_rank::timer_object};
  const chan<clock::time_point> ch{1};
  // Under lock:
  clock::duration period{};  // zero: a one-shot timer
  bool armed = false;
};

namespace {

void unref(timer_state* t) noexcept {
  // acq_rel: the last holder sees every other holder's writes before deleting.
  if (t->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete t;
}

// Returns whether a value was waiting: it counts as not yet delivered (Go 1.23).
bool discard_buffered(timer_state& t) noexcept {
  return t.ch.try_recv().status == try_status::done;  // never throws: the channel is never closed
}

std::coroutine_handle<> pin(timer_node& node) noexcept {
  // Under the heap's lock while the node is queued, so a holder exists: relaxed.
  static_cast<timer_state&>(node).refs.fetch_add(1, std::memory_order_relaxed);
  return {};
}

void deliver(timer_node& node) noexcept {
  auto& t = static_cast<timer_state&>(node);
  {
    short_lock_guard guard(t.lock);
    const auto now = clock::now();
    if (t.armed && now >= t.deadline) {
      timer_cancel(t);  // re-armed on another worker and queued there: not twice
      (void)t.ch.try_send(clock::time_point(now));  // full: the tick is dropped (Go's ticker)
      if (t.period == clock::duration::zero()) {
        t.armed = false;
      } else {
        const auto missed = (now - t.deadline) / t.period;
        t.deadline += (missed + 1) * t.period;
        timer_add(t);  // after_fire runs on a worker
      }
    }
  }
  unref(&t);
}

}  // namespace

timer_state* timer_create() {
  auto* t = new timer_state;
  t->fire = pin;
  t->after_fire = deliver;
  return t;
}

void timer_destroy(timer_state* t) noexcept {
  timer_stop(t);
  unref(t);
}

bool timer_start(timer_state* t, clock::time_point deadline, clock::duration period) {
  if (!current_worker) throw std::logic_error("goro: a timer or ticker started or reset outside a goro task");
  short_lock_guard guard(t->lock);
  timer_cancel(*t);
  const bool was_pending = discard_buffered(*t) || t->armed;
  t->deadline = deadline;
  t->period = period;
  t->armed = true;
  timer_add(*t);
  return was_pending;
}

bool timer_stop(timer_state* t) {
  short_lock_guard guard(t->lock);
  timer_cancel(*t);
  const bool was_pending = discard_buffered(*t) || t->armed;
  t->armed = false;
  return was_pending;
}

recv_chan<clock::time_point> timer_channel(timer_state* t) noexcept { return t->ch; }

}  // namespace goro::detail
