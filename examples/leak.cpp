// A task leak, the bug go.uber.org/goleak hunts, and its fix: a worker pool whose
// workers wait for jobs on a channel.
//
// The leaky pool hands out its jobs, adds up the results and returns, but never tells
// the workers that no more work will come: they stay parked in jobs.recv() forever. In
// Go they would sit in memory until the process exits. goro notices when the main task
// returns with tasks still alive (config::leak_check): by default it logs one warning
// summarizing them; with leak_mode::fail, as here, goro::run throws goro::leak_error,
// whose what() groups them by the line that started them and the line they wait at:
//
//   8 tasks were still alive when the main task returned (...):
//     8 tasks started at leak.cpp:<its goro::go> parked on chan recv at leak.cpp:<its jobs.recv()>
//
// The fixed pool gives its workers a context, Go's way to say "stop":
//
//   for {                                        for (;;) {
//     select {                                     auto r = co_await goro::select(jobs.recv(), ctx.done());
//     case j := <-jobs: results <- square(j)       if (r.index() == 1) break;
//     case <-ctx.Done(): return                    ...
//   } }                                          }
//
// and main cancels it, then waits for the workers with a wait_group, once the results
// are in. (Closing `jobs` would end these workers too; a context also reaches a worker
// parked somewhere else, such as in a send or a sleep.)
//
// Usage: leak [leak|fixed]   (no argument: both)
// Checks (exit status 1 if one fails): the leaky pool, run with leak_mode::fail, throws
// leak_error listing exactly its 8 workers, all started at one line of this file; the
// fixed one returns normally with the sum of the squares of 1..100. (The leaky pool does
// its work too: it prints the same sum before it returns.)
#include <goro/goro.hpp>

#include <chrono>
#include <cstdio>
#include <string_view>

constexpr int num_workers = 8, num_jobs = 100;
constexpr long expected_sum = 338'350;  // 1^2 + ... + 100^2 = n(n+1)(2n+1)/6

// A job takes a millisecond (a call to another service, say), so every worker gets some.
goro::task<long> square(int job) {
  co_await goro::sleep_for(std::chrono::milliseconds(1));
  co_return long{job} * job;
}

goro::task<> worker(goro::recv_chan<int> jobs, goro::send_chan<long> results) {
  while (auto job = co_await jobs.recv()) {
    const long r = co_await square(*job);
    co_await results.send(r);
  }
}

goro::task<> worker_until_cancelled(goro::context ctx, goro::recv_chan<int> jobs, goro::send_chan<long> results,
                                    goro::wait_group* wg) {
  for (;;) {
    auto r = co_await goro::select(jobs.recv(), ctx.done());
    if (r.index() == 1 || !std::get<0>(r)) break;  // cancelled, or jobs closed
    const long result = co_await square(*std::get<0>(r));
    co_await results.send(result);
  }
  wg->done();
}

// Hands jobs 1..num_jobs to the workers, then adds up their results (results has room
// for all of them, so no worker waits for main to receive).
goro::task<long> square_all(const goro::chan<int>& jobs, const goro::chan<long>& results) {
  for (int i = 1; i <= num_jobs; ++i) co_await jobs.send(i);
  long sum = 0;
  for (int i = 0; i < num_jobs; ++i) {
    auto r = co_await results.recv();
    sum += r.value_or(0);
  }
  co_return sum;
}

goro::task<long> leaky_pool() {
  goro::chan<int> jobs;
  goro::chan<long> results(num_jobs);
  for (int w = 0; w < num_workers; ++w) goro::go(worker, jobs, results);
  const long sum = co_await square_all(jobs, results);
  std::printf("sum %ld\n", sum);
  co_return sum;  // the workers still wait in jobs.recv()
}

goro::task<long> fixed_pool() {
  goro::chan<int> jobs;
  goro::chan<long> results(num_jobs);
  auto [ctx, stop] = goro::with_cancel(goro::background());
  goro::wait_group wg;
  for (int w = 0; w < num_workers; ++w) {
    wg.add(1);
    goro::go(worker_until_cancelled, ctx, jobs, results, &wg);
  }
  const long sum = co_await square_all(jobs, results);
  stop();
  co_await wg.wait();
  co_return sum;
}

constexpr goro::config fail_on_leaks{.leak_check = goro::config::leak_mode::fail};

bool leaky_pool_is_reported() {
  std::printf("the leaky pool, run with leak_check = fail:\n");
  try {
    const long sum = goro::run(fail_on_leaks, leaky_pool);
    std::printf("sum %ld, and goro::run returned: no leak reported\n", sum);
    return false;
  } catch (const goro::leak_error& e) {
    std::printf("goro::leak_error: %s\n", e.what());
    const auto& tasks = e.tasks();
    int from_one_line = 0;
    for (const goro::task_info& t : tasks)
      from_one_line += std::string_view(t.started_at.file_name()).ends_with("leak.cpp") &&
                       t.started_at.line() == tasks.front().started_at.line();
    return tasks.size() == num_workers && from_one_line == num_workers;
  }
}

bool fixed_pool_is_clean() {
  std::printf("the fixed pool, run with leak_check = fail:\n");
  try {
    const long sum = goro::run(fail_on_leaks, fixed_pool);
    std::printf("sum %ld, no leak\n", sum);
    return sum == expected_sum;
  } catch (const goro::leak_error& e) {
    std::printf("goro::leak_error: %s\n", e.what());
    return false;
  }
}

int main(int argc, char** argv) {
  const std::string_view mode = argc > 1 ? argv[1] : "both";
  if (mode != "both" && mode != "leak" && mode != "fixed") {
    std::fprintf(stderr, "usage: %s [leak|fixed]\n", argv[0]);
    return 2;
  }
  bool correct = true;
  if (mode != "fixed") correct &= leaky_pool_is_reported();
  if (mode != "leak") correct &= fixed_pool_is_clean();
  std::printf("%s\n", correct ? "the leak was reported, and the fix leaks nothing" : "WRONG");
  return correct ? 0 : 1;
}
