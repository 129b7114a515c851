// Tests for the lock rank check of debug builds (include/goro/detail/short_lock.hpp):
// a short_lock taken against the rank table aborts the process with a message naming
// both locks; every order the table allows passes.
//
// Each violation runs in a forked child (the test process is single-threaded: no
// runtime is started here) whose stderr goes to a pipe; the parent reads it to EOF, then
// waits for the child, which must have died of SIGABRT. The child cannot hang: it only
// takes uncontended locks, so reading to EOF is bounded.
#include <doctest/doctest.h>

#include <goro/detail/short_lock.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <functional>
#include <string>

#ifndef NDEBUG  // the whole suite: the check exists only with assertions on

namespace {

using goro::detail::lock_rank;
using goro::detail::short_lock;

struct child_outcome {
  bool aborted = false;
  int exit_status = -1;
  std::string err;
};

child_outcome run_in_child(const std::function<void()>& body) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // doctest's crash handler (inherited) would report the abort as a failed test and
    // exit(1), under TSan at least: the child must die of the signal itself.
    std::signal(SIGABRT, SIG_DFL);
    dup2(fds[1], STDERR_FILENO);
    close(fds[0]);
    close(fds[1]);
    body();
    _exit(0);
  }
  close(fds[1]);
  child_outcome out;
  char buf[512];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) out.err.append(buf, static_cast<std::size_t>(n));
  close(fds[0]);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  out.aborted = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
  if (WIFEXITED(status)) out.exit_status = WEXITSTATUS(status);
  return out;
}

}  // namespace

TEST_CASE("allowed orders pass: channels in address order, then a timer lock") {
  const auto out = run_in_child([] {
    short_lock channels[2] = {short_lock(lock_rank::select_guard), short_lock(lock_rank::select_guard)};
    short_lock timers(lock_rank::timers);
    channels[0].lock();  // arrays are in ascending address order
    channels[1].lock();
    timers.lock();
    timers.unlock();
    channels[0].unlock();  // release order is free
    channels[1].unlock();
    timers.lock();  // alone again
    timers.unlock();
  });
  CHECK_FALSE(out.aborted);
  CHECK(out.exit_status == 0);
  CHECK(out.err.empty());
}

TEST_CASE("a channel lock taken under a timer lock aborts with both names") {
  const auto out = run_in_child([] {
    short_lock timers(lock_rank::timers);
    short_lock channel(lock_rank::select_guard);
    timers.lock();
    channel.lock();
  });
  CHECK(out.aborted);
  CHECK(out.err.find("lock rank violation: taking select_guard lock") != std::string::npos);
  CHECK(out.err.find("while holding timers lock") != std::string::npos);
}

TEST_CASE("a goro::timer's lock, then its channel's, then the heap's passes; the reverse aborts") {
  const auto ok = run_in_child([] {
    short_lock timer_object(lock_rank::timer_object);
    short_lock channel(lock_rank::select_guard);
    short_lock timers(lock_rank::timers);
    timer_object.lock();
    channel.lock();
    timers.lock();
    timers.unlock();
    channel.unlock();
    timer_object.unlock();
  });
  CHECK_FALSE(ok.aborted);
  CHECK(ok.exit_status == 0);
  const auto bad = run_in_child([] {
    short_lock channel(lock_rank::select_guard);
    short_lock timer_object(lock_rank::timer_object);
    channel.lock();
    timer_object.lock();
  });
  CHECK(bad.aborted);
  CHECK(bad.err.find("taking timer_object lock") != std::string::npos);
  CHECK(bad.err.find("while holding select_guard lock") != std::string::npos);
}

TEST_CASE("nothing may be taken under a sync queue lock") {
  const auto out = run_in_child([] {
    short_lock sync(lock_rank::sync);
    short_lock channel(lock_rank::select_guard);
    sync.lock();
    channel.lock();
  });
  CHECK(out.aborted);
  CHECK(out.err.find("while holding sync lock") != std::string::npos);
}

TEST_CASE("channel locks out of address order abort") {
  const auto out = run_in_child([] {
    short_lock channels[2] = {short_lock(lock_rank::select_guard), short_lock(lock_rank::select_guard)};
    channels[1].lock();
    channels[0].lock();
  });
  CHECK(out.aborted);
  CHECK(out.err.find("lock rank violation") != std::string::npos);
}

TEST_CASE("the same channel lock taken twice aborts instead of deadlocking") {
  const auto out = run_in_child([] {
    short_lock channel(lock_rank::select_guard);
    channel.lock();
    channel.lock();
  });
  CHECK(out.aborted);
  CHECK(out.err.find("lock rank violation") != std::string::npos);
}

TEST_CASE("unlocking a lock this thread does not hold aborts") {
  const auto out = run_in_child([] {
    short_lock timers(lock_rank::timers);
    timers.unlock();
  });
  CHECK(out.aborted);
  CHECK(out.err.find("does not hold") != std::string::npos);
}

#endif  // release builds (NDEBUG) compile the check out: no test cases then
