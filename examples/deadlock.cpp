// Go's best-known error message, from goro: a pipeline whose first stage forgets to
// close its channel (examples/pipeline.cpp with one line missing).
//
//   go func() {                             goro::go([](goro::send_chan<int> out) -> goro::task<> {
//     for i := 1; i <= 3; i++ { out <- i }    for (int i = 1; i <= 3; ++i) co_await out.send(i);
//     // close(out) forgotten                  // out.close() forgotten
//   }()                                      }, out);
//
// sq ranges over gen's channel and main over sq's. Once gen returns, both wait for a
// value that will never come, and nothing else is left that could send one. Go stops
// with "fatal error: all goroutines are asleep - deadlock!"; goro::run throws
// goro::deadlock_error, whose what() is the same sentence and a dump of every task: what
// it waits on, the line it waits at, the line that started it. Catching it is for this
// demo; a program would let it end the process, as Go does.
//
// Then the fixed pipeline, whose gen closes its channel, prints 1 4 9 and ends.
//
// Checks (exit status 1 if one fails): the broken pipeline throws deadlock_error; its
// message starts with "all tasks are asleep - deadlock!"; it lists two tasks, main and
// sq, each parked on a channel receive at a line of this file; the fixed pipeline
// returns normally with the three squares.
#include <goro/goro.hpp>

#include <cstdio>
#include <string_view>

// Emits 1..3; closes its channel at the end only if told to (the broken pipeline forgets).
goro::recv_chan<int> gen(bool close_at_end) {
  goro::chan<int> out;
  goro::go([](goro::send_chan<int> out, bool close_at_end) -> goro::task<> {
    for (int i = 1; i <= 3; ++i) co_await out.send(i);
    if (close_at_end) out.close();
  }, out, close_at_end);
  return out;
}

// Squares every value it receives; closes its output once its input is closed.
goro::recv_chan<int> sq(goro::recv_chan<int> in) {
  goro::chan<int> out;
  goro::go([](goro::recv_chan<int> in, goro::send_chan<int> out) -> goro::task<> {
    while (auto v = co_await in.recv()) co_await out.send(*v * *v);
    out.close();
  }, in, out);
  return out;
}

// Prints the squares until the pipeline ends; returns how many arrived.
goro::task<int> print_squares(bool close_at_end) {
  auto squares = sq(gen(close_at_end));
  int count = 0;
  while (auto v = co_await squares.recv()) {
    std::printf("%d\n", *v);
    ++count;
  }
  co_return count;
}

// The broken pipeline must deadlock with both waiting tasks named.
bool broken_pipeline_deadlocks() {
  std::printf("the pipeline whose gen forgets to close its channel:\n");
  try {
    goro::run([] { return print_squares(false); });
  } catch (const goro::deadlock_error& e) {
    std::printf("%s", e.what());
    int named = 0;
    for (const goro::task_info& t : e.tasks())
      named += t.waiting_on == "chan recv" && std::string_view(t.wait_site.file_name()).ends_with("deadlock.cpp");
    return std::string_view(e.what()).starts_with("all tasks are asleep - deadlock!") && e.tasks().size() == 2 &&
           named == 2;
  }
  std::printf("goro::run returned: no deadlock reported\n");
  return false;
}

bool fixed_pipeline_ends() {
  std::printf("the fixed pipeline, whose gen closes its channel:\n");
  return goro::run([] { return print_squares(true); }) == 3;
}

int main() {
  const bool broken_ok = broken_pipeline_deadlocks();
  const bool fixed_ok = fixed_pipeline_ends();
  const bool correct = broken_ok && fixed_ok;
  std::printf("%s\n", correct ? "the deadlock was reported, and the fix ends normally" : "WRONG");
  return correct ? 0 : 1;
}
