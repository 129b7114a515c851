// A TCP echo server: goro::net::listen_tcp, goro::net::serve, and a graceful stop on
// SIGINT/SIGTERM through goro::signal_notify. Go's
//
//   ln, _ := net.Listen("tcp", "127.0.0.1:7000")
//   for { c, _ := ln.Accept(); go io.Copy(c, c) }
//
//   echo_server [--port N] [--addr host:port]
//
// --port 0 (the default) asks the kernel for an ephemeral port; the address chosen is
// printed on stdout as "listening on 127.0.0.1:43567", flushed, so a script can read it.
// The server listens on 127.0.0.1 unless --addr says otherwise.
//
// Design
//   1. signal_notify({SIGINT, SIGTERM}) is called first, before the port is printed: a
//      script that reads the port and then sends SIGTERM always reaches the channel,
//      never the default action (terminate with status 143).
//   2. serve(ctx, ln, handler) starts one task per connection; each reads into a 16 KiB
//      buffer in its own frame and writes back what it read (write_all waits until the
//      kernel took it, so a client that stops reading stops its echo: TCP flow control,
//      no buffering here).
//   3. Every read and write takes ctx. On the first signal, main cancels ctx, which
//      (a) ends serve's accept loop and (b) cancels each connection's pending read or
//      write in the kernel, so each handler returns and closes its connection. Main
//      also shuts the listening socket down (shutdown(2) on a listening socket puts it
//      in the CLOSE state): connections attempted from then on are refused rather than
//      left in the backlog unanswered. serve returns once every handler has returned.
//   4. main prints how many connections the shutdown closed and returns 0.
// Rejected: closing the listener from main with ln.close() while serve still uses it
// (its fd_ would be written by one task while serve's task reads it: a data race).
#include <goro/goro.hpp>

#include <sys/socket.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace {

// Shared by main and every connection task; they all end before main returns.
struct echo_server {
  goro::context ctx;                    // cancelled on the first signal; written before serve starts
  std::atomic<long> accepted{0};        // connections handed to a handler
  std::atomic<long> open{0};            // handlers running
  std::atomic<long> closed_by_stop{0};  // handlers whose read or write the shutdown cancelled
  std::atomic<long long> bytes{0};      // echoed
};

goro::task<> echo(echo_server* s, goro::net::tcp_conn conn) {
  ++s->accepted;
  ++s->open;
  const goro::context& ctx = s->ctx;
  long long echoed = 0;
  char buf[16 * 1024];  // picked: a few segments per read, small enough for many connections
  for (;;) {
    auto [n, err] = co_await conn.read(ctx, buf);
    if (err || n == 0) {  // an error, the peer closed, or the shutdown cancelled the read
      if (err && ctx.err()) ++s->closed_by_stop;
      break;
    }
    auto writing = conn.write_all(ctx, std::string_view(buf, n));
    auto [written, werr] = co_await std::move(writing);
    echoed += static_cast<long long>(written);
    if (werr) {
      if (ctx.err()) ++s->closed_by_stop;
      break;
    }
  }
  s->bytes += echoed;
  --s->open;
  // conn's destructor closes the socket.
}

// serve copies its handler into each connection's task.
struct echo_handler {
  echo_server* s;
  goro::task<> operator()(goro::net::tcp_conn conn) const { return echo(s, std::move(conn)); }
};

goro::task<std::error_code> run_serve(goro::context ctx, const goro::net::listener* ln, echo_server* s,
                                      goro::chan<> stopped) {
  auto serving = goro::net::serve(ctx, *ln, echo_handler{s});
  const std::error_code ec = co_await std::move(serving);
  stopped.close();
  co_return ec;
}

struct options {
  std::string addr = "127.0.0.1:0";
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr, "echo_server: %s\nusage: echo_server [--port N] [--addr host:port]\n", why);
  std::exit(2);
}

options parse_args(int argc, char** argv) {
  options o;
  std::string host = "127.0.0.1";
  std::string port;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if ((arg == "--port" || arg == "--addr") && i + 1 >= argc) usage("missing value");
    if (arg == "--port") {
      port = argv[++i];
      char* end = nullptr;
      const long p = std::strtol(port.c_str(), &end, 10);
      if (port.empty() || *end != '\0' || p < 0 || p > 65535) usage("bad --port");
    } else if (arg == "--addr") {
      o.addr = argv[++i];
      host.clear();
    } else {
      usage("unknown argument");
    }
  }
  if (!port.empty()) {
    if (host.empty()) usage("give --port or --addr, not both");
    o.addr = host + ":" + port;
  }
  return o;
}

options opts;

goro::task<int> amain() {
  auto sigs = goro::signal_notify({SIGINT, SIGTERM});  // before anyone can learn the port

  auto listening = goro::net::listen_tcp(opts.addr);
  auto [ln, err] = co_await std::move(listening);
  if (err) {
    std::fprintf(stderr, "echo_server: listen on %s: %s\n", opts.addr.c_str(), err.message().c_str());
    co_return 1;
  }
  std::printf("listening on %s\n", ln.local_addr().to_string().c_str());
  std::fflush(stdout);

  auto [ctx, cancel] = goro::with_cancel(goro::background());
  echo_server s;
  s.ctx = ctx;
  goro::chan<> stopped;  // closed when serve returns
  auto server = goro::spawn(run_serve, ctx, &ln, &s, stopped);

  auto r = co_await goro::select(sigs.recv(), stopped.recv());
  if (r.index() == 1) {  // serve gave up by itself: the listener failed
    const std::error_code ec = co_await std::move(server);
    std::fprintf(stderr, "echo_server: accept: %s\n", ec.message().c_str());
    co_return 1;
  }
  const int sig = std::get<0>(r).value_or(0);
  cancel();                        // serve stops accepting; every handler's I/O is cancelled
  ::shutdown(ln.fd(), SHUT_RDWR);  // refuse new connections now (see Design, 3)
  // Printed once new connections are refused: a test may check that from this line on.
  std::printf("signal %d (%s): stopping, no longer accepting; %ld connection(s) open\n", sig, strsignal(sig),
              s.open.load());
  std::fflush(stdout);
  const std::error_code ec = co_await std::move(server);
  std::printf("stopped: %ld connection(s) served, %ld closed by the shutdown, %lld bytes echoed%s%s\n",
              s.accepted.load(), s.closed_by_stop.load(), s.bytes.load(), ec ? "; serve: " : "",
              ec ? ec.message().c_str() : "");
  std::fflush(stdout);
  co_return 0;
}

}  // namespace

int main(int argc, char** argv) {
  opts = parse_args(argc, argv);
  return goro::run(amain);
}
