// Workers that stop cleanly when their context is cancelled: Go's
//
//   for {
//       select {
//       case job := <-jobs: process(job)
//       case <-ctx.Done(): return
//       }
//   }
//
// with goro::select(jobs.recv(), ctx.done()). A feeder queues 200 jobs on a buffered
// channel (it stops too when the context is cancelled); four workers take them; a
// reporter prints progress on every tick of a goro::ticker (Go's time.Ticker). Once 50
// jobs are done, main cancels the context. Then:
//   1. goro::after_func (Go's context.AfterFunc) logs "shutting down" on its own task;
//   2. each worker finishes the job it is running (the work is not cut short) and
//      returns; one that is idle in its select returns at once;
//   3. the feeder and the reporter return;
//   4. main, waiting on a wait_group that counts all of these, resumes, drains what is
//      left in the channel and reports those jobs as not started.
// A select picks at random among ready cases, so a worker with jobs still queued could
// pick one more job after the cancellation; each worker tests ctx.err() before it
// selects, which gives shutdown priority (Go programs do the same).
//
// Checks (exit status 1 if one fails): every job the feeder queued was either completed
// exactly once or is still in the channel (none lost, none done twice, none both);
// none was started and left unfinished; every worker exited; after_func ran; the
// progress reports never went backwards.
#include <goro/goro.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

using namespace std::chrono_literals;

constexpr int num_workers = 4;
constexpr int num_jobs = 200;
constexpr int cancel_after = 50;  // completed jobs
constexpr auto report_every = 20ms;

// Shared by every task; atomics, as they are written from several worker threads.
struct shop {
  explicit shop(int jobs) : started(jobs), completed(jobs) {}
  std::vector<std::atomic<int>> started, completed;  // per job id
  std::atomic<int> done_count{0};
  std::atomic<int> workers_exited{0};
  std::atomic<int> finished_while_shutting_down{0};
  std::atomic<bool> shutdown_logged{false};
  goro::chan<> milestone;  // closed by the worker that completes job number cancel_after
  // Written by the feeder and the reporter, read by main after the wait group.
  int accepted = 0;
  int reports = 0;
  bool reports_monotonic = true;
};

std::chrono::milliseconds job_time(int job) { return std::chrono::milliseconds(2 + job % 5); }

goro::task<> worker(goro::context ctx, int id, goro::recv_chan<int> jobs, shop* s, goro::wait_group* wg) {
  int mine = 0;
  for (;;) {
    if (ctx.err()) break;  // shutdown first, even with jobs still queued
    auto r = co_await goro::select(jobs.recv(), ctx.done());
    if (r.index() == 1) break;  // cancelled while waiting for a job
    const std::optional<int> job = std::get<0>(r);
    if (!job) break;  // the feeder closed the channel: every job was queued and taken
    ++s->started[*job];
    co_await goro::sleep_for(job_time(*job));  // the work: a plain sleep, finished even if ctx is cancelled
    ++s->completed[*job];
    ++mine;
    if (s->done_count.fetch_add(1) + 1 == cancel_after) s->milestone.close();
    if (ctx.err()) {
      ++s->finished_while_shutting_down;
      std::printf("worker %d: finished job %d after the shutdown began\n", id, *job);
    }
  }
  std::printf("worker %d: exiting after %d jobs\n", id, mine);
  ++s->workers_exited;
  wg->done();
}

// Queues jobs 0..n-1 until they are all queued or ctx is cancelled; closes the channel
// only in the first case.
goro::task<> feeder(goro::context ctx, goro::send_chan<int> jobs, int n, shop* s, goro::wait_group* wg) {
  int next = 0;
  while (next < n) {
    auto r = co_await goro::select(jobs.send(next), ctx.done());
    if (r.index() == 1) break;
    ++next;
  }
  if (next == n) jobs.close();
  s->accepted = next;
  std::printf("feeder: stopped after queueing %d of %d jobs\n", next, n);
  wg->done();
}

// Prints progress on every tick until ctx is cancelled.
goro::task<> reporter(goro::context ctx, shop* s, goro::wait_group* wg) {
  goro::ticker tick(report_every);
  const auto ticks = tick.channel();
  int last = 0;
  for (;;) {
    auto r = co_await goro::select(ticks.recv(), ctx.done());
    if (r.index() == 1) break;
    const int now = s->done_count.load();
    std::printf("progress: %3d jobs done (+%d in the last %lld ms)\n", now, now - last,
                static_cast<long long>(report_every.count()));
    s->reports_monotonic &= now >= last;
    last = now;
    ++s->reports;
  }
  wg->done();
}

goro::task<int> amain() {
  const auto start = goro::clock::now();
  auto [ctx, cancel] = goro::with_cancel(goro::background());
  goro::chan<int> jobs(16);
  shop s(num_jobs);
  goro::wait_group wg;  // the feeder, the workers, the reporter and the after_func

  wg.add(1);
  auto shutdown_log = goro::after_func(ctx, [&s, &wg] {
    std::printf("after_func: the context was cancelled, shutting down\n");
    s.shutdown_logged = true;
    wg.done();
  });
  wg.add(1);
  goro::go(feeder, ctx, jobs, num_jobs, &s, &wg);
  for (int id = 1; id <= num_workers; ++id) {
    wg.add(1);
    goro::go(worker, ctx, id, jobs, &s, &wg);
  }
  wg.add(1);
  goro::go(reporter, ctx, &s, &wg);

  // Wait for the milestone (with a safety timeout: this is also a test), then cancel.
  auto m = co_await goro::select(s.milestone.recv(), goro::after(20s));
  if (m.index() != 0) {
    // Exit at once: returning would destroy s and wg while the tasks still use them.
    std::printf("WRONG: %d jobs not done after 20 s\n", cancel_after);
    std::fflush(stdout);
    std::_Exit(1);
  }
  std::printf("main: %d jobs done, cancelling\n", cancel_after);
  cancel();
  co_await wg.wait();
  const double ms = std::chrono::duration<double, std::milli>(goro::clock::now() - start).count();

  // Whatever is still queued was accepted but never started.
  std::vector<int> queued(num_jobs, 0);
  int not_started = 0;
  bool queued_ids_valid = true;
  for (;;) {
    auto r = jobs.try_recv();
    if (r.status != goro::try_status::done) break;
    const int job = *r.value;
    if (job < 0 || job >= num_jobs) {
      queued_ids_valid = false;
      continue;
    }
    ++queued[job];
    ++not_started;
  }

  int completed = 0;
  bool accounted = queued_ids_valid;
  for (int j = 0; j < num_jobs; ++j) {
    const int c = s.completed[j].load();
    completed += c;
    accounted &= s.started[j].load() == c;                              // nothing left half done
    accounted &= j < s.accepted ? c + queued[j] == 1 : c + queued[j] == 0;  // exactly once, or never queued
  }
  std::printf("\nafter %.1f ms: %d jobs queued, %d completed (%d of them after the cancel), %d not started; "
              "%d of %d workers exited; %d progress reports\n",
              ms, s.accepted, completed, s.finished_while_shutting_down.load(), not_started,
              s.workers_exited.load(), num_workers, s.reports);

  const bool correct = accounted && completed + not_started == s.accepted && completed >= cancel_after &&
                       completed == s.done_count.load() && s.workers_exited.load() == num_workers &&
                       s.shutdown_logged.load() && s.reports_monotonic;
  std::printf("%s\n", correct ? "every queued job was completed exactly once or reported as not started"
                              : "WRONG");
  co_return correct ? 0 : 1;
}

int main() { return goro::run(amain); }
