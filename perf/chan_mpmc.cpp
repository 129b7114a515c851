// chan_mpmc: 4 producers, 4 consumers, one channel of capacity 1024, 10M items. Go twin: perf/go/chan_mpmc.go.
#include <atomic>

#include "bench.hpp"

constexpr int producers = 4, consumers = 4, capacity = 1024;
constexpr long long items = 10'000'000, per_producer = items / producers;

// Sends [first, first + per_producer).
goro::task<> producer(goro::send_chan<long long> out, long long first, goro::wait_group* wg) {
  for (long long i = first; i < first + per_producer; ++i) co_await out.send(i);
  wg->done();
}

// Sums what it receives until the channel is closed and drained.
goro::task<> consumer(goro::recv_chan<long long> in, std::atomic<long long>* sum, goro::wait_group* wg) {
  long long local = 0;
  for (;;) {
    auto v = co_await in.recv();
    if (!v) break;
    local += *v;
  }
  sum->fetch_add(local, std::memory_order_relaxed);
  wg->done();
}

goro::task<> chan_mpmc() {
  goro::chan<long long> ch(capacity);
  goro::wait_group sent, received;
  std::atomic<long long> sum = 0;
  received.add(consumers);
  for (int c = 0; c < consumers; ++c) goro::go(consumer, ch, &sum, &received);
  sent.add(producers);
  for (int p = 0; p < producers; ++p) goro::go(producer, ch, p * per_producer, &sent);
  co_await sent.wait();
  ch.close();
  co_await received.wait();
  bench::check("chan_mpmc", sum.load(), items * (items - 1) / 2);
}

goro::task<int> amain() {
  const double ns = co_await bench::time_median(chan_mpmc);
  std::printf("chan_mpmc %.1f ns\n", ns / items);
  co_return 0;
}

int main() { return goro::run(amain); }
