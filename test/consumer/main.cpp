// A tiny goro program built against goro as a meson subproject: tasks started with
// go and spawn, a wait_group, sleeps. Exits 0 only if every result is right.
#include <goro/goro.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>

using namespace std::chrono_literals;

namespace {

goro::task<int> square_later(int x) {
  co_await goro::sleep_for(1ms);
  co_return x * x;
}

goro::task<int> amain() {
  // Ten detached tasks add 1..10 after a short sleep; the wait_group joins them.
  goro::wait_group wg;
  std::atomic<int> sum{0};
  for (int i = 1; i <= 10; ++i) {
    wg.add(1);
    goro::go([&wg, &sum](int n) -> goro::task<> {
      co_await goro::sleep_for(2ms);
      sum.fetch_add(n, std::memory_order_relaxed);
      wg.done();
    }, i);
  }
  // Meanwhile a joinable task computes 7 * 7.
  auto squared = goro::spawn(square_later, 7);
  const int s = co_await std::move(squared);
  co_await wg.wait();

  if (sum.load() != 55 || s != 49) {
    std::fprintf(stderr, "goro_consumer: wrong results: sum %d (want 55), square %d (want 49)\n", sum.load(), s);
    co_return 1;
  }
  std::printf("goro_consumer: ok (%u workers)\n", goro::maxprocs());
  co_return 0;
}

}  // namespace

int main() { return goro::run(amain); }
