// Seeing inside a running goro program: task dumps, runtime stats, and the errors of the
// deadlock and leak checks.
//
//   goro::dump_tasks(std::cerr);        // every live task: state, wait, start and wait sites
//   for (auto& t : goro::task_snapshot()) ...   // the same, as data
//   goro::runtime_stats s = goro::stats();
//
// Each task records where it was started (goro::go/spawn/run's call) and, while parked,
// what it waits on and the call that produced the awaited operation (ch.recv(),
// m.lock(), goro::sleep_for(), conn.read()...). SIGQUIT prints the dump to stderr and the
// program keeps running (config::dump_on_sigquit).
//
// Deadlock: goro::run throws deadlock_error when every task is parked and nothing could
// wake one: no runnable task, no timer pending, no I/O in flight, no goro::blocking call
// queued or running, and no external_handle alive. A thread outside the runtime that
// will wake a task (cancel a context, spawn, ...) must hold an external_handle for that
// time; otherwise goro cannot know it is coming and may report a deadlock first.
//
// Go: the "all goroutines are asleep - deadlock!" check, the SIGQUIT goroutine dump
// (runtime.Stack), runtime.NumGoroutine and the scheduler counters of GODEBUG=schedtrace;
// the leak check is go.uber.org/goleak's habit built in.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <source_location>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace goro {

enum class task_state { running, runnable, parked };

// One live task, as goro::task_snapshot() saw it.
struct task_info {
  std::uint64_t id = 0;  // 1 is goro::run's main task; then in spawn order, roughly
  task_state state = task_state::runnable;
  std::string_view waiting_on;  // parked: "chan recv", "chan send", "select", "mutex", "sleep", "io read"...
  std::string waiting_detail;   // parked: the object, e.g. "chan 0x5612a0 (capacity 0)", "fd 7", "task 12"
  std::chrono::nanoseconds parked_for{0};  // parked: since when (to ~4 ms, the coarse clock)
  std::source_location started_at;
  std::source_location wait_site;  // parked: the call that produced the awaited operation; line 0 if unknown
};

// Every live task of the running goro::run (empty outside one), by id. A snapshot taken
// while tasks run: a task that finishes during the walk may be missing, none is invented.
// goro's own tasks (signal readers) are left out.
std::vector<task_info> task_snapshot();

// Writes the snapshot in Go's dump style, one paragraph per task:
//   task 7 [chan recv, 1.2s]:
//     waiting at worker.cpp:18 in consume(): chan 0x5612a0 (capacity 0)
//     started at main.cpp:12 in amain()
void dump_tasks(std::ostream& out);
// The same for a snapshot already taken (deadlock_error and leak_error carry theirs).
void dump_tasks(std::ostream& out, const std::vector<task_info>& tasks);

struct worker_stats {
  std::uint64_t steals = 0;          // tasks taken from other workers (each stolen task counts)
  std::uint64_t parks = 0;           // times it slept in its ring
  std::uint64_t wakeups = 0;         // times another thread woke it
  std::uint64_t io_submissions = 0;  // operations handed to the kernel
  std::uint64_t io_completions = 0;  // operations completed (cancelled ones included)
  std::size_t run_queue = 0;         // tasks in its local queue now
};
struct runtime_stats {
  std::size_t tasks_live = 0;  // as goro::num_tasks()
  std::uint64_t tasks_spawned = 0;    // since goro::run started, the main task included
  std::uint64_t tasks_completed = 0;
  std::size_t global_queue = 0;
  std::vector<worker_stats> workers;
};
// Per-worker counters summed on read (each worker writes its own; nothing is shared on
// the hot paths). Empty outside goro::run.
runtime_stats stats();

// Held by a thread outside the runtime while it may still wake a task: see the top of
// this file. Create it before handing the work to that thread (inside goro::run); drop
// it once the wake-up is done. Throws std::logic_error outside goro::run.
class external_handle {
 public:
  external_handle();
  external_handle(external_handle&& other) noexcept : generation_(std::exchange(other.generation_, 0)) {}
  external_handle& operator=(external_handle&& other) noexcept;
  ~external_handle();

 private:
  void release() noexcept;
  std::uint64_t generation_ = 0;  // the goro::run it counts in; 0 once released or moved from
};

// goro::run found every task asleep. what(): "all tasks are asleep - deadlock!" and the
// dump of every task.
class deadlock_error : public std::runtime_error {
 public:
  explicit deadlock_error(std::vector<task_info> tasks);
  const std::vector<task_info>& tasks() const noexcept { return tasks_; }

 private:
  std::vector<task_info> tasks_;
};

// config::leak_check is fail and tasks were still alive when the main task returned.
// what(): the leak summary (see config::leak_check).
class leak_error : public std::runtime_error {
 public:
  leak_error(const std::string& summary, std::vector<task_info> tasks);
  const std::vector<task_info>& tasks() const noexcept { return tasks_; }

 private:
  std::vector<task_info> tasks_;
};

// The leak summary: tasks grouped by start and wait site, largest group first, e.g.
//   "1000 tasks started at worker.cpp:12 parked on chan recv at worker.cpp:18"
std::string summarize_leaks(const std::vector<task_info>& tasks);

}  // namespace goro
