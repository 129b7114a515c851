// Shared by goro's benchmarks: the output protocol of perf/run.py. Each benchmark does one
// untimed warm-up run of its workload, times three more, and prints the median as
// `<metric> <value> <unit>`. A wrong result exits 1.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <goro/goro.hpp>

namespace bench {

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Runs `workload` (a callable returning goro::task<>) once untimed, then three times
// timed; returns the median in nanoseconds.
template <class Workload>
goro::task<double> time_median(Workload workload) {
  co_await workload();
  std::vector<double> ns;
  for (int i = 0; i < 3; ++i) {
    const auto start = std::chrono::steady_clock::now();
    co_await workload();
    ns.push_back(std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count());
  }
  co_return median(ns);
}

inline void check(const char* what, long long got, long long want) {
  if (got == want) return;
  std::fprintf(stderr, "%s: wrong result %lld, want %lld\n", what, got, want);
  std::exit(1);
}

}  // namespace bench
