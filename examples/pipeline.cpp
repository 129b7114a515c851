// A pipeline (Go's "Pipelines and cancellation" blog post): generate -> square -> print.
//
// Each stage is a task that receives from the channel before it, sends to the channel
// after it, and closes its output when its input runs dry, so the end of the stream
// flows down the pipeline. As in Go, a stage is a plain function that starts its task
// and returns the channel it writes to:
//
//   func gen(n int) <-chan int         goro::recv_chan<int> gen(int n)
//   func sq(in <-chan int) <-chan int  goro::recv_chan<int> sq(goro::recv_chan<int> in)
//   for n := range sq(gen(10)) {...}   while (auto n = co_await squares.recv()) {...}
//
// Prints the squares of 1..10 and checks them (exit status 1 if wrong).
#include <goro/goro.hpp>

#include <cstdio>

// Emits 1..n, then closes its channel.
goro::recv_chan<int> gen(int n) {
  goro::chan<int> out;
  goro::go([](goro::send_chan<int> out, int n) -> goro::task<> {
    for (int i = 1; i <= n; ++i) co_await out.send(i);
    out.close();
  }, out, n);
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

goro::task<int> amain() {
  constexpr int n = 10;
  bool correct = true;
  long sum = 0;
  int expected = 1;

  // The print stage: range over the last channel until it is closed.
  auto squares = sq(gen(n));
  while (auto v = co_await squares.recv()) {
    std::printf("%d\n", *v);
    correct &= *v == expected * expected;  // in order: each channel is FIFO
    ++expected;
    sum += *v;
  }

  std::printf("sum of the squares of 1..%d = %ld\n", n, sum);
  correct &= expected == n + 1 && sum == 385;  // n(n+1)(2n+1)/6
  if (!correct) std::printf("WRONG\n");
  co_return correct ? 0 : 1;
}

int main() { return goro::run(amain); }
