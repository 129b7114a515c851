// A short tour of goro: each section prints what it shows. Run it with `tools/dev tour`.
#include <goro/goro.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>

using namespace std::chrono_literals;

// Fork-join: fib(n) spawns fib(n-1) as its own task, computes fib(n-2) itself, then joins.
goro::task<long> fib(int n) {
  if (n < 2) co_return n;
  auto left = goro::spawn(fib, n - 1);   // runs concurrently, maybe on another worker
  long right = co_await fib(n - 2);      // a plain call: no new task
  co_return co_await std::move(left) + right;
}

goro::task<int> amain() {
  std::printf("goro tour: %u workers (GOMAXPROCS)\n\n", goro::maxprocs());
  bool all_correct = true;  // the exit status: the tour also runs as a test

  // 1. 100,000 tasks and a wait group: Go's `go` + sync.WaitGroup.
  {
    const auto start = goro::clock::now();
    goro::wait_group wg;
    std::atomic<long> sum = 0;
    for (int i = 0; i < 100'000; ++i) {
      wg.add(1);
      goro::go([&wg, &sum](int n) -> goro::task<> {
        sum += n;
        wg.done();
        co_return;
      }, i);
    }
    co_await wg.wait();
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(goro::clock::now() - start).count();
    std::printf("1. 100,000 tasks summed 0..99,999 = %ld in %lld us\n", sum.load(), static_cast<long long>(us));
    all_correct &= sum.load() == 4'999'950'000;
  }

  // 2. Fork-join with join handles: the result (or exception) comes back to the awaiter.
  {
    const auto start = goro::clock::now();
    const long f = co_await fib(25);
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(goro::clock::now() - start).count();
    std::printf("2. fork-join fib(25) = %ld (%s), one task per call, in %lld us\n", f,
                f == 75025 ? "correct" : "WRONG", static_cast<long long>(us));
    all_correct &= f == 75025;
    auto failing = goro::spawn([]() -> goro::task<int> {
      throw std::runtime_error("boom");
      co_return 0;
    });
    bool caught = false;
    try {
      co_await std::move(failing);
    } catch (const std::exception& e) {
      caught = true;
      std::printf("   a spawned task's exception reaches its joiner: \"%s\"\n", e.what());
    }
    all_correct &= caught;
  }

  // 3. Sleeping: 1,000 tasks sleep 20 ms at once; the whole batch takes about 20 ms.
  {
    const auto start = goro::clock::now();
    goro::wait_group wg;
    for (int i = 0; i < 1'000; ++i) {
      wg.add(1);
      goro::go([&wg]() -> goro::task<> {
        co_await goro::sleep_for(20ms);
        wg.done();
      });
    }
    co_await wg.wait();
    const auto ms = std::chrono::duration<double, std::milli>(goro::clock::now() - start).count();
    std::printf("3. 1,000 concurrent 20 ms sleeps finished after %.1f ms\n", ms);
    all_correct &= ms >= 20.0;  // never early
  }

  std::printf("\nlive tasks at the end: %zu (just main)\n", goro::num_tasks());
  co_return all_correct ? 0 : 1;
}

int main() { return goro::run(amain); }
