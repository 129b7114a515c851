// Go's classic concurrent prime sieve (the one from the Go tour and the Go spec's era).
//
// A generator task sends 2, 3, 4, ... on a channel. main takes the first number, which
// is prime, and puts a filter task for it between the generator and itself: the filter
// passes on only the numbers its prime does not divide. Each new prime adds one more
// filter to the daisy chain:
//
//   gen -> filter(2) -> filter(3) -> filter(5) -> ... -> main
//
// The generator and the filters never finish: as in Go, when main returns the program
// ends, and goro::run destroys the tasks still waiting on their channels.
//
// Usage: prime_sieve [count]   (default 20). Prints the first `count` primes and checks
// them against trial division (exit status 1 if they differ, 2 on a bad argument).
#include <goro/goro.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

// Go: func generate(ch chan<- int) { for i := 2; ; i++ { ch <- i } }
goro::task<> generate(goro::send_chan<int> ch) {
  for (int i = 2;; ++i) co_await ch.send(i);
}

// Go: func filter(in <-chan int, out chan<- int, prime int)
goro::task<> filter(goro::recv_chan<int> in, goro::send_chan<int> out, int prime) {
  while (auto i = co_await in.recv())
    if (*i % prime != 0) co_await out.send(*i);
}

// The first n primes, the slow sequential way.
std::vector<int> primes_by_trial_division(int n) {
  std::vector<int> primes;
  for (int candidate = 2; static_cast<int>(primes.size()) < n; ++candidate) {
    bool prime = true;
    for (int p : primes) {
      if (p * p > candidate) break;
      if (candidate % p == 0) {
        prime = false;
        break;
      }
    }
    if (prime) primes.push_back(candidate);
  }
  return primes;
}

goro::task<int> sieve(int n) {
  std::vector<int> primes;
  goro::chan<int> ch;
  goro::go(generate, ch);
  for (int i = 0; i < n; ++i) {
    const int prime = *co_await ch.recv();  // never closed: always a value
    std::printf("%d\n", prime);
    primes.push_back(prime);
    goro::chan<int> next;
    goro::go(filter, ch, next, prime);
    ch = next;
  }

  const bool correct = primes == primes_by_trial_division(n);
  std::printf("%s: the first %d primes, by a chain of %d filter tasks\n", correct ? "correct" : "WRONG", n, n);
  co_return correct ? 0 : 1;
}

int main(int argc, char** argv) {
  int n = 20;
  if (argc > 1) {
    char* end = nullptr;
    const long v = std::strtol(argv[1], &end, 10);
    if (argc > 2 || *argv[1] == '\0' || *end != '\0' || v < 1 || v > 100'000) {
      std::fprintf(stderr, "usage: %s [count]   (1 <= count <= 100000, default 20)\n", argv[0]);
      return 2;
    }
    n = static_cast<int>(v);
  }
  // goro::run takes no arguments for the main task: bind them in a lambda.
  return goro::run([n] { return sieve(n); });
}
