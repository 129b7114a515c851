// Tests for include/goro/chan.hpp: goro::chan<T>, send_chan / recv_chan, chan<void>,
// nil channels, try_send / try_recv, and the life of values and of parked waiters.
//
// How "parked" is observed without sleeping
//   With maxprocs = 1 nothing is stolen and nothing is preempted: a task that sets a flag
//   right before `co_await ch.send(v)` / `co_await ch.recv()` has either parked or gone
//   past the co_await (another flag says which) by the time any other task runs. The
//   main task yields until the flag is set. Tests on two workers only assert what holds
//   whatever the interleaving (an order, a count, a value).
// What each group checks
//   - Construction and handles: capacity/size, negative capacity, copies, ==, bool,
//     send_chan/recv_chan conversions and (at compile time) their missing operations.
//   - Order: FIFO of values, of parked senders and of parked receivers; an unbuffered send
//     returns only after a receiver took the value (with chan(1) as the negative
//     control); a buffered send waits while full, a recv while empty.
//   - Close and errors: drain then empty, close wakes everybody, send/close on a closed
//     channel throw, and each failed operation leaves the channel as it was (values still
//     buffered, moved-from sources untouched).
//   - try ops (also from a plain std::thread), move-only values, chan<void>, nil channels.
//   - Lifetimes: goro_test::counted values through every path (buffer, hand-off, a
//     channel destroyed full, tasks destroyed at shutdown while parked) are destroyed
//     exactly once; a channel that outlives goro::run with waiters destroyed at its end is
//     still consistent (ASan sees a dead waiter left in a queue).
// Results are collected in plain variables and checked on the test thread after
// goro::run returns, so doctest assertions stay off worker threads.
#include <doctest/doctest.h>

#include <goro/goro.hpp>

#include "test_support.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

// Every allocation through the global operator new in this binary is counted, so a test
// can assert that a path allocates nothing (the frame pool and channels use it too).
// Not inlined: inlined, g++ 12 sees malloc's pointer reach free through a new-expression
// and warns (-Wmismatched-new-delete).
namespace {
std::atomic<long> allocations{0};
}  // namespace
[[gnu::noinline]] void* operator new(std::size_t size) {
  allocations.fetch_add(1, std::memory_order_relaxed);  // a counter, no ordering
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void* operator new(std::size_t size, std::align_val_t align) {
  allocations.fetch_add(1, std::memory_order_relaxed);  // a counter, no ordering
  const auto a = static_cast<std::size_t>(align);
  if (void* p = std::aligned_alloc(a, (size + a - 1) / a * a)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

using namespace std::chrono_literals;
using goro_test::counted;
using goro_test::watchdog;

namespace {

// Compile-time probes for the operations of each handle type.
template <class C>
concept has_recv = requires(const C& c) { c.recv(); };
template <class C>
concept has_try_recv = requires(const C& c) { c.try_recv(); };
template <class C>
concept has_send = requires(const C& c, int v) { c.send(v); };
template <class C>
concept has_try_send = requires(const C& c, int v) { c.try_send(v); };
template <class C>
concept has_close = requires(const C& c) { c.close(); };

std::string show(const std::vector<int>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

}  // namespace

// ---------------------------------------------------------------- handles

// Intent: chan<T> ch; is a new unbuffered channel (not nil), chan<T> ch(0) too, chan<T>
// ch(n) buffers exactly n values; size() follows sends and receives.
TEST_CASE("capacity and size: unbuffered by default, chan(n) buffers n") {
  goro::chan<int> unbuffered;
  CHECK(static_cast<bool>(unbuffered));
  CHECK(unbuffered.capacity() == 0);
  CHECK(unbuffered.size() == 0);
  CHECK_FALSE(unbuffered.try_send(1));  // nobody receives, no room
  CHECK(unbuffered.size() == 0);

  goro::chan<int> zero(0);
  CHECK(static_cast<bool>(zero));  // chan(0) is unbuffered, not nil
  CHECK(zero.capacity() == 0);

  goro::chan<int> buffered(3);
  CHECK(buffered.capacity() == 3);
  CHECK(buffered.size() == 0);
  CHECK(buffered.try_send(10));
  CHECK(buffered.size() == 1);
  CHECK(buffered.try_send(11));
  CHECK(buffered.try_send(12));
  CHECK(buffered.size() == 3);
  CHECK_FALSE(buffered.try_send(13));  // full
  CHECK(buffered.size() == 3);
  CHECK(buffered.capacity() == 3);
  auto r = buffered.try_recv();
  CHECK(r.value == std::optional<int>(10));
  CHECK(buffered.size() == 2);
  CHECK(buffered.capacity() == 3);

  goro::chan<int> from_size_t(std::size_t{5});
  CHECK(from_size_t.capacity() == 5);
  goro::chan<int> from_short(static_cast<short>(2));
  CHECK(from_short.capacity() == 2);
}

// Intent: a negative capacity, of any integer type, throws panic_error.
TEST_CASE("negative capacity throws panic_error") {
  CHECK_THROWS_AS(goro::chan<int>(-1), goro::panic_error);
  CHECK_THROWS_AS(goro::chan<int>(std::int64_t{-5}), goro::panic_error);
  CHECK_THROWS_AS(goro::chan<>(-1), goro::panic_error);
  std::string message;
  try {
    goro::chan<int> ch(-7);
  } catch (const goro::panic_error& e) {
    message = e.what();
  }
  CHECK(message.find("-7") != std::string::npos);
}

// Intent: the spellings README recommends for g++ 12 (its "Known compiler issues"), the
// awaited value in a declaration, work in a coroutine that takes parameters, the case
// g++ 12.2 miscompiles when the co_await is the bare condition (the body never runs and
// whoever awaits the coroutine waits forever). With clang the bare form is checked too.
namespace {
goro::task<int> count_received(goro::chan<int> ch, int first_only) {
  int n = 0;
  if (auto v = co_await ch.recv()) n += *v == first_only;
  while (auto v = co_await ch.recv()) ++n;
  co_return n;
}
#if defined(__clang__)
goro::task<int> count_received_bare(goro::chan<int> ch, int first_only) {
  int n = 0;
  if (co_await ch.recv()) n += first_only;
  while (co_await ch.recv()) ++n;
  co_return n;
}
#endif
}  // namespace

TEST_CASE("recv in if and while conditions of a coroutine with parameters") {
  goro_test::watchdog guard("recv in conditions", std::chrono::seconds(30));
  int counted = -1, counted_bare = -1;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::chan<int> ch(4);
    for (int i = 0; i < 3; ++i) co_await ch.send(i);
    ch.close();
    counted = co_await count_received(ch, 0);
#if defined(__clang__)
    goro::chan<int> again(4);
    for (int i = 0; i < 3; ++i) co_await again.send(i);
    again.close();
    counted_bare = co_await count_received_bare(again, 1);
#else
    counted_bare = counted;
#endif
  });
  CHECK(counted == 3);
  CHECK(counted_bare == 3);
}

// Intent: copies of a handle are the same channel (a value sent through one is received
// through the other, and the channel lives while any copy does); == compares channels,
// not contents; bool is explicit and means "not nil"; a moved-from handle is nil.
TEST_CASE("handle copies share the channel; operator== and explicit bool") {
  static_assert(!std::is_convertible_v<goro::chan<int>, bool>);
  static_assert(std::is_constructible_v<bool, goro::chan<int>>);

  goro::chan<int> a(2);
  goro::chan<int> b = a;
  goro::chan<int> other(2);
  CHECK(a == b);
  CHECK_FALSE(a == other);
  CHECK(a != other);
  CHECK(b.try_send(7));
  CHECK(a.size() == 1);
  auto r = a.try_recv();
  CHECK(r.value == std::optional<int>(7));
  CHECK(b.size() == 0);

  goro::chan<int> c;
  CHECK_FALSE(c == a);
  c = a;  // copy assignment: now the same channel
  CHECK(c == a);
  CHECK(c.try_send(8));
  CHECK(b.try_recv().value == std::optional<int>(8));

  goro::chan<int> moved = std::move(c);
  CHECK(moved == a);
  CHECK_FALSE(static_cast<bool>(c));  // NOLINT(bugprone-use-after-move): moved-from is nil
  CHECK(c == nullptr);

  // The channel lives while any handle does: values buffered through a dropped handle
  // are received through a remaining one.
  counted::reset();
  {
    auto survivor = std::make_unique<goro::chan<counted>>(2);
    {
      goro::chan<counted> first = *survivor;
      counted v(41);
      CHECK(first.try_send(std::move(v)));
    }
    auto got = survivor->try_recv();
    REQUIRE(got.value.has_value());
    CHECK(got.value->value == 41);
  }
  CHECK(counted::live() == 0);
  CHECK(counted::destroyed_twice == 0);
}

// Intent: send_chan / recv_chan convert from chan and refer to the same channel, each
// restricted to one direction at compile time; a default-constructed one is nil.
TEST_CASE("send_chan and recv_chan convert from chan and keep one direction") {
  static_assert(has_send<goro::chan<int>> && has_try_send<goro::chan<int>> && has_close<goro::chan<int>>);
  static_assert(has_recv<goro::chan<int>> && has_try_recv<goro::chan<int>>);
  static_assert(has_send<goro::send_chan<int>> && has_try_send<goro::send_chan<int>> &&
                has_close<goro::send_chan<int>>);
  static_assert(!has_recv<goro::send_chan<int>> && !has_try_recv<goro::send_chan<int>>);
  static_assert(has_recv<goro::recv_chan<int>> && has_try_recv<goro::recv_chan<int>>);
  static_assert(!has_send<goro::recv_chan<int>> && !has_try_send<goro::recv_chan<int>> &&
                !has_close<goro::recv_chan<int>>);
  static_assert(std::is_convertible_v<goro::chan<int>, goro::send_chan<int>>);
  static_assert(std::is_convertible_v<goro::chan<int>, goro::recv_chan<int>>);
  static_assert(!std::is_convertible_v<goro::send_chan<int>, goro::chan<int>>);
  static_assert(!std::is_convertible_v<goro::recv_chan<int>, goro::chan<int>>);
  static_assert(!std::is_convertible_v<goro::send_chan<int>, goro::recv_chan<int>>);
  static_assert(!std::is_convertible_v<goro::recv_chan<int>, goro::send_chan<int>>);
  static_assert(!std::is_convertible_v<goro::chan<long>, goro::send_chan<int>>);

  goro::chan<int> ch(4);
  goro::send_chan<int> out = ch;
  goro::recv_chan<int> in = ch;
  CHECK(out == ch);
  CHECK(in == ch);
  CHECK(out == in);
  CHECK(out.capacity() == 4);
  CHECK(in.capacity() == 4);
  CHECK(out.try_send(1));
  CHECK(in.size() == 1);
  CHECK(in.try_recv().value == std::optional<int>(1));

  goro::send_chan<int> nil_out;
  goro::recv_chan<int> nil_in;
  CHECK_FALSE(static_cast<bool>(nil_out));
  CHECK_FALSE(static_cast<bool>(nil_in));

  // Through tasks, as the header's example: a producer holding only a send_chan, a
  // consumer reading through a recv_chan until close.
  std::vector<int> got;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::chan<int> c;
    goro::go(
        [](goro::send_chan<int> o) -> goro::task<> {
          for (int i = 0; i < 3; ++i) co_await o.send(i);
          o.close();
        },
        c);
    goro::recv_chan<int> r = c;
    while (auto v = co_await r.recv()) got.push_back(*v);
  });
  CHECK(got == std::vector<int>{0, 1, 2});
}

// ---------------------------------------------------------------- order

// Intent: values come out of a channel in the order their sends completed: one task
// through a buffer; a producer and a consumer on two workers through buffered and
// unbuffered channels.
TEST_CASE("FIFO: values are received in send order") {
  SUBCASE("buffered, one task") {
    goro::chan<int> ch(100);
    for (int i = 0; i < 100; ++i) REQUIRE(ch.try_send(i * 7));
    std::vector<int> got;
    while (auto r = ch.try_recv()) got.push_back(*r.value);
    std::vector<int> want;
    for (int i = 0; i < 100; ++i) want.push_back(i * 7);
    CHECK(got == want);
  }
  for (int capacity : {0, 1, 8}) {
    SUBCASE(("producer and consumer on two workers, capacity " + std::to_string(capacity)).c_str()) {
      watchdog dog("FIFO two workers", 60s);
      constexpr int n = 20'000;
      int out_of_order = 0, received = 0;
      goro::run(goro::config{.maxprocs = 2}, [&]() -> goro::task<> {
        goro::chan<int> ch(capacity);
        goro::go(
            [](goro::chan<int> c) -> goro::task<> {
              for (int i = 0; i < n; ++i) co_await c.send(i);
              c.close();
            },
            ch);
        int expected = 0;
        while (auto v = co_await ch.recv()) {
          if (*v != expected) ++out_of_order;
          expected = *v + 1;
          ++received;
        }
      });
      CHECK(out_of_order == 0);
      CHECK(received == n);
    }
  }
}

// Intent: senders parked on a channel are served in the order they parked, for an
// unbuffered channel and behind a full buffer (whose values come first). The senders park
// one at a time (each spawned only after the previous one parked), and the values they
// send are not in spawn order, so only arrival order explains the result.
TEST_CASE("FIFO: parked senders are served in arrival order") {
  for (int capacity : {0, 2}) {
    SUBCASE(("capacity " + std::to_string(capacity)).c_str()) {
      watchdog dog("parked senders FIFO", 30s);
      const std::vector<int> values{30, 10, 40, 0, 20};
      std::vector<int> got;
      int parked_before_receiving = 0;
      goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
        goro::chan<int> ch(capacity);
        for (int i = 0; i < capacity; ++i) ch.try_send(100 + i);
        int entered = 0, passed = 0;
        for (int v : values) {
          goro::go([&, v]() -> goro::task<> {
            ++entered;
            co_await ch.send(v);
            ++passed;
          });
          const int target = entered + 1;
          while (entered < target) co_await goro::yield();
        }
        parked_before_receiving = entered - passed;
        for (std::size_t i = 0; i < values.size() + static_cast<std::size_t>(capacity); ++i)
          got.push_back(*co_await ch.recv());
        while (passed < entered) co_await goro::yield();
      });
      CHECK(parked_before_receiving == 5);
      std::vector<int> want;
      for (int i = 0; i < capacity; ++i) want.push_back(100 + i);
      want.insert(want.end(), values.begin(), values.end());
      CHECK_MESSAGE(got == want, show(got));
    }
  }
}

// Intent: receivers parked on a channel are served in the order they parked: the k-th
// value sent goes to the k-th receiver to park (spawned one at a time, as above).
TEST_CASE("FIFO: parked receivers are served in arrival order") {
  watchdog dog("parked receivers FIFO", 30s);
  constexpr int receivers = 5;
  std::vector<int> got(receivers, -1);
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::chan<int> ch(3);  // buffered: receivers park on an empty buffer too
    int entered = 0, finished = 0;
    for (int i = 0; i < receivers; ++i) {
      goro::go([&, i]() -> goro::task<> {
        ++entered;
        got[static_cast<std::size_t>(i)] = *co_await ch.recv();
        ++finished;
      });
      while (entered < i + 1) co_await goro::yield();
    }
    for (int i = 0; i < receivers; ++i) co_await ch.send(500 + i);
    while (finished < receivers) co_await goro::yield();
  });
  CHECK_MESSAGE((got == std::vector<int>{500, 501, 502, 503, 504}), show(got));
}

// Intent: an unbuffered send returns only after a receiver took the value. The sender
// counts the sends that returned; before receiving value i the receiver must see at most
// i of them. A sender that ran ahead (a buffering channel) would show i + 1: chan(1) is
// the negative control, where that does happen on maxprocs = 1.
TEST_CASE("unbuffered send completes only once a receiver has taken the value") {
  SUBCASE("sender first: it stays in send until the receive") {
    bool passed_before_recv = true, passed_after = false;
    int got = 0;
    std::size_t size_while_parked = 99;
    goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
      goro::chan<int> ch;
      bool entered = false, passed = false;
      goro::go([&]() -> goro::task<> {
        entered = true;
        co_await ch.send(42);
        passed = true;
      });
      while (!entered) co_await goro::yield();
      for (int i = 0; i < 10; ++i) co_await goro::yield();
      passed_before_recv = passed;
      size_while_parked = ch.size();
      got = *co_await ch.recv();
      while (!passed) co_await goro::yield();
      passed_after = passed;
    });
    CHECK_FALSE(passed_before_recv);
    CHECK(size_while_parked == 0);
    CHECK(got == 42);
    CHECK(passed_after);
  }
  for (unsigned procs : {1u, 2u}) {
    for (int capacity : {0, 1}) {
      SUBCASE(("ping stream, maxprocs " + std::to_string(procs) + ", capacity " + std::to_string(capacity)).c_str()) {
        watchdog dog("unbuffered send ordering", 60s);
        constexpr int n = 20'000;
        int ahead = 0;  // receives that found the sender already past the matching send
        goro::run(goro::config{.maxprocs = procs}, [&]() -> goro::task<> {
          goro::chan<int> ch(capacity);
          std::atomic<int> sends_returned{0};
          goro::wait_group done;
          done.add(1);
          goro::go([&]() -> goro::task<> {
            for (int i = 0; i < n; ++i) {
              co_await ch.send(i);
              sends_returned.store(i + 1, std::memory_order_relaxed);
            }
            done.done();
          });
          for (int i = 0; i < n; ++i) {
            if (i % 16 == 0) co_await goro::yield();  // give the sender chances to run ahead
            if (sends_returned.load(std::memory_order_relaxed) > i) ++ahead;
            (void)co_await ch.recv();
          }
          co_await done.wait();
        });
        if (capacity == 0) {
          CHECK(ahead == 0);
        } else if (procs == 1) {
          CHECK(ahead > 0);  // negative control: a buffered sender does run ahead
        }
      }
    }
  }
}

// Intent: a buffered send waits while the buffer is full and resumes when a receive
// makes room (its value going to the tail); a receive waits while the buffer is empty
// and resumes with the value of the next send.
TEST_CASE("buffered: send waits while full, recv waits while empty") {
  watchdog dog("buffered blocking", 30s);
  int sends_done_while_full = -1, sends_done_after_one_recv = -1;
  std::size_t size_while_full = 0, size_after_one_recv = 0;
  std::vector<int> drained;
  bool receiver_got_early = true;
  int receiver_got = -1;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::chan<int> ch(2);
    int sends_done = 0;
    bool sender_finished = false;
    goro::go([&]() -> goro::task<> {
      for (int i = 0; i < 4; ++i) {
        co_await ch.send(i);
        ++sends_done;
      }
      sender_finished = true;
    });
    while (sends_done < 2) co_await goro::yield();
    for (int i = 0; i < 10; ++i) co_await goro::yield();
    sends_done_while_full = sends_done;
    size_while_full = ch.size();
    drained.push_back(*co_await ch.recv());  // makes room: the parked send completes
    for (int i = 0; i < 10; ++i) co_await goro::yield();
    sends_done_after_one_recv = sends_done;
    size_after_one_recv = ch.size();
    while (drained.size() < 4) drained.push_back(*co_await ch.recv());
    while (!sender_finished) co_await goro::yield();

    // recv on the now empty buffer waits for the next send.
    bool entered = false, got = false;
    goro::go([&]() -> goro::task<> {
      entered = true;
      receiver_got = *co_await ch.recv();
      got = true;
    });
    while (!entered) co_await goro::yield();
    for (int i = 0; i < 10; ++i) co_await goro::yield();
    receiver_got_early = got;
    co_await ch.send(77);
    while (!got) co_await goro::yield();
  });
  CHECK(sends_done_while_full == 2);
  CHECK(size_while_full == 2);
  CHECK(sends_done_after_one_recv == 3);
  CHECK(size_after_one_recv == 2);
  CHECK_MESSAGE((drained == std::vector<int>{0, 1, 2, 3}), show(drained));
  CHECK_FALSE(receiver_got_early);
  CHECK(receiver_got == 77);
}

// ---------------------------------------------------------------- close and errors

// Intent: after close, receives still get every buffered value in order, then an empty
// optional, again and again; try_recv reports done, then closed.
TEST_CASE("recv on a closed channel drains the buffer, then returns empty") {
  std::vector<std::optional<int>> got;
  goro::try_status after_drain = goro::try_status::done;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::chan<int> ch(4);
    ch.try_send(1);
    ch.try_send(2);
    ch.try_send(3);
    ch.close();
    for (int i = 0; i < 5; ++i) got.push_back(co_await ch.recv());
    after_drain = ch.try_recv().status;
  });
  CHECK(got == std::vector<std::optional<int>>{1, 2, 3, std::nullopt, std::nullopt});
  CHECK(after_drain == goro::try_status::closed);

  goro::chan<int> ch(2);
  ch.try_send(5);
  ch.close();
  auto first = ch.try_recv();
  CHECK(first.status == goro::try_status::done);
  CHECK(first.value == std::optional<int>(5));
  auto second = ch.try_recv();
  CHECK(second.status == goro::try_status::closed);
  CHECK_FALSE(second.value.has_value());
  CHECK_FALSE(static_cast<bool>(second));
  CHECK(ch.try_recv().status == goro::try_status::closed);
}

// Intent: close wakes every parked receiver (each gets empty, once) and every parked
// sender (each throws closed_channel_error, once), on an unbuffered and a full buffered
// channel; the buffered values stay receivable after the close.
TEST_CASE("close wakes every parked receiver with empty and every parked sender with an error") {
  watchdog dog("close wakes everybody", 30s);
  SUBCASE("receivers") {
    constexpr int receivers = 6;
    int woke_empty = 0, woke_with_value = 0, entered_total = 0;
    goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
      goro::chan<int> ch;
      int entered = 0, finished = 0;
      for (int i = 0; i < receivers; ++i)
        goro::go([&]() -> goro::task<> {
          ++entered;
          auto v = co_await ch.recv();
          ++(v ? woke_with_value : woke_empty);
          ++finished;
        });
      while (entered < receivers) co_await goro::yield();
      entered_total = entered;
      ch.close();
      while (finished < receivers) co_await goro::yield();
    });
    CHECK(entered_total == receivers);
    CHECK(woke_empty == receivers);
    CHECK(woke_with_value == 0);
  }
  for (int capacity : {0, 2}) {
    SUBCASE(("senders, capacity " + std::to_string(capacity)).c_str()) {
      constexpr int senders = 6;
      int threw = 0, returned = 0, other_error = 0;
      std::vector<std::optional<int>> after_close;
      goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
        goro::chan<int> ch(capacity);
        for (int i = 0; i < capacity; ++i) ch.try_send(i);
        int entered = 0, finished = 0;
        for (int i = 0; i < senders; ++i)
          goro::go([&, i]() -> goro::task<> {
            ++entered;
            try {
              co_await ch.send(100 + i);
              ++returned;
            } catch (const goro::closed_channel_error&) {
              ++threw;
            } catch (...) {
              ++other_error;
            }
            ++finished;
          });
        while (entered < senders) co_await goro::yield();
        ch.close();
        while (finished < senders) co_await goro::yield();
        for (int i = 0; i < capacity + 1; ++i) after_close.push_back(co_await ch.recv());
      });
      CHECK(threw == senders);
      CHECK(returned == 0);
      CHECK(other_error == 0);
      std::vector<std::optional<int>> want;
      for (int i = 0; i < capacity; ++i) want.push_back(i);
      want.push_back(std::nullopt);
      CHECK(after_close == want);
    }
  }
}

// Intent: send on a closed channel throws closed_channel_error (co_await send and
// try_send), without moving the value and without touching the buffer: the values
// buffered before the close are still received, in order.
TEST_CASE("send on a closed channel throws and leaves the channel and the value as they were") {
  bool send_threw = false, try_send_threw = false;
  bool value_kept_after_send = false, value_kept_after_try_send = false;
  std::size_t size_after = 0;
  std::vector<int> drained;
  bool ended = false;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::chan<std::unique_ptr<int>> ch(3);
    ch.try_send(std::make_unique<int>(1));
    ch.try_send(std::make_unique<int>(2));
    ch.close();
    auto p = std::make_unique<int>(9);
    try {
      co_await ch.send(std::move(p));
    } catch (const goro::closed_channel_error&) {
      send_threw = true;
    }
    value_kept_after_send = p && *p == 9;
    try {
      ch.try_send(std::move(p));
    } catch (const goro::closed_channel_error&) {
      try_send_threw = true;
    }
    value_kept_after_try_send = p && *p == 9;
    size_after = ch.size();
    while (auto v = co_await ch.recv()) drained.push_back(**v);
    ended = true;
  });
  CHECK(send_threw);
  CHECK(try_send_threw);
  CHECK(value_kept_after_send);
  CHECK(value_kept_after_try_send);
  CHECK(size_after == 2);
  CHECK(drained == std::vector<int>{1, 2});
  CHECK(ended);
}

// Intent: closing a closed channel throws closed_channel_error and changes nothing: the
// buffered values are still received, then empty; the channel's size is unchanged.
TEST_CASE("closing twice throws closed_channel_error and leaves the channel as it was") {
  goro::chan<int> ch(3);
  ch.try_send(4);
  ch.try_send(5);
  ch.close();
  CHECK_THROWS_AS(ch.close(), goro::closed_channel_error);
  CHECK(ch.size() == 2);
  CHECK(ch.capacity() == 3);
  CHECK(ch.try_recv().value == std::optional<int>(4));
  CHECK_THROWS_AS(ch.close(), goro::closed_channel_error);
  CHECK(ch.try_recv().value == std::optional<int>(5));
  CHECK(ch.try_recv().status == goro::try_status::closed);
  CHECK_THROWS_AS(ch.close(), goro::closed_channel_error);
  CHECK(ch.try_recv().status == goro::try_status::closed);
  CHECK_THROWS_AS(ch.try_send(1), goro::closed_channel_error);

  // Through the send_chan view too, and the error is a panic_error as Go's panic.
  goro::chan<> sig;
  goro::send_chan<> out = sig;
  out.close();
  CHECK_THROWS_AS(out.close(), goro::panic_error);
  CHECK_FALSE(sig.try_recv().value);
  CHECK(sig.try_recv().status == goro::try_status::closed);
}

// ---------------------------------------------------------------- try ops

// Intent: try_send/try_recv never wait: not_ready (false) when they would; try_send to a
// parked receiver and try_recv from a parked sender succeed; on a closed channel try_send
// throws and try_recv says closed once drained; try_send(std::move(x)) that returns false
// leaves x as it was.
TEST_CASE("try_send and try_recv: not ready when they would wait, succeed with a parked peer") {
  goro::chan<int> unbuffered;
  CHECK_FALSE(unbuffered.try_send(1));
  auto r = unbuffered.try_recv();
  CHECK(r.status == goro::try_status::not_ready);
  CHECK_FALSE(static_cast<bool>(r));
  CHECK_FALSE(r.value.has_value());

  goro::chan<std::unique_ptr<int>> full(1);
  CHECK(full.try_send(std::make_unique<int>(1)));
  auto x = std::make_unique<int>(2);
  int* const before = x.get();
  CHECK_FALSE(full.try_send(std::move(x)));
  CHECK(x.get() == before);  // NOLINT(bugprone-use-after-move): untouched on false
  CHECK(*x == 2);
  goro::chan<std::unique_ptr<int>> nobody;
  CHECK_FALSE(nobody.try_send(std::move(x)));
  CHECK(x.get() == before);  // NOLINT(bugprone-use-after-move)

  int parked_receiver_got = -1;
  bool try_send_to_parked = false, try_send_again = true;
  int try_recv_from_parked = -1;
  bool sender_returned = false;
  goro::try_status try_recv_again = goro::try_status::done;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::chan<int> ch;
    bool entered = false, finished = false;
    goro::go([&]() -> goro::task<> {
      entered = true;
      parked_receiver_got = *co_await ch.recv();
      finished = true;
    });
    while (!entered) co_await goro::yield();
    try_send_to_parked = ch.try_send(11);
    try_send_again = ch.try_send(12);  // the receiver was served: nobody waits now
    while (!finished) co_await goro::yield();

    entered = finished = false;
    goro::go([&]() -> goro::task<> {
      entered = true;
      co_await ch.send(21);
      sender_returned = true;
      finished = true;
    });
    while (!entered) co_await goro::yield();
    auto got = ch.try_recv();
    try_recv_from_parked = got ? *got.value : -1;
    try_recv_again = ch.try_recv().status;
    while (!finished) co_await goro::yield();
  });
  CHECK(try_send_to_parked);
  CHECK(parked_receiver_got == 11);
  CHECK_FALSE(try_send_again);
  CHECK(try_recv_from_parked == 21);
  CHECK(sender_returned);
  CHECK(try_recv_again == goro::try_status::not_ready);

  goro::chan<int> closing(2);
  closing.try_send(3);
  closing.close();
  CHECK_THROWS_AS(closing.try_send(4), goro::closed_channel_error);
  auto first = closing.try_recv();
  CHECK(first.status == goro::try_status::done);
  CHECK(*first.value == 3);
  CHECK(closing.try_recv().status == goro::try_status::closed);
}

// Intent: try ops may be called from any thread: a plain std::thread hands values to,
// and takes values from, tasks parked in recv/send while goro::run is active; the wake-up
// of the parked task comes from outside the runtime. Also a buffered round trip.
TEST_CASE("try_send and try_recv from a plain std::thread while goro::run is active") {
  watchdog dog("try ops from a std::thread", 60s);
  constexpr int rounds = 200;
  int received_ok = 0, taken_ok = 0, buffered_ok = 0;
  goro::run(goro::config{.maxprocs = 2}, [&]() -> goro::task<> {
    goro::chan<int> to_task, from_task, buffered(4);
    std::atomic<int> taken_sum{0}, taken_count{0};
    // The handle: the outsider wakes main while main may be the only task, parked.
    std::thread outsider([&, hold = goro::external_handle()] {
      for (int i = 0; i < rounds; ++i)
        while (!to_task.try_send(i)) std::this_thread::yield();
      for (int i = 0; i < rounds; ++i) {
        goro::try_recv_result<int> r;
        while (!(r = from_task.try_recv())) std::this_thread::yield();
        if (*r.value == 1000 + i) taken_count.fetch_add(1, std::memory_order_relaxed);
      }
      for (int i = 0; i < rounds; ++i) {
        goro::try_recv_result<int> r;
        while (!(r = buffered.try_recv())) std::this_thread::yield();
        taken_sum.fetch_add(*r.value == 2000 + i, std::memory_order_relaxed);
      }
    });
    for (int i = 0; i < rounds; ++i)
      if (auto v = co_await to_task.recv(); v && *v == i) ++received_ok;
    for (int i = 0; i < rounds; ++i) co_await from_task.send(1000 + i);
    for (int i = 0; i < rounds; ++i) co_await buffered.send(2000 + i);
    outsider.join();
    taken_ok = taken_count.load();
    buffered_ok = taken_sum.load();
  });
  CHECK(received_ok == rounds);
  CHECK(taken_ok == rounds);
  CHECK(buffered_ok == rounds);
}

// ---------------------------------------------------------------- element types

// Intent: a move-only T travels through send/recv, unbuffered (hand-off between two
// frames) and buffered, and send(std::move(p)) moves p once the send happened.
TEST_CASE("move-only values through unbuffered and buffered channels") {
  for (int capacity : {0, 1, 4}) {
    SUBCASE(("capacity " + std::to_string(capacity)).c_str()) {
      watchdog dog("move-only values", 30s);
      std::vector<int> got;
      int sources_emptied = 0;
      goro::run(goro::config{.maxprocs = 2}, [&]() -> goro::task<> {
        goro::chan<std::unique_ptr<int>> ch(capacity);
        std::atomic<int> emptied{0};
        goro::go(
            [&emptied](goro::chan<std::unique_ptr<int>> c) -> goro::task<> {
              for (int i = 0; i < 50; ++i) {
                auto p = std::make_unique<int>(i);
                co_await c.send(std::move(p));
                if (!p) emptied.fetch_add(1, std::memory_order_relaxed);
              }
              c.close();
            },
            ch);
        while (auto v = co_await ch.recv()) got.push_back(**v);
        sources_emptied = emptied.load();
      });
      std::vector<int> want;
      for (int i = 0; i < 50; ++i) want.push_back(i);
      CHECK(got == want);
      CHECK(sources_emptied == 50);
    }
  }
}

// Intent: chan<> carries signals: send() and recv() -> bool (true for a signal, false
// once closed and drained), try ops, and the capacity/size bookkeeping of n buffered
// signals.
TEST_CASE("chan<void>: signals with bool results and buffered signal counts") {
  static_assert(std::is_same_v<goro::chan<>, goro::chan<void>>);
  static_assert(std::is_same_v<goro::recv_result<void>, bool>);

  goro::chan<> s(3);
  CHECK(s.capacity() == 3);
  CHECK(s.size() == 0);
  CHECK(s.try_send());
  CHECK(s.try_send());
  CHECK(s.size() == 2);
  CHECK(s.try_send());
  CHECK_FALSE(s.try_send());
  CHECK(s.size() == 3);
  auto r = s.try_recv();
  CHECK(r.status == goro::try_status::done);
  CHECK(r.value == true);
  CHECK(s.size() == 2);

  std::vector<bool> got;
  bool unbuffered_got = false, sender_returned = false;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    got.push_back(co_await s.recv());
    s.close();
    got.push_back(co_await s.recv());  // one signal still buffered
    got.push_back(co_await s.recv());  // closed and drained

    goro::chan<> u;
    bool entered = false;
    goro::go([&]() -> goro::task<> {
      entered = true;
      co_await u.send();
      sender_returned = true;
    });
    while (!entered) co_await goro::yield();
    unbuffered_got = co_await u.recv();
    while (!sender_returned) co_await goro::yield();
  });
  CHECK(got == std::vector<bool>{true, true, false});
  CHECK(s.size() == 0);
  CHECK(s.try_recv().status == goro::try_status::closed);
  CHECK(unbuffered_got);
  CHECK(sender_returned);
}

// ---------------------------------------------------------------- nil channels

// Intent: a nil channel (chan<T> ch = nullptr; or ch = nullptr on a live handle) is
// never ready for try ops, has capacity and size 0, and close throws panic_error;
// setting one handle to nil does not affect the channel other handles refer to.
TEST_CASE("nil channel: try ops never ready, close throws panic_error") {
  goro::chan<int> nil = nullptr;
  CHECK_FALSE(static_cast<bool>(nil));
  CHECK(nil == nullptr);
  CHECK(nil.capacity() == 0);
  CHECK(nil.size() == 0);
  CHECK_FALSE(nil.try_send(1));
  CHECK(nil.try_recv().status == goro::try_status::not_ready);
  CHECK_THROWS_AS(nil.close(), goro::panic_error);
  CHECK_FALSE(nil.try_send(1));  // still nil, still not ready

  goro::chan<int> live(2);
  goro::chan<int> other = live;
  other = nullptr;
  CHECK(other == nullptr);
  CHECK_FALSE(other == live);
  CHECK_FALSE(other.try_send(1));
  CHECK(other.try_recv().status == goro::try_status::not_ready);
  CHECK_THROWS_AS(other.close(), goro::panic_error);
  CHECK(live.try_send(5));  // the channel itself is unaffected
  CHECK(live.try_recv().value == std::optional<int>(5));

  goro::chan<> nil_signal = nullptr;
  CHECK_FALSE(nil_signal.try_send());
  CHECK(nil_signal.try_recv().status == goro::try_status::not_ready);
  CHECK_THROWS_AS(nil_signal.close(), goro::panic_error);
  goro::send_chan<int> nil_out = nil;
  CHECK_THROWS_AS(nil_out.close(), goro::panic_error);
}

// Intent: a task in recv or send on a nil channel never resumes: still parked when the
// main task finishes, its frame is destroyed at shutdown (a counted local destroyed
// exactly once, then), and the code after the co_await never ran.
TEST_CASE("a task waiting on a nil channel never resumes and is destroyed at shutdown") {
  watchdog dog("nil channel waiter", 30s);
  counted::reset();
  bool recv_resumed = false, send_resumed = false;
  int entered = 0, live_when_main_ended = -1, destroyed_when_main_ended = -1;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::go([&]() -> goro::task<> {
      goro::chan<int> nil = nullptr;
      counted local(1);
      ++entered;
      (void)co_await nil.recv();
      recv_resumed = true;
    });
    goro::go([&]() -> goro::task<> {
      goro::chan<counted> nil;
      nil = nullptr;
      counted value(2);
      ++entered;
      co_await nil.send(std::move(value));
      send_resumed = true;
    });
    while (entered < 2) co_await goro::yield();
    for (int i = 0; i < 20; ++i) co_await goro::yield();
    live_when_main_ended = counted::live();
    destroyed_when_main_ended = counted::destroyed.load();
  });
  CHECK(live_when_main_ended == 2);
  CHECK(destroyed_when_main_ended == 0);
  CHECK_FALSE(recv_resumed);
  CHECK_FALSE(send_resumed);
  CHECK(counted::live() == 0);
  CHECK(counted::destroyed == 2);
  CHECK(counted::destroyed_twice == 0);
}

// ---------------------------------------------------------------- lifetimes

// Intent: every value that enters a channel is destroyed exactly once: through the
// buffer, through an unbuffered hand-off on two workers, and when the channel's last
// handle goes with values still buffered.
TEST_CASE("values are destroyed exactly once: buffer, hand-off, channel destroyed full") {
  SUBCASE("buffered, received and not") {
    counted::reset();
    {
      goro::chan<counted> ch(8);
      for (int i = 0; i < 5; ++i) {
        counted c(i);
        REQUIRE(ch.try_send(std::move(c)));
      }
      counted copy_source(9);
      REQUIRE(ch.try_send(copy_source));  // copies
      CHECK(copy_source.alive());
      for (int i = 0; i < 3; ++i) {
        auto r = ch.try_recv();
        REQUIRE(r.value.has_value());
        CHECK(r.value->value == i);
        CHECK(r.value->alive());
      }
      CHECK(ch.size() == 3);
    }  // channel destroyed with three values buffered
    CHECK(counted::live() == 0);
    CHECK(counted::destroyed_twice == 0);
  }
  SUBCASE("unbuffered and buffered hand-offs between two workers") {
    watchdog dog("counted hand-off", 60s);
    counted::reset();
    long sum = 0;
    goro::run(goro::config{.maxprocs = 2}, [&]() -> goro::task<> {
      for (int capacity : {0, 3}) {
        goro::chan<counted> ch(capacity);
        goro::go(
            [](goro::chan<counted> c) -> goro::task<> {
              for (int i = 0; i < 2000; ++i) {
                counted v(i);
                if (i % 2)
                  co_await c.send(std::move(v));
                else
                  co_await c.send(v);  // a copy, made before the send
              }
              c.close();
            },
            ch);
        while (auto v = co_await ch.recv()) sum += v->value;
      }
    });
    CHECK(sum == 2 * (1999L * 2000 / 2));
    CHECK(counted::live() == 0);
    CHECK(counted::destroyed_twice == 0);
  }
  SUBCASE("the last handle dropped inside a task with values buffered") {
    counted::reset();
    goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
      goro::chan<counted> ch(4);
      for (int i = 0; i < 4; ++i) {
        counted v(i);
        co_await ch.send(std::move(v));
      }
    });
    CHECK(counted::live() == 0);
    CHECK(counted::destroyed_twice == 0);
  }
}

// Intent: tasks still parked when goro::run ends are destroyed, and so are the values
// they hold: a sender parked on a full buffer and on an unbuffered channel (its value,
// moved or copied, destroyed once, never delivered), a parked receiver (nothing to
// destroy), and a receiver that was handed a value but never ran again (its value
// destroyed by the frame's destruction). The channels are held by the tasks themselves.
TEST_CASE("values are destroyed exactly once: tasks destroyed at shutdown while parked") {
  watchdog dog("parked at shutdown", 30s);
  counted::reset();
  bool anybody_resumed = false, handed_receiver_resumed = false;
  int live_at_end_of_main = -1;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    goro::chan<counted> full(1), unbuffered, handed, empty;
    {
      counted first(0);
      full.try_send(std::move(first));
    }
    int entered = 0;
    goro::go(
        [&](goro::chan<counted> c) -> goro::task<> {
          counted v(1);
          ++entered;
          co_await c.send(std::move(v));
          anybody_resumed = true;
        },
        full);
    goro::go(
        [&](goro::chan<counted> c) -> goro::task<> {
          counted v(2);
          ++entered;
          co_await c.send(v);  // parked holding a copy
          anybody_resumed = true;
        },
        unbuffered);
    goro::go(
        [&](goro::chan<counted> c) -> goro::task<> {
          ++entered;
          (void)co_await c.recv();
          anybody_resumed = true;
        },
        empty);
    goro::go(
        [&](goro::chan<counted> c) -> goro::task<> {
          ++entered;
          (void)co_await c.recv();
          handed_receiver_resumed = true;  // not asserted: runnable, not parked, at the end
        },
        handed);
    while (entered < 4) co_await goro::yield();
    {
      counted gift(3);
      REQUIRE(handed.try_send(std::move(gift)));  // into the parked receiver's frame
    }
    live_at_end_of_main = counted::live();  // first, v(1), v(2) + its copy, gift's moved value
  });  // main ends: the woken receiver does not run again; everybody is destroyed
  CHECK(live_at_end_of_main == 5);
  CHECK_FALSE(anybody_resumed);
  (void)handed_receiver_resumed;
  CHECK(counted::live() == 0);
  CHECK(counted::destroyed_twice == 0);
}

// Intent: a channel created outside goro::run and outliving it, with tasks parked on it
// (a sender behind a full buffer, receivers on an unbuffered one) when run ends: their
// waiters leave the queues as their frames are destroyed, so afterwards try_recv gets
// exactly the buffered value (not the dead sender's), try_send finds no receiver, close
// wakes nobody, and a second goro::run uses the channels normally. Under ASan, a dead
// waiter left in a queue is a use after free.
TEST_CASE("a channel outliving goro::run with tasks parked on it stays usable") {
  watchdog dog("channel outlives run", 30s);
  counted::reset();
  goro::chan<counted> buffered(1);
  goro::chan<int> unbuffered;
  bool resumed = false;
  goro::run(goro::config{.maxprocs = 2}, [&]() -> goro::task<> {
    counted first(10);
    co_await buffered.send(std::move(first));
    std::atomic<int> entered{0};
    goro::go([&]() -> goro::task<> {
      counted v(11);
      entered.fetch_add(1);
      co_await buffered.send(std::move(v));
      resumed = true;
    });
    for (int i = 0; i < 3; ++i)
      goro::go([&]() -> goro::task<> {
        entered.fetch_add(1);
        (void)co_await unbuffered.recv();
        resumed = true;
      });
    while (entered.load() < 4) co_await goro::yield();
    // Give the last of them time to park; if it has not, it parks or is destroyed before
    // parking, and either way the checks below hold.
    co_await goro::sleep_for(5ms);
  });
  CHECK_FALSE(resumed);
  CHECK(buffered.size() == 1);
  {
    auto r = buffered.try_recv();
    REQUIRE(r.value.has_value());
    CHECK(r.value->value == 10);
    CHECK(r.value->alive());
  }
  CHECK(buffered.try_recv().status == goro::try_status::not_ready);  // the dead sender is gone
  CHECK_FALSE(unbuffered.try_send(1));                                // no receiver left
  CHECK(unbuffered.try_recv().status == goro::try_status::not_ready);
  {
    counted again(12);
    CHECK(buffered.try_send(std::move(again)));
  }
  CHECK(buffered.size() == 1);
  CHECK(counted::live() == 1);  // only the value just buffered

  int second_run_got = -1, second_run_signal = -1;
  goro::run(goro::config{.maxprocs = 2}, [&]() -> goro::task<> {
    goro::go([&]() -> goro::task<> { co_await unbuffered.send(5); });
    second_run_got = *co_await unbuffered.recv();
    auto v = co_await buffered.recv();
    second_run_signal = v ? v->value : -1;
  });
  CHECK(second_run_got == 5);
  CHECK(second_run_signal == 12);
  unbuffered.close();  // wakes nobody: no dead waiter to schedule
  buffered.close();
  CHECK(unbuffered.try_recv().status == goro::try_status::closed);
  CHECK(buffered.try_recv().status == goro::try_status::closed);
  CHECK(counted::live() == 0);
  CHECK(counted::destroyed_twice == 0);
}

// Intent: once the tasks exist, moving values through channels allocates nothing: a
// buffered send and receive with nobody waiting, try_send/try_recv, and tasks that park
// and are woken by direct hand-off (their waiters live in their frames).
TEST_CASE("channel operations allocate nothing once the tasks exist") {
  long buffered_allocations = -1, handoff_allocations = -1, channel_allocations = -1;
  goro::run(goro::config{.maxprocs = 1}, [&]() -> goro::task<> {
    const long start = allocations.load(std::memory_order_relaxed);
    goro::chan<long> buffered(64);
    channel_allocations = allocations.load(std::memory_order_relaxed) - start;  // the counter sees it
    goro::chan<long> ping, pong;  // unbuffered
    goro::go([](goro::recv_chan<long> in, goro::send_chan<long> out) -> goro::task<> {
      while (auto v = co_await in.recv()) co_await out.send(*v + 1);
    }, ping, pong);
    long sum = 0;
    for (int round = 0; round < 2; ++round) {  // round 0 warms the pools up
      const long before = allocations.load(std::memory_order_relaxed);
      for (long i = 0; i < 10'000; ++i) {
        co_await buffered.send(i);
        sum += *co_await buffered.recv();
        buffered.try_send(i);
        sum += *buffered.try_recv().value;
      }
      const long middle = allocations.load(std::memory_order_relaxed);
      for (long i = 0; i < 10'000; ++i) {
        co_await ping.send(i);
        sum += *co_await pong.recv();
      }
      buffered_allocations = middle - before;
      handoff_allocations = allocations.load(std::memory_order_relaxed) - middle;
    }
    ping.close();
    CHECK(sum > 0);
  });
  CHECK(channel_allocations == 1);
  CHECK(buffered_allocations == 0);
  CHECK(handoff_allocations == 0);
}
