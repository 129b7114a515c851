// skynet: 1,000,000 leaf tasks, fan-out 10; each node spawns its ten children and sums
// their join handles. Go twin: perf/go/skynet.go (goroutines and channels, as the classic
// benchmark).
#include <array>

#include "bench.hpp"

goro::task<long long> skynet(long long num, long long size) {
  if (size == 1) co_return num;
  std::array<goro::join_handle<long long>, 10> children;
  const long long sub = size / 10;
  for (int i = 0; i < 10; ++i) children[i] = goro::spawn(skynet, num + i * sub, sub);
  long long sum = 0;
  for (auto& child : children) sum += co_await std::move(child);
  co_return sum;
}

goro::task<> one_run() { bench::check("skynet", co_await skynet(0, 1'000'000), 499'999'500'000LL); }

goro::task<int> amain() {
  const double ns = co_await bench::time_median(one_run);
  std::printf("skynet %.2f ms\n", ns / 1e6);
  co_return 0;
}

int main() { return goro::run(amain); }
