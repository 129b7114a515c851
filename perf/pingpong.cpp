// pingpong: two tasks bounce an int over two unbuffered channels, 1M round trips. Go twin: perf/go/pingpong.go.
#include "bench.hpp"

constexpr long long rounds = 1'000'000;

// Answers every ping with the value plus one; closes pong once ping is closed.
goro::task<> ponger(goro::recv_chan<long long> ping, goro::send_chan<long long> pong) {
  for (;;) {
    auto v = co_await ping.recv();
    if (!v) break;
    co_await pong.send(*v + 1);
  }
  pong.close();
}

goro::task<> pingpong() {
  goro::chan<long long> ping, pong;  // unbuffered
  goro::go(ponger, ping, pong);
  long long sum = 0;
  for (long long i = 0; i < rounds; ++i) {
    co_await ping.send(i);
    auto v = co_await pong.recv();
    sum += *v;
  }
  ping.close();
  auto end = co_await pong.recv();  // the ponger has finished once pong is closed
  bench::check("pingpong closed", end.has_value(), 0);
  bench::check("pingpong", sum, rounds * (rounds + 1) / 2);
}

goro::task<int> amain() {
  const double ns = co_await bench::time_median(pingpong);
  std::printf("pingpong %.1f ns\n", ns / rounds);
  co_return 0;
}

int main() { return goro::run(amain); }
