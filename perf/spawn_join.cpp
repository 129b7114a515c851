// spawn_join: 1,000,000 tasks, each adding its index to a shared sum and signalling a
// wait group; ns per task. Go twin: perf/go/spawn_join.go.
#include <atomic>

#include "bench.hpp"

constexpr int tasks = 1'000'000;

goro::task<> spawn_join() {
  goro::wait_group wg;
  std::atomic<long long> sum = 0;
  for (int i = 0; i < tasks; ++i) {
    wg.add(1);
    goro::go([&wg, &sum](int n) {
      sum.fetch_add(n, std::memory_order_relaxed);
      wg.done();
    }, i);
  }
  co_await wg.wait();
  bench::check("spawn_join", sum.load(), 499'999'500'000LL);
}

goro::task<int> amain() {
  const double ns = co_await bench::time_median(spawn_join);
  std::printf("spawn_join %.1f ns\n", ns / tasks);
  co_return 0;
}

int main() { return goro::run(amain); }
