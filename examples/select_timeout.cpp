// select with timeouts and without blocking (Go by Example's "Timeouts" and
// "Non-Blocking Channel Operations").
//
//   select {                                 auto r = co_await goro::select(
//   case res := <-c:                             c.recv(),
//   case <-time.After(d):                        goro::after(d));
//   }                                        switch (r.index()) { case 0: ... case 1: ... }
//
//   select { ...; default: }                 goro::select(..., goro::default_case)
//
// Checks which case won each time (exit status 1 if one was not the expected one).
#include <goro/goro.hpp>

#include <chrono>
#include <cstdio>
#include <string>

using namespace std::chrono_literals;

// Sends `what` on `out` after `delay`: a slow computation.
goro::task<> slow_producer(goro::send_chan<std::string> out, std::chrono::milliseconds delay, std::string what) {
  co_await goro::sleep_for(delay);
  co_await out.send(std::move(what));
}

double ms_since(goro::clock::time_point start) {
  return std::chrono::duration<double, std::milli>(goro::clock::now() - start).count();
}

goro::task<int> amain() {
  bool correct = true;

  // 1. The result arrives in time: a 10 ms computation against a 1 s timeout.
  {
    goro::chan<std::string> c(1);  // buffered, so the producer never blocks on a late send
    goro::go(slow_producer, c, 10ms, std::string("result 1"));
    const auto start = goro::clock::now();
    auto r = co_await goro::select(c.recv(), goro::after(1s));
    switch (r.index()) {
      case 0:
        std::printf("1. received \"%s\" after %.1f ms (timeout was 1 s)\n", std::get<0>(r)->c_str(), ms_since(start));
        break;
      case 1:
        std::printf("1. timeout after %.1f ms: WRONG\n", ms_since(start));
        break;
    }
    correct &= r.index() == 0 && *std::get<0>(r) == "result 1";
  }

  // 2. The timeout wins: a 100 ms computation against a 10 ms timeout. The producer is
  //    not cancelled: its result lands in the buffer later, and we can still take it.
  {
    goro::chan<std::string> c(1);
    goro::go(slow_producer, c, 100ms, std::string("result 2"));
    const auto start = goro::clock::now();
    auto r = co_await goro::select(c.recv(), goro::after(10ms));
    switch (r.index()) {
      case 0:
        std::printf("2. received \"%s\": WRONG, the timeout should have won\n", std::get<0>(r)->c_str());
        break;
      case 1:
        std::printf("2. timeout after %.1f ms (the result takes 100 ms)\n", ms_since(start));
        break;
    }
    correct &= r.index() == 1 && ms_since(start) >= 10.0;
    auto late = co_await c.recv();
    std::printf("   the late result still arrives after %.1f ms: \"%s\"\n", ms_since(start), late->c_str());
    correct &= late == "result 2";
  }

  // 3. Non-blocking operations: with goro::default_case a select never waits.
  {
    goro::chan<std::string> messages;  // unbuffered, and nobody is on the other side
    goro::chan<bool> signals(1);

    auto r1 = co_await goro::select(messages.recv(), goro::default_case);
    std::printf("3. %s\n", r1.index() == 1 ? "no message received" : "received a message: WRONG");
    correct &= r1.index() == 1;

    auto r2 = co_await goro::select(messages.send("hi"), goro::default_case);
    std::printf("   %s\n", r2.index() == 1 ? "no message sent (no receiver is waiting)" : "message sent: WRONG");
    correct &= r2.index() == 1;

    // A multi-way non-blocking select: only the buffered channel has something.
    co_await signals.send(true);
    auto r3 = co_await goro::select(messages.recv(), signals.recv(), goro::default_case);
    switch (r3.index()) {
      case 0: std::printf("   received message %s: WRONG\n", std::get<0>(r3)->c_str()); break;
      case 1: std::printf("   received signal %s\n", *std::get<1>(r3) ? "true" : "false"); break;
      case 2: std::printf("   no activity: WRONG\n"); break;
    }
    correct &= r3.index() == 1 && *std::get<1>(r3);
  }

  // 4. One deadline for a whole loop (Go: timeout := time.After(d) before the for-select).
  //    goro::after(d) fixes its deadline when it is called; each select takes a copy,
  //    so one after() made before the loop is one deadline for every round.
  {
    goro::chan<int> ticks;
    goro::go([](goro::send_chan<int> out) -> goro::task<> {
      for (int i = 1;; ++i) {
        co_await goro::sleep_for(2ms);
        co_await out.send(i);
      }
    }, ticks);
    const auto start = goro::clock::now();
    const auto timeout = goro::after(30ms);
    int received = 0;
    bool timed_out = false;
    while (!timed_out) {
      auto r = co_await goro::select(ticks.recv(), timeout);
      if (r.index() == 0) {
        ++received;
        correct &= *std::get<0>(r) == received;  // in order, none lost
      } else {
        timed_out = true;
      }
    }
    std::printf("4. %d ticks received before the 30 ms deadline, loop ended after %.1f ms\n", received,
                ms_since(start));
    correct &= received > 0 && ms_since(start) >= 30.0;
  }

  std::printf("%s\n", correct ? "every select chose the expected case" : "WRONG");
  co_return correct ? 0 : 1;
}

int main() { return goro::run(amain); }
