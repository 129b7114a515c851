// ctx_tree: cancelling a tree of 111,111 cancel contexts with 100,000 parked waiters.
// Go twin: perf/go/ctx_tree.go.
//
// One iteration:
//   1. build (timed: ctx_tree_build): a root with_cancel(background()), then 5 levels of
//      fan-out 10, each node with_cancel(its parent): 10 + 100 + 1,000 + 10,000 + 100,000
//      = 111,110 cancel contexts below the root, 111,111 with it. Contexts and cancel
//      functions are kept in one vector per level, reserved before the clock starts.
//   2. one task per leaf (100,000) awaits that leaf's done(). Each is known to be parked:
//      it counts down `parked` from inside done()'s own await_suspend, after that
//      returned true (the waiter is queued on the leaf), so main's parked.wait() returns
//      only once all 100,000 are queued. Main then sleeps 10 ms so that every worker is
//      idle when the clock starts (the Go twin does the same after checking a dump of
//      every goroutine's stack).
//   3. cancel (timed: ctx_tree_cancel): from calling the root's cancel until main's
//      wait on `woke` returns; each waiter calls woke.done() as soon as it resumes. That
//      is: cancelling every descendant (cancel returns only after that), making 100,000
//      tasks runnable, and running them on both workers.
//   4. checks: every waiter's done() result and every leaf's err() is errc::canceled,
//      and no waiter found its leaf done before the cancel; else exit 1.
// Each metric is the median of 3 timed iterations after one untimed warm-up (the scheme
// of bench::time_median, with two clocks per iteration). A comment line reports how long
// the root's cancel() call itself took (median), the rest of ctx_tree_cancel is waking.
#include <atomic>
#include <coroutine>
#include <vector>

#include "bench.hpp"

using namespace std::chrono;

constexpr int fanout = 10, depth = 5;
constexpr long long leaves = 100'000;             // fanout ^ depth
constexpr long long contexts = 111'111;           // the root and its 111,110 descendants

using node = goro::with_cancel_result<goro::cancel_func>;

struct shared {
  goro::wait_group parked, woke;
  std::atomic<long long> early = 0;  // waiters whose leaf was done before they parked
  std::atomic<long long> wrong = 0;  // waiters woken with another result than canceled
};

// co_await leaf.done(), counting down `parked` once the task is parked on the leaf. It
// drives done()'s own awaiter (await_suspend, await_resume), so the wait is done()'s.
struct done_then_signal {
  goro::done_case done;
  shared* s;

  bool await_ready() const noexcept { return false; }  // await_suspend tells whether it parks
  bool await_suspend(std::coroutine_handle<> task) noexcept {
    shared* const sh = s;  // read first: once parked, the task may resume and end this awaiter
    const bool parked = done.await_suspend(task);
    if (!parked) sh->early.fetch_add(1, std::memory_order_relaxed);
    sh->parked.done();
    return parked;
  }
  std::error_code await_resume() const noexcept { return done.await_resume(); }
};

goro::task<> waiter(goro::context leaf, shared* s) {
  // Named, not a temporary in the co_await: g++ 12 destroys such a temporary's members
  // twice (see goro/spawn.hpp), here the done_case's context reference.
  done_then_signal done{leaf.done(), s};
  const std::error_code ec = co_await done;
  if (ec != goro::errc::canceled) s->wrong.fetch_add(1, std::memory_order_relaxed);
  s->woke.done();
}

struct timings {
  double build_ns, cancel_ns, cancel_call_ns;
};

goro::task<timings> ctx_tree() {
  std::vector<std::vector<node>> levels(depth + 1);
  for (int d = 0, n = 1; d <= depth; ++d, n *= fanout) levels[d].reserve(n);

  const auto t0 = steady_clock::now();
  levels[0].push_back(goro::with_cancel(goro::background()));
  for (int d = 1; d <= depth; ++d)
    for (const node& parent : levels[d - 1])
      for (int k = 0; k < fanout; ++k) levels[d].push_back(goro::with_cancel(parent.ctx));
  const auto t1 = steady_clock::now();
  long long built = 0;
  for (const auto& level : levels) built += static_cast<long long>(level.size());
  bench::check("ctx_tree contexts", built, contexts);
  bench::check("ctx_tree leaves", static_cast<long long>(levels[depth].size()), leaves);

  shared s;
  s.parked.add(leaves);
  s.woke.add(leaves);
  for (const node& leaf : levels[depth]) goro::go(waiter, leaf.ctx, &s);
  co_await s.parked.wait();
  co_await goro::sleep_for(10ms);  // every worker idle, as in the Go twin

  const auto t2 = steady_clock::now();
  levels[0][0].cancel();
  const auto t3 = steady_clock::now();
  co_await s.woke.wait();
  const auto t4 = steady_clock::now();

  bench::check("ctx_tree waiters that found their leaf done before the cancel", s.early.load(), 0);
  bench::check("ctx_tree waiters woken without errc::canceled", s.wrong.load(), 0);
  long long canceled = 0;
  for (const node& leaf : levels[depth]) canceled += leaf.ctx.err() == goro::errc::canceled;
  bench::check("ctx_tree leaves whose err() is canceled", canceled, leaves);

  co_return timings{duration<double, std::nano>(t1 - t0).count(), duration<double, std::nano>(t4 - t2).count(),
                    duration<double, std::nano>(t3 - t2).count()};
}

goro::task<int> amain() {
  co_await ctx_tree();  // warm-up
  std::vector<double> build, cancel, cancel_call;
  for (int i = 0; i < 3; ++i) {
    const timings t = co_await ctx_tree();
    build.push_back(t.build_ns);
    cancel.push_back(t.cancel_ns);
    cancel_call.push_back(t.cancel_call_ns);
  }
  std::printf("# ctx_tree: %lld cancel contexts (root included), %lld parked waiters\n", contexts, leaves);
  std::printf("ctx_tree_build %.2f ms\n", bench::median(build) / 1e6);
  std::printf("ctx_tree_cancel %.2f ms\n", bench::median(cancel) / 1e6);
  std::printf("# ctx_tree: the root's cancel() call returned after %.2f ms (median)\n", bench::median(cancel_call) / 1e6);
  co_return 0;
}

int main() { return goro::run(amain); }
