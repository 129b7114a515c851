// timers: 100,000 tasks each sleep 100 ms, all at once (goro::sleep_for). Go twin:
// perf/go/timers.go (time.Sleep).
//
// One iteration: main spawns the 100,000 tasks; each reads the clock (its start),
// sleeps 100 ms, reads the clock again (its wake) and records its overshoot,
// wake - (start + 100 ms), then counts down a wait group that main waits on.
// Metrics:
//   timers_wall           - ms from the first spawn until main's wait returns (100 ms of
//                           sleep, plus spawning, plus the last task's overshoot);
//   timers_overshoot_p50/ - the 50th and 99th percentile and the maximum of the 100,000
//   _p99/_max               overshoots of the iteration, in us.
// A comment line gives the spread of the tasks' start times (first to last, median over
// the iterations): the deadlines are that dense, so a runtime that spawns faster has
// more timers due per millisecond, and its overshoot includes working through them.
// So the same iterations are also run with one shared deadline, 100 ms after the first
// spawn (goro::sleep_until, Go's time.Sleep(time.Until(d))): every timer is due at once
// on both sides, and timers_shared_p50/_p99/_max are the overshoots past that deadline.
// A negative overshoot is a wake before the deadline: exit 1. Each metric is the median
// over 5 timed iterations after one untimed warm-up (5, not bench::time_median's 3: an
// iteration takes only ~120 ms, and p99 and max, set by a handful of tasks, vary more
// between iterations than a total time does; picked, not tuned).
#include <algorithm>
#include <vector>

#include "bench.hpp"

using namespace std::chrono;

constexpr int tasks = 100'000;
constexpr auto period = 100ms;
constexpr int timed_iterations = 5;

struct sample {
  steady_clock::time_point start;
  double overshoot_us;
};

// shared: the common deadline, or the epoch for "100 ms from my own start".
goro::task<> sleeper(sample* out, goro::wait_group* wg, steady_clock::time_point shared) {
  const auto start = steady_clock::now();
  const auto deadline = shared == steady_clock::time_point() ? start + period : shared;
  co_await goro::sleep_until(deadline);
  const auto woke = steady_clock::now();
  out->start = start;
  out->overshoot_us = duration<double, std::micro>(woke - deadline).count();
  wg->done();
}

struct result {
  double wall_ms, p50_us, p99_us, max_us, start_spread_ms;
};

goro::task<result> timers(bool shared_deadline) {
  std::vector<sample> samples(tasks);  // slot i written by task i, read after wg.wait()
  goro::wait_group wg;
  wg.add(tasks);
  const auto start = steady_clock::now();
  const auto shared = shared_deadline ? start + period : steady_clock::time_point();
  for (int i = 0; i < tasks; ++i) goro::go(sleeper, &samples[i], &wg, shared);
  co_await wg.wait();
  const double wall_ms = duration<double, std::milli>(steady_clock::now() - start).count();
  const auto [first, last] = std::minmax_element(samples.begin(), samples.end(),
                                                 [](const sample& a, const sample& b) { return a.start < b.start; });
  const double spread_ms = duration<double, std::milli>(last->start - first->start).count();
  std::vector<double> overshoot(tasks);
  for (int i = 0; i < tasks; ++i) overshoot[i] = samples[i].overshoot_us;
  std::sort(overshoot.begin(), overshoot.end());
  if (overshoot.front() < 0) {
    std::fprintf(stderr, "timers: a task woke %.3f us before its deadline\n", -overshoot.front());
    std::exit(1);
  }
  co_return result{wall_ms, overshoot[tasks / 2], overshoot[tasks * 99 / 100], overshoot.back(), spread_ms};
}

goro::task<int> amain() {
  co_await timers(false);  // warm-up
  std::vector<double> wall, p50, p99, max, spread, shared_p50, shared_p99, shared_max;
  for (int i = 0; i < timed_iterations; ++i) {
    const result r = co_await timers(false);
    wall.push_back(r.wall_ms);
    p50.push_back(r.p50_us);
    p99.push_back(r.p99_us);
    max.push_back(r.max_us);
    spread.push_back(r.start_spread_ms);
    const result shared = co_await timers(true);
    shared_p50.push_back(shared.p50_us);
    shared_p99.push_back(shared.p99_us);
    shared_max.push_back(shared.max_us);
  }
  std::printf("timers_wall %.2f ms\n", bench::median(wall));
  std::printf("timers_overshoot_p50 %.1f us\n", bench::median(p50));
  std::printf("timers_overshoot_p99 %.1f us\n", bench::median(p99));
  std::printf("timers_overshoot_max %.1f us\n", bench::median(max));
  std::printf("timers_shared_p50 %.1f us\n", bench::median(shared_p50));
  std::printf("timers_shared_p99 %.1f us\n", bench::median(shared_p99));
  std::printf("timers_shared_max %.1f us\n", bench::median(shared_max));
  std::printf("# timers: the tasks started within %.2f ms (median)\n", bench::median(spread));
  co_return 0;
}

int main() { return goro::run(amain); }
