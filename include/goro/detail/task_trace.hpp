// The record a spawned task keeps for goro::dump_tasks: what it waits on, where.
#pragma once

#include <atomic>
#include <cstdint>
#include <source_location>

namespace goro::detail {

// What a task waits on, for goro::dump_tasks. The first three are not waits. What the
// `object` and `capacity` of note_wait mean, per kind (the dump prints them):
//   chan_recv, chan_send: the channel's shared state; its capacity
//   select: null; the number of cases
//   mutex, rwmutex_*, wait_group, once: the primitive; 0
//   semaphore: the semaphore; the weight asked for
//   sleep: null; the duration in milliseconds
//   context_done: the context's node; 0
//   join: the awaited task (its root_base); its id
//   io_*: null; the file descriptor (io: any other operation, such as open or fsync)
//   blocking: null; 0
enum class wait_kind : std::uint8_t {
  running,   // resumed, and not parked since
  runnable,  // spawned and not started yet, or yielded
  finished,  // its result waits for its join handle: not a live task any more
  chan_recv, chan_send, select, mutex, rwmutex_lock, rwmutex_rlock, wait_group, semaphore, once, sleep,
  context_done, join, io_read, io_write, io_accept, io_connect, io, blocking,
};
inline constexpr int wait_kind_count = static_cast<int>(wait_kind::blocking) + 1;

// A spawned task's record for goro::dump_tasks. It lives in the frame pool's header of the
// task's frame (frame_pool.hpp), which is built once when its slab is carved and never
// poisoned, constructed or unmapped afterwards: goro::dump_tasks may read it from any
// thread while the task runs, finishes, or its block is reused, and every access is
// atomic. Its own task writes it when it parks and resumes. Relaxed is enough: it is a
// diagnostic, nothing is ordered by it; the reader checks `id` before and after reading
// the rest, so a record reused meanwhile is skipped (lib/trace.cpp).
struct task_trace {
  static constexpr std::uint64_t internal_bit = std::uint64_t{1} << 63;  // goro's own tasks, hidden
  std::atomic<std::uint64_t> id{0};                     // unique per spawn, 0 before
  std::atomic<std::uint64_t> wait{0};                   // wait_kind in bits 0-7, capacity above
  std::atomic<const void*> object{nullptr};             // the channel, mutex, fd... waited on
  std::atomic<std::source_location> site{};             // the co_await's call
  std::atomic<std::int64_t> since{0};                   // CLOCK_MONOTONIC_COARSE ns at the park
  std::atomic<std::source_location> started_at{};       // where goro::go/spawn/run was called
};

}  // namespace goro::detail
