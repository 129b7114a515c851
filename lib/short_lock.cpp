// detail::short_lock; the state machine and the rank table are at the top of
// include/goro/detail/short_lock.hpp.
#include "goro/detail/short_lock.hpp"

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <functional>

namespace goro::detail {

namespace {

// Spins before sleeping: Go's runtime.lock spins 4 rounds of 30 PAUSEs, then yields once.
constexpr int spin_rounds = 4;
constexpr int pauses_per_round = 30;

void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected) noexcept {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
}

void futex_wake_one(std::atomic<std::uint32_t>& word) noexcept {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

#ifndef NDEBUG
// The locks this thread holds, in acquisition order (the rank check of debug builds).
// A select over n channels holds n select_guard locks (plus a timer lock); past 64 the
// deeper locks are simply not checked, never reported wrongly.
struct held_locks {
  static constexpr int capacity = 64;
  const short_lock* lock[capacity] = {};
  lock_rank rank[capacity] = {};
  int depth = 0;
};
constinit thread_local held_locks held;

const char* rank_name(lock_rank r) noexcept {
  switch (r) {
    case lock_rank::timer_object: return "timer_object";
    case lock_rank::select_guard: return "select_guard";
    case lock_rank::timers: return "timers";
    case lock_rank::sync: return "sync";
  }
  return "?";
}

[[noreturn]] void rank_violation(const short_lock* have, lock_rank have_rank, const short_lock* want,
                                 lock_rank want_rank) noexcept {
  std::fprintf(stderr,
               "goro: lock rank violation: taking %s lock %p while holding %s lock %p "
               "(see the rank table in include/goro/detail/short_lock.hpp)\n",
               rank_name(want_rank), static_cast<const void*>(want), rank_name(have_rank),
               static_cast<const void*>(have));
  std::abort();
}

void check_acquire(const short_lock* l, lock_rank r) noexcept {
  for (int i = 0; i < held.depth && i < held_locks::capacity; ++i) {
    const bool ordered = held.rank[i] < r || (held.rank[i] == lock_rank::select_guard && r == lock_rank::select_guard &&
                                              std::less<const void*>()(held.lock[i], l));
    if (!ordered) rank_violation(held.lock[i], held.rank[i], l, r);
  }
  if (held.depth < held_locks::capacity) {
    held.lock[held.depth] = l;
    held.rank[held.depth] = r;
  }
  ++held.depth;
}

void check_release(const short_lock* l) noexcept {
  // Locks are released in any order (select releases its channels in address order).
  const int n = held.depth < held_locks::capacity ? held.depth : held_locks::capacity;
  for (int i = n - 1; i >= 0; --i) {
    if (held.lock[i] != l) continue;
    for (int j = i; j + 1 < n; ++j) {
      held.lock[j] = held.lock[j + 1];
      held.rank[j] = held.rank[j + 1];
    }
    --held.depth;
    return;
  }
  if (held.depth > held_locks::capacity) {
    --held.depth;
    return;
  }
  std::fprintf(stderr, "goro: unlocking short_lock %p that this thread does not hold\n", static_cast<const void*>(l));
  std::abort();
}
#endif

}  // namespace

void short_lock::lock() noexcept {
#ifndef NDEBUG
  check_acquire(this, rank_);
#endif
  std::uint32_t expected = 0;
  // acquire: pairs with the release in unlock(), so the critical section sees the
  // previous holder's writes.
  if (state_.compare_exchange_strong(expected, 1, std::memory_order_acquire, std::memory_order_relaxed)) return;
  lock_slow();
}

void short_lock::lock_slow() noexcept {
  for (int round = 0; round < spin_rounds; ++round) {
    for (int i = 0; i < pauses_per_round; ++i) cpu_relax();
    std::uint32_t expected = 0;
    // relaxed load first (test-and-test-and-set); acquire on success as in lock().
    if (state_.load(std::memory_order_relaxed) == 0 &&
        state_.compare_exchange_strong(expected, 1, std::memory_order_acquire, std::memory_order_relaxed))
      return;
  }
  sched_yield();
  // From here on we may sleep, so mark the lock contended (2): whoever unlocks wakes one
  // sleeper. Taking it with 2 is conservative (one spurious wake at most).
  // acquire: as in lock().
  while (state_.exchange(2, std::memory_order_acquire) != 0) futex_wait(state_, 2);
}

void short_lock::unlock() noexcept {
#ifndef NDEBUG
  check_release(this);
#endif
  // release: pairs with the acquire of the next lock().
  if (state_.exchange(0, std::memory_order_release) == 2) futex_wake_one(state_);
}

}  // namespace goro::detail
