// A data race and its two fixes: goro's answer to Go's `go run -race` demo.
//
// 1,000 tasks each add 1 to a shared counter 1,000 times (Go by Example's counters);
// main waits for them with a wait_group and prints the count, which should be 1,000,000.
// The tasks run on every worker thread at once, so the three versions differ:
//
//   race racy      ++counter on a plain int, no lock: two tasks on two workers can read
//                  the same value and both store it + 1, losing an increment, so the count
//                  may come out short. A ThreadSanitizer build reports "WARNING:
//                  ThreadSanitizer: data race" at the ++ (README, "Race builds":
//                  meson setup build-race -Db_sanitize=thread).
//   race mutex     each ++ under a goro::mutex (Go: mu.Lock(); count++; mu.Unlock()).
//   race channel   one task owns the counter; the others send it +1 on a channel for each
//                  increment ("share memory by communicating"): only the owner touches it.
//   race           both fixed versions (what `meson test --suite examples` runs).
//
// Why TSan is silent on the fixed versions: it reports two accesses, one a write, that
// no happens-before edge orders. goro's mutex orders each unlock before the next lock, a
// channel orders each send before its receive, and wg.done() orders each task's work
// before main's wait() returns; that last edge is also why main's read of the counter is
// not part of the race, even in the racy version.
//
// Why 1,000 increments per task, not one: TSan sees worker threads, not tasks, and the
// scheduler's own synchronization (a steal, each wg.done()) orders tasks that do not
// overlap in time. One increment takes less time than spawning the next task, so the
// second worker runs each task as it is spawned, one after another, and TSan caught the
// race in 7 to 20 of 20 runs, depending on the load; with 1,000 the tasks overlap on both
// workers and it caught it in all of 60 runs, on 2 loaded cores and on 1 (test_race.py
// checks it). In goro's model the race is there either way: any task may run on any worker.
//
// Exit status: 1 if a fixed version did not count 1,000,000; racy always exits 0 (under
// TSan the sanitizer makes it exit 66).
#include <goro/goro.hpp>

#include <cstdio>
#include <cstring>

constexpr int num_tasks = 1'000;
constexpr int increments_per_task = 1'000;
constexpr int expected = num_tasks * increments_per_task;

// Go: go func() { for range 1000 { count++ }; wg.Done() }()
goro::task<> add_racy(int* counter, goro::wait_group* wg) {
  for (int i = 0; i < increments_per_task; ++i)
    ++*counter;  // the data race: a task on another worker may be doing the same right now
  wg->done();
  co_return;
}

goro::task<> add_locked(goro::mutex* mu, int* counter, goro::wait_group* wg) {
  for (int i = 0; i < increments_per_task; ++i) {
    auto lock = co_await mu->scoped_lock();
    ++*counter;
  }
  wg->done();
}

goro::task<> send_increments(goro::send_chan<int> increments, goro::wait_group* wg) {
  for (int i = 0; i < increments_per_task; ++i) co_await increments.send(1);
  wg->done();
}

// The counter's only owner: it sums what arrives until the channel is closed.
goro::task<int> count_owner(goro::recv_chan<int> increments) {
  int counter = 0;
  while (auto delta = co_await increments.recv()) counter += *delta;
  co_return counter;
}

goro::task<int> count_racy() {
  int counter = 0;
  goro::wait_group wg;
  for (int i = 0; i < num_tasks; ++i) {
    wg.add(1);
    goro::go(add_racy, &counter, &wg);
  }
  co_await wg.wait();
  co_return counter;
}

goro::task<int> count_with_mutex() {
  goro::mutex mu;
  int counter = 0;  // under mu
  goro::wait_group wg;
  for (int i = 0; i < num_tasks; ++i) {
    wg.add(1);
    goro::go(add_locked, &mu, &counter, &wg);
  }
  co_await wg.wait();
  co_return counter;
}

goro::task<int> count_with_channel() {
  goro::chan<int> increments;
  auto owner = goro::spawn(count_owner, increments);
  goro::wait_group wg;
  for (int i = 0; i < num_tasks; ++i) {
    wg.add(1);
    goro::go(send_increments, increments, &wg);
  }
  co_await wg.wait();
  increments.close();  // every send has been received: the owner may stop
  co_return co_await std::move(owner);
}

struct version {
  const char* name;
  goro::task<int> (*count)();
  bool exact;  // a fixed version: any count but `expected` is a bug
};
constexpr version versions[] = {
    {"racy", count_racy, false},
    {"mutex", count_with_mutex, true},
    {"channel", count_with_channel, true},
};

// Runs one version and prints its count; false if a fixed version miscounted.
goro::task<bool> run_version(const version* v) {
  const int count = co_await v->count();
  std::printf("%-7s counter = %d after %d increments\n", v->name, count, expected);
  if (count == expected) co_return true;
  std::printf("  %d increments were lost%s\n", expected - count, v->exact ? ": WRONG" : "");
  co_return !v->exact;
}

// Runs the chosen version, or both fixed ones when none was chosen.
goro::task<int> amain(const version* chosen) {
  bool ok = true;
  for (const version& v : versions) {
    if (chosen ? &v != chosen : !v.exact) continue;
    const bool counted = co_await run_version(&v);
    ok &= counted;
  }
  co_return ok ? 0 : 1;
}

int main(int argc, char** argv) {
  const version* chosen = nullptr;
  if (argc > 1) {
    for (const version& v : versions)
      if (std::strcmp(argv[1], v.name) == 0) chosen = &v;
    if (!chosen) {
      std::fprintf(stderr, "usage: %s [racy|mutex|channel]\n", argv[0]);
      return 2;
    }
  }
  return goro::run([chosen] { return amain(chosen); });
}
