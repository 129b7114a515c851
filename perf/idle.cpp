// idle: what an idle runtime costs and how fast it wakes up. Go twin: perf/go/idle.go.
//   idle_cpu     - CPU time (user + sys) used during a 1 s sleep of the only task, as a
//                  percentage of one core, measured after a 50 ms settling sleep;
//   idle_wake    - median overshoot of 200 sleeps of 1 ms (a parked runtime woken by a
//                  timer);
//   idle_handoff - median time from goro::go on a thread outside the runtime to the
//                  task running, with every worker parked (goro only: Go has no
//                  foreign threads without cgo).
#include <sys/resource.h>

#include <atomic>
#include <thread>

#include "bench.hpp"

using namespace std::chrono;

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

goro::task<int> amain() {
  co_await goro::sleep_for(50ms);  // start-up is not idleness: let every worker park first
  {
    const double before = cpu_seconds();
    const auto start = steady_clock::now();
    co_await goro::sleep_for(1s);
    const double wall = duration<double>(steady_clock::now() - start).count();
    std::printf("idle_cpu %.3f %%\n", 100.0 * (cpu_seconds() - before) / wall);
  }
  {
    std::vector<double> overshoot;
    for (int i = 0; i < 200; ++i) {
      const auto start = steady_clock::now();
      co_await goro::sleep_for(1ms);
      overshoot.push_back(duration<double, std::micro>(steady_clock::now() - start - 1ms).count());
    }
    std::printf("idle_wake %.1f us\n", bench::median(overshoot));
  }
  {
    constexpr int rounds = 200;
    std::vector<double> latency(rounds);
    goro::wait_group wg;
    wg.add(rounds);
    // The handle: main is the only task and parked while this thread wakes it.
    std::thread outside([&, hold = goro::external_handle()] {
      for (int i = 0; i < rounds; ++i) {
        std::this_thread::sleep_for(2ms);  // let every worker park
        std::atomic<bool> ran = false;
        const auto sent = steady_clock::now();
        goro::go([&, i] {
          latency[i] = duration<double, std::micro>(steady_clock::now() - sent).count();
          ran.store(true, std::memory_order_release);
          ran.notify_one();
          wg.done();
        });
        ran.wait(false, std::memory_order_acquire);
      }
    });
    co_await wg.wait();
    outside.join();
    std::printf("idle_handoff %.1f us\n", bench::median(latency));
  }
  co_return 0;
}

int main() { return goro::run(amain); }
