// Tests for goro::run's deadlock check (include/goro/debug.hpp: deadlock_error,
// external_handle; the check itself is "Deadlock" in lib/runtime.cpp).
//
// What the contract promises and how each part is checked
//   1. The classic deadlocks make goro::run throw deadlock_error, on one worker and on
//      two, within 100 ms (measured around goro::run, generous: the check runs when the
//      last worker parks): (a) an unbuffered send in main with no receiver; (b) two
//      tasks each waiting for the other's channel while main waits on a wait_group;
//      (c) a wait_group waiting for a done() that never comes; (d) a mutex locked twice
//      by the same task, which main joins; (e) a select whose cases are all nil channels.
//   2. The message: what() starts with "all tasks are asleep - deadlock!\n" and ends with
//      dump_tasks() of tasks(); tasks() holds every task, main (id 1) included, each
//      parked. Each task's paragraph names what it waits on, its wait site (the call that
//      made the awaited operation) and its start site (the goro::go/spawn/run call), as
//      deadlock_test.cpp:<line>. The code records those lines itself (`at(x, __LINE__);`
//      on the line of the call), so they cannot drift from the calls.
//   3. After the throw every task's frame was destroyed: each task of a scenario holds an
//      instance-counting local (test_support.hpp's counted); none is left alive, and
//      none was destroyed twice. (ASan's leak check at exit sees any frame left.)
//   4. No false positives: a task sleeping 30 ms while main waits for it on a channel; a
//      select with an after() case; a context's deadline; a socket read and an accept
//      whose peer (a plain std::thread with POSIX sockets, no goro call) acts after 30 ms;
//      a signal sent by a std::thread after 30 ms, with and without an external_handle
//      (goro's reader tasks wait for signals with I/O in flight, so none is needed); a
//      30 ms goro::blocking call; a std::thread holding an external_handle that cancels a
//      context after 30 ms. Each run returns normally with the right value. No timer
//      but the one under test is armed (a timer would hide a wrong report): a watchdog
//      turns a hang into a failure instead of a goro::after.
//   5. Dropping the last external_handle while every task is parked re-triggers the
//      check: run throws within 100 ms of the drop, and not before it.
//   6. A goro::run after a deadlock_error works normally.
// Not tested: a std::thread that cancels a context WITHOUT an external_handle may be
// reported as a deadlock before it acts (goro cannot know it is coming). That is the
// documented rule, and racy by nature.
//
// Results are collected in plain variables and checked on the test thread after
// goro::run returns or throws (it joins its workers first): doctest stays off workers.
//
// g++ 12 notes (README's "Known compiler issues"): tasks are named coroutines started
// with goro::go(f, args...), and no co_await is the bare condition of an if or while.
#include <doctest/doctest.h>

#include <goro/goro.hpp>

#include "test_support.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <source_location>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using goro_test::counted;
using goro_test::watchdog;
using steady = std::chrono::steady_clock;

namespace {

// Off (meson -Dtask_trace=false), tasks record no wait: the dump has no wait sites.
constexpr bool traced = GORO_TASK_TRACE;
constexpr std::string_view header = "all tasks are asleep - deadlock!\n";
constexpr auto report_within = 100ms;
constexpr auto peer_delay = 30ms;  // how long the waker of a no-false-positive case waits
constexpr unsigned procs_to_test[] = {1, 2};

// The lines of the calls that started and parked the tasks of the scenario running now.
// Relaxed: the tasks write them, the test reads them after goro::run, which joins its
// workers first; atomics only because two tasks may write the same value.
struct site_lines {
  std::atomic<unsigned> go_a{0}, go_b{0}, task_wait{0}, main_wait{0};
};
site_lines lines;

void at(std::atomic<unsigned>& line, unsigned here) { line.store(here, std::memory_order_relaxed); }
unsigned line_of(const std::atomic<unsigned>& line) { return line.load(std::memory_order_relaxed); }

// What goro::run did with a scenario that must deadlock.
struct deadlock_report {
  bool threw = false;  // deadlock_error
  std::string instead;  // otherwise: what happened
  std::string what;
  std::vector<goro::task_info> tasks;
  steady::duration took{};
};

// Runs main on `procs` workers; `where` is main's start site (the caller's line).
template <class F>
deadlock_report run_to_deadlock(unsigned procs, F main, std::source_location where = std::source_location::current()) {
  deadlock_report r;
  const auto start = steady::now();
  try {
    goro::run(goro::config{.maxprocs = procs}, main, where);
    r.instead = "goro::run returned";
  } catch (const goro::deadlock_error& e) {
    r.threw = true;
    r.what = e.what();
    r.tasks = e.tasks();
  } catch (const std::exception& e) {
    r.instead = std::string("goro::run threw another exception: ") + e.what();
  }
  r.took = steady::now() - start;
  return r;
}

// "deadlock_test.cpp:<line> in " as the dump writes a site (its file name may have a
// directory in front, as the compiler spelled it).
std::string site(unsigned line) { return "deadlock_test.cpp:" + std::to_string(line) + " in "; }

// Task `id`'s paragraph of a dump: from "task <id> [" to the blank line that ends it.
std::string paragraph_of(const std::string& dump, std::uint64_t id) {
  const std::string head = "task " + std::to_string(id) + " [";
  std::size_t from = dump.starts_with(head) ? 0 : dump.find("\n" + head);
  if (from == std::string::npos) return {};
  if (dump[from] == '\n') ++from;
  const std::size_t to = dump.find("\n\n", from);
  return dump.substr(from, to == std::string::npos ? std::string::npos : to - from);
}

// The text line of `paragraph` that starts (after its indent) with `prefix`.
std::string line_starting(const std::string& paragraph, std::string_view prefix) {
  std::istringstream in(paragraph);
  for (std::string l; std::getline(in, l);) {
    const std::size_t text = l.find_first_not_of(' ');
    if (text != std::string::npos && l.compare(text, prefix.size(), prefix) == 0) return l;
  }
  return {};
}

// What every deadlock report must show (points 1-3 of the top comment).
void check_report(const deadlock_report& r, std::size_t task_count) {
  REQUIRE_MESSAGE(r.threw, r.instead);
  INFO("what():\n" << r.what);
  CHECK(r.took < report_within);
  CHECK(r.what.starts_with(header));
  std::ostringstream dump;
  goro::dump_tasks(dump, r.tasks);
  CHECK(r.what.ends_with(dump.str()));
  CHECK(r.tasks.size() == task_count);
  for (const auto& t : r.tasks) {
    CAPTURE(t.id);
    if (traced) CHECK(t.state == goro::task_state::parked);
  }
  CHECK(counted::live() == 0);
  CHECK(counted::destroyed_twice.load() == 0);
}

// The task started at deadlock_test.cpp:go_line is in the report, parked on `kind` at
// deadlock_test.cpp:wait_line (0: the wait has no call to name, as a join), and its
// paragraph of the message says so. Returns its id (0 if missing).
std::uint64_t check_task(const deadlock_report& r, unsigned go_line, std::string_view kind, unsigned wait_line) {
  CAPTURE(go_line);
  CAPTURE(kind);
  INFO("what():\n" << r.what);
  const goro::task_info* task = nullptr;
  for (const auto& t : r.tasks)
    if (t.started_at.line() == go_line && std::string_view(t.started_at.file_name()).ends_with("deadlock_test.cpp"))
      task = &t;
  REQUIRE(task != nullptr);
  const std::string paragraph = paragraph_of(r.what, task->id);
  CHECK(line_starting(paragraph, "started at ").find(site(go_line)) != std::string::npos);
  if (traced) {
    CHECK(task->waiting_on == kind);
    CHECK(paragraph.find("[" + std::string(kind) + ", ") != std::string::npos);
    if (wait_line != 0) {
      CHECK(task->wait_site.line() == wait_line);
      CHECK(line_starting(paragraph, "waiting at ").find(site(wait_line)) != std::string::npos);
    }
  }
  return task->id;
}

// ---------------------------------------------------------------- the classic deadlocks

// (a)
goro::task<> send_with_no_receiver() {
  const counted local(1);
  goro::chan<int> ch;
  at(lines.main_wait, __LINE__); co_await ch.send(1);
}

// (b) Each half receives from `in`, then passes the value on to `out`: both wait to receive.
goro::task<> pass_on(goro::chan<int> in, goro::chan<int> out, goro::wait_group* wg) {
  const counted local(2);
  at(lines.task_wait, __LINE__); auto v = co_await in.recv();
  co_await out.send(v.value_or(0) + 1);
  wg->done();
}
goro::task<> two_tasks_waiting_for_each_other() {
  const counted local(2);
  goro::chan<int> a, b;
  goro::wait_group wg;
  wg.add(2);
  at(lines.go_a, __LINE__); goro::go(pass_on, a, b, &wg);
  at(lines.go_b, __LINE__); goro::go(pass_on, b, a, &wg);
  at(lines.main_wait, __LINE__); co_await wg.wait();
}

// (c)
goro::task<> report_done(goro::wait_group* wg) {
  wg->done();
  co_return;
}
goro::task<> forget_done(goro::wait_group*) { co_return; }  // the bug: returns without done()
goro::task<> wait_for_a_forgotten_done() {
  const counted local(3);
  goro::wait_group wg;
  wg.add(2);
  goro::go(report_done, &wg);
  goro::go(forget_done, &wg);
  at(lines.main_wait, __LINE__); co_await wg.wait();
}

// (d)
goro::task<> lock_twice(goro::mutex* m) {
  const counted local(4);
  co_await m->lock();
  at(lines.task_wait, __LINE__); co_await m->lock();
  m->unlock();  // never reached
}
goro::task<> join_a_task_that_locks_twice() {
  const counted local(4);
  goro::mutex m;  // in main's frame: the other tasks' frames are destroyed first
  at(lines.go_a, __LINE__); auto h = goro::spawn(lock_twice, &m);
  co_await std::move(h);
}

// (e)
goro::task<> select_on_nil_channels_only() {
  const counted local(5);
  goro::chan<int> off = nullptr;
  goro::chan<> also_off = nullptr;
  at(lines.main_wait, __LINE__); auto r = co_await goro::select(off.recv(), also_off.send());
  (void)r;
}

}  // namespace

// Intent: (a): main alone, parked in an unbuffered send nobody receives.
TEST_CASE("deadlock: an unbuffered send in main with no receiver") {
  watchdog dog("send with no receiver", 60s);
  for (unsigned procs : procs_to_test) {
    CAPTURE(procs);
    counted::reset();
    const unsigned run_line = __LINE__; const auto r = run_to_deadlock(procs, send_with_no_receiver);
    check_report(r, 1);
    CHECK(check_task(r, run_line, "chan send", line_of(lines.main_wait)) == 1);
    if (traced) CHECK(r.what.find("(capacity 0)") != std::string::npos);
  }
}

// Intent: (b): two tasks each parked in a receive the other would answer; main waits on
// a wait_group for both. Every one of the three is named with its sites.
TEST_CASE("deadlock: two tasks each waiting for the other's channel") {
  watchdog dog("two tasks waiting for each other", 60s);
  for (unsigned procs : procs_to_test) {
    CAPTURE(procs);
    counted::reset();
    const unsigned run_line = __LINE__; const auto r = run_to_deadlock(procs, two_tasks_waiting_for_each_other);
    check_report(r, 3);
    CHECK(check_task(r, run_line, "wait_group", line_of(lines.main_wait)) == 1);
    const auto a = check_task(r, line_of(lines.go_a), "chan recv", line_of(lines.task_wait));
    const auto b = check_task(r, line_of(lines.go_b), "chan recv", line_of(lines.task_wait));
    CHECK(a != b);
  }
}

// Intent: (c): one task called done(), the other forgot; main waits forever. The tasks
// that finished are not in the report.
TEST_CASE("deadlock: a wait_group waiting for a done() that never comes") {
  watchdog dog("forgotten done", 60s);
  for (unsigned procs : procs_to_test) {
    CAPTURE(procs);
    counted::reset();
    const unsigned run_line = __LINE__; const auto r = run_to_deadlock(procs, wait_for_a_forgotten_done);
    check_report(r, 1);
    check_task(r, run_line, "wait_group", line_of(lines.main_wait));
  }
}

// Intent: (d): a task locks a goro::mutex it already holds (goro's mutex is not
// recursive, like Go's); main joins it. The join has no call to name as its wait site.
TEST_CASE("deadlock: a mutex locked twice by the same task") {
  watchdog dog("mutex locked twice", 60s);
  for (unsigned procs : procs_to_test) {
    CAPTURE(procs);
    counted::reset();
    const unsigned run_line = __LINE__; const auto r = run_to_deadlock(procs, join_a_task_that_locks_twice);
    check_report(r, 2);
    const auto locker = check_task(r, line_of(lines.go_a), "mutex", line_of(lines.task_wait));
    check_task(r, run_line, "join", 0);
    if (traced) CHECK(paragraph_of(r.what, 1).find("task " + std::to_string(locker)) != std::string::npos);
  }
}

// Intent: (e): a select whose every case is a nil channel (Go's nil channel: a case
// switched off) waits forever, with no timer and no default.
TEST_CASE("deadlock: select with only switched-off cases") {
  watchdog dog("select on nil channels", 60s);
  for (unsigned procs : procs_to_test) {
    CAPTURE(procs);
    counted::reset();
    const unsigned run_line = __LINE__; const auto r = run_to_deadlock(procs, select_on_nil_channels_only);
    check_report(r, 1);
    check_task(r, run_line, "select", line_of(lines.main_wait));
  }
}

// ---------------------------------------------------------------- no false positives

namespace {

// Runs main on `procs` workers; the text of any exception it threw, or "" if it returned
// `want`.
template <class F>
std::string run_expecting(unsigned procs, F main, int want) {
  try {
    const int got = goro::run(goro::config{.maxprocs = procs}, main);
    return got == want ? std::string() : "main returned " + std::to_string(got) + ", not " + std::to_string(want);
  } catch (const std::exception& e) {
    return std::string("goro::run threw: ") + e.what();
  }
}

#define CHECK_COMPLETES(main, want)                   \
  do {                                                \
    for (unsigned procs : procs_to_test) {            \
      CAPTURE(procs);                                 \
      CHECK(run_expecting(procs, main, want) == ""); \
    }                                                 \
  } while (0)

goro::task<> sleep_then_send(goro::chan<int> ch) {
  co_await goro::sleep_for(peer_delay);
  co_await ch.send(7);
}
goro::task<int> wait_for_a_sleeper() {
  goro::chan<int> ch;
  goro::go(sleep_then_send, ch);
  auto v = co_await ch.recv();
  co_return v.value_or(-1);
}

goro::task<int> select_with_an_after_case() {
  goro::chan<int> off = nullptr;
  auto r = co_await goro::select(off.recv(), goro::after(peer_delay));
  co_return static_cast<int>(r.index());
}

goro::task<int> wait_for_a_deadline() {
  auto [ctx, cancel] = goro::with_timeout(goro::background(), peer_delay);
  const std::error_code err = co_await ctx.done();
  co_return err == goro::errc::deadline_exceeded ? 1 : 0;
}

// A plain blocking socket connected to 127.0.0.1:port (-1 on failure).
int connect_loopback(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && ::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

goro::task<goro::result<goro::net::listener>> listen_loopback() {
  auto t = goro::net::listen_tcp("127.0.0.1:0");  // named: the string argument is a temporary
  co_return co_await std::move(t);
}

// The peer connects at once and writes "ping" 30 ms later: the read waits with I/O in
// flight. Returns the bytes read before the peer closed.
goro::task<int> read_from_a_late_writer() {
  auto [ln, err] = co_await listen_loopback();
  if (err) co_return -1;
  std::thread peer([port = ln.local_addr().port()] {
    const int fd = connect_loopback(port);
    std::this_thread::sleep_for(peer_delay);
    if (fd >= 0 && ::send(fd, "ping", 4, MSG_NOSIGNAL) == 4) ::close(fd);
    else if (fd >= 0) ::close(fd);
  });
  auto [conn, accept_err] = co_await ln.accept();
  std::string got;
  std::array<char, 16> buf;
  for (int reads = 0; !accept_err && reads < 16; ++reads) {  // bounded: "ping" then EOF
    auto [n, read_err] = co_await conn.read(buf);
    if (read_err || n == 0) break;
    got.append(buf.data(), n);
  }
  peer.join();  // it has closed its socket: returns at once
  co_return got == "ping" ? 4 : -2;
}

// The peer connects 30 ms after the accept parked.
goro::task<int> accept_a_late_client() {
  auto [ln, err] = co_await listen_loopback();
  if (err) co_return -1;
  std::thread peer([port = ln.local_addr().port()] {
    std::this_thread::sleep_for(peer_delay);
    const int fd = connect_loopback(port);
    if (fd >= 0) ::close(fd);
  });
  auto [conn, accept_err] = co_await ln.accept();
  peer.join();
  co_return accept_err ? -2 : 1;
}

// Consumes any pending SIGUSR1 on the test thread and leaves it blocked there, so that a
// signal left over by one case is not taken for the next one's (signal_test.cpp's way).
void discard_pending_sigusr1() {
  sigset_t set;
  ::sigemptyset(&set);
  ::sigaddset(&set, SIGUSR1);
  ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
  const timespec zero{0, 0};
  while (::sigtimedwait(&set, nullptr, &zero) > 0) {
  }
}

void kill_later() {
  std::this_thread::sleep_for(peer_delay);
  ::kill(::getpid(), SIGUSR1);
}

goro::task<int> wait_for_a_signal() {
  auto sigs = goro::signal_notify({SIGUSR1});
  std::thread sender(kill_later);  // no goro call: the signal reaches goro's reader tasks
  auto sig = co_await sigs.recv();
  sender.join();
  co_return sig.value_or(0);
}

goro::task<int> wait_for_a_signal_sent_by_a_handle_holder() {
  auto sigs = goro::signal_notify({SIGUSR1});
  std::thread sender([hold = goro::external_handle()] { kill_later(); });
  auto sig = co_await sigs.recv();
  sender.join();
  co_return sig.value_or(0);
}

goro::task<int> await_a_slow_blocking_call() {
  const int v = co_await goro::blocking([] {
    std::this_thread::sleep_for(peer_delay);
    return 9;
  });
  co_return v;
}

// The documented way: the thread holds an external_handle until its wake-up is done.
goro::task<int> wait_for_a_cancel_from_a_handle_holder() {
  auto [ctx, cancel] = goro::with_cancel(goro::background());
  // hold is declared first, so it is destroyed last: after cancel's wake-up.
  std::thread canceller([hold = goro::external_handle(), c = std::move(cancel)] {
    std::this_thread::sleep_for(peer_delay);
    c();
  });
  const std::error_code err = co_await ctx.done();
  canceller.join();  // it has cancelled: returns at once
  co_return err == goro::errc::canceled ? 1 : 0;
}

}  // namespace

// Intent: a sleeping task is a pending timer: main, parked on the channel the sleeper
// will send to, is not deadlocked.
TEST_CASE("no deadlock: main waits for a task that sleeps") {
  watchdog dog("waiting for a sleeper", 60s);
  CHECK_COMPLETES(wait_for_a_sleeper, 7);
}

// Intent: a select's after() case is a pending timer.
TEST_CASE("no deadlock: select with a goro::after case") {
  watchdog dog("select with after", 60s);
  CHECK_COMPLETES(select_with_an_after_case, 1);
}

// Intent: a context's deadline is a pending timer; its done() completes with
// deadline_exceeded.
TEST_CASE("no deadlock: awaiting done() of a context with a deadline") {
  watchdog dog("context deadline", 60s);
  CHECK_COMPLETES(wait_for_a_deadline, 1);
}

// Intent: a read parked on a socket is I/O in flight; the peer, a plain thread, writes
// 30 ms later.
TEST_CASE("no deadlock: reading a socket a peer writes to after 30 ms") {
  watchdog dog("socket read", 60s);
  CHECK_COMPLETES(read_from_a_late_writer, 4);
}

// Intent: a parked accept is I/O in flight; the client connects 30 ms later.
TEST_CASE("no deadlock: accept while a client connects after 30 ms") {
  watchdog dog("accept", 60s);
  CHECK_COMPLETES(accept_a_late_client, 1);
}

// Intent: waiting for a signal is not a deadlock: goro's signal readers wait with I/O in
// flight, so the thread that sends it needs no external_handle; holding one is harmless.
TEST_CASE("no deadlock: waiting for a signal a std::thread sends after 30 ms") {
  watchdog dog("signal", 60s);
  SUBCASE("the sender holds no external_handle") {
    discard_pending_sigusr1();
    CHECK_COMPLETES(wait_for_a_signal, SIGUSR1);
  }
  SUBCASE("the sender holds an external_handle") {
    discard_pending_sigusr1();
    CHECK_COMPLETES(wait_for_a_signal_sent_by_a_handle_holder, SIGUSR1);
  }
}

// Intent: a goro::blocking call running on the pool will wake its task.
TEST_CASE("no deadlock: awaiting a goro::blocking call that sleeps 30 ms") {
  watchdog dog("blocking", 60s);
  CHECK_COMPLETES(await_a_slow_blocking_call, 9);
}

// Intent: a std::thread holding an external_handle may still wake a task: main, parked on
// a context nothing else can cancel, is not deadlocked while the thread holds it.
TEST_CASE("no deadlock: a std::thread holding an external_handle cancels a context after 30 ms") {
  watchdog dog("external_handle cancel", 60s);
  CHECK_COMPLETES(wait_for_a_cancel_from_a_handle_holder, 1);
}

// ---------------------------------------------------------------- external_handle

// Intent: while a std::thread holds the only external_handle, every task may be parked
// without a report; dropping it (without waking anything) re-triggers the check, and run
// throws deadlock_error within 100 ms of the drop, not before it.
TEST_CASE("deadlock: dropping the last external_handle while every task is parked") {
  watchdog dog("dropping the last external_handle", 60s);
  for (unsigned procs : procs_to_test) {
    CAPTURE(procs);
    counted::reset();
    std::thread holder;
    steady::time_point dropping{};  // written by holder, read after the join
    const steady::time_point started = steady::now();
    auto main = [&]() -> goro::task<> {
      const counted local(6);
      auto [ctx, cancel] = goro::with_cancel(goro::background());  // nobody will call cancel
      holder = std::thread([&dropping, hold = goro::external_handle()]() mutable {
        std::this_thread::sleep_for(peer_delay);
        dropping = steady::now();
        goro::external_handle dropped = std::move(hold);
      });
      at(lines.main_wait, __LINE__); const std::error_code err = co_await ctx.done();
      (void)err;
    };
    const unsigned run_line = __LINE__; const auto r = run_to_deadlock(procs, main);
    const auto ended = steady::now();
    holder.join();
    REQUIRE_MESSAGE(r.threw, r.instead);
    CHECK(dropping - started >= peer_delay);
    CHECK(ended >= dropping);
    CHECK(ended - dropping < report_within);
    CHECK(r.tasks.size() == 1);
    check_task(r, run_line, "context done", line_of(lines.main_wait));
    CHECK(counted::live() == 0);
  }
}

// Intent: a deadlock_error leaves nothing behind: the next goro::run starts tasks, passes
// values on channels, joins, and returns main's value.
TEST_CASE("a goro::run after a deadlock_error works normally") {
  watchdog dog("run after deadlock", 60s);
  for (unsigned procs : procs_to_test) {
    CAPTURE(procs);
    const auto r = run_to_deadlock(procs, two_tasks_waiting_for_each_other);
    REQUIRE_MESSAGE(r.threw, r.instead);
    const int got = goro::run(goro::config{.maxprocs = procs}, []() -> goro::task<int> {
      goro::chan<int> ch;
      goro::go(sleep_then_send, ch);
      auto v = co_await ch.recv();
      auto h = goro::spawn([](int x) { return x * 6; }, v.value_or(0));
      co_return co_await std::move(h);
    });
    CHECK(got == 42);
  }
}
