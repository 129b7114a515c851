// The interface every case of goro::select implements: a channel's send or receive
// (goro/chan.hpp), a timer (goro::after, goro/select.hpp), a context's done()
// (goro/context.hpp), a semaphore's acquire (goro/sync.hpp): anything a task can wait
// for in a select, without changing select.
//
// A case is an object the select owns for the duration of one co_await. The select
// drives it with Go's selectgo algorithm (lib/select.cpp):
//   1. Lock every case's guard() (the lock that orders its readiness; null for a case
//      that needs none, such as a timer or a switched-off channel), each lock once, in
//      address order.
//   2. Poll the cases in a random order: the first whose complete_locked() returns true
//      wins; the select then unlocks and returns it. Failing that, default_case wins if
//      present.
//   3. Otherwise park: arm_locked() every case (it enqueues a waiter tagged with the
//      select and its index, see goro/detail/parking.hpp), unlock, suspend.
//   4. A waker claims the select for one case (select_state::try_win), completes that
//      case's operation and wakes the task. The select locks every guard again and
//      disarm_locked()s every other case, then unlocks and returns the winner.
// Each case's result is read once, after the select returned it: take_result().
//
// Every case carries the source_location of the call that made it (ch.recv(), ...): a
// case awaited on its own records it as its task's wait site, and a parked select
// records its first case's (goro::dump_tasks). A case records nothing itself inside a
// select: only the select's own parking does.
#pragma once

#include <coroutine>
#include <source_location>

#include "goro/detail/parking.hpp"
#include "goro/detail/short_lock.hpp"

namespace goro::detail {

class select_case {
 public:
  // The lock guarding this case's readiness, or null. Must not change during a select.
  virtual short_lock* guard() noexcept = 0;
  // Under guard(): completes the operation if it can complete now; returns whether it
  // did. A parked peer it completed goes to *wake (scheduled after the unlock).
  virtual bool complete_locked(std::coroutine_handle<>* wake) noexcept = 0;
  // Under guard(): parks a waiter that a waker claims through s.try_win(index), then
  // schedules `task`.
  virtual void arm_locked(select_state& s, int index, std::coroutine_handle<> task) = 0;
  // Under guard(): removes the waiter if it is still parked (the case lost).
  virtual void disarm_locked() noexcept = 0;

  // The call that made this case; line 0 if unknown.
  const std::source_location& where() const noexcept { return where_; }

 protected:
  select_case() = default;
  explicit select_case(const std::source_location& where) noexcept : where_(where) {}
  select_case(const select_case&) = default;
  select_case& operator=(const select_case&) = default;
  ~select_case() = default;

  std::source_location where_;  // written at construction; one pointer
};

}  // namespace goro::detail
