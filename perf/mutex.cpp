// mutex: 8 tasks increment one plain counter under a goro::mutex, 10,000,000 increments
// in all (1,250,000 each: co_await m.lock(); ++x; m.unlock();); ns per increment, i.e.
// per lock/unlock pair under contention from 8 tasks on the default number of workers.
// The counter must end at 10,000,000. Median of 3 timed runs after one warm-up
// (bench::time_median). Go twin: perf/go/mutex.go (sync.Mutex).
#include "bench.hpp"

constexpr int tasks = 8;
constexpr long long increments = 10'000'000, per_task = increments / tasks;

goro::task<> incrementer(goro::mutex* m, long long* x, goro::wait_group* wg) {
  for (long long i = 0; i < per_task; ++i) {
    co_await m->lock();
    ++*x;
    m->unlock();
  }
  wg->done();
}

goro::task<> mutex_workload() {
  goro::mutex m;
  long long x = 0;  // guarded by m
  goro::wait_group wg;
  wg.add(tasks);
  for (int t = 0; t < tasks; ++t) goro::go(incrementer, &m, &x, &wg);
  co_await wg.wait();
  bench::check("mutex", x, increments);
}

goro::task<int> amain() {
  const double ns = co_await bench::time_median(mutex_workload);
  std::printf("mutex %.2f ns\n", ns / increments);
  co_return 0;
}

int main() { return goro::run(amain); }
