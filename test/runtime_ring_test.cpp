// Tests for io_uring set-up failures (lib/ring.cpp): when the kernel refuses
// io_uring_setup, goro::run throws goro::config_error whose message names io_uring, the
// cause and the fix, instead of crashing or hanging.
//
// How a refusal is produced
//   1. fork(); the child has not run any runtime yet (nor has the parent: no test here
//      starts one outside a child), so it is single-threaded.
//   2. The child installs a seccomp BPF filter (PR_SET_NO_NEW_PRIVS, then
//      PR_SET_SECCOMP/SECCOMP_MODE_FILTER): wrong architecture -> kill; io_uring_setup ->
//      the chosen errno; every other syscall allowed.
//   3. The child calls goro::run and writes what happened to a pipe: "config_error: " and
//      the message, or another outcome; then _exit (no atexit handlers, no doctest).
//   4. The parent reads the pipe to EOF with a 30 s poll deadline (on expiry it kills the
//      child), then waitpid: every wait is bounded. It asserts the child exited with
//      status 0 and checks the message.
// A control child without the filter runs goro::run normally, so a failure in the
// harness itself cannot pass for a refusal.
#include <doctest/doctest.h>

#include <goro/goro.hpp>

#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstring>
#include <string>

#if defined(__x86_64__)
#define GORO_TEST_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define GORO_TEST_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

namespace {

// The outcome of goro::run in a forked child.
struct child_result {
  bool exited = false;  // exited normally (not killed, not timed out)
  int status = -1;      // its exit status when it did
  std::string report;   // what it wrote to the pipe
};

#ifdef GORO_TEST_AUDIT_ARCH
// Makes io_uring_setup fail with `error` in the calling process; returns false (errno
// set) if the filter could not be installed.
bool refuse_io_uring_setup(int error) {
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, GORO_TEST_AUDIT_ARCH, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (static_cast<unsigned>(error) & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog program{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
  return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) == 0;
}
#endif

void write_all(int fd, const std::string& s) {
  std::size_t done = 0;
  while (done < s.size()) {
    const ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<std::size_t>(n);
  }
}

// The child's side: optionally refuse io_uring_setup with `error` (0: no filter), run a
// one-worker runtime, report the outcome on `fd`, exit.
[[noreturn]] void child_main(int fd, int error) {
#ifdef GORO_TEST_AUDIT_ARCH
  if (error != 0 && !refuse_io_uring_setup(error)) {
    write_all(fd, std::string("harness: cannot install the seccomp filter: ") + std::strerror(errno));
    _exit(3);
  }
#endif
  try {
    const int r = goro::run(goro::config{.maxprocs = 1}, [] { return 5; });
    write_all(fd, "ran: " + std::to_string(r));
  } catch (const goro::config_error& e) {
    write_all(fd, std::string("config_error: ") + e.what());
  } catch (const std::exception& e) {
    write_all(fd, std::string("other exception: ") + e.what());
  } catch (...) {
    write_all(fd, "unknown exception");
  }
  _exit(0);
}

// Forks a child running child_main(error) and collects its report within 30 s.
child_result run_in_child(int error) {
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    child_main(fds[1], error);
  }
  ::close(fds[1]);

  child_result result;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  bool timed_out = false;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) {
      timed_out = true;
      break;
    }
    char buf[4096];
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF: the child exited (or closed the pipe)
    result.report.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  pid_t w;
  do w = ::waitpid(pid, &status, 0);
  while (w < 0 && errno == EINTR);
  REQUIRE(w == pid);
  result.exited = !timed_out && WIFEXITED(status);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (timed_out) result.report += " [timed out after 30 s: killed]";
  if (WIFSIGNALED(status)) result.report += " [killed by signal " + std::to_string(WTERMSIG(status)) + "]";
  return result;
}

bool contains(const std::string& haystack, const char* needle) { return haystack.find(needle) != std::string::npos; }

// Runs goro::run in a child where io_uring_setup fails with `error`; returns the
// config_error's message after checking the child failed fast and cleanly.
std::string refusal_message(int error) {
  const child_result r = run_in_child(error);
  INFO("child report: " << r.report);
  CHECK(r.exited);
  CHECK(r.status == 0);
  REQUIRE(contains(r.report, "config_error: "));
  return r.report.substr(std::strlen("config_error: "));
}

}  // namespace

#ifdef GORO_TEST_AUDIT_ARCH

// Intent: the harness works: an unfiltered child runs goro::run to completion.
TEST_CASE("control: without the seccomp filter goro::run works in the child") {
  const child_result r = run_in_child(0);
  INFO("child report: " << r.report);
  CHECK(r.exited);
  CHECK(r.status == 0);
  CHECK(r.report == "ran: 5");
}

// Intent: EPERM (io_uring disabled by sysctl or by a seccomp profile) names io_uring,
// EPERM, both causes and the fixes.
TEST_CASE("io_uring_setup refused with EPERM: config_error names the sysctl and seccomp") {
  const std::string message = refusal_message(EPERM);
  INFO(message);
  CHECK(contains(message, "io_uring"));
  CHECK(contains(message, "EPERM"));
  CHECK(contains(message, "kernel.io_uring_disabled"));
  CHECK(contains(message, "seccomp"));
  CHECK(contains(message, "Fix"));
}

// Intent: ENOSYS (no io_uring in this kernel) names io_uring, ENOSYS and the fix.
TEST_CASE("io_uring_setup refused with ENOSYS: config_error says the kernel lacks io_uring") {
  const std::string message = refusal_message(ENOSYS);
  INFO(message);
  CHECK(contains(message, "io_uring"));
  CHECK(contains(message, "ENOSYS"));
  CHECK(contains(message, "kernel"));
  CHECK(contains(message, "Fix"));
}

// Intent: ENOMEM (rings charged to RLIMIT_MEMLOCK on old kernels) names io_uring, ENOMEM
// and the fix, `ulimit -l`.
TEST_CASE("io_uring_setup refused with ENOMEM: config_error points at ulimit -l") {
  const std::string message = refusal_message(ENOMEM);
  INFO(message);
  CHECK(contains(message, "io_uring"));
  CHECK(contains(message, "ENOMEM"));
  CHECK(contains(message, "ulimit -l"));
  CHECK(contains(message, "Fix"));
}

// Intent: EMFILE (out of descriptors) points at `ulimit -n`; an errno without a
// dedicated message still names io_uring and the errno.
TEST_CASE("io_uring_setup refused with EMFILE or an unexpected errno: config_error still explains") {
  const std::string emfile = refusal_message(EMFILE);
  INFO(emfile);
  CHECK(contains(emfile, "io_uring"));
  CHECK(contains(emfile, "ulimit -n"));

  const std::string other = refusal_message(EINVAL);
  INFO(other);
  CHECK(contains(other, "io_uring"));
  CHECK(contains(other, ("errno " + std::to_string(EINVAL)).c_str()));
}

#else
TEST_CASE("io_uring refusal tests need a seccomp architecture constant for this CPU" * doctest::skip()) {}
#endif
