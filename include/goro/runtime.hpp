// The runtime: goro::run, GOMAXPROCS, task counts, yield, the panic handler.
//
//   goro::task<int> amain() { ...; co_return 0; }
//   int main() { return goro::run(amain); }
//
// goro::run starts maxprocs() worker threads (the calling thread is worker 0), runs f as
// the main task, and returns when the main task finishes: its result is returned, its
// exception rethrown. Like a Go program whose main returns, tasks still running or
// parked at that moment are not resumed again: their frames are destroyed (destructors
// run), and run returns.
//
// Go: the runtime start-up around main, runtime.GOMAXPROCS, runtime.NumGoroutine,
// runtime.Gosched, and the default behaviour of a panic in a goroutine.
#pragma once

#include <cstddef>
#include <exception>
#include <functional>
#include <source_location>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "goro/debug.hpp"
#include "goro/spawn.hpp"

namespace goro {

// A programming error detected by goro, the counterpart of a Go panic (a negative
// wait_group counter, ...). Thrown before any state changes.
class panic_error : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

// The runtime cannot start as configured: a bad GOMAXPROCS, or io_uring refused by the
// kernel. The message names the cause and the fix.
class config_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct config {
  // Number of worker threads; 0 means GOMAXPROCS from the environment, else the CPUs
  // this process may run on (sched_getaffinity), capped by the cgroup v2 cpu.max quota.
  unsigned maxprocs = 0;
  // Capacity of each worker's local run queue, a power of two >= 2. Go's value; tests
  // lower it so overflow to the global queue is exercised.
  unsigned local_queue_size = 256;
  // Most threads goro::blocking may run at once (Go caps its threads at 10,000; a
  // blocking call here is a getaddrinfo or a slow library call, so far fewer suffice).
  unsigned max_blocking_threads = 64;
  // Tasks still alive when the main task returns (leaked: parked on a channel nobody
  // will send to...) are destroyed, as in Go; with warn, goro first logs one warning
  // summarizing them by start and wait site; with fail, goro::run then throws
  // goro::leak_error instead of returning (go.uber.org/goleak's habit, for tests).
  enum class leak_mode { off, warn, fail };
  leak_mode leak_check = leak_mode::warn;
  // SIGQUIT (Ctrl-\) prints goro::dump_tasks to stderr and the program keeps running,
  // as a Go program prints its goroutines (and exits). Installed only while the
  // signal's action is the default; false leaves SIGQUIT alone.
  bool dump_on_sigquit = true;
};

namespace detail {
// Runs `main` (already created, not yet started) to completion on a new runtime. When it
// throws (a bad config, a deadlock, a leak with leak_check fail), main's frame is destroyed.
void run_main(const config& cfg, root_base& main);
}  // namespace detail

// Runs f() as the main task on a new runtime; returns its result or rethrows its
// exception. Throws config_error when the runtime cannot start, std::logic_error when
// called from inside a running goro::run.
template <class F>
auto run(const config& cfg, F&& f, std::source_location where = std::source_location::current()) {
  using T = detail::spawn_result_t<F>;
  auto root = detail::root_body<T, std::decay_t<F>>(std::forward<F>(f));
  auto& p = root.frame.promise();
  p.trace().started_at.store(where, std::memory_order_relaxed);  // before the runtime exists
  detail::run_main(cfg, p);  // when it throws, it has destroyed the main task itself
  struct release_frame {
    detail::root_base& root;
    ~release_frame() { detail::release(root); }
  } guard{p};
  return p.result.take();
}
template <class F>
auto run(F&& f, std::source_location where = std::source_location::current()) {
  return run(config{}, std::forward<F>(f), where);
}

// The number of worker threads: the running runtime's, or the one goro::run would start
// now (reads GOMAXPROCS; throws config_error if it is malformed).
unsigned maxprocs();

// The number of live tasks (spawned and not finished, the main task included); 0 outside
// goro::run. Exact when the runtime is quiet, a snapshot while tasks come and go.
std::size_t num_tasks() noexcept;

// co_await goro::yield(): lets other runnable tasks run first; the calling task goes to
// the back of the global queue and resumes on whichever worker takes it.
struct yield_awaiter {
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> self);
  void await_resume() const noexcept { parked.resumed(); }
  detail::parked_task parked;
};
inline yield_awaiter yield() noexcept { return {}; }

// What the panic handler receives: the exception that escaped a task nobody joins, and
// where that task was started.
struct panic_info {
  std::exception_ptr exception;
  std::source_location started_at;
};
// Replaces the panic handler (called on the worker thread that saw the exception; the
// runtime keeps running if it returns). An empty function restores the default, which
// logs the exception and the task's start location through spdlog, then calls
// std::terminate, as an unrecovered panic ends a Go program.
void set_panic_handler(std::function<void(const panic_info&)> handler);

}  // namespace goro
