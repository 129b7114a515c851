// Tests for include/goro/select.hpp: goro::select over channel cases, goro::after and
// goro::default_case.
//
// What the contract promises and how each part is checked
//   1. The chosen case and its result: r.index() and std::get<i>(r) for ready recv/send
//      cases, a closed channel's recv (empty), a closed channel's send (the select
//      throws), chan<void> cases, and cases completed by a peer after the select parked.
//   2. Random choice: 100,000 selects over two always-ready cases (two buffered channels
//      refilled after each select) must split 50% +- 2%; 60,000 over three, a third each
//      +- 2% (both bounds are more than 7 standard deviations wide).
//   3. default_case: chosen at once (a probe task on maxprocs = 1 shows the select did not
//      suspend) when nothing is ready, in any position, and never when a case is ready.
//   4. Exactly one case commits: with several ready cases, the channels' sizes show one
//      operation happened; the losing send's move-only value is still in its variable;
//      the losing receive's value is still in its channel. For a parked select, the
//      losing cases' waiters are gone from their channels before the select returns
//      (try_send/try_recv on them find nobody; a later peer is served normally).
//   5. The same channel in several cases, and no self-pairing: a select holding the send
//      and the receive of one unbuffered channel times out (after()) instead of completing
//      with itself.
//   6. Timers: after(d) never fires before d (measured with goro::clock); a lost timer is
//      removed: thousands of parked selects whose timers lose leave nothing behind (run
//      ends promptly; a stale timer firing into a freed frame is an ASan report, into a
//      reused one an early timeout, which is checked).
//   7. nil channel cases are never chosen.
//   8. Many selects parked on the same channels on two workers are each woken exactly
//      once, by sends and by closes.
// On maxprocs = 1 a spawned task runs only once the current one suspends, which orders
// "parked" before "woken" without sleeping. Results are collected in plain variables and
// checked on the test thread after goro::run returns.
#include <doctest/doctest.h>

#include <goro/goro.hpp>

#include "test_support.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

using namespace std::chrono_literals;
using goro_test::watchdog;
using steady = goro::clock;  // not `using goro::clock`: it would clash with ::clock()

namespace {

template <class Rep, class Period>
double to_ms(std::chrono::duration<Rep, Period> d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

}  // namespace

// ---------------------------------------------------------------- choosing a case

// Intent: a select with one ready case chooses it: a recv case (its value in
// std::get<i>), a send case (goro::sent; the value is in the channel, the full channel
// untouched), a recv case on a closed channel (empty optional). A parked select is
// completed by a peer's send or receive on one of its channels.
TEST_CASE("select picks the ready case: recv, send, recv on a closed channel") {
  watchdog dog("select picks the ready case", 30s);
  std::size_t recv_index = 9, send_index = 9, closed_index = 9, parked_recv_index = 9, parked_send_index = 9;
  std::optional<int> recv_value, closed_value, parked_recv_value;
  std::optional<int> sent_value, full_still_holds, peer_got;
  bool send_result_is_sent = false, mixed_ok = false;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::chan<int> a(1), b(1);
    a.try_send(5);
    {
      auto r = co_await goro::select(b.recv(), a.recv());
      static_assert(std::is_same_v<decltype(r), std::variant<std::optional<int>, std::optional<int>>>);
      recv_index = r.index();
      if (r.index() == 1) recv_value = std::get<1>(r);
    }
    a.try_send(6);  // a full, b empty
    {
      auto r = co_await goro::select(a.send(1), b.send(2));
      static_assert(std::is_same_v<decltype(r), std::variant<goro::sent, goro::sent>>);
      send_index = r.index();
      send_result_is_sent = std::get_if<1>(&r) != nullptr;
      sent_value = b.try_recv().value;
      full_still_holds = a.try_recv().value;
    }
    goro::chan<int> closed(1), empty;
    closed.close();
    {
      auto r = co_await goro::select(empty.recv(), closed.recv());
      closed_index = r.index();
      closed_value = std::get<1>(r);
    }
    // Different element types in one select.
    {
      goro::chan<std::string> words(1);
      words.try_send("w");
      auto r = co_await goro::select(empty.recv(), words.recv());
      mixed_ok = r.index() == 1 && std::get<1>(r) == std::optional<std::string>("w");
    }
    // Parked, completed by a peer's send.
    goro::chan<int> u1, u2;
    goro::go([&]() -> goro::task<> { co_await u2.send(9); });
    {
      auto r = co_await goro::select(u1.recv(), u2.recv());
      parked_recv_index = r.index();
      if (r.index() == 1) parked_recv_value = std::get<1>(r);
    }
    // Parked, completed by a peer's receive.
    bool done = false;
    goro::go([&]() -> goro::task<> {
      peer_got = co_await u1.recv();
      done = true;
    });
    {
      auto r = co_await goro::select(u1.send(3), u2.send(4));
      parked_send_index = r.index();
    }
    while (!done) co_await goro::yield();
  });
  CHECK(recv_index == 1);
  CHECK(recv_value == std::optional<int>(5));
  CHECK(send_index == 1);
  CHECK(send_result_is_sent);
  CHECK(sent_value == std::optional<int>(2));
  CHECK(full_still_holds == std::optional<int>(6));
  CHECK(closed_index == 1);
  CHECK_FALSE(closed_value.has_value());
  CHECK(mixed_ok);
  CHECK(parked_recv_index == 1);
  CHECK(parked_recv_value == std::optional<int>(9));
  CHECK(parked_send_index == 0);
  CHECK(peer_got == std::optional<int>(3));
}

// Intent: a send case on a closed channel makes the select throw closed_channel_error,
// whether the channel is closed before the select or while it is parked; the value is
// not moved, and the select's other channels are left as they were (no waiter behind).
TEST_CASE("a send case on a closed channel makes the select throw closed_channel_error") {
  watchdog dog("select send on closed", 30s);
  bool threw_ready = false, threw_parked = false, other_error = false;
  bool value_kept = false, value_kept_parked = false;
  bool other_has_no_waiter = false, other_still_buffered = false;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::chan<std::unique_ptr<int>> closed(1);
    closed.close();
    goro::chan<int> empty;
    auto p = std::make_unique<int>(7);
    try {
      (void)co_await goro::select(closed.send(std::move(p)), empty.recv());
    } catch (const goro::closed_channel_error&) {
      threw_ready = true;
    } catch (...) {
      other_error = true;
    }
    value_kept = p && *p == 7;

    goro::chan<std::unique_ptr<int>> u;
    goro::chan<int> full(1);
    full.try_send(1);  // ready for nobody here: the select's case is a send
    bool entered = false;
    goro::go([&]() -> goro::task<> {
      entered = true;
      u.close();
      co_return;
    });
    try {
      (void)co_await goro::select(u.send(std::move(p)), empty.recv(), full.send(2));
    } catch (const goro::closed_channel_error&) {
      threw_parked = entered;
    } catch (...) {
      other_error = true;
    }
    value_kept_parked = p && *p == 7;
    other_has_no_waiter = !empty.try_send(3);
    other_still_buffered = full.size() == 1 && full.try_recv().value == std::optional<int>(1);
  });
  CHECK(threw_ready);
  CHECK(threw_parked);
  CHECK_FALSE(other_error);
  CHECK(value_kept);
  CHECK(value_kept_parked);
  CHECK(other_has_no_waiter);
  CHECK(other_still_buffered);
}

// Intent: with two ready cases, each is chosen about half the time: 100,000 selects
// over two buffered channels kept non-empty; each share within 50% +- 2%.
TEST_CASE("random choice: two ready cases are each chosen 50% +- 2% of 100,000 selects") {
  constexpr int selects = 100'000;
  std::array<int, 2> chosen{};
  int wrong_value = 0;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::chan<int> a(1), b(1);
    a.try_send(0);
    b.try_send(1);
    for (int i = 0; i < selects; ++i) {
      auto r = co_await goro::select(a.recv(), b.recv());
      const auto k = r.index();
      ++chosen[k];
      const std::optional<int>& v = k == 0 ? std::get<0>(r) : std::get<1>(r);
      if (v != std::optional<int>(static_cast<int>(k))) ++wrong_value;
      (k == 0 ? a : b).try_send(static_cast<int>(k));  // keep both ready
    }
  });
  CHECK(wrong_value == 0);
  CHECK(chosen[0] + chosen[1] == selects);
  for (int c : chosen) {
    CHECK(c >= selects * 48 / 100);
    CHECK(c <= selects * 52 / 100);
  }
}

// Intent: with three ready cases (two receives and a send), each is chosen about a third
// of the time.
TEST_CASE("random choice: three ready cases are each chosen a third of the time") {
  constexpr int selects = 60'000;
  std::array<int, 3> chosen{};
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::chan<int> a(1), b(1), out(1);
    a.try_send(0);
    b.try_send(1);
    for (int i = 0; i < selects; ++i) {
      auto r = co_await goro::select(a.recv(), b.recv(), out.send(2));
      ++chosen[r.index()];
      if (r.index() == 0) a.try_send(0);
      if (r.index() == 1) b.try_send(1);
      if (r.index() == 2) (void)out.try_recv();  // keep room
    }
  });
  for (int c : chosen) {
    INFO("chosen " << c << " of " << selects);
    CHECK(c >= selects * (100 - 6) / 300);  // 1/3 - 2%
    CHECK(c <= selects * (100 + 6) / 300);  // 1/3 + 2%
  }
}

// ---------------------------------------------------------------- default_case

// Intent: with no ready case, default_case is chosen at once (the select does not
// suspend: a probe task queued before it has not run) and nothing else happens, wherever
// default_case is in the argument list.
TEST_CASE("default_case is taken at once when nothing is ready, in any position") {
  std::vector<std::size_t> indexes;
  bool probe_ran_during_selects = true, probe_ran_at_end = false, nothing_changed = false;
  bool default_alternative = false;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    bool probe_ran = false;
    goro::go([&] { probe_ran = true; });
    goro::chan<int> empty, full(1), unbuffered;
    full.try_send(1);
    {
      auto r = co_await goro::select(goro::default_case, empty.recv());
      static_assert(std::is_same_v<std::variant_alternative_t<0, decltype(r)>, goro::default_case_t>);
      default_alternative = std::holds_alternative<goro::default_case_t>(r);
      indexes.push_back(r.index());
    }
    indexes.push_back((co_await goro::select(empty.recv(), goro::default_case, full.send(2))).index());
    indexes.push_back((co_await goro::select(unbuffered.send(3), empty.recv(), goro::default_case)).index());
    indexes.push_back((co_await goro::select(goro::default_case)).index());
    probe_ran_during_selects = probe_ran;
    nothing_changed = full.size() == 1 && empty.size() == 0 && !unbuffered.try_send(4) &&
                      full.try_recv().value == std::optional<int>(1);
    co_await goro::yield();  // positive control: a real suspension lets the probe run
    probe_ran_at_end = probe_ran;
  });
  CHECK(indexes == std::vector<std::size_t>{0, 1, 2, 0});
  CHECK(default_alternative);
  CHECK_FALSE(probe_ran_during_selects);
  CHECK(probe_ran_at_end);
  CHECK(nothing_changed);
}

// Intent: default_case is never chosen while a case is ready: 20,000 selects with a
// buffered channel kept non-empty, and selects with a sender parked on an unbuffered
// channel.
TEST_CASE("default_case is never taken when a case is ready") {
  watchdog dog("default never when ready", 30s);
  constexpr int selects = 20'000;
  int defaults = 0, parked_defaults = 0, parked_received = 0;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::chan<int> ready(1), empty;
    ready.try_send(1);
    for (int i = 0; i < selects; ++i) {
      if (i % 2) {
        auto r = co_await goro::select(goro::default_case, empty.recv(), ready.recv());
        if (r.index() != 2 || std::get<2>(r) != std::optional<int>(1)) ++defaults;
      } else {
        auto r = co_await goro::select(empty.recv(), ready.recv(), goro::default_case);
        if (r.index() != 1 || std::get<1>(r) != std::optional<int>(1)) ++defaults;
      }
      ready.try_send(1);
    }
    goro::chan<int> u;
    for (int i = 0; i < 100; ++i) {
      bool entered = false;
      goro::go([&]() -> goro::task<> {
        entered = true;
        co_await u.send(i);
      });
      while (!entered) co_await goro::yield();
      auto r = co_await goro::select(u.recv(), goro::default_case);
      if (r.index() == 1) {
        ++parked_defaults;
        (void)co_await u.recv();  // keep the sender from staying parked
      } else if (std::get<0>(r) == std::optional<int>(i)) {
        ++parked_received;
      }
    }
  });
  CHECK(defaults == 0);
  CHECK(parked_defaults == 0);
  CHECK(parked_received == 100);
}

// ---------------------------------------------------------------- exactly one case

// Intent: with two ready receive cases exactly one value leaves exactly one channel (the
// winner's); the loser's value is still in its channel. With two ready send cases
// exactly one value enters exactly one channel. Both outcomes occur over 1,000 rounds.
TEST_CASE("exactly one case commits: a losing receive takes nothing, a losing send sends nothing") {
  constexpr int rounds = 1000;
  int recv_bad = 0, send_bad = 0;
  std::array<int, 2> recv_wins{}, send_wins{};
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    for (int i = 0; i < rounds; ++i) {
      goro::chan<int> a(1), b(1);
      a.try_send(100 + i);
      b.try_send(200 + i);
      auto r = co_await goro::select(a.recv(), b.recv());
      ++recv_wins[r.index()];
      const bool a_won = r.index() == 0;
      auto& winner = a_won ? a : b;
      auto& loser = a_won ? b : a;
      const int won_value = a_won ? 100 + i : 200 + i, lost_value = a_won ? 200 + i : 100 + i;
      const std::optional<int>& got = a_won ? std::get<0>(r) : std::get<1>(r);
      if (got != std::optional<int>(won_value) || winner.size() != 0 || loser.size() != 1 ||
          loser.try_recv().value != std::optional<int>(lost_value))
        ++recv_bad;

      goro::chan<int> c(1), d(1);
      auto s = co_await goro::select(c.send(1), d.send(2));
      ++send_wins[s.index()];
      const bool c_won = s.index() == 0;
      if ((c_won ? c : d).try_recv().value != std::optional<int>(c_won ? 1 : 2) || c.size() + d.size() != 0)
        ++send_bad;
    }
  });
  CHECK(recv_bad == 0);
  CHECK(send_bad == 0);
  CHECK(recv_wins[0] > 0);
  CHECK(recv_wins[1] > 0);
  CHECK(send_wins[0] > 0);
  CHECK(send_wins[1] > 0);
}

// Intent: a send case that lost did not move its value: send(std::move(p)) of a
// move-only value leaves p owning it whenever another case won, whether the select
// completed at once (both ready: sometimes the send wins and p is then empty) or parked
// and was woken through another case (the send's waiter is gone from its channel).
TEST_CASE("a losing send case neither sends nor moves its value") {
  watchdog dog("losing send keeps its value", 30s);
  constexpr int rounds = 1000;
  int lost = 0, won = 0, bad = 0;
  bool parked_kept = false, parked_index_ok = false, no_waiter_left = false;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    for (int i = 0; i < rounds; ++i) {
      goro::chan<std::unique_ptr<int>> out(1);
      goro::chan<int> in(1);
      in.try_send(i);
      auto p = std::make_unique<int>(i);
      int* const raw = p.get();
      auto r = co_await goro::select(out.send(std::move(p)), in.recv());
      if (r.index() == 1) {
        ++lost;
        if (p.get() != raw || out.size() != 0) ++bad;
      } else {
        ++won;
        auto v = out.try_recv();
        if (p || !v || v.value->get() != raw || in.size() != 1) ++bad;
      }
    }
    // Not ready at all: a full channel.
    {
      goro::chan<std::unique_ptr<int>> full(1);
      full.try_send(std::make_unique<int>(0));
      goro::chan<int> in(1);
      in.try_send(1);
      auto p = std::make_unique<int>(5);
      auto r = co_await goro::select(full.send(std::move(p)), in.recv());
      if (r.index() != 1 || !p || *p != 5) ++bad;
    }
    // Parked, then won by the receive case.
    goro::chan<std::unique_ptr<int>> u;
    goro::chan<int> in;
    goro::go([&]() -> goro::task<> { co_await in.send(8); });
    auto p = std::make_unique<int>(6);
    auto r = co_await goro::select(u.send(std::move(p)), in.recv());
    parked_index_ok = r.index() == 1 && std::get<1>(r) == std::optional<int>(8);
    parked_kept = p && *p == 6;
    no_waiter_left = u.try_recv().status == goro::try_status::not_ready;
  });
  CHECK(bad == 0);
  CHECK(lost > 0);
  CHECK(won > 0);
  CHECK(lost + won == rounds);
  CHECK(parked_index_ok);
  CHECK(parked_kept);
  CHECK(no_waiter_left);
}

// ---------------------------------------------------------------- same channel twice

// Intent: one channel may appear in several cases of a select: two receives of one
// buffered value (one wins, the value is taken once), a send and a receive on a buffered
// channel (whichever is ready; both when both are), two receives / two sends of a parked
// select on an unbuffered channel (served once, the other waiter removed).
TEST_CASE("the same channel in several cases") {
  watchdog dog("same channel in several cases", 30s);
  int double_recv_bad = 0;
  std::array<int, 2> double_recv_wins{};
  std::size_t send_when_empty = 9, recv_when_full = 9;
  std::optional<int> recv_when_full_value;
  std::array<int, 2> both_ready_wins{};
  int both_ready_bad = 0;
  std::optional<int> unbuffered_got;
  bool unbuffered_no_waiter_left = false, unbuffered_sends_one = false, unbuffered_sends_no_waiter_left = false;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    for (int i = 0; i < 200; ++i) {
      goro::chan<int> ch(2);
      ch.try_send(i);
      auto r = co_await goro::select(ch.recv(), ch.recv());
      ++double_recv_wins[r.index()];
      const auto& v = r.index() == 0 ? std::get<0>(r) : std::get<1>(r);
      if (v != std::optional<int>(i) || ch.size() != 0) ++double_recv_bad;
    }
    {
      goro::chan<int> ch(1);
      send_when_empty = (co_await goro::select(ch.send(1), ch.recv())).index();  // only the send is ready
      auto r = co_await goro::select(ch.send(2), ch.recv());                      // full: only the recv
      recv_when_full = r.index();
      if (r.index() == 1) recv_when_full_value = std::get<1>(r);
    }
    for (int i = 0; i < 200; ++i) {
      goro::chan<int> ch(2);
      ch.try_send(10);  // room and a value: both cases ready
      auto r = co_await goro::select(ch.send(20), ch.recv());
      ++both_ready_wins[r.index()];
      if (r.index() == 0) {
        if (ch.size() != 2 || ch.try_recv().value != std::optional<int>(10) ||
            ch.try_recv().value != std::optional<int>(20))
          ++both_ready_bad;
      } else if (std::get<1>(r) != std::optional<int>(10) || ch.size() != 0) {
        ++both_ready_bad;
      }
    }
    {
      goro::chan<int> ch;
      goro::go([&]() -> goro::task<> { co_await ch.send(7); });
      auto r = co_await goro::select(ch.recv(), ch.recv());
      unbuffered_got = r.index() == 0 ? std::get<0>(r) : std::get<1>(r);
      unbuffered_no_waiter_left = !ch.try_send(8);
    }
    {
      goro::chan<int> ch;
      std::optional<int> peer;
      bool done = false;
      goro::go([&]() -> goro::task<> {
        peer = co_await ch.recv();
        done = true;
      });
      auto r = co_await goro::select(ch.send(1), ch.send(2));
      while (!done) co_await goro::yield();
      unbuffered_sends_one = peer == std::optional<int>(static_cast<int>(r.index()) + 1);
      unbuffered_sends_no_waiter_left = ch.try_recv().status == goro::try_status::not_ready;
    }
  });
  CHECK(double_recv_bad == 0);
  CHECK(double_recv_wins[0] > 0);
  CHECK(double_recv_wins[1] > 0);
  CHECK(send_when_empty == 0);
  CHECK(recv_when_full == 1);
  CHECK(recv_when_full_value == std::optional<int>(1));
  CHECK(both_ready_bad == 0);
  CHECK(both_ready_wins[0] > 0);
  CHECK(both_ready_wins[1] > 0);
  CHECK(unbuffered_got == std::optional<int>(7));
  CHECK(unbuffered_no_waiter_left);
  CHECK(unbuffered_sends_one);
  CHECK(unbuffered_sends_no_waiter_left);
}

// Intent: a select holding both the send and the receive of one unbuffered channel never
// pairs with itself: with nobody else on the channel it times out (not before its
// deadline), and leaves no waiter behind; with a peer it completes with the peer, in
// either direction.
TEST_CASE("a select never pairs its own send with its own receive") {
  watchdog dog("no self-pairing", 30s);
  std::vector<std::size_t> alone;
  double shortest_ms = 1e9;
  bool no_waiter_left = false, void_alone_timed_out = false;
  std::size_t with_receiver = 9, with_sender = 9;
  std::optional<int> receiver_got, select_got;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::chan<int> ch;
    for (int i = 0; i < 3; ++i) {
      const auto start = steady::now();
      auto r = co_await goro::select(ch.send(1), ch.recv(), goro::after(20ms));
      shortest_ms = std::min(shortest_ms, to_ms(steady::now() - start));
      alone.push_back(r.index());
    }
    no_waiter_left = !ch.try_send(2) && ch.try_recv().status == goro::try_status::not_ready;

    goro::chan<> sig;
    auto v = co_await goro::select(sig.recv(), sig.send(), goro::after(5ms));
    void_alone_timed_out = v.index() == 2;

    bool done = false;
    goro::go([&]() -> goro::task<> {
      receiver_got = co_await ch.recv();
      done = true;
    });
    with_receiver = (co_await goro::select(ch.send(3), ch.recv())).index();
    while (!done) co_await goro::yield();

    goro::go([&]() -> goro::task<> { co_await ch.send(4); });
    auto r = co_await goro::select(ch.send(5), ch.recv());
    with_sender = r.index();
    if (r.index() == 1) select_got = std::get<1>(r);
  });
  CHECK(alone == std::vector<std::size_t>{2, 2, 2});
  CHECK(shortest_ms >= 20.0);
  CHECK(no_waiter_left);
  CHECK(void_alone_timed_out);
  CHECK(with_receiver == 0);
  CHECK(receiver_got == std::optional<int>(3));
  CHECK(with_sender == 1);
  CHECK(select_got == std::optional<int>(4));
}

// Intent: a select parked on two unbuffered channels and woken by a sender on one is
// removed from the other's queue before it resumes: right after it returns, try_send on
// the other channel finds no receiver, and a later receiver on that channel gets the
// next value sent there (not lost to the stale waiter).
TEST_CASE("a parked select woken on one channel leaves the other channels' queues") {
  watchdog dog("select leaves the other queues", 30s);
  std::size_t index = 9;
  std::optional<int> select_got, later_got;
  bool try_send_in_select_task = true, try_send_from_main = true, later_try_send = false;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::chan<int> a, b;
    bool entered = false, returned = false;
    goro::go([&]() -> goro::task<> {
      entered = true;
      auto r = co_await goro::select(a.recv(), b.recv());
      index = r.index();
      if (r.index() == 0) select_got = std::get<0>(r);
      try_send_in_select_task = b.try_send(99);
      returned = true;
    });
    while (!entered) co_await goro::yield();
    co_await a.send(1);  // the select is parked: a hand-off
    while (!returned) co_await goro::yield();
    try_send_from_main = b.try_send(98);

    bool later_entered = false, later_done = false;
    goro::go([&]() -> goro::task<> {
      later_entered = true;
      later_got = co_await b.recv();
      later_done = true;
    });
    while (!later_entered) co_await goro::yield();
    later_try_send = b.try_send(5);
    while (!later_done) co_await goro::yield();
  });
  CHECK(index == 0);
  CHECK(select_got == std::optional<int>(1));
  CHECK_FALSE(try_send_in_select_task);
  CHECK_FALSE(try_send_from_main);
  CHECK(later_try_send);
  CHECK(later_got == std::optional<int>(5));
}

// ---------------------------------------------------------------- timers

// Intent: goro::after(d) times out when nothing else is ready, never before d has
// passed (d from 1 ms to 30 ms, several duration types); an after(0) / negative d is
// ready at once; a timer case never wins over a ready channel with a far deadline.
TEST_CASE("after(d) times out when nothing else is ready, not before d") {
  watchdog dog("after times out", 30s);
  std::vector<std::size_t> indexes;
  int early = 0, measured = 0;
  std::size_t zero_index = 9, negative_index = 9, ready_vs_timer = 9;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::chan<int> never;
    auto check = [&](auto d) -> goro::task<> {
      const auto start = steady::now();
      auto r = co_await goro::select(never.recv(), goro::after(d));
      const auto elapsed = steady::now() - start;
      indexes.push_back(r.index());
      if (elapsed < d) ++early;
      ++measured;
    };
    for (int rep = 0; rep < 3; ++rep) {
      co_await check(1ms);
      co_await check(2500us);
      co_await check(std::chrono::duration<double, std::milli>(7.5));
      co_await check(30ms);
    }
    zero_index = (co_await goro::select(never.recv(), goro::after(0ms))).index();
    negative_index = (co_await goro::select(goro::after(-5ms), never.recv())).index();
    goro::chan<int> ready(1);
    ready.try_send(1);
    ready_vs_timer = (co_await goro::select(goro::after(1h), ready.recv())).index();
  });
  CHECK(measured == 12);
  CHECK(early == 0);
  CHECK(indexes == std::vector<std::size_t>(12, 1));
  CHECK(zero_index == 1);
  CHECK(negative_index == 0);
  CHECK(ready_vs_timer == 1);
}

// Intent: a timer case that lost is removed. 3,000 selects park with an after(1h) case
// and are won by a channel: the task continues, and goro::run ends promptly (nothing of
// the hour-long timers is waited for). Then 2,000 selects, each in its own short-lived
// task, park with an after(20ms) case that loses, and the task ends (its frame is freed,
// and the next task of the same kind reuses it). Then, for longer than every one of those
// deadlines, more such tasks park with an after(1h) case and are woken by a channel only
// after 1 ms. A lost timer left in the heap is a use of a freed (poisoned) frame: the
// ASan build reports it (checked by removing timer_cancel from after_case: the plain
// build does not see it, since the reused node then carries the new, later deadline).
// A timer that fired into the select now parked in the reused frame would show as an
// early timeout or an hour-long timer winning, both checked.
TEST_CASE("a timer case that lost is removed") {
  watchdog dog("lost timers", 60s);
  constexpr int long_rounds = 3000, short_rounds = 2000;
  int long_channel_wins = 0;
  double run_ms = 0;
  int channel_wins = 0, timeouts = 0, early_timeouts = 0, wrong = 0, late_rounds = 0, late_channel_wins = 0;
  const auto run_start = steady::now();
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    // Ping-pong: the consumer (this task) always parks before the producer sends.
    goro::chan<int> values;
    goro::chan<> go_ahead(1);
    goro::go(
        [](goro::chan<int> v, goro::chan<> g) -> goro::task<> {
          for (int i = 0; i < long_rounds; ++i) {
            (void)co_await g.recv();
            co_await v.send(i);
          }
        },
        values, go_ahead);
    for (int i = 0; i < long_rounds; ++i) {
      go_ahead.try_send();
      auto r = co_await goro::select(values.recv(), goro::after(1h));
      if (r.index() == 0 && std::get<0>(r) == std::optional<int>(i)) ++long_channel_wins;
    }
  });
  run_ms = to_ms(steady::now() - run_start);
  CHECK(long_channel_wins == long_rounds);
  CHECK(run_ms < 20'000.0);

  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::chan<int> ch;
    bool entered = false, finished = false;
    // One task per round, all of the same kind (same frame size): a freed frame is reused.
    auto consumer = [&](int i, steady::duration timeout, bool* late_win) -> goro::task<> {
      const auto start = steady::now();
      entered = true;
      auto r = co_await goro::select(ch.recv(), goro::after(timeout));
      if (r.index() == 0) {
        if (std::get<0>(r) == std::optional<int>(i)) {
          ++channel_wins;
          if (late_win) *late_win = true;
        } else {
          ++wrong;
        }
      } else {
        ++timeouts;
        if (steady::now() - start < timeout) ++early_timeouts;
      }
      finished = true;
    };
    auto one_round = [&](int i, steady::duration timeout, bool* late_win, bool pause) -> goro::task<> {
      entered = finished = false;
      goro::go(consumer, i, timeout, late_win);
      while (!entered) co_await goro::yield();
      if (pause) co_await goro::sleep_for(1ms);  // a window for stale timers to fire
      // The select is parked, unless its timer already fired (a very slow machine): then
      // nobody receives and the value is not sent.
      (void)ch.try_send(i);
      while (!finished) co_await goro::yield();
    };
    for (int i = 0; i < short_rounds; ++i) co_await one_round(i, 20ms, nullptr, false);
    const auto deadlines_passed = steady::now() + 40ms;
    for (int i = 0; steady::now() < deadlines_passed || i < 10; ++i) {
      bool won = false;
      co_await one_round(short_rounds + i, 1h, &won, true);
      ++late_rounds;
      late_channel_wins += won;
    }
  });
  CHECK(wrong == 0);
  CHECK(early_timeouts == 0);
  CHECK(channel_wins + timeouts == short_rounds + late_rounds);
  CHECK(channel_wins > short_rounds / 2);
  CHECK(late_channel_wins == late_rounds);  // an hour-long timer never wins
}

// ---------------------------------------------------------------- nil and void

// Intent: a nil channel's cases are never chosen: with a ready case it always wins; with
// only nil cases and default_case, default is taken; with after(), the select times out;
// a parked select with a nil case is woken through its live case.
TEST_CASE("nil channel cases are never chosen") {
  watchdog dog("nil cases", 30s);
  int nil_chosen = 0;
  std::size_t only_nil_default = 9, only_nil_timer = 9, parked_index = 9;
  double timer_ms = 0;
  std::optional<int> parked_got;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::chan<int> nil = nullptr;
    goro::chan<int> switched_off(1);
    switched_off.try_send(1);  // ready, but the case is switched off below
    switched_off = nullptr;
    goro::chan<int> ready(1);
    for (int i = 0; i < 2000; ++i) {
      ready.try_send(i);
      auto r = co_await goro::select(nil.recv(), ready.recv(), nil.send(2), switched_off.recv());
      if (r.index() != 1) ++nil_chosen;
    }
    only_nil_default = (co_await goro::select(nil.recv(), nil.send(1), goro::default_case)).index();
    const auto start = steady::now();
    only_nil_timer = (co_await goro::select(nil.recv(), goro::after(10ms), nil.send(3))).index();
    timer_ms = to_ms(steady::now() - start);

    goro::chan<int> u;
    goro::go([&]() -> goro::task<> { co_await u.send(4); });
    auto r = co_await goro::select(nil.recv(), u.recv());
    parked_index = r.index();
    if (r.index() == 1) parked_got = std::get<1>(r);
  });
  CHECK(nil_chosen == 0);
  CHECK(only_nil_default == 2);
  CHECK(only_nil_timer == 1);
  CHECK(timer_ms >= 10.0);
  CHECK(parked_index == 1);
  CHECK(parked_got == std::optional<int>(4));
}

// Intent: chan<void> send and recv cases: a buffered signal is received (true), a closed
// chan<void> case yields false, a send case buffers a signal and is not ready when full,
// and parked select cases are completed by a peer's send() / recv().
TEST_CASE("chan<void> recv and send cases") {
  watchdog dog("chan<void> cases", 30s);
  bool recv_true = false, closed_false = false, send_buffered = false, full_default = false;
  bool parked_recv = false, parked_send = false, peer_got = false;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::chan<> s(1), closed;
    goro::chan<int> never;
    s.try_send();
    {
      auto r = co_await goro::select(s.recv(), never.recv());
      static_assert(std::is_same_v<std::variant_alternative_t<0, decltype(r)>, bool>);
      recv_true = r.index() == 0 && std::get<0>(r);
    }
    closed.close();
    {
      auto r = co_await goro::select(never.recv(), closed.recv());
      closed_false = r.index() == 1 && !std::get<1>(r);
    }
    {
      auto r = co_await goro::select(s.send(), goro::default_case);
      send_buffered = r.index() == 0 && std::holds_alternative<goro::sent>(r) && s.size() == 1;
      full_default = (co_await goro::select(s.send(), goro::default_case)).index() == 1 && s.size() == 1;
    }
    goro::chan<> u;
    goro::go([&]() -> goro::task<> { co_await u.send(); });
    {
      auto r = co_await goro::select(never.recv(), u.recv());
      parked_recv = r.index() == 1 && std::get<1>(r);
    }
    bool done = false;
    goro::go([&]() -> goro::task<> {
      peer_got = co_await u.recv();
      done = true;
    });
    parked_send = (co_await goro::select(u.send(), never.recv())).index() == 0;
    while (!done) co_await goro::yield();
  });
  CHECK(recv_true);
  CHECK(closed_false);
  CHECK(send_buffered);
  CHECK(full_default);
  CHECK(parked_recv);
  CHECK(parked_send);
  CHECK(peer_got);
}

// ---------------------------------------------------------------- many parked selects

// Intent: on two workers, 32 tasks per round park in select(a.recv(), b.recv()) on two
// unbuffered channels; two sender tasks send 8 distinct values on each channel, then two
// closer tasks close a and b concurrently. Every task is woken exactly once (its code
// after the select runs once), every value sent is received exactly once, and the
// remaining tasks get the close (an empty optional). 150 rounds.
TEST_CASE("many selects parked on the same channels are each woken exactly once by sends and closes") {
  watchdog dog("many parked selects", 120s);
  constexpr int rounds = 150, selectors = 32, per_channel = 8;
  int bad_rounds = 0;
  long total_values = 0, total_closes = 0;
  goro::run(goro::config{.maxprocs = 2}, [&]() -> goro::task<> {
    for (int round = 0; round < rounds; ++round) {
      goro::chan<int> a, b;
      std::array<std::atomic<int>, selectors> resumed{};
      std::array<std::atomic<int>, 2 * per_channel> received{};
      std::atomic<int> closes{0}, wrong_channel{0};
      goro::wait_group selects_done, sends_done, closes_done;
      for (int t = 0; t < selectors; ++t) {
        selects_done.add(1);
        goro::go([&, t]() -> goro::task<> {
          auto r = co_await goro::select(a.recv(), b.recv());
          const auto& v = r.index() == 0 ? std::get<0>(r) : std::get<1>(r);
          if (v) {
            received[static_cast<std::size_t>(*v)].fetch_add(1, std::memory_order_relaxed);
            // a carries 0..7, b carries 8..15
            if ((*v < per_channel) != (r.index() == 0)) wrong_channel.fetch_add(1, std::memory_order_relaxed);
          } else {
            closes.fetch_add(1, std::memory_order_relaxed);
          }
          resumed[static_cast<std::size_t>(t)].fetch_add(1, std::memory_order_relaxed);
          selects_done.done();
        });
      }
      for (int c = 0; c < 2; ++c) {
        sends_done.add(1);
        goro::go([&, c]() -> goro::task<> {
          auto& ch = c == 0 ? a : b;
          for (int i = 0; i < per_channel; ++i) co_await ch.send(c * per_channel + i);
          sends_done.done();
        });
      }
      co_await sends_done.wait();  // every value was taken by a select
      for (int c = 0; c < 2; ++c) {
        closes_done.add(1);
        goro::go([&, c]() -> goro::task<> {
          (c == 0 ? a : b).close();
          closes_done.done();
          co_return;
        });
      }
      co_await closes_done.wait();
      co_await selects_done.wait();
      bool ok = closes.load() == selectors - 2 * per_channel && wrong_channel.load() == 0;
      for (auto& n : resumed) ok = ok && n.load() == 1;
      for (auto& n : received) ok = ok && n.load() == 1;
      if (!ok) ++bad_rounds;
      total_closes += closes.load();
      for (auto& n : received) total_values += n.load();
    }
  });
  CHECK(bad_rounds == 0);
  CHECK(total_values == rounds * 2 * per_channel);
  CHECK(total_closes == rounds * (selectors - 2 * per_channel));
}
