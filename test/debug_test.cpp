// Tests for the wait records behind goro::task_snapshot() and goro::dump_tasks()
// (include/goro/debug.hpp): every awaitable of channels, select, sync, wait_group, time
// and context records, while its task is parked on it, what it waits on and the call
// that made it; the task dump shows that and where the task was started.
//
// How the checks work
//   1. Finding the task. A parked task is found in task_snapshot() by its start site: the
//      line of its goro::go in this file, which each check thereby also asserts.
//   2. Parked, observed. Its observer, another task, polls the snapshot, yielding between
//      polls, until the task shows parked on the expected kind at the expected line: a
//      wait for an observable state, bounded by 100,000 polls and 10 s, not a sleep.
//   3. Wait sites. The parked task stores __LINE__ in an atomic on the line of its
//      co_await, before it parks; its record must name that line and this file.
//   4. Resumed. Woken, the task first reads its own entry (it must be running), then
//      parks again elsewhere, on a channel: that second site must replace the first. It
//      also shows that the awaiter made the task current again on whichever thread
//      resumed it: with a stale current task the second park would be recorded in
//      another task's record and never show here. Then it finishes: at the end it is
//      gone or running, never parked.
//   5. Every test runs on one worker and on two: nothing depends on the interleaving.
//
// Results are collected in plain variables and checked on the test thread after
// goro::run returns: doctest assertions stay off worker threads. Task bodies are named
// coroutine functions taking their data as arguments (README's "Known compiler
// issues"), started with goro::go on one line so that the start site is that line.
#include <doctest/doctest.h>

#include <goro/goro.hpp>

#include "test_support.hpp"

#include <atomic>
#include <chrono>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

using namespace std::chrono_literals;
using goro_test::watchdog;

#if GORO_TASK_TRACE

namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool in_this_file(const std::source_location& at) { return ends_with(at.file_name(), "debug_test.cpp"); }

// The entry of the task started at `started_line` of this file, if it is live.
std::optional<goro::task_info> find_task(const std::vector<goro::task_info>& tasks, int started_line) {
  for (const goro::task_info& t : tasks)
    if (static_cast<int>(t.started_at.line()) == started_line && in_this_file(t.started_at)) return t;
  return std::nullopt;
}

// Polls until the task started at `started_line` is parked on `kind` at the line in
// `*line` (set by the task; null: a wait without a site). Returns the last entry seen:
// the checks then say what was wrong if it never got there.
goro::task<std::optional<goro::task_info>> await_parked(int started_line, std::string_view kind,
                                                        const std::atomic<int>* line) {
  std::optional<goro::task_info> last;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  for (int i = 0; i < 100'000 && std::chrono::steady_clock::now() < deadline; ++i) {
    last = find_task(goro::task_snapshot(), started_line);
    // relaxed: a stale 0 only costs one more poll.
    const int want = line ? line->load(std::memory_order_relaxed) : 0;
    if (last && last->state == goro::task_state::parked && last->waiting_on == kind &&
        (!line || (want != 0 && static_cast<int>(last->wait_site.line()) == want)))
      break;
    co_await goro::yield();
  }
  co_return last;
}

// Polls until the task started at `started_line` is gone; returns whether it went.
goro::task<bool> await_gone(int started_line) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  for (int i = 0; i < 100'000 && std::chrono::steady_clock::now() < deadline; ++i) {
    if (!find_task(goro::task_snapshot(), started_line)) co_return true;
    co_await goro::yield();
  }
  co_return false;
}

// Sets the probe's wait_line to this line: written on the line of the co_await.
#define MARK_WAIT_LINE(p) (p)->wait_line.store(__LINE__, std::memory_order_relaxed)

// What a parked task and its observer share (point 4 at the top).
struct probe {
  int started_line = 0;            // the goro::go line; written before the spawn
  std::atomic<int> wait_line{0};   // the co_await under test; relaxed: see await_parked
  std::atomic<int> again_line{0};  // the second park
  goro::chan<> finish;             // closed by the observer: ends the second park
  goro::wait_group finished;       // done() by the task as its last step
  std::optional<goro::task_info> self_after;  // the task's own entry once resumed; read after `finished`
  probe() { finished.add(1); }
};

// The parked task's side after its wake-up (point 4 at the top).
goro::task<> after_wake(probe* p) {
  p->self_after = find_task(goro::task_snapshot(), p->started_line);
  p->again_line.store(__LINE__, std::memory_order_relaxed); auto more = co_await p->finish.recv();
  (void)more;
  p->finished.done();
}

// Ends a task body: after_wake, named first (README's "Known compiler issues").
goro::task<> end_task(probe* p) {
  auto rest = after_wake(p);
  co_await std::move(rest);
}

// What the observer saw, checked on the test thread.
struct observed {
  int started_line = 0, wait_line = 0, again_line = 0;
  std::optional<goro::task_info> parked;        // parked on the primitive
  std::string dump;                             // dump_tasks meanwhile
  std::optional<goro::task_info> self_after;    // the task's own entry once resumed
  std::optional<goro::task_info> parked_again;  // parked on the probe's finish channel
  std::optional<goro::task_info> at_end;        // after it finished (gone, or still running)
};

// The observer, up to the wake-up: waits until the task is parked on `kind`, and dumps.
goro::task<> observe_parked(probe& p, observed& o, std::string_view kind) {
  o.parked = co_await await_parked(p.started_line, kind, &p.wait_line);
  std::ostringstream dump;
  goro::dump_tasks(dump);
  o.dump = dump.str();
}

// The observer, after the wake-up: the second park, then the end.
goro::task<> observe_rest(probe& p, observed& o) {
  o.parked_again = co_await await_parked(p.started_line, "chan recv", &p.again_line);
  p.finish.close();
  co_await p.finished.wait();
  o.at_end = find_task(goro::task_snapshot(), p.started_line);
  o.self_after = p.self_after;
  o.started_line = p.started_line;
  o.wait_line = p.wait_line.load(std::memory_order_relaxed);  // set long ago by the task (the wait group orders it)
  o.again_line = p.again_line.load(std::memory_order_relaxed);
}

std::string describe(const std::optional<goro::task_info>& t) {
  if (!t) return "no such task";
  std::ostringstream out;
  goro::dump_tasks(out, {*t});
  return out.str();
}

// The checks of points 1-4 at the top; `detail` must appear in the wait's detail.
void check_observed(const observed& o, std::string_view kind, std::string_view detail) {
  INFO("waiting on " << kind << "; the entry: " << describe(o.parked));
  REQUIRE(o.parked);
  CHECK(o.parked->state == goro::task_state::parked);
  CHECK(o.parked->waiting_on == kind);
  CHECK(o.parked->waiting_detail.find(detail) != std::string::npos);
  CHECK(o.wait_line != 0);
  CHECK(static_cast<int>(o.parked->wait_site.line()) == o.wait_line);
  CHECK(in_this_file(o.parked->wait_site));
  CHECK(static_cast<int>(o.parked->started_at.line()) == o.started_line);
  CHECK(in_this_file(o.parked->started_at));
  INFO("the dump: " << o.dump);
  CHECK(o.dump.find(std::string(kind)) != std::string::npos);
  CHECK(o.dump.find("debug_test.cpp:" + std::to_string(o.wait_line)) != std::string::npos);
  CHECK(o.dump.find("debug_test.cpp:" + std::to_string(o.started_line)) != std::string::npos);

  INFO("resumed: " << describe(o.self_after));
  REQUIRE(o.self_after);
  CHECK(o.self_after->state == goro::task_state::running);
  INFO("parked again: " << describe(o.parked_again));
  REQUIRE(o.parked_again);
  CHECK(o.parked_again->state == goro::task_state::parked);
  CHECK(o.parked_again->waiting_on == "chan recv");
  CHECK(static_cast<int>(o.parked_again->wait_site.line()) == o.again_line);
  INFO("at the end: " << describe(o.at_end));
  CHECK((!o.at_end || o.at_end->state == goro::task_state::running));
}

goro::config on(unsigned procs) { return goro::config{.maxprocs = procs}; }

// ---------------------------------------------------------------- task bodies

goro::task<> recv_on(probe* p, goro::chan<int> ch) {
  MARK_WAIT_LINE(p); auto v = co_await ch.recv();
  (void)v;
  co_await end_task(p);
}

goro::task<> send_on(probe* p, goro::send_chan<int> ch) {
  MARK_WAIT_LINE(p); co_await ch.send(7);
  co_await end_task(p);
}

goro::task<> select_on(probe* p, goro::chan<int> ch, goro::context ctx) {
  MARK_WAIT_LINE(p); auto r = co_await goro::select(ch.recv(), ctx.done(), goro::after(10min));
  (void)r;
  co_await end_task(p);
}

goro::task<> lock_mutex(probe* p, goro::mutex* m) {
  MARK_WAIT_LINE(p); co_await m->lock();
  m->unlock();
  co_await end_task(p);
}

goro::task<> scoped_lock_mutex(probe* p, goro::mutex* m) {
  MARK_WAIT_LINE(p); auto lock = co_await m->scoped_lock();
  lock.unlock();
  co_await end_task(p);
}

goro::task<> lock_shared(probe* p, goro::shared_mutex* m) {
  MARK_WAIT_LINE(p); auto lock = co_await m->scoped_lock_shared();
  lock.unlock();
  co_await end_task(p);
}

goro::task<> lock_exclusive(probe* p, goro::shared_mutex* m) {
  MARK_WAIT_LINE(p); co_await m->lock();
  m->unlock();
  co_await end_task(p);
}

goro::task<> wait_on_group(probe* p, goro::wait_group* wg) {
  MARK_WAIT_LINE(p); co_await wg->wait();
  co_await end_task(p);
}

goro::task<> wait_on_errgroup(probe* p, goro::group* g) {
  MARK_WAIT_LINE(p); auto ec = co_await g->wait();
  (void)ec;
  co_await end_task(p);
}

goro::task<> acquire(probe* p, goro::semaphore* sem) {
  MARK_WAIT_LINE(p); co_await sem->acquire(2);
  sem->release(2);
  co_await end_task(p);
}

goro::task<> acquire_with_context(probe* p, goro::semaphore* sem, goro::context ctx) {
  MARK_WAIT_LINE(p); auto ec = co_await sem->acquire(ctx, 2);
  (void)ec;
  co_await end_task(p);
}

goro::task<> sleep_with_context(probe* p, goro::context ctx) {
  MARK_WAIT_LINE(p); auto ec = co_await goro::sleep_for(ctx, 10min);
  (void)ec;
  co_await end_task(p);
}

goro::task<> sleep_long(probe* p) {
  MARK_WAIT_LINE(p); co_await goro::sleep_for(10min);
}

goro::task<> wait_done(probe* p, goro::context ctx) {
  MARK_WAIT_LINE(p); auto ec = co_await ctx.done();
  (void)ec;
  co_await end_task(p);
}

goro::task<> wait_for_gate(goro::chan<> gate) {
  auto open = co_await gate.recv();
  (void)open;
}

goro::task<> call_gated(goro::once* o, goro::chan<> gate) {
  auto call = o->call(&wait_for_gate, gate);
  co_await std::move(call);
}

void nothing() {}

goro::task<> call_once(probe* p, goro::once* o) {
  MARK_WAIT_LINE(p); co_await o->call(&nothing);
  co_await end_task(p);
}

goro::task<> join(probe* p, std::atomic<int>* blocker_line, goro::chan<> gate) {
  blocker_line->store(__LINE__, std::memory_order_relaxed); auto h = goro::spawn(&wait_for_gate, gate);
  co_await std::move(h);
  co_await end_task(p);
}

}  // namespace

// ---------------------------------------------------------------- channels

// Intent: a task parked in ch.recv() shows "chan recv" at that call with the channel's
// capacity, started at its goro::go; once a value arrives it runs on and parks elsewhere.
TEST_CASE("debug: a task parked on chan recv shows its wait site, start site and capacity") {
  watchdog dog("chan recv record", 120s);
  for (unsigned procs : {1u, 2u}) {
    observed o;
    goro::run(on(procs), [&]() -> goro::task<> {
      probe p;
      goro::chan<int> ch;
      p.started_line = __LINE__; goro::go(&recv_on, &p, ch);
      co_await observe_parked(p, o, "chan recv");
      co_await ch.send(1);
      co_await observe_rest(p, o);
    });
    CAPTURE(procs);
    check_observed(o, "chan recv", "(capacity 0)");
  }
}

// Intent: the same for a send through a send_chan view, on an unbuffered channel.
TEST_CASE("debug: a task parked on chan send shows its wait site") {
  watchdog dog("chan send record", 120s);
  for (unsigned procs : {1u, 2u}) {
    observed o;
    goro::run(on(procs), [&]() -> goro::task<> {
      probe p;
      goro::chan<int> ch;
      p.started_line = __LINE__; goro::go(&send_on, &p, goro::send_chan<int>(ch));
      co_await observe_parked(p, o, "chan send");
      auto v = co_await ch.recv();
      (void)v;
      co_await observe_rest(p, o);
    });
    CAPTURE(procs);
    check_observed(o, "chan send", "(capacity 0)");
  }
}

// Intent: a send waiting for room in a full buffered channel shows the channel's capacity.
TEST_CASE("debug: a task parked on a full buffered channel shows its capacity") {
  watchdog dog("buffered chan record", 120s);
  for (unsigned procs : {1u, 2u}) {
    observed o;
    bool filled = true;
    goro::run(on(procs), [&]() -> goro::task<> {
      probe p;
      goro::chan<int> ch(4);
      for (int i = 0; i < 4; ++i) filled = ch.try_send(i) && filled;
      p.started_line = __LINE__; goro::go(&send_on, &p, goro::send_chan<int>(ch));
      co_await observe_parked(p, o, "chan send");
      auto v = co_await ch.recv();
      (void)v;
      co_await observe_rest(p, o);
    });
    CAPTURE(procs);
    CHECK(filled);
    check_observed(o, "chan send", "(capacity 4)");
  }
}

// ---------------------------------------------------------------- select

// Intent: a parked select shows "select" (its cases record nothing of their own: no
// "chan recv"), at its first case's call, with its number of cases; a context's
// cancellation wakes it through its done() case.
TEST_CASE("debug: a task parked in a select shows select at its first case, with the number of cases") {
  watchdog dog("select record", 120s);
  for (unsigned procs : {1u, 2u}) {
    observed o;
    goro::run(on(procs), [&]() -> goro::task<> {
      probe p;
      goro::chan<int> ch;
      auto [ctx, cancel] = goro::with_cancel(goro::background());
      p.started_line = __LINE__; goro::go(&select_on, &p, ch, ctx);
      co_await observe_parked(p, o, "select");
      cancel();
      co_await observe_rest(p, o);
    });
    CAPTURE(procs);
    check_observed(o, "select", "3 cases");
  }
}

// ---------------------------------------------------------------- sync

// Intent: a task waiting for a held mutex shows "mutex" at its lock() call, although its
// contended lock runs in a separate retry frame; unlocked, it runs on as itself.
TEST_CASE("debug: a task parked on a mutex shows its lock() call") {
  watchdog dog("mutex record", 120s);
  for (unsigned procs : {1u, 2u}) {
    observed o;
    goro::run(on(procs), [&]() -> goro::task<> {
      probe p;
      goro::mutex m;
      co_await m.lock();
      p.started_line = __LINE__; goro::go(&lock_mutex, &p, &m);
      co_await observe_parked(p, o, "mutex");
      m.unlock();
      co_await observe_rest(p, o);
    });
    CAPTURE(procs);
    check_observed(o, "mutex", "0x");
  }
}

// Intent: a waiter woken by an unlock that loses the mutex to a barging task parks again
// in its retry frame, where the worker's current task is the barging one (the main
// task, which ran last there). Its record must still say "mutex" at its scoped_lock()
// call; once it has the mutex it must run as itself: a retry that recorded its second
// wait through the worker's current task would make the main task current when it
// resumes, and its next park (the probe's) would land in the main task's record. One
// worker, so that the order is known: the woken retry frame sits in the worker's next
// slot and runs at the main task's first yield (the 10 yields are a bound, not a wait:
// the records look the same before and after the retry, so an unexpected order can only
// make the check weaker, never fail it).
TEST_CASE("debug: a mutex waiter that is woken and loses the race keeps its record") {
  watchdog dog("mutex requeue record", 60s);
  observed o;
  std::optional<goro::task_info> requeued;
  bool relocked = false;
  goro::run(on(1), [&]() -> goro::task<> {
    probe p;
    goro::mutex m;
    co_await m.lock();
    p.started_line = __LINE__; goro::go(&scoped_lock_mutex, &p, &m);
    co_await observe_parked(p, o, "mutex");
    m.unlock();              // wakes the waiter (normal mode): it must retry
    relocked = m.try_lock();  // ...and finds the mutex taken again
    for (int i = 0; i < 10; ++i) co_await goro::yield();
    requeued = find_task(goro::task_snapshot(), p.started_line);
    m.unlock();
    co_await observe_rest(p, o);
  });
  CHECK(relocked);
  check_observed(o, "mutex", "0x");
  INFO("requeued: " << describe(requeued));
  REQUIRE(requeued);
  CHECK(requeued->state == goro::task_state::parked);
  CHECK(requeued->waiting_on == "mutex");
  CHECK(static_cast<int>(requeued->wait_site.line()) == o.wait_line);
}

// Intent: shared_mutex's two waits show as "rwmutex rlock" (a reader behind a writer)
// and "rwmutex lock" (a writer behind a reader), each at its call.
TEST_CASE("debug: tasks parked on a shared_mutex show rwmutex rlock and rwmutex lock") {
  watchdog dog("shared_mutex records", 120s);
  for (unsigned procs : {1u, 2u}) {
    observed reader, writer;
    goro::run(on(procs), [&]() -> goro::task<> {
      goro::shared_mutex m;
      {
        probe p;
        co_await m.lock();
        p.started_line = __LINE__; goro::go(&lock_shared, &p, &m);
        co_await observe_parked(p, reader, "rwmutex rlock");
        m.unlock();
        co_await observe_rest(p, reader);
      }
      {
        probe p;
        co_await m.lock_shared();
        p.started_line = __LINE__; goro::go(&lock_exclusive, &p, &m);
        co_await observe_parked(p, writer, "rwmutex lock");
        m.unlock_shared();
        co_await observe_rest(p, writer);
      }
    });
    CAPTURE(procs);
    check_observed(reader, "rwmutex rlock", "0x");
    check_observed(writer, "rwmutex lock", "0x");
  }
}

// Intent: a second caller of once::call waits while the first runs f: "once", at its
// call (f without arguments: the form that knows its call site).
TEST_CASE("debug: a task waiting for once::call shows once at its call") {
  watchdog dog("once record", 120s);
  for (unsigned procs : {1u, 2u}) {
    observed o;
    bool runner_gone = false;
    goro::run(on(procs), [&]() -> goro::task<> {
      probe p;
      goro::once once;
      goro::chan<> gate;
      const int runner_line = __LINE__; goro::go(&call_gated, &once, gate);
      auto runner = co_await await_parked(runner_line, "chan recv", nullptr);  // inside f: the once is running
      (void)runner;
      p.started_line = __LINE__; goro::go(&call_once, &p, &once);
      co_await observe_parked(p, o, "once");
      gate.close();
      co_await observe_rest(p, o);
      runner_gone = co_await await_gone(runner_line);
    });
    CAPTURE(procs);
    CHECK(runner_gone);
    check_observed(o, "once", "0x");
  }
}

// Intent: a semaphore wait shows "semaphore" with the weight asked for, both as a plain
// acquire(n) and as acquire(ctx, n) (a select inside, recorded as the semaphore).
TEST_CASE("debug: tasks parked on a semaphore show semaphore and the weight, with and without a context") {
  watchdog dog("semaphore records", 120s);
  for (unsigned procs : {1u, 2u}) {
    observed plain, with_ctx;
    goro::run(on(procs), [&]() -> goro::task<> {
      goro::semaphore sem(2);
      {
        probe p;
        const bool held = sem.try_acquire(1);
        (void)held;
        p.started_line = __LINE__; goro::go(&acquire, &p, &sem);
        co_await observe_parked(p, plain, "semaphore");
        sem.release(1);
        co_await observe_rest(p, plain);
      }
      {
        probe p;
        const bool held = sem.try_acquire(1);
        auto [ctx, cancel] = goro::with_cancel(goro::background());
        p.started_line = __LINE__; goro::go(&acquire_with_context, &p, &sem, ctx);
        co_await observe_parked(p, with_ctx, "semaphore");
        cancel();
        co_await observe_rest(p, with_ctx);
        if (held) sem.release(1);
      }
    });
    CAPTURE(procs);
    check_observed(plain, "semaphore", "(weight 2)");
    check_observed(with_ctx, "semaphore", "(weight 2)");
  }
}

// ---------------------------------------------------------------- wait_group, group

// Intent: wait_group::wait() and goro::group::wait() (a wait_group inside) show
// "wait_group" at the caller's call.
TEST_CASE("debug: tasks parked on a wait_group and on a group show wait_group at their call") {
  watchdog dog("wait_group records", 120s);
  for (unsigned procs : {1u, 2u}) {
    observed wg_seen, group_seen;
    goro::run(on(procs), [&]() -> goro::task<> {
      {
        probe p;
        goro::wait_group wg;
        wg.add(1);
        p.started_line = __LINE__; goro::go(&wait_on_group, &p, &wg);
        co_await observe_parked(p, wg_seen, "wait_group");
        wg.done();
        co_await observe_rest(p, wg_seen);
      }
      {
        probe p;
        goro::group g;
        goro::chan<> gate;
        g.go(&wait_for_gate, gate);
        p.started_line = __LINE__; goro::go(&wait_on_errgroup, &p, &g);
        co_await observe_parked(p, group_seen, "wait_group");
        gate.close();
        co_await observe_rest(p, group_seen);
      }
    });
    CAPTURE(procs);
    check_observed(wg_seen, "wait_group", "0x");
    check_observed(group_seen, "wait_group", "0x");
  }
}

// ---------------------------------------------------------------- time, context

// Intent: sleep_for(d) shows "sleep" and its duration. The sleep is 10 minutes so that
// it cannot end before it is observed; the task is destroyed when goro::run ends (the
// leak check is off: that is the point). Being woken is checked with the context form.
TEST_CASE("debug: a sleeping task shows sleep and the duration") {
  watchdog dog("sleep record", 120s);
  for (unsigned procs : {1u, 2u}) {
    std::optional<goro::task_info> seen;
    probe p;  // outlives goro::run, which destroys the sleeping task that points to it
    goro::config cfg = on(procs);
    cfg.leak_check = goro::config::leak_mode::off;
    goro::run(cfg, [&]() -> goro::task<> {
      p.started_line = __LINE__; goro::go(&sleep_long, &p);
      seen = co_await await_parked(p.started_line, "sleep", &p.wait_line);
    });
    const int wait_line = p.wait_line.load(std::memory_order_relaxed), started_line = p.started_line;
    CAPTURE(procs);
    INFO(describe(seen));
    REQUIRE(seen);
    CHECK(seen->state == goro::task_state::parked);
    CHECK(seen->waiting_on == "sleep");
    CHECK(seen->waiting_detail.find("for 600000 ms") != std::string::npos);
    CHECK(static_cast<int>(seen->wait_site.line()) == wait_line);
    CHECK(in_this_file(seen->wait_site));
    CHECK(static_cast<int>(seen->started_at.line()) == started_line);
  }
}

// Intent: sleep_for(ctx, d) shows "sleep" (not the select it is) with its duration, and
// the context's cancellation ends it.
TEST_CASE("debug: a task sleeping with a context shows sleep and is running once cancelled") {
  watchdog dog("context sleep record", 120s);
  for (unsigned procs : {1u, 2u}) {
    observed o;
    goro::run(on(procs), [&]() -> goro::task<> {
      probe p;
      auto [ctx, cancel] = goro::with_cancel(goro::background());
      p.started_line = __LINE__; goro::go(&sleep_with_context, &p, ctx);
      co_await observe_parked(p, o, "sleep");
      cancel();
      co_await observe_rest(p, o);
    });
    CAPTURE(procs);
    check_observed(o, "sleep", "for 600000 ms");
  }
}

// Intent: co_await ctx.done() shows "context done" at the done() call.
TEST_CASE("debug: a task parked on ctx.done() shows context done") {
  watchdog dog("context done record", 120s);
  for (unsigned procs : {1u, 2u}) {
    observed o;
    goro::run(on(procs), [&]() -> goro::task<> {
      probe p;
      auto [ctx, cancel] = goro::with_cancel(goro::background());
      p.started_line = __LINE__; goro::go(&wait_done, &p, ctx);
      co_await observe_parked(p, o, "context done");
      cancel();
      co_await observe_rest(p, o);
    });
    CAPTURE(procs);
    check_observed(o, "context done", "0x");
  }
}

// Intent: after_func's task is started at, and waits (a select of the context and a
// stop) at, the after_func call, not inside goro/context.hpp; it ends once f has run.
TEST_CASE("debug: after_func's task shows the after_func call as its start and wait site") {
  watchdog dog("after_func record", 120s);
  for (unsigned procs : {1u, 2u}) {
    std::optional<goro::task_info> seen;
    int line = 0;
    bool gone = false;
    goro::run(on(procs), [&]() -> goro::task<> {
      auto [ctx, cancel] = goro::with_cancel(goro::background());
      line = __LINE__; auto handle = goro::after_func(ctx, &nothing);
      (void)handle;
      seen = co_await await_parked(line, "select", nullptr);
      cancel();
      gone = co_await await_gone(line);
    });
    CAPTURE(procs);
    INFO(describe(seen));
    REQUIRE(seen);
    CHECK(seen->state == goro::task_state::parked);
    CHECK(seen->waiting_on == "select");
    CHECK(static_cast<int>(seen->wait_site.line()) == line);
    CHECK(in_this_file(seen->wait_site));
    CHECK(static_cast<int>(seen->started_at.line()) == line);
    CHECK(gone);
  }
}

// ---------------------------------------------------------------- join

// Intent: a task awaiting a join handle shows "join" and the awaited task's id. A join
// has no wait site (co_await on a handle calls nothing that takes a location): line 0.
TEST_CASE("debug: a task awaiting a join handle shows join and the awaited task") {
  watchdog dog("join record", 120s);
  for (unsigned procs : {1u, 2u}) {
    observed o;
    std::optional<goro::task_info> blocker;
    goro::run(on(procs), [&]() -> goro::task<> {
      probe p;
      goro::chan<> gate;
      std::atomic<int> blocker_line{0};  // relaxed: polled
      p.started_line = __LINE__; goro::go(&join, &p, &blocker_line, gate);
      o.parked = co_await await_parked(p.started_line, "join", nullptr);
      for (int i = 0; i < 100'000 && !blocker; ++i) {  // the line shows up once written: a stale 0 polls again
        blocker = find_task(goro::task_snapshot(), blocker_line.load(std::memory_order_relaxed));
        if (!blocker) co_await goro::yield();
      }
      gate.close();
      co_await observe_rest(p, o);
    });
    CAPTURE(procs);
    INFO(describe(o.parked));
    REQUIRE(o.parked);
    REQUIRE(blocker);
    CHECK(o.parked->waiting_on == "join");
    CHECK(o.parked->waiting_detail == "task " + std::to_string(blocker->id));
    CHECK(o.parked->wait_site.line() == 0);
    CHECK(static_cast<int>(o.parked->started_at.line()) == o.started_line);
    REQUIRE(o.self_after);
    CHECK(o.self_after->state == goro::task_state::running);
    REQUIRE(o.parked_again);
    CHECK(static_cast<int>(o.parked_again->wait_site.line()) == o.again_line);
    CHECK((!o.at_end || o.at_end->state == goro::task_state::running));
  }
}

#else  // !GORO_TASK_TRACE

TEST_CASE("debug: built with task_trace off: parking records no wait, nothing to check here") {
  MESSAGE("meson option task_trace is off");
}

#endif
