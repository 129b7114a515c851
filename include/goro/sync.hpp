// The sync toolbox for tasks: goro::mutex, goro::shared_mutex, goro::once,
// goro::semaphore. (goro::wait_group is in goro/wait_group.hpp, goro::group in
// goro/group.hpp.)
//
//   goro::mutex m;
//   { auto lock = co_await m.scoped_lock(); ++shared_counter; }   // unlocks at scope end
//   co_await m.lock(); ...; m.unlock();                             // the same, by hand
//
// Contract (all four)
//   - Waiting suspends the task, never the worker thread. Allocation: one frame from
//     the frame pool for a contended mutex::lock and for every once::call (a coroutine);
//     nothing else.
//   - Misuse is a goro::panic_error thrown before anything changes: unlocking a mutex
//     that is not locked, releasing more semaphore units than are held, asking a
//     semaphore for more than its size.
//   - try_* never suspend and may be called from any thread; unlock/release may be
//     called from any thread (a Go mutex is not tied to its locker either).
//   - Destroying a primitive while tasks wait on it is a bug in the program.
//   - Every call that returns something to co_await takes a defaulted
//     std::source_location, never passed by hand: a task parked there shows that call as
//     its wait site (goro::dump_tasks). once::call with arguments is the exception (a
//     default cannot follow an argument pack): its waiters show no wait site.
//
// goro::mutex (Go's sync.Mutex): normal mode lets a running task take a free lock
// ahead of a woken waiter (fast: no task switch per lock); a waiter that has waited
// more than 1 ms switches the mutex to starvation mode, where unlock hands the lock to
// the oldest waiter in FIFO order, so no waiter starves. Design: lib/sync.cpp.
//
// goro::shared_mutex (Go's sync.RWMutex): many readers or one writer. Grants are FIFO:
// a waiting writer stops new readers from entering; a writer's unlock admits every
// reader at the head of the queue (up to the next writer) at once; the last reader's
// unlock admits the writer at the head. Neither side starves.
//
// goro::once (Go's sync.Once): co_await o.call(f, args...) runs f(args...) (a plain
// function or a coroutine returning task<>) exactly once; concurrent callers wait until
// it finished.
// If f throws, the exception reaches its caller, the once stays not done, and the next
// waiting (or later) caller runs f (std::call_once's rule, not Go's).
//
// goro::semaphore (golang.org/x/sync/semaphore): weighted, FIFO: a large request at the
// head of the queue is not overtaken by smaller ones. acquire(ctx, n) gives up when ctx
// is done and returns ctx.err(); acquire(n) is also a case of goro::select.
#pragma once

#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstdint>
#include <functional>
#include <source_location>
#include <system_error>
#include <type_traits>
#include <utility>

#include "goro/context.hpp"
#include "goro/detail/parking.hpp"
#include "goro/detail/select_case.hpp"
#include "goro/detail/short_lock.hpp"
#include "goro/runtime.hpp"
#include "goro/select.hpp"
#include "goro/task.hpp"

namespace goro {

// Owns a lock of M until destroyed or unlock()ed (std::unique_lock's role). Move-only.
template <class M, void (M::*Unlock)()>
class [[nodiscard]] scoped_lock_of {
 public:
  explicit scoped_lock_of(M& m) noexcept : m_(&m) {}
  scoped_lock_of(scoped_lock_of&& other) noexcept : m_(std::exchange(other.m_, nullptr)) {}
  scoped_lock_of& operator=(scoped_lock_of&& other) noexcept {
    if (this != &other) {
      unlock();
      m_ = std::exchange(other.m_, nullptr);
    }
    return *this;
  }
  ~scoped_lock_of() { unlock(); }
  void unlock() {
    if (m_) (std::exchange(m_, nullptr)->*Unlock)();
  }
  bool owns_lock() const noexcept { return m_ != nullptr; }

 private:
  M* m_;
};

// ---------------------------------------------------------------- mutex

class mutex {
 public:
  mutex() noexcept = default;
  mutex(const mutex&) = delete;
  mutex& operator=(const mutex&) = delete;

  class lock_awaiter;
  class scoped_lock_awaiter;

  [[nodiscard]] lock_awaiter lock(std::source_location where = std::source_location::current()) noexcept;
  [[nodiscard]] scoped_lock_awaiter scoped_lock(std::source_location where = std::source_location::current()) noexcept;
  bool try_lock() noexcept {
    std::uint32_t s = state_.load(std::memory_order_relaxed);  // a first guess for the CAS
    // acquire on success: pairs with the release of the previous unlock.
    while (!(s & (locked | starving)))
      if (state_.compare_exchange_weak(s, s | locked, std::memory_order_acquire, std::memory_order_relaxed))
        return true;
    return false;
  }
  void unlock() {
    std::uint32_t expected = locked;
    // release: publishes the critical section to the next locker. relaxed on failure:
    // unlock_slow re-reads.
    if (!state_.compare_exchange_strong(expected, 0, std::memory_order_release, std::memory_order_relaxed))
      unlock_slow();
  }

  // The waiter a contended lock parks (internal).
  struct waiter : detail::waiter {
    clock::time_point since{};  // when it first parked (starvation is waiting > 1 ms)
    bool handed_off = false;    // set by a starvation-mode unlock: the lock is ours
  };

 private:
  friend struct mutex_access;
  // state_ bits. locked: held. waiters: the queue is non-empty. woken: a waiter was
  // woken in normal mode and has not retried yet (so unlock wakes no second one).
  // starving: unlock hands the lock to the queue's head; nobody may barge.
  static constexpr std::uint32_t locked = 1, has_waiters = 2, woken = 4, starving = 8;

  void unlock_slow();

  std::atomic<std::uint32_t> state_{0};
  detail::short_lock queue_lock_{detail::lock_rank::sync};
  detail::waiter_queue queue_;  // under queue_lock_
};

class mutex::lock_awaiter {
 public:
  lock_awaiter(mutex& m, const std::source_location& where) noexcept : m_(m), where_(where) {}
  lock_awaiter(const lock_awaiter&) = delete;
  lock_awaiter& operator=(const lock_awaiter&) = delete;
  ~lock_awaiter() {
    if (slow_) slow_.destroy();  // its task was destroyed while the retry frame waited (run ending)
  }

  bool await_ready() noexcept { return m_.try_lock(); }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> task);
  void await_resume() const noexcept { parked_.resumed(); }

 protected:
  mutex& m_;

 private:
  friend struct mutex_access;
  std::coroutine_handle<> slow_;  // the frame retrying the lock, while it runs
  std::source_location where_;
  // This task's wait, recorded by the retry frame when it first parks; a retry that
  // parks again leaves it as is (the task has been waiting for the mutex since then).
  detail::parked_task parked_;
};

using mutex_lock = scoped_lock_of<mutex, &mutex::unlock>;

class mutex::scoped_lock_awaiter : public lock_awaiter {
 public:
  using lock_awaiter::lock_awaiter;
  [[nodiscard]] mutex_lock await_resume() const noexcept {
    lock_awaiter::await_resume();
    return mutex_lock(m_);
  }
};

inline mutex::lock_awaiter mutex::lock(std::source_location where) noexcept { return lock_awaiter(*this, where); }
inline mutex::scoped_lock_awaiter mutex::scoped_lock(std::source_location where) noexcept {
  return scoped_lock_awaiter(*this, where);
}

// ---------------------------------------------------------------- shared_mutex

class shared_mutex {
 public:
  shared_mutex() noexcept = default;
  shared_mutex(const shared_mutex&) = delete;
  shared_mutex& operator=(const shared_mutex&) = delete;

  struct waiter : detail::waiter {
    bool exclusive = false;
  };
  class [[nodiscard]] lock_awaiter {
   public:
    lock_awaiter(shared_mutex& m, bool exclusive, const std::source_location& where) noexcept
        : m_(m), where_(where) {
      w_.exclusive = exclusive;
    }
    lock_awaiter(const lock_awaiter&) = delete;
    lock_awaiter& operator=(const lock_awaiter&) = delete;
    ~lock_awaiter();
    bool await_ready() noexcept { return w_.exclusive ? m_.try_lock() : m_.try_lock_shared(); }
    bool await_suspend(std::coroutine_handle<> task) noexcept;
    void await_resume() const noexcept { parked_.resumed(); }

   protected:
    shared_mutex& m_;
    waiter w_;

   private:
    std::source_location where_;
    detail::parked_task parked_;
  };
  template <class Lock>
  class [[nodiscard]] scoped_awaiter : public lock_awaiter {
   public:
    using lock_awaiter::lock_awaiter;
    [[nodiscard]] Lock await_resume() const noexcept {
      lock_awaiter::await_resume();
      return Lock(m_);
    }
  };

  lock_awaiter lock(std::source_location where = std::source_location::current()) noexcept {
    return {*this, true, where};
  }
  lock_awaiter lock_shared(std::source_location where = std::source_location::current()) noexcept {
    return {*this, false, where};
  }
  bool try_lock() noexcept;
  bool try_lock_shared() noexcept;
  void unlock();
  void unlock_shared();

  using exclusive_lock = scoped_lock_of<shared_mutex, &shared_mutex::unlock>;
  using shared_lock = scoped_lock_of<shared_mutex, &shared_mutex::unlock_shared>;
  scoped_awaiter<exclusive_lock> scoped_lock(std::source_location where = std::source_location::current()) noexcept {
    return {*this, true, where};
  }
  scoped_awaiter<shared_lock> scoped_lock_shared(
      std::source_location where = std::source_location::current()) noexcept {
    return {*this, false, where};
  }

 private:
  // Under lock_: grants queued waiters after an unlock, adding them to `granted`.
  void grant_locked(detail::wake_list& granted) noexcept;

  detail::short_lock lock_{detail::lock_rank::sync};
  std::int64_t readers_ = 0;    // under lock_: readers holding it
  bool writer_ = false;         // under lock_: a writer holds it
  detail::waiter_queue queue_;  // under lock_: FIFO of shared_mutex::waiter
};

// ---------------------------------------------------------------- once

class once {
 public:
  once() noexcept = default;
  once(const once&) = delete;
  once& operator=(const once&) = delete;

  // Runs f(args...) unless f already ran to completion; see the contract at the top.
  // f and args are copied into the call's frame, as goro::go does.
  template <class F>
  task<> call(F f, std::source_location where = std::source_location::current()) {
    return run(where, std::move(f));
  }
  template <class F, class Arg, class... Args>
  task<> call(F f, Arg arg, Args... args) {
    return run({}, std::move(f), std::move(arg), std::move(args)...);
  }
  bool done() const noexcept {
    return state_.load(std::memory_order_acquire) == finished;  // pairs with finish's release
  }

 private:
  template <class F, class... Args>
  task<> run(std::source_location where, F f, Args... args) {
    while (!done()) {
      begin_awaiter begin(*this, where);
      const bool mine = co_await begin;  // named: see README "Known compiler issues"
      if (!mine) continue;               // woken: f finished or failed; look again
      try {
        if constexpr (detail::is_task<std::invoke_result_t<F&, Args&...>>::value) {
          auto body = std::invoke(f, args...);  // named first: g++ 12, see goro/spawn.hpp
          co_await std::move(body);
        } else {
          std::invoke(f, args...);
        }
      } catch (...) {
        finish(false);
        throw;
      }
      finish(true);
    }
  }

  enum : int { idle, running, finished };
  // Becomes the runner (true), or waits until the current runner finishes (false).
  struct begin_awaiter {
    begin_awaiter(once& owner, const std::source_location& caller) noexcept : o(owner), where(caller) {}

    once& o;
    std::source_location where;  // call()'s caller
    detail::waiter w;
    bool mine = false;
    detail::parked_task parked;
    ~begin_awaiter();  // a waiter whose task is destroyed (goro::run ending) leaves the queue
    bool await_ready() noexcept;
    bool await_suspend(std::coroutine_handle<> task) noexcept;
    bool await_resume() const noexcept {
      parked.resumed();
      return mine;
    }
  };
  void finish(bool ok) noexcept;

  std::atomic<int> state_{idle};
  detail::short_lock lock_{detail::lock_rank::sync};
  detail::waiter_queue waiters_;  // under lock_
};

// ---------------------------------------------------------------- semaphore

// The result of a semaphore's acquire case that won a select.
struct acquired {};

class semaphore {
 public:
  explicit semaphore(std::int64_t size);  // panic_error if size < 0
  semaphore(const semaphore&) = delete;
  semaphore& operator=(const semaphore&) = delete;

  struct waiter : detail::waiter {
    std::int64_t n = 0;
  };
  // co_await sem.acquire(n): waits until n units are free and takes them. Also a case
  // of goro::select (result goro::acquired).
  class [[nodiscard]] acquire_case final : public detail::select_case {
   public:
    using result_type = acquired;
    acquire_case(semaphore& s, std::int64_t n, const std::source_location& where);  // panic_error if n < 0 or n > size
    acquire_case(const acquire_case& other) noexcept : select_case(other), sem_(other.sem_) { w_.n = other.w_.n; }
    acquire_case& operator=(const acquire_case&) = delete;
    ~acquire_case();

    bool await_ready() noexcept { return sem_->try_acquire(w_.n); }
    bool await_suspend(std::coroutine_handle<> task) noexcept;
    void await_resume() const noexcept { parked_.resumed(); }
    result_type take_result() const noexcept { return {}; }

    detail::short_lock* guard() noexcept override { return &sem_->lock_; }
    bool complete_locked(std::coroutine_handle<>*) noexcept override { return sem_->take_locked(w_.n); }
    void arm_locked(detail::select_state& s, int index, std::coroutine_handle<> task) noexcept override;
    void disarm_locked() noexcept override;

   private:
    semaphore* sem_;
    waiter w_;
    detail::parked_task parked_;  // set only when awaited on its own and parked (a select records its own)
  };

  acquire_case acquire(std::int64_t n = 1, std::source_location where = std::source_location::current()) {
    return {*this, n, where};
  }
  // Waits for n units or for ctx to be done: empty error_code once acquired, else
  // ctx.err() (and nothing is taken).
  class [[nodiscard]] acquire_with_context {
   public:
    // Recorded as a wait for the semaphore, not as the select it is.
    acquire_with_context(semaphore& s, const context& ctx, std::int64_t n, const std::source_location& where)
        : select_(detail::select_wait{detail::wait_kind::semaphore, &s, static_cast<std::size_t>(n)},
                  s.acquire(n, where), ctx.done(where)) {}
    bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> h) noexcept { return select_.await_suspend(h); }
    std::error_code await_resume() {
      auto r = select_.await_resume();
      return r.index() == 0 ? std::error_code() : std::get<1>(r);
    }

   private:
    select_awaiter<acquire_case, done_case> select_;
  };
  acquire_with_context acquire(const context& ctx, std::int64_t n = 1,
                               std::source_location where = std::source_location::current()) {
    return {*this, ctx, n, where};
  }

  bool try_acquire(std::int64_t n = 1);  // panic_error if n < 0 or n > size
  void release(std::int64_t n = 1);      // panic_error if n < 0 or more than is held
  std::int64_t size() const noexcept { return size_; }
  std::int64_t available() const noexcept;  // a snapshot

 private:
  bool take_locked(std::int64_t n) noexcept;  // free units and nobody queued: take them
  void wake_locked() noexcept;                // grants and wakes the head waiters that now fit
  void check_request(std::int64_t n) const;

  const std::int64_t size_;
  mutable detail::short_lock lock_{detail::lock_rank::select_guard};
  std::int64_t used_ = 0;        // under lock_
  detail::waiter_queue queue_;   // under lock_: FIFO of semaphore::waiter
};

}  // namespace goro
