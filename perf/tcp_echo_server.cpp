// tcp_echo_server: goro's side of the tcp_echo benchmark. Go twin: perf/go/tcp_echo.go;
// both are driven by perf/tcp_load.cpp, started by perf/run.py.
//
//   bench_tcp_echo_server [--port N]     (0, the default: an ephemeral port)
//
// prints `listening on 127.0.0.1:PORT` as its first stdout line once it accepts, then
// echoes every connection until it is killed (SIGTERM's default action, like its Go twin).
//
// What a goro programmer writes: goro::net::serve starts one task per connection, which
// reads into a buffer and writes back what it read. Accepted connections have
// TCP_NODELAY set, in goro as in Go (goro/net.hpp), so neither side's small echo waits
// for Nagle's algorithm. The 4 KiB buffer lives in the task's frame; the Go twin's is a
// 4 KiB slice on its goroutine.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <goro/goro.hpp>

goro::task<> echo(goro::net::tcp_conn conn) {
  char buf[4096];
  for (;;) {
    auto [n, err] = co_await conn.read(buf);
    if (err || n == 0) co_return;  // reset or closed by the client
    auto w = co_await conn.write_all({buf, n});
    if (w.err) co_return;
  }
}

goro::task<int> amain(int port) {
  const std::string where = "127.0.0.1:" + std::to_string(port);
  auto [ln, err] = co_await goro::net::listen_tcp(where);
  if (err) {
    std::fprintf(stderr, "tcp_echo_server: listen on %s: %s\n", where.c_str(), err.message().c_str());
    co_return 1;
  }
  std::printf("listening on %s\n", ln.local_addr().to_string().c_str());
  std::fflush(stdout);
  auto served = co_await goro::net::serve(goro::background(), ln, echo);
  std::fprintf(stderr, "tcp_echo_server: serve: %s\n", served.message().c_str());
  co_return 1;
}

int main(int argc, char** argv) {
  long port = 0;
  char* end = nullptr;
  if (argc == 3 && std::strcmp(argv[1], "--port") == 0) port = std::strtol(argv[2], &end, 10);
  if ((argc != 1 && argc != 3) || (end != nullptr && *end != '\0') || port < 0 || port > 65535 ||
      (argc == 3 && end == nullptr)) {
    std::fprintf(stderr, "usage: %s [--port N]\n", argv[0]);
    return 2;
  }
  return goro::run([port] { return amain(static_cast<int>(port)); });
}
