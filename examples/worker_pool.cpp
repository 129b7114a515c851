// A worker pool (Go by Example's "Worker Pools", with a WaitGroup closing the results).
//
// Three workers take jobs from one channel and send results to another. A feeder task
// sends the jobs and closes `jobs`; each worker returns once `jobs` is closed and
// drained. A closer task waits for every worker (a wait_group) and then closes
// `results`, so main can simply range over `results`:
//
//   go func() { wg.Wait(); close(results) }()
//   for r := range results { ... }
//
// Checks that every job came back exactly once with the right answer (exit status 1 if not).
#include <goro/goro.hpp>

#include <array>
#include <chrono>
#include <cstdio>

using namespace std::chrono_literals;

struct result {
  int job;
  int worker;
  int value;
};

// Go: func worker(id int, jobs <-chan int, results chan<- result)
goro::task<> worker(int id, goro::recv_chan<int> jobs, goro::send_chan<result> results) {
  while (auto job = co_await jobs.recv()) {
    std::printf("worker %d started  job %d\n", id, *job);
    co_await goro::sleep_for(5ms);  // the "work"
    std::printf("worker %d finished job %d\n", id, *job);
    co_await results.send(result{*job, id, *job * 2});
  }
}

goro::task<int> amain() {
  constexpr int num_workers = 3;
  constexpr int num_jobs = 9;
  goro::chan<int> jobs;
  goro::chan<result> results;

  // Start the workers; the wait group counts them.
  goro::wait_group wg;
  for (int id = 1; id <= num_workers; ++id) {
    wg.add(1);
    goro::go([&wg](int id, goro::recv_chan<int> jobs, goro::send_chan<result> results) -> goro::task<> {
      co_await worker(id, jobs, results);
      wg.done();  // Go: defer wg.Done()
    }, id, jobs, results);
  }

  // The closer: once every worker is done, nobody sends on results any more.
  goro::go([&wg](goro::send_chan<result> results) -> goro::task<> {
    co_await wg.wait();
    results.close();
  }, results);

  // The feeder: send the jobs, then close the channel to tell the workers there are no more.
  goro::go([](goro::send_chan<int> jobs) -> goro::task<> {
    for (int j = 1; j <= num_jobs; ++j) co_await jobs.send(j);
    jobs.close();
  }, jobs);

  // Collect every result until the closer closes the channel.
  std::array<int, num_jobs + 1> seen{};
  std::array<int, num_workers + 1> per_worker{};
  bool correct = true;
  while (auto r = co_await results.recv()) {
    correct &= r->job >= 1 && r->job <= num_jobs && r->value == r->job * 2;
    if (r->job >= 1 && r->job <= num_jobs) ++seen[r->job];
    if (r->worker >= 1 && r->worker <= num_workers) ++per_worker[r->worker];
  }
  for (int j = 1; j <= num_jobs; ++j) correct &= seen[j] == 1;

  std::printf("\n%d results collected; jobs per worker:", num_jobs);
  for (int id = 1; id <= num_workers; ++id) std::printf(" worker %d: %d", id, per_worker[id]);
  std::printf("\n%s\n", correct ? "every job done exactly once, every result right" : "WRONG");
  co_return correct ? 0 : 1;
}

int main() { return goro::run(amain); }
