// The scheduler's entry points that goro's header templates call. Implemented in
// lib/runtime.cpp; users never name them.
#pragma once

#include <atomic>
#include <cstddef>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <source_location>

#include "goro/detail/frame_pool.hpp"

// GORO_TASK_TRACE (meson option task_trace, default on): tasks record where they park,
// for goro::dump_tasks, the deadlock message and the leak report. Off, parking records
// nothing and those list tasks without their wait sites. The layout is the same either way.
#ifndef GORO_TASK_TRACE
#define GORO_TASK_TRACE 1
#endif

namespace goro::detail {

// Coroutine promises derive from it so their frames come from the frame pool.
struct pooled_frame {
  static void* operator new(std::size_t size) { return frame_alloc(size); }
  static void operator delete(void* frame, std::size_t size) noexcept { frame_free(frame, size); }
};

// The header of every spawned task (goro::go, goro::spawn, goro::run's main task), kept
// in its root coroutine's promise.
// CLOCK_MONOTONIC_COARSE in ns as of this worker's last scheduling checkpoint (each
// housekeeping round, each wake-up from its ring): when a task parked, to the ~4 ms
// the dump shows, without a clock read on every park (measured: 7 ns of perf/pingpong's
// round trip). A task that ran long before it parked is stamped at the checkpoint.
// Read through a call, never inline: clang 16 keeps a thread-local's address in a
// coroutine frame across a suspension, so a task resumed on another worker would use
// the first worker's variable (the LLVM coroutine/TLS problem).
std::int64_t worker_clock() noexcept;

struct root_base;
// The spawned task running on this thread (null outside goro tasks). Set when a task
// starts and by every goro awaiter when its task resumes (parked_task below); cleared by
// the worker before it resumes anything else, so a coroutine resumed by another
// library's awaiter runs unnamed (its waits are not recorded) rather than misnamed.
// Out of line for the reason given at worker_clock().
root_base* current_task() noexcept;
void set_current_task(root_base* task) noexcept;

struct root_base {
  // Join state, a sum type in one word:
  //   join_running  - running; a join handle is alive and nobody awaits it yet;
  //   join_detached - no join handle (goro::go, or the handle was dropped): the task
  //                   releases its own frame when it finishes;
  //   join_done     - finished; the result waits for the join handle;
  //   any other     - the address of the coroutine awaiting the join handle.
  // Exactly two parties write it: the task when it finishes (exchange to join_done) and
  // the join handle (CAS to an awaiter address, or exchange to join_detached).
  static constexpr std::uintptr_t join_running = 0, join_detached = 1, join_done = 2;
  std::atomic<std::uintptr_t> join{join_running};

  std::coroutine_handle<> frame;       // the root coroutine itself; written once at spawn
  std::exception_ptr error;            // written by the task before it publishes join_done

  // Its record for goro::dump_tasks, in the frame pool's header of its frame.
  task_trace& trace() const noexcept { return trace_of(frame.address()); }
  std::source_location started_at() const noexcept { return trace().started_at.load(std::memory_order_relaxed); }

  // Records that this task parks on `kind`: before the waiter that can wake it is
  // published, so that a wake-up on another thread always comes after.
  void note_wait(wait_kind kind, const void* object, std::size_t capacity, const std::source_location& site) noexcept {
#if GORO_TASK_TRACE
    task_trace& t = trace();
    t.object.store(object, std::memory_order_relaxed);
    t.site.store(site, std::memory_order_relaxed);
    t.since.store(worker_clock(), std::memory_order_relaxed);
    t.wait.store(static_cast<std::uint64_t>(kind) | (capacity << 8), std::memory_order_relaxed);
#else
    (void)kind, (void)object, (void)capacity, (void)site;
#endif
  }
  void note_running() noexcept {
#if GORO_TASK_TRACE
    trace().wait.store(static_cast<std::uint64_t>(wait_kind::running), std::memory_order_relaxed);
#endif
  }
  // Not under GORO_TASK_TRACE: the leak check and the dumps skip finished tasks either way.
  void note_finished() noexcept {
    trace().wait.store(static_cast<std::uint64_t>(wait_kind::finished), std::memory_order_relaxed);
  }
};

// The part of every goro awaiter that can park its task: park() records the wait in the
// current task; resumed(), the first thing its await_resume does, makes that task
// current again on whichever thread resumed it.
class parked_task {
 public:
  void park(wait_kind kind, const void* object, std::size_t capacity, const std::source_location& site) noexcept {
    task_ = current_task();
    if (task_) task_->note_wait(kind, object, capacity, site);
  }
  void resumed() const noexcept {
    if (!task_) return;
    set_current_task(task_);
    task_->note_running();
  }
  root_base* task() const noexcept { return task_; }

 private:
  root_base* task_ = nullptr;
};

// Marks a new root live (frame_pool.hpp) and makes it runnable: on the calling worker's
// queue, or on the global queue when called from a thread outside the runtime. Throws
// std::logic_error when no goro::run is active.
void submit(root_base& root);

// Makes a parked coroutine runnable again (the wake-up side of every primitive). On a
// worker it goes to the worker's `next` slot; elsewhere to the global queue.
void schedule(std::coroutine_handle<> h) noexcept;

// A spawned task's body has finished (its result or error is stored): publish it to the
// join handle and return the coroutine to transfer to (the joiner, or none).
std::coroutine_handle<> finish_root(root_base& root) noexcept;

// The task is finished (or will never run again) and nobody will touch its frame: destroy
// it. Out of line on purpose: clang elides the heap allocation of a coroutine whose
// destruction it can see (HALO), and a root frame must come from the frame pool, whose
// header marks it live (found when goro::run's main task landed on the stack).
void release(root_base& root) noexcept;

// An exception escaped a task nobody can join: hand it to the panic handler.
void report_panic(std::exception_ptr error, const std::source_location& started_at) noexcept;

// Symmetric transfer without unbounded stack growth.
//
// g++ only turns the handle returned by await_suspend into a tail call when optimizing
// and without sanitizers (at -O0, and under ASan or TSan, each transfer nests a native
// frame and a 1,000,000-deep chain of co_awaits overflows the stack; clang guarantees
// the tail call). Each worker therefore records a stack floor; a transfer made below it
// goes through the worker loop instead (bounce), which unwinds the native stack. With a
// compiler that does the tail call the floor is never reached and the check costs one
// compare. test/task_test.cpp "a 1,000,000-deep chain" catches a regression.
extern constinit thread_local char* stack_floor;
std::coroutine_handle<> bounce(std::coroutine_handle<> h) noexcept;

inline std::coroutine_handle<> transfer(std::coroutine_handle<> h) noexcept {
  if (static_cast<char*>(__builtin_frame_address(0)) > stack_floor) [[likely]]
    return h;
  return bounce(h);
}

}  // namespace goro::detail
