// A request fanned out to five back ends under one deadline: Go's errgroup.WithContext
// under context.WithTimeout, the shape of a front end that asks its shards and answers
// once all of them have.
//
//   ctx, cancel := context.WithTimeout(parent, 300*ms)   auto [ctx, cancel] = goro::with_timeout(parent, 300ms);
//   defer cancel()                                         // cancel's destructor
//   g, gctx := errgroup.WithContext(ctx)                   goro::group g(ctx);
//   g.Go(func() error { return call(gctx, b) })            g.go(call_backend, g.context(), b, ...);
//   err := g.Wait()                                        std::error_code ec = co_await g.wait();
//
// A back-end call "takes" its latency with goro::sleep_for(ctx, d), which ends early
// once ctx is done and then returns ctx.err(). The call returns that error, as a Go
// handler returns ctx.Err(), so a cancelled call counts as failed; its answer goes to
// its own slot of the response, which the caller reads after wait() (wait() orders every
// member's writes before its return).
//
// Three requests:
//   a. all five answer: the response takes as long as the slowest call, not the sum;
//   b. one call fails fast: its error cancels the group's context, the other calls stop
//      at once with errc::canceled, and wait() returns the first error (the later
//      "canceled" errors are dropped);
//   c. one call is late: the 300 ms deadline cancels it (and would cancel any other
//      still running); it returns errc::deadline_exceeded, which wait() reports.
// Checks every outcome and generous time bounds (exit status 1 if one is wrong).
#include <goro/goro.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <system_error>
#include <vector>

using namespace std::chrono_literals;

constexpr auto request_deadline = 300ms;

struct backend {
  const char* name;
  std::chrono::milliseconds latency;
  bool fails = false;  // answers "connection refused" after its latency
};

// What one call did: written by its member task, read after the group's wait().
struct call_result {
  std::string reply;       // empty unless the call succeeded
  std::error_code ec;      // what the call returned
  double finished_ms = 0;  // since the request started
};

struct response {
  std::error_code ec;  // wait()'s answer: the first failure, or empty
  std::vector<call_result> calls;
  std::error_code deadline_err;  // the deadline context's err() once wait() returned
  double ms = 0;
};

double ms_since(goro::clock::time_point start) {
  return std::chrono::duration<double, std::milli>(goro::clock::now() - start).count();
}

// One back-end call: takes b.latency, unless ctx is done first.
goro::task<std::error_code> call_backend(goro::context ctx, backend b, goro::clock::time_point start,
                                         call_result* out) {
  std::error_code ec = co_await goro::sleep_for(ctx, b.latency);  // ctx.err() if cut short
  if (!ec && b.fails) ec = std::make_error_code(std::errc::connection_refused);
  if (!ec) out->reply = std::string(b.name) + ": ok";
  out->ec = ec;
  out->finished_ms = ms_since(start);
  co_return ec;
}

// The front end: one member per back end, all under one deadline.
goro::task<response> handle_request(std::vector<backend> backends) {
  const auto start = goro::clock::now();
  auto [ctx, cancel] = goro::with_timeout(goro::background(), request_deadline);
  goro::group g(ctx);
  response resp;
  resp.calls.resize(backends.size());  // sized before any member runs: the slots never move
  for (std::size_t i = 0; i < backends.size(); ++i)
    g.go(call_backend, g.context(), backends[i], start, &resp.calls[i]);
  resp.ec = co_await g.wait();
  resp.ms = ms_since(start);
  resp.deadline_err = ctx.err();
  co_return resp;
}

// Prints the request's outcome and each call's.
void print(const char* label, const std::vector<backend>& backends, const response& r) {
  if (r.ec)
    std::printf("%s failed after %.1f ms: %s\n", label, r.ms, r.ec.message().c_str());
  else
    std::printf("%s answered after %.1f ms\n", label, r.ms);
  for (std::size_t i = 0; i < backends.size(); ++i) {
    const auto& c = r.calls[i];
    std::printf("     %-9s latency %3lld ms: %-28s at %5.1f ms\n", backends[i].name,
                static_cast<long long>(backends[i].latency.count()),
                c.ec ? c.ec.message().c_str() : c.reply.c_str(), c.finished_ms);
  }
}

goro::task<int> amain() {
  bool correct = true;
  const auto refused = std::make_error_code(std::errc::connection_refused);

  // a. Every call succeeds. Latencies 50..150 ms sum to 500 ms; run concurrently the
  //    request takes about 150 ms (the bound is generous: a busy 2-core machine).
  {
    const std::vector<backend> backends = {
        {"users", 50ms}, {"search", 80ms}, {"ads", 100ms}, {"prices", 120ms}, {"reviews", 150ms}};
    const response r = co_await handle_request(backends);
    print("a. all five back ends answer: the request", backends, r);
    bool ok = !r.ec && !r.deadline_err && r.ms >= 150.0 && r.ms < 290.0;
    for (const auto& c : r.calls) ok &= !c.ec && !c.reply.empty();
    std::printf("   %s\n", ok ? "as slow as the slowest call, not the sum (500 ms)" : "WRONG");
    correct &= ok;
  }

  // b. "payments" refuses at 30 ms. The others (100..200 ms) are cancelled then, so
  //    the request ends long before its slowest call would have (200 ms), and wait()
  //    reports the refusal, not the "canceled" errors that follow it.
  {
    const std::vector<backend> backends = {{"users", 100ms},
                                           {"payments", 30ms, /*fails=*/true},
                                           {"search", 120ms},
                                           {"ads", 150ms},
                                           {"reviews", 200ms}};
    const response r = co_await handle_request(backends);
    print("\nb. one back end refuses: the request", backends, r);
    bool ok = r.ec == refused && !r.deadline_err && r.ms >= 30.0 && r.ms < 190.0;
    for (std::size_t i = 0; i < backends.size(); ++i)
      ok &= backends[i].fails ? r.calls[i].ec == refused : r.calls[i].ec == goro::errc::canceled;
    std::printf("   %s\n", ok ? "the first error cancelled the other calls and is what wait() returned" : "WRONG");
    correct &= ok;
  }

  // c. "reviews" takes 500 ms. The others answer; at 300 ms the deadline cancels the
  //    late call, which returns deadline_exceeded, and so does wait(). The error also
  //    matches the portable condition std::errc::timed_out.
  {
    const std::vector<backend> backends = {
        {"users", 50ms}, {"search", 80ms}, {"ads", 100ms}, {"prices", 150ms}, {"reviews", 500ms}};
    const response r = co_await handle_request(backends);
    print("\nc. one back end is late: the request", backends, r);
    bool ok = r.ec == goro::errc::deadline_exceeded && r.ec == std::errc::timed_out &&
              r.deadline_err == goro::errc::deadline_exceeded && r.ms >= 300.0 && r.ms < 480.0;
    for (std::size_t i = 0; i < backends.size(); ++i) {
      const bool late = backends[i].latency > request_deadline;
      ok &= late ? r.calls[i].ec == goro::errc::deadline_exceeded && r.calls[i].finished_ms >= 300.0
                 : !r.calls[i].ec && !r.calls[i].reply.empty();
    }
    std::printf("   %s\n", ok ? "the deadline cut the late call short at 300 ms" : "WRONG");
    correct &= ok;
  }

  std::printf("\n%s\n", correct ? "every request ended as expected" : "WRONG");
  co_return correct ? 0 : 1;
}

int main() { return goro::run(amain); }
