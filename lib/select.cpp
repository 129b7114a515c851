// goro::select's engine: Go's selectgo (src/runtime/select.go) for coroutines. The
// steps and the case interface are in include/goro/detail/select_case.hpp.
//
// Why it is correct
//   - Exactly one case commits. Before parking, every case's guard is held while the
//     cases are polled, so a case that completes there is the only one. After parking,
//     every waker must win select_state::try_win (one CAS on one word) before it
//     completes a case; losers leave the case untouched.
//   - A parked select's frame outlives every waker's use of it. A waker touches the
//     select (its CAS, the waiter) only under the guard where it found the waiter, or
//     under the worker's timer lock for a timer case. select_end takes every guard and,
//     through timer_cancel, the timer lock, before the select returns, so it waits for
//     any waker still inside.
//   - No self-pairing: the select polls all its cases before it arms any, so a waiter of
//     its own is never in a queue it polls.
//   - Random choice: the poll order is a uniformly random permutation of the cases
//     (Fisher-Yates), so among k ready cases each is first with probability 1/k.
//   - Deadlock safety: guards are taken in address order, each once (rank `channel`,
//     goro/detail/short_lock.hpp); a timer lock may be taken under them, never the
//     reverse.
//   - After the last unlock of a parking select_begin, nothing of the task's frame is
//     read: the lock list is a copy on this native stack.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>

#include "goro/detail/scheduler_hooks.hpp"
#include "goro/select.hpp"

namespace goro::detail {

namespace {

// A per-thread xorshift64* generator for the poll order (Go uses its cheaprand).
std::uint32_t random_below(std::uint32_t bound) noexcept {
  constinit thread_local std::uint64_t state = 0;
  if (state == 0)
    state = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
            reinterpret_cast<std::uintptr_t>(&state) ^ 0x9e3779b97f4a7c15ull;
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  const std::uint64_t r = state * 0x2545f4914f6cdd1dull;
  return static_cast<std::uint32_t>(((r >> 32) * bound) >> 32);  // Lemire's multiply-shift
}

// The wait site of a parked select: its first case that knows where it was made.
std::source_location first_site(select_case* const* cases, int n) noexcept {
  for (int i = 0; i < n; ++i)
    if (cases[i] && cases[i]->where().line() != 0) return cases[i]->where();
  return {};
}

}  // namespace

int select_guards(select_case* const* cases, int n, short_lock** out) noexcept {
  int k = 0;
  for (int i = 0; i < n; ++i)
    if (cases[i])
      if (short_lock* g = cases[i]->guard()) out[k++] = g;
  std::sort(out, out + k, std::less<short_lock*>());
  return static_cast<int>(std::unique(out, out + k) - out);
}

int select_begin(select_case* const* cases, int n, int default_index, short_lock* const* sorted_guards,
                 int nguards, select_state& s, std::coroutine_handle<> task, parked_task& parked,
                 const select_wait& wait) noexcept {
  // A copy on this stack: the unlock loop below must not read the frame (see the top).
  short_lock* guards[select_max_cases];
  std::copy(sorted_guards, sorted_guards + nguards, guards);

  // Poll order: an inside-out Fisher-Yates shuffle of the real (non-default) cases.
  int order[select_max_cases];
  int m = 0;
  for (int i = 0; i < n; ++i) {
    if (!cases[i]) continue;
    const int j = static_cast<int>(random_below(static_cast<std::uint32_t>(m + 1)));
    order[m] = order[j];
    order[j] = i;
    ++m;
  }

  for (int i = 0; i < nguards; ++i) guards[i]->lock();
  std::coroutine_handle<> wake;
  int winner = select_parked;
  for (int k = 0; k < m && winner == select_parked; ++k)
    if (cases[order[k]]->complete_locked(&wake)) winner = order[k];
  if (winner == select_parked && default_index >= 0) winner = default_index;
  if (winner == select_parked) {
    // Before any case is armed: from then on a waker may resume the task.
    parked.park(wait.kind, wait.object, wait.capacity, first_site(cases, n));
    for (int i = 0; i < n; ++i)
      if (cases[i]) cases[i]->arm_locked(s, i, task);
  }
  for (int i = nguards - 1; i >= 0; --i) guards[i]->unlock();
  if (wake) schedule(wake);
  return winner;
}

void select_end(select_case* const* cases, int n, int winner, short_lock* const* guards, int nguards) noexcept {
  for (int i = 0; i < nguards; ++i) guards[i]->lock();
  for (int i = 0; i < n; ++i)
    if (cases[i] && i != winner) cases[i]->disarm_locked();
  for (int i = nguards - 1; i >= 0; --i) guards[i]->unlock();
}

}  // namespace goro::detail
