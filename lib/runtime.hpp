// Private runtime structures: workers, the global queue, parking. The protocol is
// described at the top of lib/runtime.cpp.
#pragma once

#include <liburing.h>

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "blocking.hpp"
#include "deque.hpp"
#include "handle_ring.hpp"
#include "timer_heap.hpp"
#include "goro/detail/short_lock.hpp"
#include "goro/detail/scheduler_hooks.hpp"
#include "goro/runtime.hpp"
#include "goro/time.hpp"

namespace goro::detail {

class runtime;
struct io_op;

// user_data of the ring's own entries; every other entry's is an io_op's address.
constexpr std::uint64_t wake_tag = 1;    // the eventfd read
constexpr std::uint64_t cancel_tag = 2;  // an IORING_OP_ASYNC_CANCEL

struct worker {
  worker(runtime& rt, unsigned index, unsigned queue_size);
  ~worker();
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  void run_loop();

  // ---- owned by this worker's thread; nobody else reads or writes them ----
  runtime& rt;
  const unsigned index;
  std::coroutine_handle<> bounced;  // continuation to run first (see detail::bounce)
  std::coroutine_handle<> next;     // the task this worker just woke (Go's runnext), not stealable
  std::uint32_t tick = 0;
  std::uint64_t rng;                // victim choice
  bool searching = false;           // counted in runtime::searching_count
  std::int64_t oldest_seen = -1;    // the deque's top index at the last housekeeping
  clock::time_point oldest_since;   // since when it has not moved
  std::vector<std::coroutine_handle<>> due;  // run_due_timers' batch, kept for its capacity
  std::vector<timer_node*> due_after;        // the batch's nodes with an after_fire, likewise
  io_uring ring{};
  std::uint64_t wake_buffer = 0;    // target of the pending eventfd read
  std::vector<std::coroutine_handle<>> overflow;  // push_local's batch, kept for its capacity
  // I/O (lib/io.cpp):
  std::vector<std::coroutine_handle<>> io_woken;  // process_completions' batch, kept for its capacity
  std::size_t inflight = 0;             // operations submitted, not completed yet
  std::size_t cancel_requests_due = 0;  // completions that lost to a context whose request is still on its way
  bool draining = false;                // goro::run is ending: complete, resume nobody

  std::uint64_t next_id = 0, id_limit = 0;  // task ids in hand, a block of runtime::next_task_id
  std::uint32_t sqes_counted = 0;           // ring.sq.sqe_tail at the last count of io_submissions

  // ---- shared with other threads ----
  work_stealing_deque queue;
  // Counters written only by this worker (relaxed load + store, no RMW), read by
  // num_tasks and goro::stats.
  std::atomic<std::int64_t> spawned{0};
  std::atomic<std::int64_t> finished{0};
  std::atomic<std::uint64_t> steals{0}, parks{0}, wakeups{0}, io_submissions{0}, io_completions{0};
  int wake_fd = -1;  // eventfd; set up before the threads start, read-only afterwards
  // I/O operations a context cancelled from another thread (lib/io.cpp): a lock-free
  // stack; any thread pushes (CAS, release), this worker takes it whole (acquire).
  std::atomic<io_op*> cancel_inbox{nullptr};
  // Timers: only this worker adds and fires them; any thread may cancel one.
  short_lock timer_lock{lock_rank::timers};
  timer_heap timers;  // under timer_lock
  // timers.size(), written under timer_lock, read by this worker without it: exact for
  // additions (only this worker adds), possibly stale-high after another thread's cancel.
  std::atomic<std::size_t> timer_count{0};
  // Under runtime::idle_mu:
  bool idle_listed = false;      // in runtime::idle
  bool woken_searching = false;  // a waker took it off the idle list and counted it searching
  bool idle_forever = false;     // listed with no timer and no I/O: only another thread can wake it

  // ---- worker-thread helpers ----
  std::coroutine_handle<> find_work();
  std::coroutine_handle<> housekeeping();
  std::coroutine_handle<> search();
  std::coroutine_handle<> steal_from(worker& victim);
  void stop_searching();
  void park();
  void run_due_timers();
  void process_completions();
  void arm_wake_read();
  // I/O (lib/io.cpp):
  io_uring_sqe* get_sqe();           // a free SQE, submitting the ring if it is full
  void flush_io();                   // submit pending SQEs; reap completions if any
  bool io_ready() const noexcept;    // completions (or cancel requests) to process?
  bool completions_pending() const noexcept;  // completion work waits for a kernel entry
  void complete_io(io_op& op, int res);
  void cancel_io(io_op& op);         // a context cancelled op (on this worker)
  void take_cancel_requests();       // the inbox
  void drain_io();                   // goro::run ending: cancel and await everything in flight
  void push_local(std::coroutine_handle<> h);
  std::uint64_t take_task_id();
  void read_clock() noexcept;  // updates worker_clock_ns
  void count_submissions() noexcept;  // io_submissions += the SQEs prepared since the last call
};

// Adds to a counter only its worker writes: a load and a store, no locked instruction.
// relaxed: readers (goro::stats) only want a recent value.
inline void count(std::atomic<std::uint64_t>& counter, std::uint64_t n = 1) noexcept {
  counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

class runtime {
 public:
  runtime(const config& cfg, unsigned nworkers, std::uint64_t generation);
  ~runtime();

  // The runtime of the running goro::run, or null.
  static runtime* current() noexcept;

  void start(root_base& main);  // runs until main finishes, then stops the workers
  // After the workers stopped: destroy every unfinished task but `main` that nobody can
  // join any more (detached, or awaited by a parked task).
  void sweep(const root_base* main) noexcept;

  void push_global(std::coroutine_handle<> h);
  void push_global_batch(const std::vector<std::coroutine_handle<>>& hs);
  std::coroutine_handle<> take_global(worker& w);
  bool global_has_work() const noexcept;
  std::size_t global_size() const noexcept { return global_size_.load(std::memory_order_relaxed); }  // a hint

  void notify_local() noexcept;     // after a worker published work in its own deque
  void notify_external() noexcept;  // after work was put on the global queue
  void wake_one() noexcept;
  void stop() noexcept;

  // Deadlock detection (see "Deadlock" in lib/runtime.cpp), under idle_mu.
  bool everyone_asleep() const noexcept;

  std::vector<std::unique_ptr<worker>> workers;
  std::atomic<bool> stopping{false};
  std::atomic<std::int64_t> external_spawned{0};
  blocking_pool blocking;  // goro::blocking
  const std::uint64_t generation;  // which goro::run of the process this is (external_handle)
  // Task ids: 1 is the main task; workers take blocks of them (Go's goidcache).
  std::atomic<std::uint64_t> next_task_id{2};
  // Live goro::external_handles of this run; seq_cst, see external_handle in lib/trace.cpp.
  std::atomic<unsigned> external_handles{0};
  bool deadlocked = false;  // under idle_mu; read by goro::run after the workers stopped

  // Parking: the idle list, under idle_mu.
  std::mutex idle_mu;
  std::vector<worker*> idle;          // under idle_mu
  std::atomic<unsigned> idle_count{0};  // written under idle_mu; read without it as a hint
  std::atomic<unsigned> searching_count{0};

 private:
  mutable std::mutex global_mu_;
  handle_ring global_;                           // under global_mu_
  std::atomic<std::size_t> global_size_{0};     // written under global_mu_; read as a hint

  std::vector<std::thread> threads_;
};

// The worker the calling thread runs, or null.
extern constinit thread_local worker* current_worker;

// The running runtime, for as long as this object lives, from any thread. A worker uses
// its own runtime, which outlives it. A thread outside the runtime (a wake-up from a
// std::thread, a spawn, num_tasks) is counted while it uses it, and goro::run waits for
// those counts to drain before it destroys the runtime: otherwise the task such a
// thread just woke could finish goro::run while the thread still touches the runtime
// (the wake-up's notify). get() is null when no goro::run is active.
class runtime_use {
 public:
  runtime_use() noexcept;
  ~runtime_use();
  runtime_use(const runtime_use&) = delete;
  runtime_use& operator=(const runtime_use&) = delete;
  runtime* get() const noexcept { return rt_; }

 private:
  runtime* rt_;
  bool counted_ = false;
};

// While one lives, the tasks the calling thread starts are goro's own (the signal
// readers): left out of dumps, deadlock messages and leak reports.
class internal_spawns {
 public:
  internal_spawns() noexcept;
  ~internal_spawns();
  internal_spawns(const internal_spawns&) = delete;
  internal_spawns& operator=(const internal_spawns&) = delete;
};

// Ring set-up with one clear message per refusal (lib/ring.cpp).
void ring_init(io_uring& ring, unsigned sq_entries, unsigned cq_entries);
void enable_ring(io_uring& ring);  // on the thread that will use it (see ring_init)
std::string ring_error_message(int error);

}  // namespace goro::detail
