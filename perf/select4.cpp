// select4: one consumer selects over 4 unbuffered channels fed by 4 producers, 4M items. Go twin: perf/go/select4.go.
#include <array>

#include "bench.hpp"

constexpr int producers = 4;
constexpr long long items = 4'000'000, per_producer = items / producers;

// Sends [first, first + per_producer), then closes its channel.
goro::task<> producer(goro::send_chan<long long> out, long long first) {
  for (long long i = first; i < first + per_producer; ++i) co_await out.send(i);
  out.close();
}

goro::task<> select4() {
  std::array<goro::chan<long long>, producers> chans;  // unbuffered
  for (int p = 0; p < producers; ++p) goro::go(producer, chans[p], p * per_producer);
  long long sum = 0;
  for (int open = producers; open > 0;) {
    auto r = co_await goro::select(chans[0].recv(), chans[1].recv(), chans[2].recv(), chans[3].recv());
    const auto i = r.index();
    auto& v = std::visit([](auto& x) -> std::optional<long long>& { return x; }, r);
    if (!v) {
      chans[i] = nullptr;  // closed: a nil channel's case is never chosen again
      --open;
      continue;
    }
    sum += *v;
  }
  bench::check("select4", sum, items * (items - 1) / 2);
}

goro::task<int> amain() {
  const double ns = co_await bench::time_median(select4);
  std::printf("select4 %.1f ns\n", ns / items);
  co_return 0;
}

int main() { return goro::run(amain); }
