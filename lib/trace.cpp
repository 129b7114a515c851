// goro/debug.hpp: task snapshots and dumps, the leak summary, runtime stats, external
// handles, and the SIGQUIT dump.
//
// Reading a task's record while it runs (collect_tasks): the live roots come from the
// frame pool's slabs (live_roots). A root found there may finish, and its block be freed
// and reused, while we read its trace: the trace is in the block's header, which is only
// ever accessed atomically and never unmapped, so the read is safe; it may be torn. So
// read the id, then the rest, then the root and the id again (every load an acquire, so
// none moves after the re-check): a record whose root or id changed is skipped, as a
// seqlock's reader retries. An id is never reused, so an unchanged id means the same task.
#include "trace.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spdlog/fmt/fmt.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <ostream>
#include <sstream>
#include <tuple>

#include "log.hpp"
#include "runtime.hpp"

namespace goro {
namespace detail {
namespace {

constexpr const char* wait_names[wait_kind_count] = {
    "running", "runnable", "finished", "chan recv", "chan send", "select", "mutex", "rwmutex lock",
    "rwmutex rlock", "wait_group", "semaphore", "once", "sleep", "context done", "join", "io read",
    "io write", "io accept", "io connect", "io", "blocking",
};

std::int64_t coarse_now_ns() noexcept {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &now);  // the clock worker_clock_ns comes from
  return now.tv_sec * 1'000'000'000 + now.tv_nsec;
}

std::string describe_wait(wait_kind kind, const void* object, std::uint64_t n) {
  switch (kind) {
    case wait_kind::chan_recv:
    case wait_kind::chan_send:
      return fmt::format("chan {} (capacity {})", object, n);
    case wait_kind::select:
      return fmt::format("{} cases", n);
    case wait_kind::semaphore:
      return fmt::format("semaphore {} (weight {})", object, n);
    case wait_kind::mutex:
    case wait_kind::rwmutex_lock:
    case wait_kind::rwmutex_rlock:
    case wait_kind::wait_group:
    case wait_kind::once:
    case wait_kind::context_done:
      return fmt::format("{}", object);
    case wait_kind::sleep:
      return fmt::format("for {} ms", n);
    case wait_kind::join:
      return fmt::format("task {}", n);
    case wait_kind::io_read:
    case wait_kind::io_write:
    case wait_kind::io_accept:
    case wait_kind::io_connect:
    case wait_kind::io:
      return n != 0 || kind != wait_kind::io ? fmt::format("fd {}", n) : std::string();  // open has no fd yet
    default:
      return {};
  }
}

// Reads one record; false if it is not a live user task, or changed under us.
bool read_task(const live_root& r, std::int64_t now, task_info& out) {
  const task_trace& t = r.header->trace;
  // acquire on each load (a plain load on x86): no later load moves before it, so the
  // re-check of root and id comes after every read of the record (a fence would do the
  // same, but ThreadSanitizer does not support fences). See the top of this file.
  constexpr auto order = std::memory_order_acquire;
  const std::uint64_t id = t.id.load(order);
  const std::uint64_t wait = t.wait.load(order);
  const void* object = t.object.load(order);
  const std::source_location site = t.site.load(order);
  const std::int64_t since = t.since.load(order);
  const std::source_location started = t.started_at.load(order);
  if (r.header->root.load(order) != r.root || t.id.load(order) != id) return false;
  const auto kind = static_cast<wait_kind>(wait & 0xff);
  if (id == 0 || (id & task_trace::internal_bit) || kind == wait_kind::finished ||
      static_cast<int>(kind) >= wait_kind_count)
    return false;
  out.id = id;
  out.started_at = started;
  if (kind == wait_kind::running || kind == wait_kind::runnable) {
    out.state = kind == wait_kind::running ? task_state::running : task_state::runnable;
    return true;
  }
  out.state = task_state::parked;
  out.waiting_on = wait_names[static_cast<int>(kind)];
  out.waiting_detail = describe_wait(kind, object, wait >> 8);
  out.parked_for = std::chrono::nanoseconds(std::max<std::int64_t>(0, now - since));
  out.wait_site = site;
  return true;
}

std::string where(const std::source_location& at) {
  if (at.line() == 0) return "an unknown line";
  return fmt::format("{}:{} in {}", at.file_name(), at.line(), at.function_name());
}

std::string short_where(const std::source_location& at) { return fmt::format("{}:{}", at.file_name(), at.line()); }

std::string format_duration(std::chrono::nanoseconds d) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  if (ms < 1000) return fmt::format("{} ms", ms);
  if (ms < 120'000) return fmt::format("{:.1f} s", static_cast<double>(ms) / 1000);
  return fmt::format("{} minutes", ms / 60'000);
}

}  // namespace

std::vector<task_info> collect_tasks(const void* skip_frame) {
  std::vector<task_info> tasks;
  const std::int64_t now = coarse_now_ns();
  for (const live_root& r : live_roots()) {
    if (skip_frame && r.header == &header_of(const_cast<void*>(skip_frame))) continue;
    task_info info;
    if (read_task(r, now, info)) tasks.push_back(std::move(info));
  }
  std::sort(tasks.begin(), tasks.end(), [](const task_info& a, const task_info& b) { return a.id < b.id; });
  return tasks;
}

// ---------------------------------------------------------------- SIGQUIT

namespace {

// The write end of the running sigquit_dump's pipe, for the handler; -1 when none.
// relaxed: the handler runs on some thread of this process after sigaction installed it,
// and sigaction orders the store before the handler can run.
std::atomic<int> sigquit_pipe{-1};

void on_sigquit(int) {
  const int saved = errno;
  const char byte = 'q';
  [[maybe_unused]] const ssize_t ignored = write(sigquit_pipe.load(std::memory_order_relaxed), &byte, 1);
  errno = saved;
}

}  // namespace

sigquit_dump::sigquit_dump(bool wanted) {
  if (!wanted) return;
  struct sigaction current {};
  if (sigaction(SIGQUIT, nullptr, &current) != 0 || current.sa_handler != SIG_DFL || (current.sa_flags & SA_SIGINFO))
    return;  // the program handles SIGQUIT itself (or ignores it): leave it alone
  if (pipe2(pipe_, O_CLOEXEC | O_NONBLOCK) != 0) {
    log().warn("SIGQUIT task dumps are off: cannot create a pipe: {}", std::strerror(errno));
    return;
  }
  fcntl(pipe_[0], F_SETFL, 0);  // the dumping thread blocks on the read end
  sigquit_pipe.store(pipe_[1], std::memory_order_relaxed);
  // The thread starts with every signal blocked, so the process's signals go to the
  // threads that wait for them (signal_notify's), not to this one.
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  thread_ = std::thread([fd = pipe_[0]] {
    pthread_setname_np(pthread_self(), "goro-sigquit");
    char byte;
    while (read(fd, &byte, 1) == 1 && byte == 'q') {
      std::fputs("SIGQUIT: goro task dump\n", stderr);
      std::ostringstream out;
      goro::dump_tasks(out);
      std::fputs(out.str().c_str(), stderr);
      std::fflush(stderr);
    }
  });
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  struct sigaction action {};
  action.sa_handler = on_sigquit;
  action.sa_flags = SA_RESTART;
  sigemptyset(&action.sa_mask);
  sigaction(SIGQUIT, &action, nullptr);
  installed_ = true;
}

sigquit_dump::~sigquit_dump() {
  if (!installed_) return;
  struct sigaction current {};
  // Back to the default, unless the program installed its own meanwhile (signal_notify).
  if (sigaction(SIGQUIT, nullptr, &current) == 0 && current.sa_handler == on_sigquit) signal(SIGQUIT, SIG_DFL);
  sigquit_pipe.store(-1, std::memory_order_relaxed);
  const char stop = 's';
  [[maybe_unused]] const ssize_t ignored = write(pipe_[1], &stop, 1);
  thread_.join();
  close(pipe_[0]);
  close(pipe_[1]);
}

}  // namespace detail

// ---------------------------------------------------------------- public API

std::vector<task_info> task_snapshot() {
  const detail::runtime_use use;
  if (!use.get()) return {};
  return detail::collect_tasks(nullptr);
}

void dump_tasks(std::ostream& out, const std::vector<task_info>& tasks) {
  for (const task_info& t : tasks) {
    switch (t.state) {
      case task_state::running:
        out << fmt::format("task {} [running]:\n", t.id);
        break;
      case task_state::runnable:
        out << fmt::format("task {} [runnable]:\n", t.id);
        break;
      case task_state::parked:
        out << fmt::format("task {} [{}, {}]:\n", t.id, t.waiting_on, detail::format_duration(t.parked_for));
        out << "    waiting at " << detail::where(t.wait_site);
        if (!t.waiting_detail.empty()) out << ": " << t.waiting_detail;
        out << '\n';
        break;
    }
    out << "    started at " << detail::where(t.started_at) << "\n\n";
  }
}

void dump_tasks(std::ostream& out) { dump_tasks(out, task_snapshot()); }

std::string summarize_leaks(const std::vector<task_info>& tasks) {
  // (start site, what, wait site) -> count; the what: the wait kind, or the state.
  using key = std::tuple<std::string, std::string, std::string>;
  std::map<key, std::size_t> groups;
  for (const task_info& t : tasks) {
    std::string what, site;
    if (t.state == task_state::parked) {
      what = "parked on " + std::string(t.waiting_on);
      if (t.wait_site.line() != 0) site = detail::short_where(t.wait_site);
    } else {
      what = t.state == task_state::runnable ? "runnable (never ran, or yielded)" : "running";
    }
    ++groups[{detail::short_where(t.started_at), std::move(what), std::move(site)}];
  }
  std::vector<std::pair<key, std::size_t>> sorted(groups.begin(), groups.end());
  // Largest first, then by key: a total order, so the text is the same every time.
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.second != b.second ? a.second > b.second : a.first < b.first; });
  std::string text = fmt::format("{} task{} still alive when the main task returned (destroyed; see goro::config::leak_check):",
                                 tasks.size(), tasks.size() == 1 ? " was" : "s were");
  for (const auto& [k, n] : sorted) {
    const auto& [start, what, site] = k;
    text += fmt::format("\n  {} task{} started at {} {}", n, n == 1 ? "" : "s", start, what);
    if (!site.empty()) text += " at " + site;
  }
  return text;
}

runtime_stats stats() {
  const detail::runtime_use use;
  detail::runtime* rt = use.get();
  runtime_stats s;
  if (!rt) return s;
  // relaxed: counters, each written by one worker; a recent value is all a reader needs.
  std::int64_t spawned = rt->external_spawned.load(std::memory_order_relaxed), finished = 0;
  for (const auto& w : rt->workers) {
    spawned += w->spawned.load(std::memory_order_relaxed);
    finished += w->finished.load(std::memory_order_relaxed);
    s.workers.push_back({w->steals.load(std::memory_order_relaxed), w->parks.load(std::memory_order_relaxed),
                         w->wakeups.load(std::memory_order_relaxed), w->io_submissions.load(std::memory_order_relaxed),
                         w->io_completions.load(std::memory_order_relaxed), w->queue.size_hint()});
  }
  s.tasks_spawned = static_cast<std::uint64_t>(spawned);
  s.tasks_completed = static_cast<std::uint64_t>(finished);
  s.tasks_live = spawned > finished ? static_cast<std::size_t>(spawned - finished) : 0;
  s.global_queue = rt->global_size();
  return s;
}

// ---------------------------------------------------------------- external_handle

// The count is seq_cst on both sides, like runtime_use's: a handle dropped after its
// thread's last wake-up is seen dropped only by a check that also sees that wake-up (see
// "Deadlock" in lib/runtime.cpp). A handle is tied to its run by the run's generation,
// so one that outlives its goro::run never touches a later run's count.
external_handle::external_handle() {
  const detail::runtime_use use;
  detail::runtime* rt = use.get();
  if (!rt) throw std::logic_error("goro::external_handle created while no goro::run is active");
  rt->external_handles.fetch_add(1, std::memory_order_seq_cst);
  generation_ = rt->generation;
}

external_handle& external_handle::operator=(external_handle&& other) noexcept {
  if (this != &other) {
    release();
    generation_ = std::exchange(other.generation_, 0);
  }
  return *this;
}

external_handle::~external_handle() { release(); }

void external_handle::release() noexcept {
  if (generation_ == 0) return;
  const detail::runtime_use use;
  detail::runtime* rt = use.get();
  if (rt && rt->generation == generation_ && rt->external_handles.fetch_sub(1, std::memory_order_seq_cst) == 1)
    rt->wake_one();  // an idle worker parks again and repeats the deadlock check
  generation_ = 0;
}

// ---------------------------------------------------------------- errors

namespace {
std::string deadlock_message(const std::vector<task_info>& tasks) {
  std::ostringstream out;
  out << "all tasks are asleep - deadlock!\n\n";
  dump_tasks(out, tasks);
  return out.str();
}
}  // namespace

deadlock_error::deadlock_error(std::vector<task_info> tasks)
    : std::runtime_error(deadlock_message(tasks)), tasks_(std::move(tasks)) {}

leak_error::leak_error(const std::string& summary, std::vector<task_info> tasks)
    : std::runtime_error(summary), tasks_(std::move(tasks)) {}

}  // namespace goro
