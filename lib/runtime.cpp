// The scheduler: workers, run queues, parking in io_uring, spawning, joining, shutdown.
//
// How work flows
//   1. goro::go/spawn (submit) pushes the new task on the calling worker's deque bottom
//      (lib/deque.hpp); a wake-up (schedule) puts the woken task in the worker's `next`
//      slot, pushing the previous occupant to the deque. Threads outside the runtime use
//      the global queue.
//   2. A worker runs, in order: a bounced continuation (detail::bounce), every 61st tick
//      the housekeeping below, the `next` slot, its deque bottom, due timers; then it
//      submits the round's I/O and reaps its completions (lib/io.cpp); then it
//      searches: steals half of a random victim's deque, takes a batch of the global
//      queue (only 4 rounds when it has I/O in flight); then it parks.
//   3. Housekeeping (every 61 ticks, Go's value for the global-queue check): due
//      timers, ring completions; then one task from the global queue, else the oldest of its own deque if that one has not moved for a time
//      slice, so neither starves under a stream of fresh local work.
//
// Parking (a worker that found nothing)
//   1. Under idle_mu: add itself to `idle`; then leave the searching state
//      (searching_count, seq_cst RMW).
//   2. Re-check every deque and the global queue (its own timers set the wait's
//      timeout, computed before step 1). If anything turned up,
//      take itself off the idle list (unless a waker already did) and go back to work.
//   3. Otherwise wait in io_uring_submit_and_wait_timeout with the nearest timer as
//      timeout. A pending read on the worker's eventfd completes when another thread
//      wakes it; a timer expiry or an I/O completion ends the wait too.
//   4. Awake: under idle_mu, leave the idle list if still on it; if a waker took it off,
//      the waker counted it as searching.
//   Wakers (wake_one) pop one idle worker under idle_mu, count it searching and write its
//   eventfd. Work pushed by a worker on its own deque wakes somebody only when nobody is
//   searching and somebody is idle (notify_local); these two reads are relaxed, so a
//   wake-up may be missed in a race with a worker going to sleep. That costs
//   parallelism, never progress: the worker that pushed the task is awake and runs its
//   own deque. Work put on the global queue (by threads outside the runtime, by yield,
//   by overflow) has no such owner, so notify_external always reads the idle list under
//   idle_mu, which orders it with steps 1-2 of the parker: either the pusher sees the
//   parker listed and wakes it, or the parker's re-check sees the work.
//   A woken worker that finds work, and was the last searcher, wakes one more idle
//   worker (Go's resetspinning), so parallelism ramps up one worker at a time.
//
// Lock order: the rank table in include/goro/detail/short_lock.hpp lists every lock.
// Here: idle_mu and global_mu_ are leaves; each worker's timer_lock is taken by the
// worker (adding, firing) and by any thread cancelling a timer, possibly while that
// thread holds channel locks (a select disarming its timer case), never the reverse:
// a timer's fire() takes no lock; its after_fire() runs once the lock is released.
//
// Deadlock (Go's checkdead): a worker that lists itself idle with no timer of its own and
// no I/O in flight can only be woken by another thread. When the last worker lists
// itself so, with every queue empty, no goro::blocking job queued or running and no
// external_handle alive, nothing can ever wake a task: it sets `deadlocked` and stops the
// runtime, and goro::run throws deadlock_error. The check runs under idle_mu, inside the
// parker's step 1, so it costs nothing on any other path. Every wake-up from a thread
// outside the runtime goes through the global queue and wake_one (idle_mu), and each of
// those threads stops counting (a blocking job, an external_handle) only after its
// wake-up: so the checker either sees the count, or sees the work, or was taken off the
// idle list by the wake-up. An external_handle that stops counting wakes one worker,
// which parks again and repeats the check.
//
// Live tasks: every spawned task's frame is marked live in the frame pool at submit
// (frame_pool.hpp), and unmarked when the frame is freed; after the workers stop,
// sweep() walks the live roots and destroys the unfinished ones nobody can join.
#include "runtime.hpp"

#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "config.hpp"
#include "log.hpp"
#include "trace.hpp"

namespace goro::detail {

constinit thread_local worker* current_worker = nullptr;
namespace {
constinit thread_local root_base* current_task_ = nullptr;  // see current_task()
}  // namespace
root_base* current_task() noexcept { return current_task_; }
void set_current_task(root_base* task) noexcept { current_task_ = task; }
constinit thread_local bool spawning_internal = false;  // see internal_spawns
namespace {
constinit thread_local std::int64_t worker_clock_ns = 0;  // see worker_clock()
}  // namespace
std::int64_t worker_clock() noexcept { return worker_clock_ns; }

internal_spawns::internal_spawns() noexcept { spawning_internal = true; }
internal_spawns::~internal_spawns() { spawning_internal = false; }
constinit thread_local char* stack_floor = nullptr;

namespace {

// The runtime of the running goro::run. Written by run_main (release) before any worker
// starts and cleared after they all stopped; read by any thread (acquire).
std::atomic<runtime*> the_runtime{nullptr};
// Threads outside the runtime inside a runtime_use (see runtime.hpp).
std::atomic<unsigned> foreign_users{0};
// goro::run calls so far (runtime::generation).
std::atomic<std::uint64_t> run_generation{0};

// Most timers one run_due_timers call fires; picked: half of the default local queue, so
// one batch of woken tasks fits in the deque without overflowing to the global queue.
constexpr std::size_t max_due_batch = 128;

// Native stack a worker lets nested transfers use before bouncing (see transfer());
// picked: far below the 8 MiB default thread stack, far above any real call depth.
constexpr std::size_t stack_budget = 256 * 1024;
// Ticks between housekeeping rounds: Go's schedtick % 61 for the global queue.
constexpr std::uint32_t housekeeping_interval = 61;
// How long a worker keeps searching (stealing, global queue) before it parks. Parking
// and the wake-up cost a syscall on each side plus two context switches (~10-20 us on
// this machine's 2 cores), so a shorter search made perf/spawn_join park and wake tens of
// thousands of times per run; picked at 50 us from spawn_join and idle_cpu.
constexpr auto search_time = std::chrono::microseconds(50);
// How long the oldest local task may wait before it runs out of LIFO order: Go's
// scheduling time slice (forcePreemptNS).
constexpr auto time_slice = std::chrono::milliseconds(10);
// Submission entries per ring: one round rarely starts more operations (a full SQ is
// submitted early, see worker::get_sqe). Completion entries: room for a burst of
// completions from 1,000s of connections between two reaps (the kernel keeps any
// overflow, at a cost). Each ring costs ~(64 * sq + 16 * cq) bytes of locked memory.
constexpr unsigned ring_sq_entries = 1024;
constexpr unsigned ring_cq_entries = 8192;
// Task ids a worker takes from the shared counter at once (Go's _GoidCacheBatch).
constexpr std::uint64_t task_id_batch = 16;

std::uint64_t next_random(std::uint64_t& s) noexcept {  // xorshift64
  s ^= s << 13;
  s ^= s >> 7;
  s ^= s << 17;
  return s;
}

// A coroutine that stops the runtime when resumed: the main task's join state points at
// it, so the main task's completion transfers here.
struct stopper {
  struct promise_type {
    stopper get_return_object() { return {std::coroutine_handle<promise_type>::from_promise(*this)}; }
    std::suspend_always initial_suspend() noexcept { return {}; }
    std::suspend_always final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }
  };
  std::coroutine_handle<promise_type> frame;
};
stopper make_stopper(runtime& rt) {
  rt.stop();
  co_return;
}

}  // namespace

// ---------------------------------------------------------------- worker

worker::worker(runtime& rt_, unsigned index_, unsigned queue_size)
    : rt(rt_), index(index_), rng(0x9E3779B97F4A7C15ull * (index_ + 1)), queue(queue_size) {
  ring_init(ring, ring_sq_entries, ring_cq_entries);
  wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd < 0) {
    const int e = errno;
    io_uring_queue_exit(&ring);
    throw config_error(std::string("goro: cannot create the worker's wake-up eventfd: ") + std::strerror(e));
  }
  arm_wake_read();
}

worker::~worker() {
  io_uring_queue_exit(&ring);
  if (wake_fd >= 0) close(wake_fd);
}

void worker::arm_wake_read() {
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_read(sqe, wake_fd, &wake_buffer, sizeof wake_buffer, 0);
  io_uring_sqe_set_data64(sqe, wake_tag);
}

void worker::process_completions() {
  unsigned head, seen = 0;
  io_uring_cqe* cqe;
  bool rearm = false;
  std::uint64_t ops = 0;
  io_uring_for_each_cqe(&ring, head, cqe) {
    ++seen;
    if (cqe->user_data == wake_tag) {
      rearm = true;
    } else if (cqe->user_data != cancel_tag) {
      ++ops;
      complete_io(*reinterpret_cast<io_op*>(cqe->user_data), cqe->res);
    }
  }
  io_uring_cq_advance(&ring, seen);
  if (rearm) count(wakeups);
  if (ops) count(io_completions, ops);
  take_cancel_requests();
  if (rearm && !draining) arm_wake_read();
  if (io_woken.empty()) return;
  // FIFO: the deque is LIFO for its owner, so push the last completed first and the task
  // whose operation completed first runs first (waking each through `next` ran them in
  // reverse and starved the early ones).
  for (auto it = io_woken.rbegin(); it != io_woken.rend(); ++it) push_local(*it);
  if (io_woken.size() > 1) rt.notify_local();
  io_woken.clear();
}

std::uint64_t worker::take_task_id() {
  if (next_id == id_limit) {
    // relaxed: ids need only be unique, which the RMW gives.
    next_id = rt.next_task_id.fetch_add(task_id_batch, std::memory_order_relaxed);
    id_limit = next_id + task_id_batch;
  }
  return next_id++;
}

void worker::count_submissions() noexcept {
  // sqe_tail counts every SQE this thread prepared (mod 2^32); submitted at the next enter.
  const std::uint32_t tail = ring.sq.sqe_tail;
  count(io_submissions, tail - sqes_counted);
  sqes_counted = tail;
}

void worker::push_local(std::coroutine_handle<> h) {
  if (queue.push(h)) return;
  // Full: move the older half to the global queue in one batch (Go's runqputslow).
  overflow.resize(queue.capacity() / 2 + 1);
  const std::size_t n = queue.take_oldest(overflow.data(), queue.capacity() / 2);
  overflow[n] = h;
  overflow.resize(n + 1);
  rt.push_global_batch(overflow);
}

void worker::run_due_timers() {
  // relaxed: a hint that is exact for this worker's own additions (see timer_count).
  if (timer_count.load(std::memory_order_relaxed) == 0) return;
  const auto now = clock::now();
  due.clear();
  {
    short_lock_guard lock(timer_lock);
    // At most max_due_batch per call: a mass expiry (100,000 sleepers due together) is
    // run in slices between which tasks run and other workers can steal, instead of
    // the first woken task waiting for all of them to be popped (perf/timers).
    for (std::size_t n = 0; n < max_due_batch && !timers.empty() && timers.front().deadline <= now; ++n) {
      timer_node& t = timers.front();
      timers.remove(t);
      // Under the lock: a cancel that finds the node gone knows `fire` has finished.
      if (auto h = t.fire(t)) due.push_back(h);
      if (t.after_fire) due_after.push_back(&t);  // fire() pinned it (timer_node::after_fire)
      // The last touch of t (unless pinned): release, pairs with timer_cancel's acquire,
      // so a cancel that sees no owner sees fire() finished (see timer_node::owner).
      t.owner.store(nullptr, std::memory_order_release);
    }
    timer_count.store(timers.size(), std::memory_order_relaxed);  // under timer_lock
  }
  for (timer_node* t : due_after) t->after_fire(*t);  // may take locks, add timers, wake tasks
  due_after.clear();
  if (due.empty()) return;
  // The deque is LIFO for its owner: push the latest deadline first so that the tasks
  // run in deadline order (and equal deadlines in the order they went to sleep).
  for (auto it = due.rbegin(); it != due.rend(); ++it) push_local(*it);
  // One due task is run by this worker next; waking an idle worker for it only makes
  // that worker search and park again (measured: perf/idle's idle_cpu). More than one
  // is worth sharing.
  if (due.size() > 1) rt.notify_local();
}

std::coroutine_handle<> worker::steal_from(worker& victim) {
  const std::size_t available = victim.queue.size_hint();
  if (available == 0) return nullptr;
  std::coroutine_handle<> first = victim.queue.steal();
  if (!first) return nullptr;
  // Steal half: the rest goes to our own deque, empty while we search.
  std::uint64_t n = 1;
  for (; n < available / 2; ++n) {
    auto h = victim.queue.steal();
    if (!h) break;
    push_local(h);
  }
  count(steals, n);
  return first;
}

void worker::stop_searching() {
  if (!searching) return;
  searching = false;
  // acq_rel: an RMW so that the last searcher is decided exactly once.
  if (rt.searching_count.fetch_sub(1, std::memory_order_acq_rel) == 1 &&
      rt.idle_count.load(std::memory_order_relaxed) != 0)  // hint: see "Parking"
    rt.wake_one();
}

void worker::read_clock() noexcept {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &now);  // the clock goro::dump_tasks compares with
  worker_clock_ns = now.tv_sec * 1'000'000'000 + now.tv_nsec;
}

std::coroutine_handle<> worker::housekeeping() {
  read_clock();
  run_due_timers();
  flush_io();
  count_submissions();
  if (auto h = rt.take_global(*this)) return h;
  // The oldest local task runs out of turn only once it has waited a whole time slice:
  // running it every round would make fork-join breadth-first (each oldest entry is a
  // big subtree) and overflow the deque.
  const std::int64_t top = queue.top_index();
  const auto now = clock::now();
  if (top != oldest_seen || queue.size_hint() == 0) {
    oldest_seen = top;
    oldest_since = now;
    return nullptr;
  }
  if (now - oldest_since < time_slice) return nullptr;
  oldest_since = now;
  return queue.steal();
}

std::coroutine_handle<> worker::search() {
  if (!searching) {
    searching = true;
    rt.searching_count.fetch_add(1, std::memory_order_acq_rel);  // see stop_searching
  }
  const std::size_t n = rt.workers.size();
  // A worker with I/O in flight searches briefly (Go's 4 rounds of stealing) and then
  // parks in its ring, where its own completions wake it: spinning for search_time
  // would burn the CPU the network peer (on the same cores) needs.
  const unsigned io_rounds = inflight != 0 ? 4 : 0;
  const auto give_up = clock::now() + search_time;
  for (unsigned round = 1;; ++round) {
    const std::size_t start = n > 1 ? next_random(rng) % n : 0;
    for (std::size_t i = 0; i < n; ++i) {
      worker& victim = *rt.workers[(start + i) % n];
      if (&victim == this) continue;
      if (auto h = steal_from(victim)) {
        stop_searching();
        return h;
      }
    }
    if (auto h = rt.take_global(*this)) {
      stop_searching();
      return h;
    }
    if (inflight != 0 && io_ready()) {  // our own I/O completed
      flush_io();
      if (auto h = next ? std::exchange(next, nullptr) : queue.take()) {
        stop_searching();
        return h;
      }
    }
    if (rt.stopping.load(std::memory_order_relaxed)) return nullptr;
    if (round == io_rounds || (round % 16 == 0 && clock::now() > give_up)) return nullptr;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }
}

std::coroutine_handle<> worker::find_work() {
  if (bounced) return std::exchange(bounced, nullptr);  // the current task goes on
  // The last task parked or finished (its frame may be gone): the next one names itself
  // when it resumes (parked_task, a root's initial_awaiter), else stays unnamed.
  current_task_ = nullptr;
  if (++tick % housekeeping_interval == 0)
    if (auto h = housekeeping()) return h;
  if (next) return std::exchange(next, nullptr);
  if (auto h = queue.take()) return h;
  run_due_timers();
  // The end of a scheduling round: one io_uring_enter submits every operation the
  // round's tasks started; the completions already there wake their tasks.
  flush_io();
  count_submissions();
  if (next) return std::exchange(next, nullptr);  // woken by an after_fire or an I/O completion
  if (auto h = queue.take()) return h;
  return search();
}

void worker::park() {
  __kernel_timespec timeout{};
  bool has_timeout = false;
  clock::time_point nearest = clock::time_point::max();
  if (timer_count.load(std::memory_order_relaxed) != 0) {  // a hint, as in run_due_timers
    short_lock_guard lock(timer_lock);
    if (!timers.empty()) nearest = timers.front().deadline;
  }
  if (nearest != clock::time_point::max()) {
    const auto wait = nearest - clock::now();
    if (wait <= clock::duration::zero()) return;  // a timer is due: go run it
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(wait).count();
    timeout.tv_sec = ns / 1'000'000'000;
    timeout.tv_nsec = ns % 1'000'000'000;
    has_timeout = true;
  }

  bool deadlock;
  {  // 1. list as idle (and check for a deadlock, see "Deadlock")
    std::lock_guard lock(rt.idle_mu);
    rt.idle.push_back(this);
    idle_listed = true;
    idle_forever = !has_timeout && inflight == 0 && cancel_requests_due == 0;
    rt.idle_count.store(static_cast<unsigned>(rt.idle.size()), std::memory_order_relaxed);  // under idle_mu
    deadlock = idle_forever && rt.everyone_asleep();
    if (deadlock) rt.deadlocked = true;
  }
  if (deadlock) {
    log().debug("every task is asleep: deadlock");
    rt.stop();
  }
  if (searching) {
    searching = false;
    rt.searching_count.fetch_sub(1, std::memory_order_seq_cst);  // StoreLoad before the re-check
  }

  // 2. re-check
  bool work = rt.global_has_work() || rt.stopping.load(std::memory_order_acquire);
  for (std::size_t i = 0; !work && i < rt.workers.size(); ++i) work = rt.workers[i]->queue.size_hint() != 0;

  // 3. wait
  if (!work) {
    io_uring_cqe* cqe = nullptr;
    count_submissions();
    count(parks);
    const int r = io_uring_submit_and_wait_timeout(&ring, &cqe, 1, has_timeout ? &timeout : nullptr, nullptr);
    if (r < 0 && r != -ETIME && r != -EINTR && r != -EAGAIN && r != -EBUSY)
      log().error("io_uring wait failed: {}", std::strerror(-r));
    read_clock();
    process_completions();
  }

  // 4. leave the idle list
  std::lock_guard lock(rt.idle_mu);
  if (idle_listed) {
    rt.idle.erase(std::find(rt.idle.begin(), rt.idle.end(), this));
    idle_listed = false;
    rt.idle_count.store(static_cast<unsigned>(rt.idle.size()), std::memory_order_relaxed);  // under idle_mu
  } else if (woken_searching) {
    woken_searching = false;
    searching = true;  // the waker counted us in searching_count
  }
}

void worker::run_loop() {
  enable_ring(ring);  // created disabled, so that this thread is its issuer (ring_init)
  current_worker = this;
  stack_floor = static_cast<char*>(__builtin_frame_address(0)) - stack_budget;
  read_clock();
  // relaxed: a late view of `stopping` only delays the exit by one task; stop() also
  // wakes every parked worker.
  while (!rt.stopping.load(std::memory_order_relaxed)) {
    if (auto h = find_work())
      h.resume();
    else
      park();
  }
  stop_searching();
  // This worker runs no task any more; before sweep() frees the frames of the tasks
  // waiting on its ring, the kernel must be done with their buffers. On this thread:
  // the ring's only issuer.
  drain_io();
  current_worker = nullptr;
  current_task_ = nullptr;  // goro::run's thread goes on; its last task is gone
  stack_floor = nullptr;
}

// ---------------------------------------------------------------- runtime

runtime::runtime(const config& cfg, unsigned nworkers, std::uint64_t generation_)
    : blocking(cfg.max_blocking_threads), generation(generation_) {
  workers.reserve(nworkers);
  for (unsigned i = 0; i < nworkers; ++i) workers.push_back(std::make_unique<worker>(*this, i, cfg.local_queue_size));
}

runtime::~runtime() = default;

runtime_use::runtime_use() noexcept {
  if (worker* w = current_worker) {
    rt_ = &w->rt;
    return;
  }
  // seq_cst, like run_main's teardown (a clear of the_runtime, then a load of this count):
  // either the teardown sees this increment and waits for it, or the load below sees the
  // cleared pointer (Dekker's pattern; acquire/release alone would allow both to miss).
  foreign_users.fetch_add(1, std::memory_order_seq_cst);
  counted_ = true;
  rt_ = the_runtime.load(std::memory_order_seq_cst);
}

runtime_use::~runtime_use() {
  // release: pairs with the teardown's load, so every use happens before the destruction.
  if (counted_) foreign_users.fetch_sub(1, std::memory_order_release);
}

runtime* runtime::current() noexcept {
  // acquire: pairs with run_main's release store, so the workers are fully built.
  return the_runtime.load(std::memory_order_acquire);
}

void runtime::push_global(std::coroutine_handle<> h) {
  {
    std::lock_guard lock(global_mu_);
    global_.push_back(h);
    global_size_.store(global_.size(), std::memory_order_relaxed);  // under global_mu_
  }
  notify_external();
}

void runtime::push_global_batch(const std::vector<std::coroutine_handle<>>& hs) {
  {
    std::lock_guard lock(global_mu_);
    for (auto h : hs) global_.push_back(h);
    global_size_.store(global_.size(), std::memory_order_relaxed);  // under global_mu_
  }
  notify_external();
}

bool runtime::global_has_work() const noexcept {
  // relaxed: a hint; parkers call it after taking idle_mu, which orders it after the
  // push's own idle_mu section (see "Parking").
  return global_size_.load(std::memory_order_relaxed) != 0;
}

std::coroutine_handle<> runtime::take_global(worker& w) {
  if (!global_has_work()) return nullptr;
  std::lock_guard lock(global_mu_);
  if (global_.empty()) return nullptr;
  // Take a fair share (Go's globrunqget): up to size/nworkers + 1, at most half a deque.
  std::size_t n = std::min(global_.size(), global_.size() / workers.size() + 1);
  n = std::min(n, w.queue.capacity() / 2);
  auto first = global_.pop_front();
  for (std::size_t i = 1; i < n && w.queue.size_hint() < w.queue.capacity(); ++i) w.queue.push(global_.pop_front());
  global_size_.store(global_.size(), std::memory_order_relaxed);  // under global_mu_
  return first;
}

void runtime::notify_local() noexcept {
  // relaxed hints: a missed wake-up costs parallelism, not progress (see "Parking").
  if (idle_count.load(std::memory_order_relaxed) == 0) return;
  if (searching_count.load(std::memory_order_relaxed) != 0) return;
  wake_one();
}

void runtime::notify_external() noexcept {
  // No shortcut on searching_count here: only the idle list read under idle_mu is
  // ordered with a parker's re-check (see "Parking").
  wake_one();
}

void runtime::wake_one() noexcept {
  worker* w;
  {
    std::lock_guard lock(idle_mu);
    if (idle.empty()) return;
    w = idle.back();
    idle.pop_back();
    w->idle_listed = false;
    w->woken_searching = true;
    idle_count.store(static_cast<unsigned>(idle.size()), std::memory_order_relaxed);  // under idle_mu
    // On the woken worker's behalf; acq_rel as every RMW of it (see stop_searching).
    searching_count.fetch_add(1, std::memory_order_acq_rel);
  }
  eventfd_write(w->wake_fd, 1);
}

bool runtime::everyone_asleep() const noexcept {
  if (idle.size() != workers.size()) return false;
  for (const auto& w : workers) {
    if (!w->idle_forever) return false;
    if (w->queue.size_hint() != 0) return false;
    // relaxed: its pushers wake the worker too, which takes it off the idle list.
    if (w->cancel_inbox.load(std::memory_order_relaxed)) return false;
  }
  // seq_cst: see external_handle (lib/trace.cpp).
  return !global_has_work() && external_handles.load(std::memory_order_seq_cst) == 0 &&
         !const_cast<blocking_pool&>(blocking).busy() && !stopping.load(std::memory_order_relaxed);
}

void runtime::stop() noexcept {
  // release: pairs with the acquire re-check in park(); parked workers see it after the
  // eventfd wake-up below.
  stopping.store(true, std::memory_order_release);
  for (auto& w : workers) eventfd_write(w->wake_fd, 1);
}

void runtime::start(root_base& main) {
  // Worker 0 is the calling thread; the others get threads of their own.
  worker& w0 = *workers[0];
  stopper stop_main = make_stopper(*this);
  main.join.store(reinterpret_cast<std::uintptr_t>(stop_main.frame.address()), std::memory_order_relaxed);
  main.trace().id.store(1, std::memory_order_relaxed);  // published by mark_root_live
  main.trace().wait.store(static_cast<std::uint64_t>(wait_kind::runnable), std::memory_order_relaxed);
  mark_root_live(main.frame.address(), &main);
  w0.spawned.store(1, std::memory_order_relaxed);
  w0.queue.push(main.frame);

  for (unsigned i = 1; i < workers.size(); ++i) {
    threads_.emplace_back([this, i] {
      pthread_setname_np(pthread_self(), ("goro-w" + std::to_string(i)).c_str());
      workers[i]->run_loop();
    });
  }
  w0.run_loop();
  for (auto& t : threads_) t.join();
  threads_.clear();
  blocking.shutdown();  // its finished jobs schedule their tasks: before sweep()
  stop_main.frame.destroy();
}

void runtime::sweep(const root_base* main) noexcept {
  // Destroy every unfinished task nobody joins. Destroying one drops the join handles it
  // held, which detaches (or frees) other tasks, so repeat until nothing changes; collect
  // before destroying, since no handle can reach, and so free, a detached task. Joinable
  // tasks are left to their handles, which free them when dropped.
  // Timers first: their nodes live in the frames about to be destroyed.
  for (auto& w : workers) {
    short_lock_guard lock(w->timer_lock);
    w->timers.clear();
    w->timer_count.store(0, std::memory_order_relaxed);  // under timer_lock
  }
  std::vector<root_base*> doomed;
  do {
    doomed.clear();
    for (const live_root& r : live_roots()) {
      auto* root = static_cast<root_base*>(r.root);
      // relaxed: the threads that wrote it were joined. A task whose join word holds its
      // awaiter (neither running, detached nor done) is awaited by a parked task that
      // will never resume, and that awaiter does not touch it when destroyed.
      const std::uintptr_t join = root->join.load(std::memory_order_relaxed);
      if (root != main && (join == root_base::join_detached || join > root_base::join_done)) doomed.push_back(root);
    }
    // Newest first: a task usually gets pointers to its starter's locals, rarely the reverse.
    std::sort(doomed.begin(), doomed.end(), [](root_base* a, root_base* b) {
      return a->trace().id.load(std::memory_order_relaxed) > b->trace().id.load(std::memory_order_relaxed);
    });
    for (root_base* root : doomed) release(*root);
  } while (!doomed.empty());
  for (auto& w : workers) w->next = w->bounced = nullptr;
  std::lock_guard lock(global_mu_);
  global_.clear();
  global_size_.store(0, std::memory_order_relaxed);
}

// ---------------------------------------------------------------- hooks

void submit(root_base& root) {
  const runtime_use use;
  runtime* rt = use.get();
  if (!rt || rt->stopping.load(std::memory_order_relaxed))
    throw std::logic_error("goro::go/goro::spawn called while no goro::run is active (started at " +
                           std::string(root.started_at().file_name()) + ":" +
                           std::to_string(root.started_at().line()) + ")");
  worker* w = current_worker;
  // relaxed, published by mark_root_live's release; the RMW only makes ids unique.
  const std::uint64_t id = w ? w->take_task_id() : rt->next_task_id.fetch_add(1, std::memory_order_relaxed);
  root.trace().id.store(spawning_internal ? id | task_trace::internal_bit : id, std::memory_order_relaxed);
  root.trace().wait.store(static_cast<std::uint64_t>(wait_kind::runnable), std::memory_order_relaxed);
  mark_root_live(root.frame.address(), &root);
  if (w) {
    w->spawned.store(w->spawned.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);  // owner-only
    w->push_local(root.frame);
    rt->notify_local();
  } else {
    rt->external_spawned.fetch_add(1, std::memory_order_relaxed);  // a counter, no ordering needed
    rt->push_global(root.frame);
  }
}

void schedule(std::coroutine_handle<> h) noexcept {
  worker* w = current_worker;
  if (!w) {
    const runtime_use use;
    runtime* rt = use.get();
    if (!rt) {
      log().critical("goro: a task was woken after goro::run returned; it is dropped");
      return;
    }
    rt->push_global(h);
    return;
  }
  if (w->next) {
    w->push_local(w->next);
    w->rt.notify_local();
  }
  w->next = h;
}

std::coroutine_handle<> finish_root(root_base& root) noexcept {
  if (worker* w = current_worker)
    w->finished.store(w->finished.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);  // owner-only
  root.note_finished();
  // A detached task has no handle left to write the state, so its state is final: read
  // it without the exchange (goro::go's tasks always take this path). acquire: pairs
  // with the release of a handle that was dropped.
  std::uintptr_t old = root.join.load(std::memory_order_acquire);
  if (old != root_base::join_detached)
    // acq_rel: release publishes the result to the joiner (its acquire in join_handle);
    // acquire pairs with the joiner's release CAS that stored its own address.
    old = root.join.exchange(root_base::join_done, std::memory_order_acq_rel);
  if (old == root_base::join_detached) {
    if (root.error) report_panic(root.error, root.started_at());
    release(root);
    return std::noop_coroutine();
  }
  if (old == root_base::join_running) return std::noop_coroutine();  // the handle collects it
  return transfer(std::coroutine_handle<>::from_address(reinterpret_cast<void*>(old)));
}

void release(root_base& root) noexcept { root.frame.destroy(); }

std::coroutine_handle<> bounce(std::coroutine_handle<> h) noexcept {
  current_worker->bounced = h;
  return std::noop_coroutine();
}

void timer_add(timer_node& t) {
  worker* w = current_worker;
  if (!w) throw std::logic_error("goro: a timer (sleep_for, sleep_until, after) awaited outside a goro task");
  short_lock_guard lock(w->timer_lock);
  t.owner.store(w, std::memory_order_relaxed);  // see timer_node::owner
  w->timers.push(t);
  w->timer_count.store(w->timers.size(), std::memory_order_relaxed);  // under timer_lock
}

bool timer_cancel(timer_node& t) noexcept {
  // acquire: pairs with run_due_timers' release; see timer_node::owner.
  auto* w = static_cast<worker*>(t.owner.load(std::memory_order_acquire));
  if (!w) return false;  // fired, or goro::run ended
  short_lock_guard lock(w->timer_lock);
  if (t.heap_index == timer_node::not_queued) return false;  // fired (its fire() has returned) or removed
  w->timers.remove(t);
  t.owner.store(nullptr, std::memory_order_relaxed);  // see timer_node::owner
  w->timer_count.store(w->timers.size(), std::memory_order_relaxed);  // under timer_lock
  return true;
}

// A write to a pipe or socket whose reader is gone raises SIGPIPE, whose default action
// kills the process; goro reports it as an error value instead (std::errc::broken_pipe).
// Sockets are written with MSG_NOSIGNAL; a file that is a pipe has no such flag, so goro
// ignores SIGPIPE for the process, as Go does (Go still dies of it on fds 1 and 2; goro
// returns the error there too). A handler the program installed is left alone.
void ignore_sigpipe() noexcept {
  struct sigaction current {};
  if (sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL &&
      !(current.sa_flags & SA_SIGINFO))
    signal(SIGPIPE, SIG_IGN);
}

void run_main(const config& cfg, root_base& main) {
  bool main_alive = true;
  try {
    if (current_worker || runtime::current())
      throw std::logic_error("goro::run called while a goro::run is already active; start tasks with goro::go or "
                             "goro::spawn instead");
    const unsigned n = cfg.maxprocs ? cfg.maxprocs : default_maxprocs();
    const unsigned q = cfg.local_queue_size;
    if (q < 2 || (q & (q - 1)) != 0)
      throw config_error("goro::config::local_queue_size must be a power of two >= 2, got " + std::to_string(q));
    if (cfg.max_blocking_threads == 0) throw config_error("goro::config::max_blocking_threads must be at least 1");
    configure_logging();
    ignore_sigpipe();
    // relaxed: only distinct values matter; runs are not concurrent (checked below).
    runtime rt(cfg, n, run_generation.fetch_add(1, std::memory_order_relaxed) + 1);
    runtime* expected = nullptr;
    // release: publishes the constructed runtime to current(); acq on failure: unused.
    if (!the_runtime.compare_exchange_strong(expected, &rt, std::memory_order_release, std::memory_order_relaxed))
      throw std::logic_error("goro::run called from two threads at once; one runtime per process");
    struct clear_runtime {
      ~clear_runtime() {
        // seq_cst store and load: see runtime_use. After the wait no other thread can
        // reach the runtime.
        the_runtime.store(nullptr, std::memory_order_seq_cst);
        while (foreign_users.load(std::memory_order_seq_cst) != 0) std::this_thread::yield();
      }
    } on_exit;
    const sigquit_dump dump_on_sigquit(cfg.dump_on_sigquit);
    rt.start(main);

    // The workers stopped: no task runs, every record is stable.
    if (rt.deadlocked) {
      std::vector<task_info> tasks = collect_tasks(nullptr);
      // The other tasks first: they may use objects in main's frame.
      rt.sweep(&main);
      main_alive = false;
      release(main);
      rt.sweep(nullptr);  // the tasks main's join handles detached
      throw deadlock_error(std::move(tasks));
    }
    std::vector<task_info> leaked;
    if (cfg.leak_check != config::leak_mode::off) leaked = collect_tasks(main.frame.address());
    const std::string summary = leaked.empty() ? std::string() : summarize_leaks(leaked);
    // With fail the error carries it, unless main's own exception takes precedence.
    if (!leaked.empty() && (cfg.leak_check == config::leak_mode::warn || main.error)) log().warn("{}", summary);
    rt.sweep(&main);
    if (!leaked.empty() && cfg.leak_check == config::leak_mode::fail && !main.error)
      throw leak_error(summary, std::move(leaked));
  } catch (...) {
    if (main_alive) release(main);
    throw;
  }
}

}  // namespace goro::detail

// ---------------------------------------------------------------- public API

namespace goro {

unsigned maxprocs() {
  const detail::runtime_use use;
  if (auto* rt = use.get()) return static_cast<unsigned>(rt->workers.size());
  return detail::default_maxprocs();
}

std::size_t num_tasks() noexcept {
  const detail::runtime_use use;
  auto* rt = use.get();
  if (!rt) return 0;
  // relaxed: counters; the sum is exact once the runtime is quiet.
  std::int64_t n = rt->external_spawned.load(std::memory_order_relaxed);
  for (auto& w : rt->workers)
    n += w->spawned.load(std::memory_order_relaxed) - w->finished.load(std::memory_order_relaxed);
  return n > 0 ? static_cast<std::size_t>(n) : 0;
}

void yield_awaiter::await_suspend(std::coroutine_handle<> self) {
  parked.park(detail::wait_kind::runnable, nullptr, 0, {});
  const detail::runtime_use use;
  detail::runtime* rt = use.get();
  if (!rt) throw std::logic_error("goro::yield awaited outside goro::run");
  rt->push_global(self);
}

}  // namespace goro
