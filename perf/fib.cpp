// fib: fork-join fib(27); each call spawns fib(n-1) as a task, computes fib(n-2) itself,
// then joins. Go twin: perf/go/fib.go (a goroutine and a channel per call).
#include "bench.hpp"

goro::task<long long> fib(int n) {
  if (n < 2) co_return n;
  auto left = goro::spawn(fib, n - 1);
  const long long right = co_await fib(n - 2);
  co_return co_await std::move(left) + right;
}

goro::task<> one_run() { bench::check("fib", co_await fib(27), 196'418); }

goro::task<int> amain() {
  const double ns = co_await bench::time_median(one_run);
  std::printf("fib %.2f ms\n", ns / 1e6);
  co_return 0;
}

int main() { return goro::run(amain); }
