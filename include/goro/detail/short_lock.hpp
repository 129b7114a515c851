// detail::short_lock: the lock of goro's primitives (channels, contexts, timers, the sync
// toolbox, the worker timer heaps), with the rank table that proves nesting cannot deadlock.
//
// A short_lock guards a few dozen instructions that never suspend and never call user
// code (element moves are noexcept), so it spins briefly before it sleeps: Go's
// runtime.lock does the same (spin, yield, then futex).
//
// State, a sum type in one word:
//   0 - unlocked;
//   1 - locked, nobody sleeps on it;
//   2 - locked, and a thread may sleep in futex_wait on it (unlock must wake one).
//
// Lock ranks (Go's lockrank.go). A thread holding locks may take another only if its
// rank is higher than every rank it holds, with one exception stated in the table. The
// table lists every lock in goro, including the std::mutex leaves that are never held
// with another lock and so need no rank check.
//
//   rank          lock                             may be held while taking
//   ------------  -------------------------------  ---------------------------------
//   timer_object  each goro::timer/ticker's lock   a select_guard lock (its channel);
//                 (lib/timers.cpp)                 the timer lock
//   select_guard  the locks a select case names    other select_guard locks, but only
//                 as its guard(): each chan's      in ascending address order (select
//                 (lib/chan.cpp), each context     locks its guards sorted, Go's
//                 node's (lib/context.cpp), each   sellock); the timer lock
//                 semaphore's (lib/sync.cpp)
//   timers        each worker's timer heap lock    nothing
//   sync          the queue lock of each mutex,    nothing
//                 shared_mutex and once
//                 (lib/sync.cpp)
//   leaves        runtime idle_mu and global_mu_,  nothing; std::mutex, not checked
//   (std)         each wait_group's mutex, the     (each critical section is visible
//                 frame depot, the panic handler   in one function in lib/)
//
// Deadlock safety: every cycle of waiting threads needs one thread holding lock A and
// waiting for B while another holds B and waits for A. Ranks strictly increase along
// each thread's acquisitions, and select_guard locks of equal rank are taken in increasing
// address order, so (rank, address) increases along every thread's chain and no cycle
// can form. Debug builds (assertions on) check each acquisition against the locks the
// thread holds and abort with both locks' names on a violation (lib/short_lock.cpp).
#pragma once

#include <atomic>
#include <cstdint>

namespace goro::detail {

enum class lock_rank : std::uint8_t { timer_object = 1, select_guard = 2, timers = 3, sync = 4 };

class short_lock {
 public:
  explicit constexpr short_lock(lock_rank rank) noexcept : rank_(rank) {}
  short_lock(const short_lock&) = delete;
  short_lock& operator=(const short_lock&) = delete;

  void lock() noexcept;
  void unlock() noexcept;

 private:
  void lock_slow() noexcept;

  std::atomic<std::uint32_t> state_{0};
  const lock_rank rank_;
};

// std::lock_guard's role for short_lock, without pulling in <mutex>.
class short_lock_guard {
 public:
  explicit short_lock_guard(short_lock& l) noexcept : lock_(l) { lock_.lock(); }
  ~short_lock_guard() { lock_.unlock(); }
  short_lock_guard(const short_lock_guard&) = delete;
  short_lock_guard& operator=(const short_lock_guard&) = delete;

 private:
  short_lock& lock_;
};

}  // namespace goro::detail
