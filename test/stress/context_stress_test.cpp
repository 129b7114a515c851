// Stress tests for the context tree (lib/context.cpp, include/goro/context.hpp): cancels
// racing cancels, creations, deadlines and after_func stops, on several workers and
// foreign std::threads at once. Meant to run under ThreadSanitizer as well.
//
// Design
//   1. A big tree. 111,111 nodes, fan-out 10, five levels below the root; each of the
//      100,000 leaves has a task parked on it (done() directly, a select with a channel
//      nobody sends on, sleep_for(ctx, 1 h), or a select with after(1 h)). Node kinds
//      are random per seed (with_cancel, with_cancel_cause, with_timeout(1 h), with_value
//      then with_cancel; leaves may be bare value nodes). The root is cancelled from the
//      main task, from a foreign std::thread (with a cause), or by a deadline of 50 ms
//      that may fire while the tree is still being built (children then are born
//      cancelled). The cancelling thread checks err() of all 111,111 nodes right after
//      cancel() returns ("before cancel returns"); then every waiter must wake exactly
//      once with that err, and every node's cause must be the root's.
//   2. Concurrent cancels of every node. A 101-node tree (root, 10 children, 90
//      grandchildren; kinds mixed), two waiters per node, and six racers (three
//      std::threads, three tasks) that meet at a barrier and then cancel every node in
//      their own random order, with their own cause: each node is cancelled from several
//      threads at once while its ancestors are. Checks: every node canceled; every waiter
//      woke exactly once with canceled; a node's cause is one its own cancels offered or
//      its parent's final cause (propagation carries the parent's cause, so a mismatch
//      shows a cause taken from the wrong cancellation); causes read twice do not change.
//   3. Creation racing cancel. Two tasks and a foreign std::thread create children (and
//      grandchildren, and waiters and after_funcs on some) of one parent while another
//      std::thread cancels the parent (with a cause) after a random number of
//      creations; creators go on for 20 more after they see the parent cancelled. Every
//      child must end canceled with the parent's cause (born cancelled or reached by the
//      cancel: never left live), every waiter woken, every after_func run. Children's
//      cancel_funcs are kept until the check: destroying one would cancel it and hide a
//      child the parent's cancel missed.
//   4. after_func stop() racing cancel, 10,000 trials in batches of 100: per trial
//      exactly one of {stop() returned true, f ran once}. Racers: a thread and a task,
//      either way round, or two tasks, or two threads. "f never ran" is final once f's
//      task has ended: f's closure holds a marker whose destructor counts down a
//      wait_group, so after wg.wait() every closure is gone.
//   5. Deadlines racing explicit cancels, 2,000 trials of with_timeout(0-400 us) that a
//      foreign thread cancels at random moments: err() is canceled or
//      deadline_exceeded, the first non-empty value a poller sees never changes, and
//      cause(), the with_cancel child, a waiter on the child and an after_func all agree
//      with it.
//   6. A foreign thread's wake-up racing the end of goro::run: 1,000 runs in which a
//      std::thread cancels the context the main task waits on, and the main task then
//      returns at once. cancel() may still be inside the runtime (schedule() ->
//      push_global() -> notify_external() -> wake_one(): the idle list and a worker's
//      eventfd) after the task it woke has run and goro::run has destroyed the workers.
//      ThreadSanitizer reports the race every time (the eventfd closed and the worker
//      deleted by ~runtime against wake_one's eventfd_write); a plain build crashes now
//      and then (SIGSEGV in runtime::wake_one on the dead runtime, seen with the CPUs
//      loaded). A library bug when this was written (runtime.cpp; any foreign wake-up
//      does it: wait_group::done(), a channel's try_send too); the other tests here
//      join their foreign threads inside the main task so as not to trip on it.
// No check runs inside a task (doctest is not thread-safe): tasks and threads record
// violations in a `problems` list checked after goro::run; counts live in atomics.
//
// Seeds: GORO_STRESS_SEED=<n> fixes the base seed (otherwise random); it fixes every
// random choice (kinds, orders, delays), not the interleaving. A failed check prints the
// seed, and so does the watchdog (240 s per test case) if a run hangs.
//
// Sizes are the same in every build. Measured on this two-core VM through meson test:
// 2.5-5 s plain, ~20-23 s under ThreadSanitizer (big tree ~5.5 s, concurrent cancels
// ~3 s, creation race ~3 s, foreign wake-up ~6 s, the rest < 0.5 s), ~10 s under
// ASan+UBSan.
//
// g++ 12.2 note: tasks are free functions or lambdas given to goro::go with arguments;
// no co_await is the bare condition of an if or while in a coroutine with parameters.
#include <doctest/doctest.h>

#include <goro/goro.hpp>

#include "test_support.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <system_error>
#include <thread>
#include <variant>
#include <vector>

using namespace std::chrono_literals;
using steady = goro::clock;
using goro_test::problems;
using goro_test::rng;
using goro_test::test_case_seed;
using goro_test::watchdog;

namespace {

// ---------------------------------------------------------------- helpers

watchdog stress_watchdog(const char* what) { return goro_test::stress_watchdog(what, 240s); }

struct user {
  using value_type = std::string;
};
struct node_id {
  using value_type = int;
};

const std::error_code canceled = goro::errc::canceled;
const std::error_code deadline_exceeded = goro::errc::deadline_exceeded;
const std::error_code none{};

std::string show(std::error_code ec) {
  if (!ec) return "none";
  return std::string(ec.category().name()) + ":" + std::to_string(ec.value());
}
std::string str(std::uint64_t v) { return std::to_string(v); }

// A cancel function of either kind, for trees of mixed kinds. Not moved or destroyed
// while racers call it.
struct canceller {
  goro::cancel_func plain;
  goro::cancel_cause_func with_cause;
  bool has_cause = false;
  bool owns = false;  // false for a value node: nothing to cancel

  void operator()(std::error_code cause) const {
    if (!owns) return;
    if (has_cause)
      with_cause(cause);
    else
      plain();
  }
};

// A context of one of the kinds the tests mix, and its canceller.
enum class node_kind { cancel, cause, timeout, value_then_cancel, bare_value };

std::pair<goro::context, canceller> make_node(const goro::context& parent, node_kind k, int id) {
  canceller c;
  switch (k) {
    case node_kind::cancel: {
      auto r = goro::with_cancel(parent);
      c.plain = std::move(r.cancel);
      c.owns = true;
      return {std::move(r.ctx), std::move(c)};
    }
    case node_kind::cause: {
      auto r = goro::with_cancel_cause(parent);
      c.with_cause = std::move(r.cancel);
      c.has_cause = c.owns = true;
      return {std::move(r.ctx), std::move(c)};
    }
    case node_kind::timeout: {
      auto r = goro::with_timeout(parent, 1h);
      c.plain = std::move(r.cancel);
      c.owns = true;
      return {std::move(r.ctx), std::move(c)};
    }
    case node_kind::value_then_cancel: {
      auto r = goro::with_cancel(goro::with_value(parent, node_id{}, id));
      c.plain = std::move(r.cancel);
      c.owns = true;
      return {std::move(r.ctx), std::move(c)};
    }
    case node_kind::bare_value:
      return {goro::with_value(parent, node_id{}, id), std::move(c)};
  }
  return {};
}

// ---------------------------------------------------------------- 1. a big tree

constexpr int tree_fanout = 10;
constexpr int tree_nodes = 111'111;  // 1 + 10 + 100 + 1,000 + 10,000 + 100,000
constexpr int tree_first_leaf = 11'111;
constexpr int tree_leaves = tree_nodes - tree_first_leaf;

enum class root_cancel { main_task, foreign_thread_with_cause, deadline };
const char* root_cancel_name(root_cancel m) {
  switch (m) {
    case root_cancel::main_task: return "cancelled by the main task";
    case root_cancel::foreign_thread_with_cause: return "cancelled with a cause by a foreign thread";
    case root_cancel::deadline: return "a 50 ms deadline above the root";
  }
  return "?";
}

struct big_tree_state {
  std::vector<goro::context> ctx;
  std::vector<canceller> cancel;
  std::vector<std::error_code> got;             // per leaf; written by its waiter before wg.done()
  std::vector<std::atomic<int>> wakes;          // per leaf
  std::atomic<int> registered{0};
  goro::wait_group wg;
  goro::chan<int> never;                        // nobody sends: its recv is never ready
  problems bad;

  big_tree_state() : got(tree_leaves), wakes(tree_leaves) {}
};

goro::task<> leaf_waiter(big_tree_state* st, int leaf, int how) {
  const goro::context& ctx = st->ctx[tree_first_leaf + leaf];
  st->registered.fetch_add(1, std::memory_order_relaxed);  // a counter; parking is not implied
  std::error_code e;
  switch (how) {
    case 0:
      e = co_await ctx.done();
      break;
    case 1: {
      auto r = co_await goro::select(st->never.recv(), ctx.done());
      if (r.index() == 1) e = std::get<1>(r);
      break;
    }
    case 2:
      e = co_await goro::sleep_for(ctx, 1h);
      break;
    default: {
      auto r = co_await goro::select(ctx.done(), goro::after(1h));
      if (r.index() == 0) e = std::get<0>(r);
      break;
    }
  }
  st->got[leaf] = e;
  st->wakes[leaf].fetch_add(1, std::memory_order_relaxed);  // read after wg.wait()
  st->wg.done();
}

// err() of every node, checked by the thread that just cancelled the root.
void check_all_cancelled(big_tree_state& st, std::error_code want, const char* who) {
  int wrong = 0, first = -1;
  for (int i = 0; i < tree_nodes; ++i)
    if (st.ctx[i].err() != want) {
      if (wrong++ == 0) first = i;
    }
  if (wrong)
    st.bad.add(std::string(who) + ": right after cancel() returned, " + str(wrong) + " nodes were not " + show(want) +
               " (the first: node " + str(first) + ", " + show(st.ctx[first].err()) + ")");
}

void run_big_tree(std::uint64_t seed, root_cancel mode, problems& out, std::uint64_t& elapsed_ms) {
  rng r{seed};
  const auto start = steady::now();
  auto st = std::make_unique<big_tree_state>();
  const std::error_code root_cause = std::make_error_code(std::errc::connection_aborted);
  const std::error_code want_err = mode == root_cancel::deadline ? deadline_exceeded : canceled;
  const std::error_code want_cause = mode == root_cancel::deadline          ? deadline_exceeded
                                     : mode == root_cancel::main_task       ? canceled
                                                                            : root_cause;
  std::thread foreign;
  goro::run(goro::config{.maxprocs = 2}, [&]() -> goro::task<> {
    st->ctx.reserve(tree_nodes);
    st->cancel.reserve(tree_nodes);
    // The root: a cause context (cancellable with a cause), under a 50 ms deadline in
    // deadline mode.
    goro::context above;
    goro::cancel_func above_cancel;
    if (mode == root_cancel::deadline) {
      auto t = goro::with_timeout(goro::background(), 50ms);
      above = std::move(t.ctx);
      above_cancel = std::move(t.cancel);
    }
    {
      auto [c, k] = make_node(above, node_kind::cause, 0);
      st->ctx.push_back(std::move(c));
      st->cancel.push_back(std::move(k));
    }
    for (int i = 1; i < tree_nodes; ++i) {
      const int parent = (i - 1) / tree_fanout;
      const bool leaf = i >= tree_first_leaf;
      const auto roll = r.below(100);
      node_kind k = roll < 50   ? node_kind::cancel
                    : roll < 70 ? node_kind::cause
                    : roll < 85 ? node_kind::timeout
                                : (leaf ? node_kind::bare_value : node_kind::value_then_cancel);
      auto [c, kc] = make_node(st->ctx[parent], k, i);
      st->ctx.push_back(std::move(c));
      st->cancel.push_back(std::move(kc));
    }
    for (int leaf = 0; leaf < tree_leaves; ++leaf) {
      st->wg.add(1);
      goro::go(leaf_waiter, st.get(), leaf, static_cast<int>(r.below(4)));
    }
    while (st->registered.load(std::memory_order_relaxed) < tree_leaves) co_await goro::yield();

    switch (mode) {
      case root_cancel::main_task:
        st->cancel[0](none);
        check_all_cancelled(*st, canceled, "main task");
        break;
      case root_cancel::foreign_thread_with_cause:
        foreign = std::thread([&, hold = goro::external_handle()] {  // it wakes the parked leaves
          st->cancel[0](root_cause);
          check_all_cancelled(*st, canceled, "foreign thread");
        });
        break;
      case root_cancel::deadline:
        break;
    }
    co_await st->wg.wait();
    if (foreign.joinable()) foreign.join();  // it finished its cancel: every waiter woke
    for (int i = 0; i < tree_nodes; ++i) {
      if (st->ctx[i].err() != want_err || goro::cause(st->ctx[i]) != want_cause) {
        st->bad.add("node " + str(i) + ": err " + show(st->ctx[i].err()) + ", cause " + show(goro::cause(st->ctx[i])) +
                    "; want " + show(want_err) + ", " + show(want_cause));
        break;
      }
    }
    for (int leaf = 0; leaf < tree_leaves; ++leaf) {
      const int w = st->wakes[leaf].load(std::memory_order_relaxed);
      if (w != 1 || st->got[leaf] != want_err) {
        st->bad.add("leaf " + str(leaf) + ": woke " + str(w) + " times with " + show(st->got[leaf]));
        break;
      }
    }
    // Nothing stranded: every waiter has finished (allow a last step on the other worker).
    const auto give_up = steady::now() + 10s;
    while (goro::num_tasks() != 1 && steady::now() < give_up) co_await goro::yield();
    if (goro::num_tasks() != 1) st->bad.add(str(goro::num_tasks()) + " tasks left after every waiter woke");
  });
  if (foreign.joinable()) foreign.join();
  elapsed_ms = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - start).count());
  if (st->bad.count()) out.add(std::string(root_cancel_name(mode)) + ": " + st->bad.first());
}

// ---------------------------------------------------------------- 2. concurrent cancels

constexpr int small_children = 10, small_grandchildren_each = 9;
constexpr int small_nodes = 1 + small_children + small_children * small_grandchildren_each;  // 101
constexpr int racer_threads = 3, racer_tasks = 3, racers = racer_threads + racer_tasks;
constexpr int waiters_per_node = 2;

const std::array<std::error_code, racers> racer_causes = {
    std::make_error_code(std::errc::io_error),          std::make_error_code(std::errc::permission_denied),
    std::make_error_code(std::errc::broken_pipe),       std::make_error_code(std::errc::host_unreachable),
    std::make_error_code(std::errc::connection_reset),  std::make_error_code(std::errc::no_buffer_space),
};

struct small_tree_state {
  std::vector<goro::context> ctx;
  std::vector<canceller> cancel;
  std::vector<int> parent;
  std::vector<std::vector<int>> orders;  // per racer: the order it cancels the nodes in
  std::vector<std::error_code> got;      // per waiter
  std::vector<std::atomic<int>> wakes;   // per waiter
  std::atomic<int> at_barrier{0};
  goro::wait_group waiters_done, racers_done;
  goro::chan<int> never;
  problems bad;

  small_tree_state() : got(small_nodes * waiters_per_node), wakes(small_nodes * waiters_per_node) {}

  void race(int racer) const {
    const auto cause = racer == 0 ? none : racer_causes[racer];  // racer 0: cancel() without a cause
    for (int n : orders[racer]) cancel[n](cause);
  }
};

goro::task<> small_waiter(small_tree_state* st, int node, int slot) {
  const goro::context& ctx = st->ctx[node];
  std::error_code e;
  if (slot % 2 == 0) {
    e = co_await ctx.done();
  } else {
    auto r = co_await goro::select(st->never.recv(), ctx.done());
    if (r.index() == 1) e = std::get<1>(r);
  }
  st->got[slot] = e;
  st->wakes[slot].fetch_add(1, std::memory_order_relaxed);
  st->waiters_done.done();
}

goro::task<> racer_task(small_tree_state* st, int racer) {
  st->at_barrier.fetch_add(1);
  while (st->at_barrier.load() < racers) co_await goro::yield();  // yield: racers share workers
  st->race(racer);
  st->racers_done.done();
}

void run_concurrent_cancels(std::uint64_t seed, problems& out) {
  rng r{seed};
  small_tree_state st;
  std::vector<std::thread> threads;
  const unsigned procs = r.below(3) == 0 ? 4 : 2;
  goro::run(goro::config{.maxprocs = procs}, [&]() -> goro::task<> {
    st.ctx.reserve(small_nodes);
    constexpr node_kind kinds[] = {node_kind::cancel, node_kind::cause, node_kind::timeout, node_kind::value_then_cancel};
    auto add = [&](int parent, node_kind k) {
      auto [c, kc] = make_node(parent < 0 ? goro::background() : st.ctx[parent], k, static_cast<int>(st.ctx.size()));
      st.ctx.push_back(std::move(c));
      st.cancel.push_back(std::move(kc));
      st.parent.push_back(parent);
    };
    add(-1, node_kind::cause);
    for (int c = 0; c < small_children; ++c) add(0, kinds[r.below(4)]);
    for (int c = 0; c < small_children; ++c)
      for (int g = 0; g < small_grandchildren_each; ++g) add(1 + c, kinds[r.below(4)]);
    for (int i = 0; i < racers; ++i) {
      std::vector<int> order(small_nodes);
      for (int n = 0; n < small_nodes; ++n) order[n] = n;
      r.shuffle(order);
      st.orders.push_back(std::move(order));
    }
    for (int n = 0; n < small_nodes; ++n)
      for (int w = 0; w < waiters_per_node; ++w) {
        st.waiters_done.add(1);
        goro::go(small_waiter, &st, n, n * waiters_per_node + w);
      }
    // Let the waiters park (most of them; the rest race the cancels, which is legal).
    for (int i = 0; i < 20; ++i) co_await goro::yield();

    st.racers_done.add(racers);
    for (int t = 0; t < racer_threads; ++t)
      threads.emplace_back([&st, t, hold = goro::external_handle()] {  // it wakes parked waiters
        st.at_barrier.fetch_add(1);
        while (st.at_barrier.load() < racers) std::this_thread::yield();
        st.race(t);
        st.racers_done.done();
      });
    for (int t = racer_threads; t < racers; ++t) goro::go(racer_task, &st, t);
    co_await st.racers_done.wait();
    // Joined inside the task, before goro::run can end: see "foreign wake-up racing the
    // end of goro::run" below. They have finished racing; this waits for them to return.
    for (auto& t : threads) t.join();
    co_await st.waiters_done.wait();

    // Which causes each node's own cancels offered.
    auto own_causes_include = [&](int n, std::error_code c) {
      if (!st.cancel[n].owns) return false;
      if (!st.cancel[n].has_cause) return c == canceled;
      if (c == canceled) return true;  // racer 0
      return std::find(racer_causes.begin(), racer_causes.end(), c) != racer_causes.end();
    };
    std::vector<std::error_code> first_read(small_nodes);
    for (int n = 0; n < small_nodes; ++n) {
      first_read[n] = goro::cause(st.ctx[n]);
      st.bad.expect(st.ctx[n].err() == canceled, "node " + str(n) + " err " + show(st.ctx[n].err()));
      const auto c = first_read[n];
      const int p = st.parent[n];
      const bool from_parent = p >= 0 && c == goro::cause(st.ctx[p]);
      st.bad.expect(from_parent || own_causes_include(n, c),
                    "node " + str(n) + " has cause " + show(c) + ", neither its own cancels' nor its parent's (" +
                        (p >= 0 ? show(goro::cause(st.ctx[p])) : std::string("root")) + ")");
    }
    for (int w = 0; w < small_nodes * waiters_per_node; ++w) {
      const int k = st.wakes[w].load(std::memory_order_relaxed);
      st.bad.expect(k == 1 && st.got[w] == canceled,
                    "waiter " + str(w) + " woke " + str(k) + " times with " + show(st.got[w]));
    }
    co_await goro::yield();
    for (int n = 0; n < small_nodes; ++n)
      st.bad.expect(goro::cause(st.ctx[n]) == first_read[n], "node " + str(n) + "'s cause changed");
  });
  if (st.bad.count()) out.add("seed " + str(seed) + ": " + st.bad.first());
}

// ---------------------------------------------------------------- 3. creation racing cancel

struct created {
  goro::context ctx;
  canceller cancel;
};

struct creation_state {
  goro::context parent;
  goro::cancel_cause_func parent_cancel;
  std::atomic<int> total_created{0};
  std::atomic<int> waiters_woke{0}, waiters_wrong{0}, funcs_ran{0};
  int waiters = 0, funcs = 0;  // counted by the creator tasks, read after they finish
  std::mutex mu;
  std::vector<std::vector<created>> made;  // per creator; each vector written by its creator only
  goro::wait_group creators_done, cancel_done, waiters_done;
};

const std::error_code creation_cause = std::make_error_code(std::errc::operation_not_permitted);

// One creator: makes children (and some grandchildren) of st->parent until 20 after it
// saw the parent cancelled, or `limit`. Tasks may also start waiters and after_funcs.
void create_children(creation_state* st, int creator, std::uint64_t seed, int limit, bool in_task,
                     std::vector<goro::after_func_handle>* handles, int* waiters, int* funcs) {
  rng r{seed};
  auto& out = st->made[creator];
  int after_seen = 0;
  for (int i = 0; i < limit && after_seen < 20; ++i) {
    if (st->parent.err()) ++after_seen;
    const auto roll = r.below(in_task ? 5 : 4);
    node_kind k = roll == 0   ? node_kind::cancel
                  : roll == 1 ? node_kind::cause
                  : roll == 2 ? node_kind::value_then_cancel
                  : roll == 3 ? node_kind::bare_value
                              : node_kind::timeout;  // needs a task
    auto [c, kc] = make_node(st->parent, k, i);
    out.push_back({std::move(c), std::move(kc)});
    if (r.below(4) == 0) {  // a grandchild
      auto [g, kg] = make_node(out.back().ctx, in_task && r.below(2) ? node_kind::timeout : node_kind::cancel, i);
      out.push_back({std::move(g), std::move(kg)});
    }
    st->total_created.fetch_add(1);
    if (in_task && i % 10 == 3) {
      ++*waiters;
      st->waiters_done.add(1);
      goro::go([](creation_state* s, goro::context ctx) -> goro::task<> {
        auto e = co_await ctx.done();
        if (e != canceled) s->waiters_wrong.fetch_add(1);
        s->waiters_woke.fetch_add(1);
        s->waiters_done.done();
      }, st, out.back().ctx);
    }
    if (in_task && i % 10 == 7) {
      ++*funcs;
      handles->push_back(goro::after_func(out.back().ctx, [st] { st->funcs_ran.fetch_add(1); }));
    }
  }
}

void run_creation_race(std::uint64_t seed, problems& out) {
  rng r{seed};
  creation_state st;
  constexpr int creator_tasks = 2, creators = creator_tasks + 1, limit = 300;
  st.made.resize(creators);
  const int cancel_after = static_cast<int>(r.below(400));
  std::thread canceller_thread, creator_thread;
  std::vector<goro::after_func_handle> handles[creators];
  int waiters[creators] = {}, funcs[creators] = {};
  problems bad;
  goro::run(goro::config{.maxprocs = 2}, [&]() -> goro::task<> {
    auto [p, cancel] = goro::with_cancel_cause(goro::with_value(goro::background(), user{}, "parent"));
    st.parent = p;
    st.parent_cancel = std::move(cancel);
    st.creators_done.add(creators);
    st.cancel_done.add(1);
    for (int c = 0; c < creator_tasks; ++c)
      goro::go([&](int me, std::uint64_t s) {
        create_children(&st, me, s, limit, true, &handles[me], &waiters[me], &funcs[me]);
        st.creators_done.done();
      }, c, r.next());
    const std::uint64_t thread_seed = r.next();
    // Both threads hold an external_handle: their done() and cancel wake parked tasks.
    creator_thread = std::thread([&, thread_seed, hold = goro::external_handle()] {
      create_children(&st, creator_tasks, thread_seed, limit, false, nullptr, nullptr, nullptr);
      st.creators_done.done();
    });
    canceller_thread = std::thread([&, hold = goro::external_handle()] {
      while (st.total_created.load() < cancel_after && st.total_created.load() < creators * limit / 2)
        std::this_thread::yield();
      st.parent_cancel(creation_cause);
      st.cancel_done.done();
    });
    co_await st.creators_done.wait();
    co_await st.cancel_done.wait();
    creator_thread.join();  // inside the task: see "foreign wake-up racing the end of goro::run"
    canceller_thread.join();
    int live = 0, wrong = 0, total = 0;
    for (const auto& v : st.made)
      for (const auto& c : v) {
        ++total;
        if (!c.ctx.err())
          ++live;
        else if (c.ctx.err() != canceled || goro::cause(c.ctx) != creation_cause)
          ++wrong;
      }
    bad.expect(live == 0, str(live) + " of " + str(total) + " children were left live after the parent's cancel");
    bad.expect(wrong == 0, str(wrong) + " of " + str(total) + " children have the wrong err or cause");
    co_await st.waiters_done.wait();
    const int want_funcs = funcs[0] + funcs[1];
    const auto give_up = steady::now() + 10s;
    while (st.funcs_ran.load() < want_funcs && steady::now() < give_up) co_await goro::yield();
    bad.expect(st.funcs_ran.load() == want_funcs,
               "after_func ran " + str(st.funcs_ran.load()) + " times of " + str(want_funcs));
    bad.expect(st.waiters_wrong.load() == 0, str(st.waiters_wrong.load()) + " waiters woke with the wrong err");
  });
  if (bad.count()) out.add("seed " + str(seed) + " (cancel after " + str(cancel_after) + "): " + bad.first());
}

// ---------------------------------------------------------------- 4. after_func stop vs cancel

constexpr int af_batch = 100, af_batches = 100;  // 10,000 trials

struct end_marker {  // destroyed with the last copy of f's closure: f's task has ended
  explicit end_marker(goro::wait_group* w) : wg(w) {}
  end_marker(const end_marker&) = delete;
  end_marker& operator=(const end_marker&) = delete;
  ~end_marker() { wg->done(); }
  goro::wait_group* wg;
};

enum class af_mode { thread_cancels_task_stops, task_cancels_thread_stops, two_tasks, two_threads };

struct af_batch_state {
  std::vector<goro::with_cancel_result<goro::cancel_func>> ctx;
  std::vector<goro::after_func_handle> handles;
  std::vector<std::atomic<int>> ran;
  std::vector<char> stopped;  // written by the stopper, read after it finished
  std::vector<int> cancel_order, stop_order;
  std::atomic<int> at_barrier{0};
  goro::wait_group ended, racers_done;

  af_batch_state() : ran(af_batch), stopped(af_batch, 0) {}
  void cancel_all() const {
    for (int i : cancel_order) ctx[i].cancel();
  }
  void stop_all() {
    for (int i : stop_order) stopped[i] = handles[i].stop();
  }
};

goro::task<> af_racer_task(af_batch_state* st, bool cancels) {
  st->at_barrier.fetch_add(1);
  while (st->at_barrier.load() < 2) co_await goro::yield();
  if (cancels)
    st->cancel_all();
  else
    st->stop_all();
  st->racers_done.done();
}

// `hold`: its cancels start after_func tasks and its done() wakes main.
void af_racer_thread(af_batch_state* st, bool cancels, [[maybe_unused]] goro::external_handle hold) {
  st->at_barrier.fetch_add(1);
  while (st->at_barrier.load() < 2) std::this_thread::yield();
  if (cancels)
    st->cancel_all();
  else
    st->stop_all();
  st->racers_done.done();
}

struct af_totals {
  long stop_won = 0, f_won = 0;
};

void run_after_func_race(std::uint64_t seed, problems& out, af_totals& totals) {
  rng r{seed};
  goro::run(goro::config{.maxprocs = 2}, [&]() -> goro::task<> {
    for (int b = 0; b < af_batches; ++b) {
      af_batch_state st;
      const auto mode = static_cast<af_mode>(r.below(4));
      st.ended.add(af_batch);
      st.ctx.reserve(af_batch);
      st.handles.reserve(af_batch);
      for (int i = 0; i < af_batch; ++i) {
        st.ctx.push_back(goro::with_cancel(goro::background()));
        auto marker = std::make_shared<end_marker>(&st.ended);
        st.handles.push_back(goro::after_func(st.ctx.back().ctx, [marker, &ran = st.ran[i]] { ran.fetch_add(1); }));
        st.cancel_order.push_back(i);
        st.stop_order.push_back(i);
      }
      r.shuffle(st.cancel_order);
      if (r.below(2)) r.shuffle(st.stop_order);  // else in index order
      st.racers_done.add(2);
      std::vector<std::thread> threads;
      switch (mode) {
        case af_mode::thread_cancels_task_stops:
          threads.emplace_back(af_racer_thread, &st, true, goro::external_handle());
          goro::go(af_racer_task, &st, false);
          break;
        case af_mode::task_cancels_thread_stops:
          threads.emplace_back(af_racer_thread, &st, false, goro::external_handle());
          goro::go(af_racer_task, &st, true);
          break;
        case af_mode::two_tasks:
          goro::go(af_racer_task, &st, true);
          goro::go(af_racer_task, &st, false);
          break;
        case af_mode::two_threads:
          threads.emplace_back(af_racer_thread, &st, true, goro::external_handle());
          threads.emplace_back(af_racer_thread, &st, false, goro::external_handle());
          break;
      }
      co_await st.racers_done.wait();
      for (auto& t : threads) t.join();  // they have finished their work
      co_await st.ended.wait();          // every f's task has ended: ran[] is final
      for (int i = 0; i < af_batch; ++i) {
        const int ran = st.ran[i].load();
        const bool stopped = st.stopped[i] != 0;
        if (stopped ? ran != 0 : ran != 1) {
          out.add("seed " + str(seed) + ", batch " + str(b) + " (mode " + str(static_cast<int>(mode)) + "), trial " +
                  str(i) + ": stop() returned " + (stopped ? "true" : "false") + " and f ran " + str(ran) + " times");
        }
        (stopped ? totals.stop_won : totals.f_won) += 1;
      }
    }
  });
}

// ---------------------------------------------------------------- 5. deadline vs cancel

constexpr int dl_batch = 50, dl_batches = 40;  // 2,000 trials

struct dl_batch_state {
  std::vector<goro::with_cancel_result<goro::cancel_func>> ctx, child;
  std::vector<std::error_code> first_seen, waiter_got;
  std::vector<std::atomic<int>> func_err;  // the err f saw, as errc value
  std::vector<std::uint32_t> spin_ns;      // the canceller's delay before each cancel
  goro::wait_group waiters, funcs;
  problems bad;

  dl_batch_state() : first_seen(dl_batch), waiter_got(dl_batch), func_err(dl_batch) {}
};

struct dl_totals {
  long canceled = 0, deadline = 0;
};

void run_deadline_race(std::uint64_t seed, problems& out, dl_totals& totals) {
  rng r{seed};
  goro::run(goro::config{.maxprocs = 2}, [&]() -> goro::task<> {
    for (int b = 0; b < dl_batches; ++b) {
      dl_batch_state st;
      std::vector<goro::after_func_handle> handles;
      // Reserved: tasks started below read st.ctx[k] and st.child[k] while later
      // elements are added, so the vectors must not reallocate.
      st.ctx.reserve(dl_batch);
      st.child.reserve(dl_batch);
      for (int i = 0; i < dl_batch; ++i) {
        st.ctx.push_back(goro::with_timeout(goro::background(), std::chrono::microseconds(r.below(400))));
        st.child.push_back(goro::with_cancel(st.ctx.back().ctx));
        st.spin_ns.push_back(r.below(20'000));
        st.waiters.add(1);
        goro::go([](dl_batch_state* s, int k) -> goro::task<> {
          s->waiter_got[k] = co_await s->child[k].ctx.done();
          s->waiters.done();
        }, &st, i);
        st.funcs.add(1);
        handles.push_back(goro::after_func(st.ctx.back().ctx, [s = &st, i] {
          s->func_err[i].store(s->ctx[i].ctx.err().value());
          s->funcs.done();
        }));
      }
      std::thread canceller([&st, hold = goro::external_handle()] {  // its cancels wake waiters
        for (int i = 0; i < dl_batch; ++i) {
          const auto until = steady::now() + std::chrono::nanoseconds(st.spin_ns[i]);
          while (steady::now() < until) {
          }
          st.ctx[i].cancel();
        }
      });
      // The poller: the first non-empty err() of each context, then three more reads.
      for (int i = 0; i < dl_batch; ++i) {
        std::error_code e;
        for (;;) {
          e = st.ctx[i].ctx.err();
          if (e) break;
          co_await goro::yield();
        }
        st.first_seen[i] = e;
        for (int k = 0; k < 3; ++k) {
          co_await goro::yield();
          const auto again = st.ctx[i].ctx.err();
          st.bad.expect(again == e, "trial " + str(i) + ": err() changed from " + show(e) + " to " + show(again));
        }
      }
      co_await st.waiters.wait();
      co_await st.funcs.wait();
      canceller.join();  // it has cancelled everything (every err() was non-empty)
      for (int i = 0; i < dl_batch; ++i) {
        const auto e = st.ctx[i].ctx.err();
        const bool legal = e == canceled || e == deadline_exceeded;
        st.bad.expect(legal, "trial " + str(i) + ": err() is " + show(e));
        st.bad.expect(e == st.first_seen[i], "trial " + str(i) + ": first seen " + show(st.first_seen[i]) +
                                                 ", now " + show(e));
        st.bad.expect(goro::cause(st.ctx[i].ctx) == e, "trial " + str(i) + ": cause " +
                                                           show(goro::cause(st.ctx[i].ctx)) + ", err " + show(e));
        st.bad.expect(st.child[i].ctx.err() == e && goro::cause(st.child[i].ctx) == e,
                      "trial " + str(i) + ": the child has " + show(st.child[i].ctx.err()) + ", the parent " + show(e));
        st.bad.expect(st.waiter_got[i] == e, "trial " + str(i) + ": the waiter got " + show(st.waiter_got[i]));
        st.bad.expect(st.func_err[i].load() == e.value(), "trial " + str(i) + ": after_func saw errc " +
                                                             str(static_cast<std::uint64_t>(st.func_err[i].load())));
        (e == canceled ? totals.canceled : totals.deadline) += 1;
      }
      if (st.bad.count()) {
        out.add("seed " + str(seed) + ", batch " + str(b) + ": " + st.bad.first());
        break;
      }
    }
  });
}

// A test case of `trials` runs of `run` from consecutive seeds, stopping at the first
// violation.
void run_trials(const char* what, int trials, void (*run)(std::uint64_t, problems&)) {
  auto guard = stress_watchdog(what);
  const std::uint64_t seed = test_case_seed();
  problems bad;
  for (int t = 0; t < trials && bad.count() == 0; ++t) run(seed + t, bad);
  INFO("reproduce with GORO_STRESS_SEED=" << seed);
  CHECK_NO_PROBLEMS(bad);
}

}  // namespace

// Intent: design 1; three runs, one per way of cancelling the root.
TEST_CASE("cancel propagation over a 111,111-node tree wakes 100,000 leaf waiters") {
  auto guard = stress_watchdog("big tree");
  const std::uint64_t seed = test_case_seed();
  problems bad;
  for (int m = 0; m < 3; ++m) {
    std::uint64_t ms = 0;
    run_big_tree(seed + m, static_cast<root_cancel>(m), bad, ms);
    MESSAGE(std::string(root_cancel_name(static_cast<root_cancel>(m))) << ": " << ms << " ms");
  }
  INFO("reproduce with GORO_STRESS_SEED=" << seed);
  CHECK_NO_PROBLEMS(bad);
}

// Intent: design 2; 200 trees.
TEST_CASE("concurrent cancels of every node of a 101-node tree from threads and tasks") {
  run_trials("concurrent cancels", 200, run_concurrent_cancels);
}

// Intent: design 3; 200 trials.
TEST_CASE("children created while the parent is cancelled are never left live") {
  run_trials("creation race", 200, run_creation_race);
}

// Intent: design 4; 10,000 trials.
TEST_CASE("after_func stop() racing cancel: exactly one of stop() true and f ran, 10,000 trials") {
  auto guard = stress_watchdog("after_func race");
  const std::uint64_t seed = test_case_seed();
  problems bad;
  af_totals totals;
  run_after_func_race(seed, bad, totals);
  MESSAGE("stop() won " << totals.stop_won << " trials, f ran in " << totals.f_won);
  INFO("reproduce with GORO_STRESS_SEED=" << seed);
  CHECK(totals.stop_won + totals.f_won == af_batch * af_batches);
  CHECK_NO_PROBLEMS(bad);
}

// Intent: design 5; 2,000 trials.
TEST_CASE("deadlines racing explicit cancels: err() is set once and everyone agrees on it") {
  auto guard = stress_watchdog("deadline race");
  const std::uint64_t seed = test_case_seed();
  problems bad;
  dl_totals totals;
  run_deadline_race(seed, bad, totals);
  MESSAGE("canceled in " << totals.canceled << " trials, deadline_exceeded in " << totals.deadline);
  INFO("reproduce with GORO_STRESS_SEED=" << seed);
  CHECK_NO_PROBLEMS(bad);
}

// Intent: design 6; 1,000 runs, alternating one and two workers. Fails (under
// ThreadSanitizer always, in a plain build sometimes) while the runtime is still used by
// a foreign thread's wake-up after that wake-up has let goro::run end.
TEST_CASE("foreign wake-up racing the end of goro::run: cancel() from a std::thread") {
  auto guard = stress_watchdog("foreign wake-up vs run end");
  test_case_seed();  // no random choices: only for the watchdog's message
  int woke = 0;
  for (int i = 0; i < 1'000; ++i) {
    std::thread t;
    std::error_code got;
    goro::run(goro::config{.maxprocs = 1 + static_cast<unsigned>(i % 2)}, [&]() -> goro::task<> {
      auto [ctx, cancel] = goro::with_cancel(goro::background());
      // The handle (destroyed after c): main, the only task, is parked until c() wakes it.
      t = std::thread([hold = goro::external_handle(), c = std::move(cancel)] { c(); });
      got = co_await ctx.done();
    });  // the runtime is destroyed here, perhaps while t is still inside cancel()
    t.join();
    woke += got == canceled;
  }
  CHECK(woke == 1'000);
}
