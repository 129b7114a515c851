// goro::signal_notify (include/goro/signal.hpp): Go's signal.Notify over a signalfd.
//
// How a signal reaches the channels
//   1. signal_notify blocks the signals in the calling thread (pthread_sigmask), adds them
//      to the process's one signalfd (signalfd(2) on the existing descriptor replaces its
//      mask with the union of every watched signal) and installs, once per signal, the
//      handler `forward` (SA_SIGINFO | SA_RESTART).
//   2. A signal sent to the process goes to a thread that does not block it, if any: a
//      worker, the thread in goro::run, a goro::blocking thread, a user's thread. There
//      `forward` adds the signal to the interrupted thread's saved mask
//      (ucontext_t::uc_sigmask, restored by sigreturn), so that thread blocks it from now
//      on, and writes the signal's number into the forwarding pipe (one byte,
//      write(2) is async-signal-safe; the pipe is non-blocking on the write side, so a
//      full pipe drops the byte instead of blocking a thread inside a handler).
//   3. Once every thread blocks it, a signal stays pending for the process and the
//      signalfd returns it.
//   4. Two reader tasks, started by the first signal_notify of a goro::run, read the
//      signalfd (struct signalfd_siginfo, several at a time) and the pipe (bytes) through
//      their worker's ring, and try_send each number to every subscription watching it
//      (capacity 16; dropped when full, as Go's signal.Notify drops).
//
// Rejected: `forward` re-sending the signal to the process with kill(getpid(), signo)
// instead of writing to a pipe, so that the signalfd is the only route. That relies on
// the write to uc_sigmask taking effect, and ThreadSanitizer breaks it: TSan runs a
// handler later, at a safe point outside the kernel's signal frame, with a copy of the
// ucontext, so the thread never blocks the signal and gets it back from its own kill().
// In a TSan build of a two-thread experiment, 5 signals made the handler run 2616 times
// in a loop that burns a core and reaches the signalfd only when a read wins the race.
// The pipe needs no mask change to make progress; the mask change only spares threads
// further interruptions.
//
// Process-directed signals (kill(2), the terminal's SIGINT, a service manager's SIGTERM)
// are what this is for. A signal sent to one thread (pthread_kill, tgkill) that blocks it
// stays pending on that thread: the signalfd read dequeues the reading worker's own and
// the process's signals only.
//
// Blocking mode: the signalfd and the pipe's read end are blocking descriptors. io_uring
// polls a descriptor that supports non-blocking attempts and hands the read to an io-wq
// thread otherwise; a read on an O_NONBLOCK descriptor of a kind that does not support
// them would instead complete with EAGAIN.
//
// Runs
//   The reader tasks end with goro::run (their frames are destroyed when it ends). Each
//   holds a reader_token; when the last token goes, the subscriptions are dropped, so the
//   first signal_notify of the next goro::run starts with none and starts new readers.
//   The signals stay blocked in the threads that blocked them, the handlers stay
//   installed, and the signalfd and the pipe stay open for the life of the process: a
//   signal arriving between two runs waits (pending, or in the pipe) and is delivered by
//   the next run's readers to its subscriptions watching it. Nothing restores a signal's
//   default action (signal.hpp has no Reset).
//
// The reader tasks are goro's own, not the program's: they are started as such
// (detail::internal_spawns), so goro::task_snapshot, goro::dump_tasks, the deadlock
// message and the leak report leave them out.
//
// Lock: registry::mu is a leaf: nothing is called under it but system calls, and the
// channels are sent to after it is released.
#include "goro/signal.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "goro/io.hpp"
#include "goro/spawn.hpp"
#include "log.hpp"
#include "runtime.hpp"

namespace goro {

namespace {

// Capacity of each channel signal_notify returns (signal.hpp's contract). Go's
// documentation finds a buffer of 1 enough for one signal; 16 leaves room for a burst of
// different ones.
constexpr int channel_capacity = 16;

// The write end of the forwarding pipe, -1 until the first signal_notify makes it.
// Written once, under registry::mu, before any handler is installed; read by `forward`
// in any thread, inside a signal handler: a lock-free atomic is async-signal-safe.
std::atomic<int> forward_fd{-1};
static_assert(std::atomic<int>::is_always_lock_free);

// The handler (step 2 at the top).
void forward(int signo, siginfo_t*, void* context) {
  const int saved = errno;
  sigaddset(&static_cast<ucontext_t*>(context)->uc_sigmask, signo);
  const auto byte = static_cast<unsigned char>(signo);  // signal numbers are < 65
  // acquire: pairs with the release store in signal_notify (the pipe exists).
  const ssize_t written = ::write(forward_fd.load(std::memory_order_acquire), &byte, 1);
  static_cast<void>(written);  // full pipe: dropped, as a full channel would drop it
  errno = saved;
}

struct subscription {
  sigset_t signals;
  chan<int> ch;
};

// Process-wide, never destroyed (a reader frame destroyed by a late goro::run teardown,
// or a signal_notify during static destruction, must still find it).
struct registry {
  registry() { sigemptyset(&watched); }

  std::mutex mu;
  // ---- under mu ----
  sigset_t watched;        // every signal ever watched: the signalfd's mask, handler installed
  int signal_fd = -1;      // made by the first signal_notify, never closed
  int pipe_read_fd = -1;   // likewise; forward_fd is its write end
  int readers = 0;         // live reader tokens: 2 while this run's readers live (1 if
                           // one stopped on an error, logged), 0 between runs
  std::vector<subscription> subs;  // this run's; dropped when the readers end
};

registry& the_registry() {
  static registry* const r = new registry();
  return *r;
}

// Held by each reader task (a parameter: destroyed with the frame even if the task never
// ran). The last one dropped ends the run's subscriptions.
class reader_token {
 public:
  reader_token() noexcept = default;
  static reader_token counted() noexcept {  // the caller has counted it in registry::readers
    reader_token t;
    t.live_ = true;
    return t;
  }
  reader_token(reader_token&& other) noexcept : live_(std::exchange(other.live_, false)) {}
  reader_token& operator=(reader_token&&) = delete;
  ~reader_token() {
    if (!live_) return;
    std::vector<subscription> dropped;  // released after the lock
    registry& r = the_registry();
    std::lock_guard lock(r.mu);
    if (--r.readers == 0) dropped.swap(r.subs);
  }

 private:
  bool live_ = false;
};

void deliver(int signo) {
  std::vector<chan<int>> targets;
  {
    registry& r = the_registry();
    std::lock_guard lock(r.mu);
    for (const subscription& s : r.subs)
      if (sigismember(&s.signals, signo) == 1) targets.push_back(s.ch);
  }
  for (const chan<int>& ch : targets) static_cast<void>(ch.try_send(signo));  // full: dropped, as in Go
}

void reader_failed(const char* what, std::error_code err) {
  goro::detail::log().error(
      "goro::signal_notify: reading the {} failed: {}; signals it carries are no longer delivered", what,
      err.message());
}

task<> read_signalfd(reader_token token, int fd) {
  static_cast<void>(token);  // held for its destructor
  signalfd_siginfo infos[8];
  for (;;) {
    detail::io_bytes op({IORING_OP_READ, fd, reinterpret_cast<std::uintptr_t>(infos), sizeof infos, ~std::uint64_t{0}},
                        std::source_location::current());
    auto [n, err] = co_await op;
    if (err) {
      reader_failed("signalfd", err);
      co_return;
    }
    for (std::size_t i = 0; i < n / sizeof(signalfd_siginfo); ++i) deliver(static_cast<int>(infos[i].ssi_signo));
  }
}

task<> read_pipe(reader_token token, int fd) {
  static_cast<void>(token);  // held for its destructor
  unsigned char signos[64];
  for (;;) {
    detail::io_bytes op(
        {IORING_OP_READ, fd, reinterpret_cast<std::uintptr_t>(signos), sizeof signos, ~std::uint64_t{0}},
        std::source_location::current());
    auto [n, err] = co_await op;
    if (err || n == 0) {  // 0: end of file, impossible while forward_fd stays open
      reader_failed("signal forwarding pipe", err ? err : std::make_error_code(std::errc::broken_pipe));
      co_return;
    }
    for (std::size_t i = 0; i < n; ++i) deliver(signos[i]);
  }
}

[[noreturn]] void throw_errno(const char* what) { throw std::system_error(errno, std::system_category(), what); }

}  // namespace

recv_chan<int> signal_notify(std::initializer_list<int> signals) {
  if (!detail::runtime::current()) throw std::logic_error("goro::signal_notify called outside goro::run");
  sigset_t set;
  sigemptyset(&set);
  for (const int signo : signals) {
    // sigaddset refuses numbers out of range and glibc's internal signals (32, 33).
    if (signo == SIGKILL || signo == SIGSTOP || sigaddset(&set, signo) != 0)
      throw std::invalid_argument("goro::signal_notify: signal " + std::to_string(signo) + " cannot be caught");
  }
  chan<int> ch(channel_capacity);
  // Step 1: the calling thread at once; every other thread as the signal reaches it.
  if (const int rc = pthread_sigmask(SIG_BLOCK, &set, nullptr); rc != 0)
    throw std::system_error(rc, std::system_category(), "goro::signal_notify: pthread_sigmask");

  registry& r = the_registry();
  int signal_fd, pipe_fd;
  bool start_readers = false;
  {
    std::lock_guard lock(r.mu);
    if (r.pipe_read_fd < 0) {
      int fds[2];
      if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno("goro::signal_notify: pipe2");
      // The handler's end must never block; the reader's end stays blocking (see the top).
      if (::fcntl(fds[1], F_SETFL, O_NONBLOCK) != 0) {
        const int e = errno;
        ::close(fds[0]);
        ::close(fds[1]);
        throw std::system_error(e, std::system_category(), "goro::signal_notify: fcntl");
      }
      r.pipe_read_fd = fds[0];
      forward_fd.store(fds[1], std::memory_order_release);  // see forward()
    }
    sigset_t next;
    sigorset(&next, &r.watched, &set);
    const int fd = ::signalfd(r.signal_fd, &next, r.signal_fd < 0 ? SFD_CLOEXEC : 0);
    if (fd < 0) throw_errno("goro::signal_notify: signalfd");
    r.signal_fd = fd;
    struct sigaction action {};
    action.sa_sigaction = forward;
    action.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&action.sa_mask);
    for (int signo = 1; signo < NSIG; ++signo) {
      if (sigismember(&set, signo) != 1 || sigismember(&r.watched, signo) == 1) continue;
      if (::sigaction(signo, &action, nullptr) != 0) throw_errno("goro::signal_notify: sigaction");
      sigaddset(&r.watched, signo);
    }
    r.subs.push_back({set, ch});
    if (r.readers == 0) {  // the first call of this goro::run
      r.readers = 2;
      start_readers = true;
    }
    signal_fd = r.signal_fd;
    pipe_fd = r.pipe_read_fd;
  }
  if (start_readers) {
    // Outside the lock: a token that does not make it into a task (goro::go threw) is
    // destroyed here and uncounts itself.
    auto first = reader_token::counted(), second = reader_token::counted();
    const detail::internal_spawns ours;
    goro::go(read_signalfd, std::move(first), signal_fd);
    goro::go(read_pipe, std::move(second), pipe_fd);
  }
  return ch;
}

}  // namespace goro
