// Tests for include/goro/io.hpp: goro::blocking, and the I/O core's contract (result
// values, cancellation by a context, EOF, errors as values, where I/O may be awaited)
// exercised through pipes whose ends are adopted by goro::file.
//
// How the contract is checked
//   1. Parallelism without sleeps. Calls meet at a rendezvous of N: each call waits
//      (at most 10 s) until all N have arrived, and reports whether they did. Only N
//      calls running at once can all report success; a serial pool makes the first call
//      time out and report failure (no hang: the wait is bounded).
//   2. The blocking-thread bound. Each call counts itself into `running`, records the
//      maximum, waits until a partner is running too (at most 5 s), then gives a third
//      call 20 ms to show up (a bounded wait for something that must NOT happen) before
//      it leaves. A pool above the bound makes `running` exceed it; the maximum must be
//      exactly the bound (reaching it shows the check could see a violation).
//   3. Parked, then cancelled. The reader sets a flag right before its co_await; the
//      canceller waits for the flag, then sleeps 2 ms so that the read has been
//      submitted to the kernel by the time cancel() runs (it makes the kernel-cancel path
//      the one being timed; the contract holds either way, so this does not hide a race).
//      The latency is from just before cancel() to the reader's first instruction after
//      its co_await. The issue asks for 10 ms, asserted for each of 10 samples with no
//      retry: measured worst cases were about 0.1 ms (plain, TSan and ASan builds, load
//      average 10 on 2 cores), so the bound has a 100x margin for a noisy machine.
//   4. The buffer is never written after the operation returns, and nothing is lost: the
//      buffer is filled with a pattern, the read is cancelled, then data is written to
//      the pipe. A later read (bounded by a 5 s timeout) must get exactly that data, and
//      the first buffer must still hold the pattern afterwards.
//   5. No suspension for a context already done: a probe task is queued on the only
//      worker (maxprocs = 1) before the co_await; it can run only if the read suspends.
//      A positive control (a read that parks) shows the probe does run then.
//   6. Race of cancel and completion: one pipe for 1000 iterations, each with a reader,
//      a write and a cancel in one of five orders (one of them a foreign thread's write
//      against cancel(), each side delayed at random); every byte written carries its
//      position in the stream, so the concatenation of everything every read returned
//      and of what cancelled reads left in the pipe (collected after each iteration, so
//      that every reader starts on an empty pipe) must be the written stream exactly.
//      Both outcomes must occur (a race won by one side only would prove little).
//
// Results are collected in plain variables and checked on the test thread after
// goro::run returns: doctest assertions stay off worker threads. Every test that waits
// has a watchdog (test_support.hpp) that turns a lost wake-up into a failure.
//
// g++ 12 notes (README's "Known compiler issues"): contexts, tasks taking by-value
// arguments and lambdas with non-trivial captures are named before they are awaited; no
// co_await is the bare condition of an if or while.
#include <doctest/doctest.h>

#include <goro/goro.hpp>

#include "test_support.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <coroutine>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using steady = goro::clock;  // not `using goro::clock`: it would clash with ::clock()
using goro_test::problems;
using goro_test::watchdog;

namespace {

const std::error_code none{};
const std::error_code canceled = goro::errc::canceled;
const std::error_code deadline_exceeded = goro::errc::deadline_exceeded;

// The bound on the time from cancel() to the cancelled operation's return.
constexpr auto cancel_latency_bound = 10ms;

std::string show(std::error_code ec) {
  if (!ec) return "none";
  return std::string(ec.category().name()) + ":" + std::to_string(ec.value()) + " (" + ec.message() + ")";
}

double to_ms(steady::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// A pipe whose two ends are goro::files.
struct pipe_ends {
  goro::file r, w;
};

pipe_ends make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
  return {goro::file(fds[0]), goro::file(fds[1])};
}

// write(2) all of s (a pipe with room for it: does not block).
void raw_write(int fd, std::string_view s) {
  while (!s.empty()) {
    const ssize_t n = ::write(fd, s.data(), s.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "write");
    }
    s.remove_prefix(static_cast<std::size_t>(n));
  }
}

// Whether fd has data (or EOF) to read right now.
bool readable_now(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0;
}

template <std::size_t N>
bool holds_only(const std::array<char, N>& buf, char c) {
  return std::all_of(buf.begin(), buf.end(), [c](char x) { return x == c; });
}

// A meeting point for n threads; each waits at most `limit` for all n to arrive.
class rendezvous {
 public:
  explicit rendezvous(int n) : n_(n) {}
  bool arrive_and_wait(std::chrono::milliseconds limit) {
    std::unique_lock lock(mu_);
    if (++arrived_ >= n_) cv_.notify_all();
    return cv_.wait_for(lock, limit, [this] { return arrived_ >= n_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int arrived_ = 0;  // under mu_
  const int n_;
};

// A read with a timeout: the data it got (empty on an error), or the error. Used to
// collect data that must be in a pipe without hanging if it is not.
goro::task<goro::result<std::string>> read_some(const goro::file* f, std::chrono::milliseconds limit) {
  auto [ctx, cancel] = goro::with_timeout(goro::background(), limit);
  std::array<char, 4096> buf{};
  auto [n, err] = co_await f->read(ctx, buf);
  co_return goro::result<std::string>{std::string(buf.data(), n), err};
}

}  // namespace

// ================================================================ goro::blocking

// Intent: blocking(fn) returns fn's value; fn runs on a thread that is not the worker,
// and the awaiting task resumes on a worker (the only one: the thread that called run).
TEST_CASE("blocking returns fn's value; fn runs off the worker and the task resumes on the worker") {
  watchdog guard("blocking value", 60s);
  const std::thread::id test_thread = std::this_thread::get_id();
  int value = 0;
  std::thread::id fn_thread, before, after;
  std::string text;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    before = std::this_thread::get_id();
    value = co_await goro::blocking([&fn_thread] {
      fn_thread = std::this_thread::get_id();
      return 42;
    });
    after = std::this_thread::get_id();
    const std::string prefix = "abc";
    auto concat = [prefix] { return prefix + "def"; };  // non-trivial capture: named
    auto t = goro::blocking(concat);
    text = co_await std::move(t);
  });
  CHECK(value == 42);
  CHECK(text == "abcdef");
  CHECK(before == test_thread);
  CHECK(after == test_thread);  // the one worker
  CHECK(fn_thread != std::thread::id());
  CHECK(fn_thread != test_thread);  // the pool, not the worker
}

namespace {
struct no_default {
  explicit no_default(int v) : value(std::make_unique<int>(v)) {}
  std::unique_ptr<int> value;
};
}  // namespace

// Intent: void functions (their effects are visible after the co_await), move-only
// results and results without a default constructor.
TEST_CASE("blocking: void functions, move-only results, results without a default constructor") {
  watchdog guard("blocking types", 60s);
  int side_effect = 0;
  int owned = 0, constructed = 0;
  goro::run(goro::config{.maxprocs = 2}, [&]() -> goro::task<> {
    co_await goro::blocking([&side_effect] { side_effect = 7; });
    std::unique_ptr<int> p = co_await goro::blocking([] { return std::make_unique<int>(99); });
    owned = p ? *p : -1;
    no_default nd = co_await goro::blocking([] { return no_default(5); });
    constructed = nd.value ? *nd.value : -1;
  });
  CHECK(side_effect == 7);
  CHECK(owned == 99);
  CHECK(constructed == 5);
}

namespace {
struct custom_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
}  // namespace

// Intent: an exception thrown by fn is rethrown to the awaiting task, with its type and
// message; the task carries on afterwards (the pool is not broken by it).
TEST_CASE("blocking rethrows fn's exception to the awaiting task") {
  watchdog guard("blocking exception", 60s);
  std::string caught;
  bool caught_void = false;
  int after = 0;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    try {
      int v = co_await goro::blocking([]() -> int { throw custom_error("boom"); });
      caught = "no exception, got " + std::to_string(v);
    } catch (const custom_error& e) {
      caught = e.what();
    } catch (...) {
      caught = "another type";
    }
    try {
      co_await goro::blocking([] { throw std::out_of_range("void"); });
    } catch (const std::out_of_range&) {
      caught_void = true;
    }
    after = co_await goro::blocking([] { return 3; });
  });
  CHECK(caught == "boom");
  CHECK(caught_void);
  CHECK(after == 3);
}

// Intent: blocking calls run in parallel (technique 1): 8 calls that each wait for all 8
// can only all succeed if 8 run at once. Also the tasks: 8 tasks on 2 workers each
// await one call, so the workers are free while the calls block.
TEST_CASE("blocking runs calls in parallel: 8 calls meet at a rendezvous of 8") {
  watchdog guard("blocking parallel", 60s);
  constexpr int n = 8;
  rendezvous meet(n);
  std::atomic<int> met{0}, finished{0};
  goro::run(goro::config{.maxprocs = 2}, [&]() -> goro::task<> {
    goro::wait_group wg;
    for (int i = 0; i < n; ++i) {
      wg.add(1);
      goro::go([&]() -> goro::task<> {
        const bool ok = co_await goro::blocking([&meet] { return meet.arrive_and_wait(10'000ms); });
        if (ok) met.fetch_add(1);
        finished.fetch_add(1);
        wg.done();
      });
    }
    co_await wg.wait();
  });
  CHECK(finished.load() == n);
  CHECK(met.load() == n);
}

// Intent: with config::max_blocking_threads = 2, never more than 2 calls run at once,
// and 2 do (technique 2). 8 calls from 8 tasks, all submitted at once.
TEST_CASE("blocking respects config::max_blocking_threads = 2") {
  watchdog guard("blocking bound", 60s);
  struct gauge {
    std::mutex mu;
    std::condition_variable cv;
    int running = 0;      // under mu
    int max_running = 0;  // under mu
    void call() {
      std::unique_lock lock(mu);
      max_running = std::max(max_running, ++running);
      cv.notify_all();
      cv.wait_for(lock, 5s, [this] { return max_running >= 2; });
      // A bounded wait for what must not happen: a third call running.
      cv.wait_for(lock, 20ms, [this] { return running > 2; });
      --running;
      cv.notify_all();
    }
  } g;
  std::atomic<int> finished{0};
  goro::run(goro::config{.maxprocs = 2, .max_blocking_threads = 2}, [&]() -> goro::task<> {
    goro::wait_group wg;
    for (int i = 0; i < 8; ++i) {
      wg.add(1);
      goro::go([&]() -> goro::task<> {
        co_await goro::blocking([&g] { g.call(); });
        finished.fetch_add(1);
        wg.done();
      });
    }
    co_await wg.wait();
  });
  CHECK(finished.load() == 8);
  CHECK(g.max_running == 2);
}

// Intent: many calls (more than max_blocking_threads, from many tasks) all complete,
// each with its own result.
TEST_CASE("1000 blocking calls from 1000 tasks all complete with their own results") {
  watchdog guard("blocking 1000", 120s);
  constexpr int n = 1000;
  std::atomic<long long> sum{0};
  std::atomic<int> finished{0};
  std::mutex mu;
  std::set<std::thread::id> pool_threads;
  goro::run(goro::config{.maxprocs = 2, .max_blocking_threads = 8}, [&]() -> goro::task<> {
    goro::wait_group wg;
    for (int i = 0; i < n; ++i) {
      wg.add(1);
      goro::go([&](int k) -> goro::task<> {
        const long long v = co_await goro::blocking([k, &mu, &pool_threads] {
          std::lock_guard lock(mu);
          pool_threads.insert(std::this_thread::get_id());
          return static_cast<long long>(k) * k;
        });
        sum.fetch_add(v);
        finished.fetch_add(1);
        wg.done();
      }, i);
    }
    co_await wg.wait();
  });
  CHECK(finished.load() == n);
  CHECK(sum.load() == 332'833'500LL);  // sum of k^2 for k < 1000
  // Idle threads exit only after 10 s, so within this run at most 8 were started.
  CHECK(pool_threads.size() <= 8);
  CHECK(pool_threads.size() >= 1);
}

// Intent: goro::run waits for a blocking call that is running when the main task ends;
// a call still queued (max_blocking_threads = 1, the one thread busy) is dropped with its
// task, and the task is not resumed.
TEST_CASE("goro::run waits for running blocking calls and drops calls not started") {
  watchdog guard("blocking at run end", 60s);
  static std::atomic<bool> first_started{false}, first_finished{false}, second_ran{false};
  static std::atomic<bool> first_task_resumed{false}, second_task_resumed{false};
  first_started = first_finished = second_ran = first_task_resumed = second_task_resumed = false;
  goro::run(goro::config{.maxprocs = 2, .max_blocking_threads = 1}, []() -> goro::task<> {
    goro::go([]() -> goro::task<> {
      co_await goro::blocking([] {
        first_started = true;
        // Long enough that run, if it did not wait, would return well before this ends.
        std::this_thread::sleep_for(100ms);
        first_finished = true;
      });
      first_task_resumed = true;
    });
    while (!first_started.load()) co_await goro::yield();
    goro::go([]() -> goro::task<> {
      co_await goro::blocking([] { second_ran = true; });
      second_task_resumed = true;
    });
    // Give the second task time to queue its call (the only pool thread is busy).
    co_await goro::sleep_for(10ms);
  });
  CHECK(first_finished.load());  // run waited for it
  CHECK_FALSE(first_task_resumed.load());  // its task was parked when main ended
  CHECK_FALSE(second_ran.load());
  CHECK_FALSE(second_task_resumed.load());
}

// ================================================================ reads on pipes

// Intent: a read finds data already in the pipe and returns it (with and without a live
// context), a short read returns what is there, a larger payload arrives in order.
TEST_CASE("a read with data already available completes with that data") {
  watchdog guard("read available", 60s);
  std::string plain, with_ctx, partial_first, partial_rest;
  std::error_code e1{}, e2{}, e3{};
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    auto p = make_pipe();
    raw_write(p.w.fd(), "ping");
    std::array<char, 16> buf{};
    auto [n1, err1] = co_await p.r.read(buf);
    plain.assign(buf.data(), n1);
    e1 = err1;

    auto [ctx, cancel] = goro::with_cancel(goro::background());
    auto w = co_await p.w.write("pong!");  // through the ring
    e3 = w.err;
    auto [n2, err2] = co_await p.r.read(ctx, buf);
    with_ctx.assign(buf.data(), n2);
    e2 = err2;

    raw_write(p.w.fd(), "0123456789");
    std::array<char, 4> small{};
    auto r3 = co_await p.r.read(small);
    partial_first.assign(small.data(), r3.value);
    auto r4 = co_await p.r.read(buf);
    partial_rest.assign(buf.data(), r4.value);
  });
  CHECK(plain == "ping");
  CHECK(e1 == none);
  CHECK(e3 == none);
  CHECK(with_ctx == "pong!");
  CHECK(e2 == none);
  CHECK(partial_first == "0123");
  CHECK(partial_rest == "456789");
}

// Intent: a read parked on an empty pipe ends with errc::canceled within 10 ms of a
// cancel() from another task (technique 3); the buffer keeps its pattern and data
// written afterwards is read by the next read (technique 4).
TEST_CASE("a parked read is cancelled by another task within 10 ms, keeps its buffer, loses nothing") {
  watchdog guard("cancel latency", 120s);
  constexpr int samples = 10;
  struct sample {
    std::error_code err;
    std::size_t n = 99;
    double latency_ms = -1;
    bool returned_before_cancel = true;
    bool pattern_kept = false;
    goro::result<std::string> later;
  };
  std::vector<sample> all(samples);
  goro::run(goro::config{.maxprocs = 2}, [&]() -> goro::task<> {
    for (sample& out : all) {
      auto p = make_pipe();
      auto [ctx, cancel] = goro::with_cancel(goro::background());
      std::array<char, 64> buf;
      buf.fill('x');
      std::atomic<bool> started{false}, returned{false};
      steady::time_point returned_at{};
      auto reader = goro::spawn([&]() -> goro::task<goro::result<std::size_t>> {
        started.store(true);
        auto r = co_await p.r.read(ctx, buf);
        returned_at = steady::now();
        returned.store(true);
        co_return r;
      });
      while (!started.load()) co_await goro::yield();
      co_await goro::sleep_for(2ms);  // technique 3: the read reaches the kernel
      out.returned_before_cancel = returned.load();
      const auto t0 = steady::now();
      cancel();
      auto [n, err] = co_await std::move(reader);
      out.latency_ms = to_ms(returned_at - t0);
      out.err = err;
      out.n = n;
      raw_write(p.w.fd(), "after-cancel");
      out.later = co_await read_some(&p.r, 5000ms);
      out.pattern_kept = holds_only(buf, 'x');
    }
  });
  double worst = 0;
  for (int s = 0; s < samples; ++s) {
    CAPTURE(s);
    const sample& a = all[s];
    CHECK_FALSE(a.returned_before_cancel);
    CHECK(a.err == canceled);
    CHECK(a.n == 0);
    CHECK(a.pattern_kept);
    CHECK(a.later.err == none);
    CHECK(a.later.value == "after-cancel");
    INFO("latency (ms): " << a.latency_ms);
    CHECK(a.latency_ms < to_ms(cancel_latency_bound));
    worst = std::max(worst, a.latency_ms);
  }
  MESSAGE("cancel -> return latency: worst of " << samples << " samples " << worst << " ms");
}

// Intent: a write parked on a full pipe is cancelled and writes nothing: the pipe holds
// exactly what filled it, and a later write goes through.
TEST_CASE("a write parked on a full pipe is cancelled and writes nothing") {
  watchdog guard("cancel write", 60s);
  std::error_code write_err{}, later_err{};
  std::size_t written = 99, drained = 0, capacity = 0;
  bool returned_before_cancel = true;
  std::string tail;
  goro::run(goro::config{.maxprocs = 2}, [&]() -> goro::task<> {
    auto p = make_pipe();
    const int sz = ::fcntl(p.w.fd(), F_SETPIPE_SZ, 4096);
    if (sz < 0) throw std::system_error(errno, std::generic_category(), "F_SETPIPE_SZ");
    capacity = static_cast<std::size_t>(sz);
    raw_write(p.w.fd(), std::string(capacity, 'f'));  // full now
    auto [ctx, cancel] = goro::with_cancel(goro::background());
    std::atomic<bool> started{false}, returned{false};
    auto writer = goro::spawn([&]() -> goro::task<goro::result<std::size_t>> {
      started.store(true);
      auto r = co_await p.w.write(ctx, "0123456789");
      returned.store(true);
      co_return r;
    });
    while (!started.load()) co_await goro::yield();
    co_await goro::sleep_for(2ms);  // technique 3
    returned_before_cancel = returned.load();
    cancel();
    auto r = co_await std::move(writer);
    written = r.value;
    write_err = r.err;
    // Drain: exactly the filler, nothing of the cancelled write.
    for (;;) {
      auto got = co_await read_some(&p.r, 200ms);
      if (got.err || got.value.empty()) break;
      drained += got.value.size();
      if (got.value.find_first_not_of('f') != std::string::npos) tail = got.value;
    }
    auto w2 = co_await p.w.write("ok");
    later_err = w2.err;
    auto got = co_await read_some(&p.r, 5000ms);
    tail += got.value;
  });
  CHECK_FALSE(returned_before_cancel);
  CHECK(write_err == canceled);
  CHECK(written == 0);
  CHECK(drained == capacity);
  CHECK(later_err == none);
  CHECK(tail == "ok");
}

// Intent: with_timeout's deadline ends a parked read with deadline_exceeded, never
// before the deadline and within 10 ms after it (the cancellation bound; measured: about
// 0.1 ms); the buffer keeps its pattern and later data is not lost.
TEST_CASE("with_timeout ends a parked read with deadline_exceeded at the deadline") {
  watchdog guard("read deadline", 60s);
  std::error_code err{};
  std::size_t n = 99;
  double after_deadline_ms = -1;
  bool pattern_kept = false;
  goro::result<std::string> later;
  goro::run(goro::config{.maxprocs = 2}, [&]() -> goro::task<> {
    auto p = make_pipe();
    auto [ctx, cancel] = goro::with_timeout(goro::background(), 30ms);
    std::array<char, 64> buf;
    buf.fill('x');
    auto r = co_await p.r.read(ctx, buf);
    const auto t1 = steady::now();
    after_deadline_ms = to_ms(t1 - *ctx.deadline());
    err = r.err;
    n = r.value;
    raw_write(p.w.fd(), "late data");
    later = co_await read_some(&p.r, 5000ms);
    pattern_kept = holds_only(buf, 'x');
  });
  CHECK(err == deadline_exceeded);
  CHECK(n == 0);
  CHECK(after_deadline_ms >= 0);  // never early
  CHECK(after_deadline_ms < to_ms(cancel_latency_bound));
  CHECK(pattern_kept);
  CHECK(later.err == none);
  CHECK(later.value == "late data");
  MESSAGE("deadline -> return: " << after_deadline_ms << " ms after the deadline");
}

// Intent: a context already done makes the read return its err at once: no suspension
// (technique 5), no data consumed, the buffer untouched. Both errs.
TEST_CASE("a context already done: the read returns ctx.err() at once without consuming data") {
  watchdog guard("read already done", 60s);
  std::error_code e_cancel{}, e_deadline{};
  std::size_t n_cancel = 99, n_deadline = 99;
  bool suspended = true, pattern_kept = false, control_suspended = false;
  std::string later;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    auto p = make_pipe();
    raw_write(p.w.fd(), "abc");
    auto [ctx, cancel] = goro::with_cancel(goro::background());
    cancel();
    auto [dctx, dcancel] = goro::with_deadline(goro::background(), steady::now() - 1s);
    std::array<char, 16> buf;
    buf.fill('x');
    bool probe_ran = false;
    goro::go([&] { probe_ran = true; });
    auto r1 = co_await p.r.read(ctx, buf);
    auto r2 = co_await p.r.read(dctx, buf);
    suspended = probe_ran;
    e_cancel = r1.err;
    n_cancel = r1.value;
    e_deadline = r2.err;
    n_deadline = r2.value;
    pattern_kept = holds_only(buf, 'x');
    auto r3 = co_await p.r.read(buf);  // positive control: the data is there; and
    later.assign(buf.data(), r3.value);
    // a read that parks lets the probe run (shown with a second probe).
    bool probe2_ran = false;
    goro::go([&]() -> goro::task<> {
      probe2_ran = true;
      auto w = co_await p.w.write("z");
      (void)w;
    });
    auto r4 = co_await p.r.read(buf);
    control_suspended = probe2_ran && r4.value == 1;
  });
  CHECK(e_cancel == canceled);
  CHECK(n_cancel == 0);
  CHECK(e_deadline == deadline_exceeded);
  CHECK(n_deadline == 0);
  CHECK_FALSE(suspended);
  CHECK(pattern_kept);
  CHECK(later == "abc");
  CHECK(control_suspended);
}

// Intent: cancel() called from a plain std::thread (not a goro worker) ends a parked
// read with canceled, and data written after it is not lost.
TEST_CASE("cancel() from a plain std::thread ends a parked read") {
  watchdog guard("foreign cancel", 60s);
  std::error_code err{};
  std::size_t n = 99;
  bool pattern_kept = false;
  goro::result<std::string> later;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    auto p = make_pipe();
    auto [ctx, cancel] = goro::with_cancel(goro::background());
    std::array<char, 32> buf;
    buf.fill('x');
    bool started = false;
    auto reader = goro::spawn([&]() -> goro::task<goro::result<std::size_t>> {
      started = true;
      co_return co_await p.r.read(ctx, buf);
    });
    while (!started) co_await goro::yield();
    co_await goro::sleep_for(2ms);  // technique 3
    // The handle, as the rule says (the parked read is I/O in flight, which also keeps
    // the deadlock check away here).
    std::thread canceller([&cancel, hold = goro::external_handle()] { cancel(); });
    auto r = co_await std::move(reader);
    // Joined before the main task ends (see context_test.cpp's foreign cancel test).
    canceller.join();
    err = r.err;
    n = r.value;
    pattern_kept = holds_only(buf, 'x');
    raw_write(p.w.fd(), "still here");
    later = co_await read_some(&p.r, 5000ms);
  });
  CHECK(err == canceled);
  CHECK(n == 0);
  CHECK(pattern_kept);
  CHECK(later.err == none);
  CHECK(later.value == "still here");
}

namespace {

// Byte i of the race test's stream: its position, mixed, so that a lost, duplicated or
// reordered byte changes the stream.
char stream_byte(std::size_t i) { return static_cast<char>((i * 131 + (i >> 8)) & 0xff); }

struct read_outcome {
  std::size_t n = 0;
  std::error_code err;
  std::string data;
};

goro::task<read_outcome> race_reader(goro::context ctx, const goro::file* f, std::atomic<bool>* started) {
  std::array<char, 256> buf{};
  started->store(true);
  auto [n, err] = co_await f->read(ctx, buf);
  co_return read_outcome{n, err, std::string(buf.data(), n)};
}

}  // namespace

// Busy-waits about n loop iterations (the compiler may not drop the loop).
void spin(std::uint32_t n) {
  for (std::uint32_t k = 0; k < n; ++k) asm volatile("" ::: "memory");
}

// A foreign thread that writes a chunk to a pipe each time it is told to: the writer of
// the race test's truly concurrent variant. The test task hands it a chunk with go()
// and waits for it with wait(); it sleeps in an atomic wait between orders (a thread
// spinning there would take one of the machine's 2 cores from the workers and decide
// the race), and writes `delay` spins after it wakes up.
class racing_writer {
 public:
  explicit racing_writer(int fd) : fd_(fd), thread_([this] { loop(); }) {}
  ~racing_writer() {
    stop_.store(true);
    ordered_.fetch_add(1, std::memory_order_release);
    ordered_.notify_one();
    thread_.join();
  }
  void go(std::string chunk, std::uint32_t delay) {
    chunk_ = std::move(chunk);
    delay_ = delay;
    // release: publishes chunk_ and delay_ to loop()'s acquire wait on ordered_.
    ordered_.fetch_add(1, std::memory_order_release);
    ordered_.notify_one();
  }
  // Waits (yielding the task) until the last order has been written.
  goro::task<> wait() {
    while (done_.load(std::memory_order_acquire) != ordered_.load(std::memory_order_relaxed)) co_await goro::yield();
  }

 private:
  void loop() {
    std::uint64_t seen = 0;
    for (;;) {
      // acquire: pairs with go()'s release increment (and stop()'s).
      ordered_.wait(seen, std::memory_order_acquire);
      if (stop_.load()) return;
      ++seen;
      spin(delay_);
      raw_write(fd_, chunk_);
      done_.store(seen, std::memory_order_release);  // pairs with wait()'s acquire
    }
  }

  const int fd_;
  std::string chunk_;        // written by go(), read by loop() after the order
  std::uint32_t delay_ = 0;  // likewise
  std::atomic<std::uint64_t> ordered_{0}, done_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;  // last: starts after the fields above exist
};

// Intent: cancel racing the completion (technique 6): 1000 iterations on one pipe, each
// with a reader, a write and a cancel, on two workers, in one of five orders: cancel
// then write, write then cancel, a cancel from another task while this one writes
// through the ring, the reader parked and then a writer task and cancel(), and the
// reader parked and then a foreign thread's write racing cancel() after a random spin
// (the truly concurrent one). Every read gets data (n > 0, no error) or canceled
// (n == 0); no byte is lost or duplicated.
TEST_CASE("cancel racing completion, 1000 times: each read gets data or canceled, no byte lost") {
  watchdog guard("cancel race", 300s);
  constexpr int iterations = 1000, variants = 5;
  std::string written, received;
  std::array<int, variants> with_data{}, with_cancel{};
  problems bad;
  goro::run(goro::config{.maxprocs = 2}, [&]() -> goro::task<> {
    auto p = make_pipe();
    racing_writer racer(p.w.fd());
    goro_test::rng rng{goro_test::test_case_seed()};
    for (int i = 0; i < iterations; ++i) {
      auto [ctx, cancel] = goro::with_cancel(goro::background());
      std::string chunk;
      const std::size_t len = 1 + rng.below(64);
      for (std::size_t k = 0; k < len; ++k) chunk.push_back(stream_byte(written.size() + k));
      written += chunk;
      std::atomic<bool> started{false};
      auto reader = goro::spawn(race_reader, ctx, &p.r, &started);
      const int variant = i % variants;
      switch (variant) {
        case 0:  // cancel, then write
          cancel();
          raw_write(p.w.fd(), chunk);
          break;
        case 1:  // write, then cancel
          raw_write(p.w.fd(), chunk);
          cancel();
          break;
        case 2: {  // cancel from another task while this one writes through the ring
          auto c = goro::spawn([](goro::cancel_func f) -> goro::task<> {
            f();
            co_return;
          }, std::move(cancel));
          auto w = co_await p.w.write(chunk);
          bad.expect(!w.err && w.value == chunk.size(), "ring write failed: " + show(w.err));
          co_await std::move(c);
          break;
        }
        case 3: {  // the reader started, then a writer task and cancel()
          while (!started.load()) co_await goro::yield();
          auto wt = goro::spawn([](int fd, std::string data) { raw_write(fd, data); }, p.w.fd(), chunk);
          cancel();
          co_await std::move(wt);
          break;
        }
        default: {  // the reader started, then a foreign thread's write races cancel()
          while (!started.load()) co_await goro::yield();
          if (rng.below(2) != 0) co_await goro::sleep_for(1ms);  // half: parked in the kernel
          // One side, chosen at random, is delayed by a random spin.
          const bool delay_write = rng.below(2) != 0;
          const std::uint32_t delay = rng.below(3'000'000);
          racer.go(chunk, delay_write ? delay : 0);
          spin(delay_write ? 0 : delay);
          cancel();
          break;
        }
      }
      auto out = co_await std::move(reader);
      if (variant == 4) co_await racer.wait();  // after the reader: a yield loop delays submissions
      if (!out.err && out.n > 0) {
        ++with_data[variant];
        received += out.data;
      } else if (out.err == canceled && out.n == 0) {
        ++with_cancel[variant];
      } else {
        bad.add("iteration " + std::to_string(i) + ": n = " + std::to_string(out.n) + ", err = " + show(out.err));
      }
      // What a cancelled read left in the pipe is collected now (in stream order), so
      // that the next iteration's reader starts on an empty pipe and really races.
      while (readable_now(p.r.fd())) {
        std::array<char, 4096> buf{};
        auto [n, err] = co_await p.r.read(buf);
        if (err || n == 0) {
          bad.add("collecting leftovers: n = " + std::to_string(n) + ", " + show(err));
          break;
        }
        received.append(buf.data(), n);
      }
    }
    // Nothing should be left; drain to EOF to be sure.
    auto closed = co_await p.w.close();
    bad.expect(!closed, "close: " + show(closed));
    for (;;) {
      std::array<char, 4096> buf{};
      auto [n, err] = co_await p.r.read(buf);
      if (err) {
        bad.add("drain: " + show(err));
        break;
      }
      if (n == 0) break;
      received.append(buf.data(), n);
    }
  });
  CHECK_NO_PROBLEMS(bad);
  int data_total = 0, cancel_total = 0;
  std::string split;
  for (int v = 0; v < variants; ++v) {
    data_total += with_data[v];
    cancel_total += with_cancel[v];
    split += " [" + std::to_string(v) + "] " + std::to_string(with_data[v]) + "/" + std::to_string(with_cancel[v]);
  }
  CHECK(data_total + cancel_total == iterations);
  CHECK(received.size() == written.size());
  CHECK(received == written);
  // Both outcomes happened, so the race was exercised in both directions.
  CHECK(data_total > 0);
  CHECK(cancel_total > 0);
  MESSAGE("reads with data/cancelled per variant:" << split);
}

// ================================================================ EOF and errors

// Intent: a read returns 0 with no error once the write end is closed: when closed
// before the read (after the data is read), and when closed while the read is parked.
TEST_CASE("end of file: a read returns 0 and no error once the write end is closed") {
  watchdog guard("eof", 60s);
  std::string data;
  goro::result<std::size_t> eof_after_data{99, {}}, eof_parked{99, {}}, eof_again{99, {}};
  std::error_code close_err = std::make_error_code(std::errc::io_error);
  bool parked_returned_early = true;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    {
      auto p = make_pipe();
      raw_write(p.w.fd(), "last words");
      p.w = goro::file();  // destructor path: close(2)
      std::array<char, 64> buf{};
      auto r = co_await p.r.read(buf);
      data.assign(buf.data(), r.value);
      eof_after_data = co_await p.r.read(buf);
      eof_again = co_await p.r.read(buf);
    }
    {
      auto p = make_pipe();
      std::array<char, 64> buf{};
      bool returned = false;
      auto reader = goro::spawn([&]() -> goro::task<goro::result<std::size_t>> {
        auto r = co_await p.r.read(buf);
        returned = true;
        co_return r;
      });
      co_await goro::sleep_for(2ms);  // the reader parks in the kernel
      parked_returned_early = returned;
      close_err = co_await p.w.close();  // through the ring
      eof_parked = co_await std::move(reader);
    }
  });
  CHECK(data == "last words");
  CHECK(eof_after_data.value == 0);
  CHECK(eof_after_data.err == none);
  CHECK(eof_again.value == 0);
  CHECK(eof_again.err == none);
  CHECK_FALSE(parked_returned_early);
  CHECK(close_err == none);
  CHECK(eof_parked.value == 0);
  CHECK(eof_parked.err == none);
}

// Intent: errors are values, in std::system_category and comparable with std::errc: a
// closed fd gives bad_file_descriptor, writing to a pipe's read end too, and writing to
// a pipe whose reader is gone gives broken_pipe. The kernel also raises SIGPIPE for that
// write; goro::run ignores SIGPIPE (pipes have no MSG_NOSIGNAL), so the process
// survives: without that, this test process would die with status 141.
TEST_CASE("errors are values: closed fd, wrong direction, broken pipe") {
  watchdog guard("io errors", 60s);
  goro::result<std::size_t> closed_read{99, {}}, closed_write{99, {}}, wrong_dir{99, {}}, broken{99, {}};
  bool threw = false;
  bool sigpipe_ignored_by_goro = false;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    try {
      std::array<char, 8> buf{};
      {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
        ::close(fds[0]);
        ::close(fds[1]);
        // Nothing else opens descriptors in this task between the close and the reads.
        goro::file stale(fds[0]);
        closed_read = co_await stale.read(buf);
        closed_write = co_await stale.write("x");
        stale.release();  // closed already
      }
      {
        auto p = make_pipe();
        wrong_dir = co_await p.r.write("x");
      }
      {
        auto p = make_pipe();
        p.r = goro::file();  // no reader left
        struct sigaction current {};
        ::sigaction(SIGPIPE, nullptr, &current);
        sigpipe_ignored_by_goro = current.sa_handler == SIG_IGN;
        broken = co_await p.w.write("x");
      }
    } catch (...) {
      threw = true;
    }
  });
  CHECK_FALSE(threw);
  CHECK(closed_read.err == std::errc::bad_file_descriptor);
  CHECK(closed_read.err.category() == std::system_category());
  CHECK(closed_read.value == 0);
  CHECK(closed_write.err == std::errc::bad_file_descriptor);
  CHECK(wrong_dir.err == std::errc::bad_file_descriptor);
  CHECK(broken.err == std::errc::broken_pipe);
  CHECK(broken.value == 0);
  CHECK(sigpipe_ignored_by_goro);
}

// ================================================================ many operations

// Intent: 1000 pairs of tasks, each pair with its own two pipes, ping-pong 5 rounds of
// a few bytes at once on two workers: 2000 tasks parked in reads on 2 rings.
TEST_CASE("1000 task pairs ping-pong over their own pipes") {
  watchdog guard("pingpong 1000", 300s);
  constexpr int pairs = 1000, rounds = 5;
  problems bad;
  std::atomic<int> finished{0};
  goro::run(goro::config{.maxprocs = 2}, [&]() -> goro::task<> {
    goro::wait_group wg;
    for (int i = 0; i < pairs; ++i) {
      auto there = std::make_shared<pipe_ends>(make_pipe());
      auto back = std::make_shared<pipe_ends>(make_pipe());
      wg.add(2);
      // Ponger: echoes each message with a '!' appended.
      goro::go([&](std::shared_ptr<pipe_ends> in, std::shared_ptr<pipe_ends> out) -> goro::task<> {
        for (int r = 0; r < rounds; ++r) {
          std::array<char, 32> buf{};
          auto [n, err] = co_await in->r.read(buf);
          if (err || n == 0) {
            bad.add("pong read: " + show(err));
            break;
          }
          std::string reply(buf.data(), n);
          reply += '!';
          auto w = co_await out->w.write(reply);
          if (w.err || w.value != reply.size()) bad.add("pong write: " + show(w.err));
        }
        wg.done();
      }, there, back);
      // Pinger.
      goro::go([&](int id, std::shared_ptr<pipe_ends> out, std::shared_ptr<pipe_ends> in) -> goro::task<> {
        for (int r = 0; r < rounds; ++r) {
          const std::string msg = std::to_string(id) + ":" + std::to_string(r);
          auto w = co_await out->w.write(msg);
          if (w.err || w.value != msg.size()) bad.add("ping write: " + show(w.err));
          std::array<char, 32> buf{};
          auto [n, err] = co_await in->r.read(buf);
          const std::string got(buf.data(), n);
          if (err || got != msg + "!") {
            bad.add("pair " + std::to_string(id) + " round " + std::to_string(r) + ": got '" + got + "', " + show(err));
            break;
          }
        }
        finished.fetch_add(1);
        wg.done();
      }, i, there, back);
    }
    co_await wg.wait();
  });
  CHECK_NO_PROBLEMS(bad);
  CHECK(finished.load() == pairs);
}

// ================================================================ where I/O may be awaited

namespace {

// A minimal eager coroutine: lets a test co_await an I/O awaitable on a thread that is
// not running a goro task.
struct eager {
  struct promise_type {
    eager get_return_object() noexcept { return {}; }
    std::suspend_never initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }
  };
};

// Sets *outcome to "logic_error", or to what happened instead. If the read suspends (it
// must not: nobody would resume it), *outcome stays empty.
eager read_outside(const goro::file* f, std::string* outcome) {
  std::array<char, 8> buf{};
  try {
    auto r = co_await f->read(buf);
    *outcome = "returned n = " + std::to_string(r.value) + ", " + show(r.err);
  } catch (const std::logic_error&) {
    *outcome = "logic_error";
  } catch (const std::exception& e) {
    *outcome = std::string("another exception: ") + e.what();
  }
}

}  // namespace

// Intent: awaiting I/O outside goro::run's tasks throws std::logic_error: with no
// runtime at all, and from a plain std::thread while a runtime runs.
TEST_CASE("I/O awaited outside goro::run's tasks throws std::logic_error") {
  watchdog guard("io outside run", 60s);
  auto p = make_pipe();
  raw_write(p.w.fd(), "data");  // were the read to run, it would complete at once
  std::string no_runtime, foreign_thread;
  read_outside(&p.r, &no_runtime);
  CHECK(no_runtime == "logic_error");

  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    std::thread t([&] { read_outside(&p.r, &foreign_thread); });
    t.join();
    co_return;
  });
  CHECK(foreign_thread == "logic_error");
  CHECK(readable_now(p.r.fd()));  // "data" was not consumed
}

// Intent: a read still parked when goro::run ends is cancelled and waited for before
// run returns: its task is not resumed, and data written after run returns is not taken
// by the dead read and does not land in its buffer (which outlives the run here).
TEST_CASE("a read in flight when goro::run ends is cancelled before run returns") {
  watchdog guard("io at run end", 60s);
  auto p = make_pipe();
  static std::array<char, 64> buf;
  buf.fill('x');
  static std::atomic<bool> started{false}, resumed{false};
  started = resumed = false;
  goro::run(goro::config{.maxprocs = 2}, [&]() -> goro::task<> {
    goro::go([](const goro::file* f) -> goro::task<> {
      started = true;
      auto r = co_await f->read(buf);
      (void)r;
      resumed = true;
    }, &p.r);
    while (!started.load()) co_await goro::yield();
    co_await goro::sleep_for(5ms);  // technique 3: the read reaches the kernel
  });
  CHECK(started.load());
  CHECK_FALSE(resumed.load());
  raw_write(p.w.fd(), "after run");
  CHECK(readable_now(p.r.fd()));
  std::array<char, 64> got{};
  const ssize_t n = ::read(p.r.fd(), got.data(), got.size());
  CHECK(std::string(got.data(), n > 0 ? static_cast<std::size_t>(n) : 0) == "after run");
  CHECK(holds_only(buf, 'x'));
}
