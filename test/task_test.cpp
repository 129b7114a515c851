// Tests for include/goro/task.hpp: goro::task<T>, the lazy coroutine type.
//
// What the contract promises and how each part is checked
//   1. Results: a value, nothing (task<>), a reference to the very object the body
//      returned (task<int&>: compared by address), a move-only value (unique_ptr).
//   2. Exceptions: what the body throws is rethrown by co_await, with its type and
//      payload; the awaiter may catch it and go on.
//   3. Laziness: creating a task runs nothing; only co_await starts it. A task destroyed
//      without being awaited never runs, and its frame (with the parameter copies in it)
//      is destroyed: an instance-counting parameter shows it.
//   4. No stack growth: a 1,000,000-deep chain of nested co_awaits completes with the
//      right result, and the native stack at the deepest level is within 4 MiB of the
//      stack at the top (detail::transfer bounces through the worker loop when the
//      compiler does not make the symmetric transfer a tail call).
//
// Every task runs inside goro::run. Results are collected in plain variables and checked
// on the test thread after goro::run returns, which joins the workers: doctest
// assertions stay off worker threads.
#include <doctest/doctest.h>

#include <goro/goro.hpp>

#include "test_support.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

namespace {

// An exception with a payload, to check that the awaiter gets this very type.
struct tagged_error : std::runtime_error {
  int tag;
  tagged_error(const std::string& what, int t) : std::runtime_error(what), tag(t) {}
};

// Counts its instances. mark is volatile so that the destructor's store survives
// dead-store elimination and a second destruction is seen.

using goro_test::counted;

goro::task<int> add(int a, int b) { co_return a + b; }

goro::task<> store(int& target, int value) {
  target = value;
  co_return;
}

goro::task<int&> pick(int& first, int& second, bool take_second) { co_return take_second ? second : first; }

goro::task<std::unique_ptr<int>> boxed(int v) { co_return std::make_unique<int>(v); }

goro::task<int> throw_tagged(int tag) {
  throw tagged_error("tagged " + std::to_string(tag), tag);
  co_return 0;
}

goro::task<> throw_void(std::string message) {
  throw std::runtime_error(message);
  co_return;
}

// The current native stack position of the caller (the frame address of this
// non-inlined function sits just below the caller's frame).
[[gnu::noinline]] std::uintptr_t native_stack_position() {
  return reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
}

// Where the deepest level of chain() was.
struct deepest_probe {
  std::uintptr_t stack = 0;
  std::thread::id thread;
};

// chain(n) returns n by awaiting chain(n - 1): n nested co_awaits, none of which suspends.
goro::task<int> chain(int n, deepest_probe& probe) {
  if (n == 0) {
    probe.stack = native_stack_position();
    probe.thread = std::this_thread::get_id();
    co_return 0;
  }
  co_return co_await chain(n - 1, probe) + 1;
}

}  // namespace

// Intent: co_await returns the value computed by the body from its arguments.
TEST_CASE("task<int> returns the body's value") {
  int sum = 0;
  goro::run([&]() -> goro::task<> { sum = co_await add(40, 2); });
  CHECK(sum == 42);
}

// Intent: a task<> runs its body when awaited and not before (laziness), and returns
// nothing.
TEST_CASE("task<> is lazy: its body runs at co_await, not at creation") {
  int target = 0;
  int before_await = -1;
  goro::run([&]() -> goro::task<> {
    goro::task<> t = store(target, 7);
    before_await = target;
    co_await std::move(t);
  });
  CHECK(before_await == 0);
  CHECK(target == 7);
}

// Intent: task<int&> hands back a reference to the very object the body returned, and
// writing through it changes that object.
TEST_CASE("task<int&> returns a reference to the same object") {
  int first = 1, second = 2;
  int* got_second = nullptr;
  int* got_first = nullptr;
  goro::run([&]() -> goro::task<> {
    int& r2 = co_await pick(first, second, true);
    got_second = &r2;
    r2 = 20;
    int& r1 = co_await pick(first, second, false);
    got_first = &r1;
  });
  CHECK(got_second == &second);
  CHECK(got_first == &first);
  CHECK(second == 20);
  CHECK(first == 1);
}

// Intent: a move-only result is moved out to the awaiter.
TEST_CASE("task<std::unique_ptr<int>> moves a move-only result out") {
  std::unique_ptr<int> result;
  goro::run([&]() -> goro::task<> { result = co_await boxed(99); });
  REQUIRE(result != nullptr);
  CHECK(*result == 99);
}

// Intent: an exception thrown by the body reaches the awaiter with its type and payload,
// for task<int> and task<>, and the awaiter continues normally after catching it.
TEST_CASE("an exception thrown by the body propagates to the awaiter") {
  int caught_tag = -1;
  std::string caught_what, caught_void_what;
  int after = 0;
  goro::run([&]() -> goro::task<> {
    try {
      (void)co_await throw_tagged(17);
    } catch (const tagged_error& e) {
      caught_tag = e.tag;
      caught_what = e.what();
    }
    try {
      co_await throw_void("void body failed");
    } catch (const std::runtime_error& e) {
      caught_void_what = e.what();
    }
    after = co_await add(1, 2);
  });
  CHECK(caught_tag == 17);
  CHECK(caught_what == "tagged 17");
  CHECK(caught_void_what == "void body failed");
  CHECK(after == 3);
}

// Intent: awaits nest: outer awaits middle, which awaits inner several times (as a
// temporary and as an lvalue task) and recovers from an inner exception; results flow
// back up through every level.
TEST_CASE("nested awaits pass results and exceptions through every level") {
  struct levels {
    static goro::task<int> inner(int x) {
      if (x < 0) throw std::invalid_argument("negative");
      co_return x * 10;
    }
    static goro::task<int> middle(int x) {
      int total = co_await inner(x);
      goro::task<int> named = inner(x + 1);
      total += co_await named;  // awaiting an lvalue task
      try {
        total += co_await inner(-1);
      } catch (const std::invalid_argument&) {
        total += 1;
      }
      co_return total;
    }
    static goro::task<int> outer(int x) { co_return co_await middle(x) + co_await middle(x + 100); }
  };
  int result = 0;
  goro::run([&]() -> goro::task<> { result = co_await levels::outer(2); });
  // middle(2) = 20 + 30 + 1 = 51; middle(102) = 1020 + 1030 + 1 = 2051.
  CHECK(result == 51 + 2051);
}

// Intent: a 1,000,000-deep synchronous chain of co_awaits completes with the right result
// without growing the native stack: the deepest level runs within 4 MiB of the top
// (without the bounce in detail::transfer, a compiler that does not tail-call the
// symmetric transfer nests one native frame per level, tens of MiB, and overflows).
TEST_CASE("a 1,000,000-deep chain of co_awaits completes without growing the stack") {
  constexpr int depth = 1'000'000;
  int result = -1;
  std::uintptr_t top = 0;
  std::thread::id top_thread;
  deepest_probe deepest;
  goro::run([&]() -> goro::task<> {
    top = native_stack_position();
    top_thread = std::this_thread::get_id();
    result = co_await chain(depth, deepest);
  });
  CHECK(result == depth);
  // The chain never suspends, so it runs on one worker; stack addresses compare only there.
  REQUIRE(deepest.thread == top_thread);
  const std::uintptr_t distance = top > deepest.stack ? top - deepest.stack : deepest.stack - top;
  INFO("native stack distance between the top and the deepest level: ", distance, " bytes");
  CHECK(distance < 4u * 1024 * 1024);
}

// Intent: a task destroyed without being awaited never runs its body, and destroying it
// destroys its frame, parameter copies included; the same for a task replaced by move
// assignment.
TEST_CASE("a task destroyed without being awaited never runs and its frame is destroyed") {
  counted::reset();
  std::atomic<int> ran{0};
  int live_while_held = -1, live_after_destroy = -1, live_after_assign = -1;
  goro::run([&]() -> goro::task<> {
    const auto body = [](std::atomic<int>& flag, counted c) -> goro::task<int> {
      flag.fetch_add(1);
      co_return c.value;
    };
    {
      goro::task<int> t = body(ran, counted{1});
      live_while_held = counted::live();  // the parameter copy in the frame
    }
    live_after_destroy = counted::live();
    goro::task<int> a = body(ran, counted{2});
    a = body(ran, counted{3});  // destroys the first frame without running it
    live_after_assign = counted::live();
    co_return;
  });
  CHECK(ran.load() == 0);
  CHECK(live_while_held == 1);
  CHECK(live_after_destroy == 0);
  CHECK(live_after_assign == 1);
  CHECK(counted::live() == 0);
  CHECK(counted::destroyed_twice.load() == 0);
}
