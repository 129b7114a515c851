// Tests for what goro's I/O awaitables record for the task dump (goro/debug.hpp, the
// wait sites of goro/io.hpp, file.hpp and net.hpp; issue 7, "Task dump").
//
// How it is checked
//   1. A target task is parked on one operation and another task (the main task) reads
//      goro::task_snapshot() until it shows the target parked at the expected line:
//      polled with goro::yield(), at most 1,000,000 polls and 5 s, so a wait that is
//      never recorded is a failed check, not a hang. The target is found by its start
//      line (the goro::spawn call's, asserted as started_at), the wait by its line: the
//      target stores the line of its co_await in an atomic just before it.
//   2. What the snapshot must say: state parked; waiting_on "io read", "io write",
//      "io accept", "io connect", "io" or "blocking"; for the io kinds, "fd <n>" with the
//      descriptor the operation is on; wait_site at the co_await's line of this file,
//      also when the awaited call is a task of goro's (write_all, read_all, size,
//      recv_from, dial_tcp) that passes its caller's location down.
//   3. Right after its wait ends, the target takes a snapshot itself: it must see itself
//      running, no longer parked (the awaiter's resumed() ran).
//   4. Parking on demand: a socket read with no data; an accept with no client; a send
//      into a peer that does not read (4 MiB into 64 KiB socket buffers); a connect to a
//      listener whose accept queue is full, which drops the SYNs (net_test.cpp's method,
//      with its premise verified the same way); a read on a pipe; a stream of statx
//      (file::size) on a file, kind io; a goro::blocking call held by a gate the test
//      opens after its check (bounded: the call gives up after 10 s).
//   5. signal_notify's reader tasks are goro's own: once they have run (a signal went
//      through them), the snapshot lists the main task alone while num_tasks() counts 3.
//
// Results are collected in plain variables and checked on the test thread after
// goro::run returns: doctest assertions stay off worker threads. Every test has a
// watchdog (test_support.hpp).
//
// g++ 12 notes (README's "Known compiler issues"): tasks taking a std::string or a context
// by value are named before they are awaited; no co_await is the bare condition of an if
// or while; target tasks are functions taking their data by pointer.
#include <doctest/doctest.h>

#include <goro/goro.hpp>

#include "test_support.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <source_location>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "goro/io.hpp"

using namespace std::chrono_literals;
using goro::net::listener;
using goro::net::tcp_conn;
using goro::net::udp_socket;
using goro_test::watchdog;

namespace {

constexpr std::string_view this_file = "debug_io_test.cpp";

bool in_this_file(const std::source_location& at) { return std::string_view(at.file_name()).ends_with(this_file); }

}  // namespace

// Intent: the opcode decides the kind, also for operations too quick to catch parked
// (open, close, fsync, shutdown).
TEST_CASE("io operations map to their wait kinds") {
  using goro::detail::io_wait_kind, goro::detail::wait_kind;
  CHECK(io_wait_kind(IORING_OP_READ) == wait_kind::io_read);
  CHECK(io_wait_kind(IORING_OP_RECV) == wait_kind::io_read);
  CHECK(io_wait_kind(IORING_OP_RECVMSG) == wait_kind::io_read);
  CHECK(io_wait_kind(IORING_OP_WRITE) == wait_kind::io_write);
  CHECK(io_wait_kind(IORING_OP_SEND) == wait_kind::io_write);
  CHECK(io_wait_kind(IORING_OP_SENDMSG) == wait_kind::io_write);
  CHECK(io_wait_kind(IORING_OP_ACCEPT) == wait_kind::io_accept);
  CHECK(io_wait_kind(IORING_OP_CONNECT) == wait_kind::io_connect);
  for (const auto op : {IORING_OP_OPENAT, IORING_OP_CLOSE, IORING_OP_FSYNC, IORING_OP_STATX, IORING_OP_SHUTDOWN})
    CHECK(io_wait_kind(op) == wait_kind::io);
}

// Intent: technique 5. The signal proves the readers have run; each hides itself as it
// starts, so the poll ends as soon as the later of the two has.
TEST_CASE("signal_notify's reader tasks are not in the snapshot") {
  watchdog guard("debug signal readers", 60s);
  sigset_t usr1;
  ::sigemptyset(&usr1);
  ::sigaddset(&usr1, SIGUSR1);
  ::pthread_sigmask(SIG_BLOCK, &usr1, nullptr);  // a SIGUSR1 left pending by another binary's case
  const timespec zero{0, 0};
  while (::sigtimedwait(&usr1, nullptr, &zero) > 0) {
  }
  std::optional<int> got;
  std::vector<goro::task_info> listed;
  std::size_t live = 0;
  goro::run(goro::config{.maxprocs = 2}, [&]() -> goro::task<> {
    auto ch = goro::signal_notify({SIGUSR1});
    ::kill(::getpid(), SIGUSR1);
    auto r = co_await goro::select(ch.recv(), goro::after(5s));
    if (r.index() == 0) got = *std::get<0>(r);
    const auto give_up = goro::clock::now() + 5s;
    for (int polls = 0; polls < 1'000'000 && goro::clock::now() < give_up; ++polls) {
      listed = goro::task_snapshot();
      if (listed.size() == 1) break;
      co_await goro::yield();
    }
    live = goro::num_tasks();
  });
  CHECK(got == SIGUSR1);
  CHECK(live == 3);  // the main task and the two readers
  for (const goro::task_info& t : listed) {
    INFO("listed: " << t.started_at.file_name() << ":" << t.started_at.line());
    CHECK(in_this_file(t.started_at));
  }
  CHECK(listed.size() == 1);  // the main task
}

// The tests below read the wait each task records: nothing to read with the meson
// option task_trace off.
#if GORO_TASK_TRACE

namespace {

// A target task's record: the line of the co_await it is about to park on (0 before),
// and how it saw itself in a snapshot right after that wait ended.
struct probe {
  std::atomic<unsigned> wait_line{0};  // release/acquire: the line, then the park it names
  std::optional<goro::task_info> after_wait;  // written by the target; read after goro::run
};

// The entry of the task started at `start_line` of this file, if listed.
std::optional<goro::task_info> entry_of(const std::vector<goro::task_info>& tasks, unsigned start_line) {
  for (const goro::task_info& t : tasks)
    if (in_this_file(t.started_at) && t.started_at.line() == start_line) return t;
  return std::nullopt;
}

// Technique 1: polls until the task started at `start_line` is parked at p's wait line.
// Returns that entry, else the last one seen (or nothing: never listed).
goro::task<std::optional<goro::task_info>> parked_at(unsigned start_line, const probe* p) {
  std::optional<goro::task_info> last;
  const auto give_up = goro::clock::now() + 5s;
  for (int polls = 0; polls < 1'000'000 && goro::clock::now() < give_up; ++polls) {
    if (auto t = entry_of(goro::task_snapshot(), start_line)) {
      // acquire: pairs with the target's release store of the line it parks at.
      const unsigned line = p->wait_line.load(std::memory_order_acquire);
      if (t->state == goro::task_state::parked && line != 0 && t->wait_site.line() == line) co_return t;
      last = std::move(t);
    }
    co_await goro::yield();
  }
  co_return last;
}

// Technique 3: the target's own entry, taken by itself.
void look_at_self(unsigned start_line, probe* p) { p->after_wait = entry_of(goro::task_snapshot(), start_line); }

std::string show(const std::optional<goro::task_info>& t) {
  if (!t) return "not listed";
  const char* states[] = {"running", "runnable", "parked"};
  return std::string(states[static_cast<int>(t->state)]) + " on '" + std::string(t->waiting_on) + "' (" +
         t->waiting_detail + ") at " + t->wait_site.file_name() + ":" + std::to_string(t->wait_site.line()) +
         ", started at " + t->started_at.file_name() + ":" + std::to_string(t->started_at.line());
}

// Technique 2, on the test thread. fd < 0: the detail is not checked.
void check_parked(const std::optional<goro::task_info>& seen, const probe& p, unsigned start_line,
                  std::string_view kind, int fd) {
  INFO("seen: " << show(seen));
  REQUIRE(seen.has_value());
  CHECK(seen->state == goro::task_state::parked);
  CHECK(seen->waiting_on == kind);
  if (fd >= 0) CHECK(seen->waiting_detail == "fd " + std::to_string(fd));
  CHECK(in_this_file(seen->wait_site));
  CHECK(seen->wait_site.line() == p.wait_line.load());
  CHECK(in_this_file(seen->started_at));
  CHECK(seen->started_at.line() == start_line);
  INFO("after its wait: " << show(p.after_wait));
  REQUIRE(p.after_wait.has_value());
  CHECK(p.after_wait->state == goro::task_state::running);
  CHECK(p.after_wait->waiting_on.empty());
}

// A pair of connected loopback sockets.
struct conn_pair {
  tcp_conn client, server;
  std::error_code err;
};

goro::task<conn_pair> connect_pair(const listener& ln) {
  conn_pair p;
  auto dial = goro::net::dial_tcp(goro::context(), ln.local_addr().to_string());
  auto d = co_await std::move(dial);
  p.err = d.err;
  if (p.err) co_return p;
  p.client = std::move(d.value);
  auto a = co_await ln.accept();
  p.err = a.err;
  p.server = std::move(a.value);
  co_return p;
}

goro::task<goro::result<listener>> listen_local(int backlog = 4096) {
  auto t = goro::net::listen_tcp("127.0.0.1:0", backlog);
  co_return co_await std::move(t);
}

// An open gate, for a goro::blocking call to wait on (at most `limit`).
class gate {
 public:
  void open() {
    {
      std::lock_guard lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  bool wait(std::chrono::milliseconds limit) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, limit, [this] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;  // under mu_
};

// ---- the target tasks: each marks the line it parks at, awaits, then looks at itself

goro::task<> read_socket(const tcp_conn* c, unsigned start_line, probe* p, std::size_t* got) {
  std::array<char, 16> buf{};
  p->wait_line.store(__LINE__ + 1, std::memory_order_release);  // the next line's
  auto [n, err] = co_await c->read(buf);
  look_at_self(start_line, p);
  *got = err ? 0 : n;
}

goro::task<> accept_one(const listener* ln, unsigned start_line, probe* p, tcp_conn* out) {
  p->wait_line.store(__LINE__ + 1, std::memory_order_release);
  auto [c, err] = co_await ln->accept();
  look_at_self(start_line, p);
  *out = std::move(c);
}

goro::task<> send_all(const tcp_conn* c, unsigned start_line, probe* p, const std::string* data,
                      std::size_t* sent) {
  p->wait_line.store(__LINE__ + 1, std::memory_order_release);
  auto [n, err] = co_await c->write_all(*data);
  look_at_self(start_line, p);
  *sent = err ? 0 : n;
}

// The wait site of a task of goro's is the call that made it (named, for g++ 12).
goro::task<> dial(goro::context ctx, std::string to, unsigned start_line, probe* p, std::error_code* err) {
  p->wait_line.store(__LINE__ + 1, std::memory_order_release);
  auto dialing = goro::net::dial_tcp(ctx, to);
  auto r = co_await std::move(dialing);
  look_at_self(start_line, p);
  *err = r.err;
}

// The pipe's first read, then the rest through read_all: two waits, two lines.
goro::task<> read_pipe(const goro::file* r, unsigned start_line, probe* first, probe* rest, std::string* got) {
  std::array<char, 16> buf{};
  first->wait_line.store(__LINE__ + 1, std::memory_order_release);
  auto [n, err] = co_await r->read(buf);
  look_at_self(start_line, first);
  got->assign(buf.data(), err ? 0 : n);
  rest->wait_line.store(__LINE__ + 1, std::memory_order_release);
  auto reading = r->read_all();
  auto all = co_await std::move(reading);
  look_at_self(start_line, rest);
  *got += all.value;
}

goro::task<> stat_until(const goro::file* f, const std::atomic<bool>* stop, unsigned start_line, probe* p,
                        int* calls) {
  const auto give_up = goro::clock::now() + 10s;
  while (!stop->load(std::memory_order_relaxed) && goro::clock::now() < give_up) {  // a flag: nothing to order
    p->wait_line.store(__LINE__ + 1, std::memory_order_release);
    auto r = co_await f->size();
    if (r.err) break;
    ++*calls;
  }
  look_at_self(start_line, p);
}

goro::task<> receive_datagram(const udp_socket* s, unsigned start_line, probe* p, std::size_t* got) {
  std::array<char, 16> buf{};
  p->wait_line.store(__LINE__ + 1, std::memory_order_release);
  auto [d, err] = co_await s->recv_from(buf);
  look_at_self(start_line, p);
  *got = err ? 0 : d.size;
}

goro::task<> wait_at_gate(gate* g, unsigned start_line, probe* p, bool* opened) {
  p->wait_line.store(__LINE__ + 1, std::memory_order_release);
  *opened = co_await goro::blocking([g] { return g->wait(10s); });
  look_at_self(start_line, p);
}

}  // namespace

TEST_CASE("a task parked on a socket read shows io read, the socket and the read's line") {
  watchdog guard("debug io read", 60s);
  probe p;
  std::optional<goro::task_info> seen;
  std::error_code setup;
  int fd = -1;
  unsigned start_line = 0;
  std::size_t got = 0;
  goro::run(goro::config{.maxprocs = 2}, [&]() -> goro::task<> {
    auto lt = listen_local();
    auto [ln, lerr] = co_await std::move(lt);
    setup = lerr;
    if (setup) co_return;
    auto pair = co_await connect_pair(ln);
    setup = pair.err;
    if (setup) co_return;
    fd = pair.server.fd();
    start_line = __LINE__ + 1;
    auto reader = goro::spawn(read_socket, &pair.server, start_line, &p, &got);
    seen = co_await parked_at(start_line, &p);
    auto w = co_await pair.client.write("x");
    static_cast<void>(w);
    co_await std::move(reader);
  });
  REQUIRE_MESSAGE(!setup, setup.message());
  check_parked(seen, p, start_line, "io read", fd);
  CHECK(got == 1);
}

TEST_CASE("a task parked on accept shows io accept and the listener") {
  watchdog guard("debug io accept", 60s);
  probe p;
  std::optional<goro::task_info> seen;
  std::error_code setup, dial_err;
  int fd = -1;
  unsigned start_line = 0;
  tcp_conn accepted;
  goro::run(goro::config{.maxprocs = 2}, [&]() -> goro::task<> {
    auto lt = listen_local();
    auto [ln, lerr] = co_await std::move(lt);
    setup = lerr;
    if (setup) co_return;
    fd = ln.fd();
    start_line = __LINE__ + 1;
    auto acceptor = goro::spawn(accept_one, &ln, start_line, &p, &accepted);
    seen = co_await parked_at(start_line, &p);
    auto dt = goro::net::dial_tcp(goro::context(), ln.local_addr().to_string());
    auto d = co_await std::move(dt);
    dial_err = d.err;
    co_await std::move(acceptor);
  });
  REQUIRE_MESSAGE(!setup, setup.message());
  check_parked(seen, p, start_line, "io accept", fd);
  CHECK(!dial_err);
  CHECK(accepted.is_open());
}

// Intent: write_all is a task of goro's; the wait site is still the caller's line.
TEST_CASE("a task parked in write_all to a peer that does not read shows io write and the write_all line") {
  watchdog guard("debug io write", 60s);
  probe p;
  std::optional<goro::task_info> seen;
  std::error_code setup;
  int fd = -1;
  unsigned start_line = 0;
  const std::string payload(4 << 20, 'w');  // far more than the two buffers hold
  std::size_t sent = 0, received = 0;
  goro::run(goro::config{.maxprocs = 2}, [&]() -> goro::task<> {
    auto lt = listen_local();
    auto [ln, lerr] = co_await std::move(lt);
    setup = lerr;
    if (setup) co_return;
    // Fixed buffers (no autotuning): the receive side's set on the listener, so that
    // the accepted socket has it from the handshake on (shrinking it on an established
    // connection stalls loopback TCP: its 32 KiB segments no longer fit).
    const int buffer = 65536;
    ::setsockopt(ln.fd(), SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
    auto pair = co_await connect_pair(ln);
    setup = pair.err;
    if (setup) co_return;
    ::setsockopt(pair.client.fd(), SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
    fd = pair.client.fd();
    start_line = __LINE__ + 1;
    auto sender = goro::spawn(send_all, &pair.client, start_line, &p, &payload, &sent);
    seen = co_await parked_at(start_line, &p);
    std::array<char, 65536> buf;
    while (received < payload.size()) {
      auto [n, err] = co_await pair.server.read(buf);
      if (err || n == 0) break;
      received += n;
    }
    co_await std::move(sender);
  });
  REQUIRE_MESSAGE(!setup, setup.message());
  check_parked(seen, p, start_line, "io write", fd);
  CHECK(sent == payload.size());
  CHECK(received == payload.size());
}

// Intent: dial_tcp is a task of goro's; its connect shows the dial_tcp call's line. The
// peer never answers (a full accept queue drops SYNs), so the dial waits until cancelled.
TEST_CASE("a task parked in dial_tcp's connect shows io connect and the dial_tcp line") {
  watchdog guard("debug io connect", 60s);
  probe p;
  std::optional<goro::task_info> seen;
  std::error_code setup, dial_err;
  bool premise = false, dial_fd_is_socket = false;
  unsigned start_line = 0;
  std::vector<int> fillers;
  goro::run(goro::config{.maxprocs = 2}, [&]() -> goro::task<> {
    auto lt = listen_local(1);
    auto [ln, lerr] = co_await std::move(lt);
    setup = lerr;
    if (setup) co_return;
    const goro::net::address to = ln.local_addr();
    // As net_test.cpp: fill the accept queue; the first connect still pending after
    // 200 ms proves it is full.
    for (int i = 0; i < 64 && !premise; ++i) {
      const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      if (fd < 0) break;
      fillers.push_back(fd);
      if (::connect(fd, to.data(), to.size()) == 0) continue;
      if (errno != EINPROGRESS) break;
      pollfd pfd{fd, POLLOUT, 0};
      premise = ::poll(&pfd, 1, 200) == 0;  // blocks this worker for at most 200 ms
    }
    if (!premise) co_return;
    auto [ctx, cancel] = goro::with_cancel(goro::background());
    start_line = __LINE__ + 1;
    auto dialer = goro::spawn(dial, ctx, to.to_string(), start_line, &p, &dial_err);
    seen = co_await parked_at(start_line, &p);
    // The detail names dial_tcp's own socket, open while the connect is parked. Looked
    // up in /proc, not with fstat: nothing orders this task after the socket's creation
    // (the snapshot is a diagnostic), and ThreadSanitizer rightly flags an fstat here.
    if (seen && seen->waiting_detail.starts_with("fd ")) {
      const int fd = std::atoi(seen->waiting_detail.c_str() + 3);
      const std::string link = "/proc/self/fd/" + std::to_string(fd);
      std::array<char, 64> target{};
      const ssize_t n = ::readlink(link.c_str(), target.data(), target.size() - 1);
      dial_fd_is_socket = fd != ln.fd() && std::find(fillers.begin(), fillers.end(), fd) == fillers.end() &&
                          n > 0 && std::string_view(target.data(), static_cast<std::size_t>(n)).starts_with("socket:");
    }
    cancel();
    co_await std::move(dialer);
  });
  for (int fd : fillers) ::close(fd);
  REQUIRE_MESSAGE(!setup, setup.message());
  REQUIRE_MESSAGE(premise, "could not fill the accept queue: every connect completed");
  check_parked(seen, p, start_line, "io connect", -1);
  INFO("detail: " << seen->waiting_detail);
  CHECK(dial_fd_is_socket);
  CHECK(dial_err == goro::errc::canceled);
}

// Intent: both a plain read and read_all (a task of goro's) on a pipe; the second wait
// replaces the first in the record.
TEST_CASE("a task parked on a pipe read, then in read_all, shows io read at each line") {
  watchdog guard("debug io pipe", 60s);
  probe first, rest;
  std::optional<goro::task_info> seen_first, seen_rest;
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  goro::file r(fds[0]), w(fds[1]);
  unsigned start_line = 0;
  std::string got;
  goro::run(goro::config{.maxprocs = 2}, [&]() -> goro::task<> {
    start_line = __LINE__ + 1;
    auto reader = goro::spawn(read_pipe, &r, start_line, &first, &rest, &got);
    seen_first = co_await parked_at(start_line, &first);
    auto w1 = co_await w.write("a");
    static_cast<void>(w1);
    seen_rest = co_await parked_at(start_line, &rest);
    auto w2 = co_await w.write("bc");
    static_cast<void>(w2);
    w = goro::file();  // closed: read_all sees the end
    co_await std::move(reader);
  });
  {
    INFO("the first read");
    check_parked(seen_first, first, start_line, "io read", r.fd());
  }
  {
    INFO("read_all");
    check_parked(seen_rest, rest, start_line, "io read", r.fd());
  }
  CHECK(got == "abc");
}

// Intent: an operation of kind io (statx, through file::size, a task of goro's).
TEST_CASE("a task parked in file::size shows io, the file and the size line") {
  watchdog guard("debug io statx", 60s);
  probe p;
  std::optional<goro::task_info> seen;
  char path[] = "/tmp/goro-debug-io-XXXXXX";
  const int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  ::unlink(path);  // the descriptor keeps it
  const goro::file f(fd);
  std::atomic<bool> stop{false};
  unsigned start_line = 0;
  int calls = 0;
  goro::run(goro::config{.maxprocs = 2}, [&]() -> goro::task<> {
    start_line = __LINE__ + 1;
    auto statter = goro::spawn(stat_until, &f, &stop, start_line, &p, &calls);
    seen = co_await parked_at(start_line, &p);
    stop.store(true, std::memory_order_relaxed);  // a flag: nothing to order
    co_await std::move(statter);
  });
  check_parked(seen, p, start_line, "io", fd);
  CHECK(calls > 0);
}

TEST_CASE("a task parked in udp recv_from shows io read, the socket and the recv_from line") {
  watchdog guard("debug io udp", 60s);
  probe p;
  std::optional<goro::task_info> seen;
  std::error_code setup, send_err;
  int fd = -1;
  unsigned start_line = 0;
  std::size_t got = 0;
  goro::run(goro::config{.maxprocs = 2}, [&]() -> goro::task<> {
    auto bt = udp_socket::bind("127.0.0.1:0");
    auto [rx, err] = co_await std::move(bt);
    auto bt2 = udp_socket::bind("127.0.0.1:0");
    auto [tx, err2] = co_await std::move(bt2);
    setup = err ? err : err2;
    if (setup) co_return;
    fd = rx.fd();
    start_line = __LINE__ + 1;
    auto receiver = goro::spawn(receive_datagram, &rx, start_line, &p, &got);
    seen = co_await parked_at(start_line, &p);
    auto sent = co_await tx.send_to(rx.local_addr(), "hello");
    send_err = sent.err;
    co_await std::move(receiver);
  });
  REQUIRE_MESSAGE(!setup, setup.message());
  check_parked(seen, p, start_line, "io read", fd);
  CHECK(!send_err);
  CHECK(got == 5);
}

TEST_CASE("a task awaiting goro::blocking shows blocking and the blocking call's line") {
  watchdog guard("debug blocking", 60s);
  probe p;
  std::optional<goro::task_info> seen;
  gate g;
  unsigned start_line = 0;
  bool opened = false;
  goro::run(goro::config{.maxprocs = 2}, [&]() -> goro::task<> {
    start_line = __LINE__ + 1;
    auto waiter = goro::spawn(wait_at_gate, &g, start_line, &p, &opened);
    seen = co_await parked_at(start_line, &p);
    g.open();
    co_await std::move(waiter);
  });
  check_parked(seen, p, start_line, "blocking", -1);
  CHECK(seen->waiting_detail.empty());
  CHECK(opened);
}

#else  // !GORO_TASK_TRACE

TEST_CASE("debug_io: built with task_trace off: parking records no wait, nothing to check here") {
  MESSAGE("meson option task_trace is off");
}

#endif  // GORO_TASK_TRACE
