// A short tour of goro: each section prints what it shows. Run it with `tools/dev tour`.
#include <goro/goro.hpp>

#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

using namespace std::chrono_literals;

// Fork-join: fib(n) spawns fib(n-1) as its own task, computes fib(n-2) itself, then joins.
goro::task<long> fib(int n) {
  if (n < 2) co_return n;
  auto left = goro::spawn(fib, n - 1);   // runs concurrently, maybe on another worker
  long right = co_await fib(n - 2);      // a plain call: no new task
  co_return co_await std::move(left) + right;
}

double ms_since(goro::clock::time_point start) {
  return std::chrono::duration<double, std::milli>(goro::clock::now() - start).count();
}

// Section 6: sleeps 1 s unless ctx is cancelled first; returns why it stopped early.
goro::task<std::error_code> sleep_one_second(goro::context ctx) {
  const std::error_code ec = co_await goro::sleep_for(ctx, 1s);
  co_return ec;
}

// Section 7: a plain counter guarded by a goro::mutex.
struct shared_counter {
  goro::mutex mu;
  long value = 0;  // under mu

  goro::task<long> read() {
    auto lock = co_await mu.scoped_lock();
    co_return value;
  }
};

goro::task<> add_under_mutex(shared_counter* c, goro::wait_group* wg) {
  for (int i = 0; i < 100; ++i) {
    auto lock = co_await c->mu.scoped_lock();  // unlocks at the end of each iteration
    const long v = c->value;
    if (i % 10 == 0) co_await goro::yield();  // other tasks run; none of them can get in
    c->value = v + 1;
  }
  wg->done();
}

// Section 7: a config loaded on first use by whichever task gets there first.
struct lazy_config {
  goro::once once;
  std::atomic<int> loads = 0;
  int port = 0;  // written once, inside once.call; read after it returns
};

goro::task<> use_config(lazy_config* config, std::atomic<int>* saw_loaded, goro::wait_group* wg) {
  auto load = config->once.call([config]() -> goro::task<> {
    ++config->loads;
    co_await goro::sleep_for(1ms);  // slow I/O: the other callers wait for it
    config->port = 8080;
  });
  co_await std::move(load);
  if (config->port == 8080) ++*saw_loaded;
  wg->done();
}

// Section 8: a group member that takes `d`, then fails if told to; stops early with
// ctx.err() if the group is cancelled first.
goro::task<std::error_code> member(goro::context ctx, std::chrono::milliseconds d, bool fail) {
  const std::error_code ec = co_await goro::sleep_for(ctx, d);
  if (ec) co_return ec;
  co_return fail ? std::make_error_code(std::errc::io_error) : std::error_code();
}

goro::task<> throw_after(goro::context ctx, std::chrono::milliseconds d) {
  const std::error_code ec = co_await goro::sleep_for(ctx, d);
  if (!ec) throw std::runtime_error("disk on fire");
}

// Section 9: accepts one connection, reads until the client half-closes, answers with what
// it read upper-cased, and closes. Returns how many bytes it read, or the first error.
goro::task<goro::result<std::size_t>> shout_back(const goro::net::listener* ln, goro::context ctx) {
  auto [conn, err] = co_await ln->accept(ctx);
  if (err) co_return {0, err};
  std::string got;
  char buf[256];
  for (;;) {
    auto [n, rerr] = co_await conn.read(ctx, buf);
    if (rerr) co_return {got.size(), rerr};
    if (n == 0) break;  // the client's FIN: it sent everything
    got.append(buf, n);
  }
  std::string answer = got;
  for (char& ch : answer) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  auto writing = conn.write_all(ctx, answer);
  auto [written, werr] = co_await std::move(writing);
  co_return {got.size(), werr};
}  // conn closes here: the client reads EOF after the answer

// Waits for one job (section 10 closes the channel instead).
goro::task<> wait_for_a_job(goro::chan<int> jobs, goro::wait_group* wg) {
  auto job = co_await jobs.recv();
  (void)job;
  wg->done();
}

goro::task<int> amain() {
  std::printf("goro tour: %u workers (GOMAXPROCS)\n\n", goro::maxprocs());
  bool all_correct = true;  // the exit status: the tour also runs as a test

  // 1. 100,000 tasks and a wait group: Go's `go` + sync.WaitGroup.
  {
    const auto start = goro::clock::now();
    goro::wait_group wg;
    std::atomic<long> sum = 0;
    for (int i = 0; i < 100'000; ++i) {
      wg.add(1);
      goro::go([&wg, &sum](int n) -> goro::task<> {
        sum += n;
        wg.done();
        co_return;
      }, i);
    }
    co_await wg.wait();
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(goro::clock::now() - start).count();
    std::printf("1. 100,000 tasks summed 0..99,999 = %ld in %lld us\n", sum.load(), static_cast<long long>(us));
    all_correct &= sum.load() == 4'999'950'000;
  }

  // 2. Fork-join with join handles: the result (or exception) comes back to the awaiter.
  {
    const auto start = goro::clock::now();
    const long f = co_await fib(25);
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(goro::clock::now() - start).count();
    std::printf("2. fork-join fib(25) = %ld (%s), one task per call, in %lld us\n", f,
                f == 75025 ? "correct" : "WRONG", static_cast<long long>(us));
    all_correct &= f == 75025;
    auto failing = goro::spawn([]() -> goro::task<int> {
      throw std::runtime_error("boom");
      co_return 0;
    });
    bool caught = false;
    try {
      co_await std::move(failing);
    } catch (const std::exception& e) {
      caught = true;
      std::printf("   a spawned task's exception reaches its joiner: \"%s\"\n", e.what());
    }
    all_correct &= caught;
  }

  // 3. Sleeping: 1,000 tasks sleep 20 ms at once; the whole batch takes about 20 ms.
  {
    const auto start = goro::clock::now();
    goro::wait_group wg;
    for (int i = 0; i < 1'000; ++i) {
      wg.add(1);
      goro::go([&wg]() -> goro::task<> {
        co_await goro::sleep_for(20ms);
        wg.done();
      });
    }
    co_await wg.wait();
    const auto ms = std::chrono::duration<double, std::milli>(goro::clock::now() - start).count();
    std::printf("3. 1,000 concurrent 20 ms sleeps finished after %.1f ms\n", ms);
    all_correct &= ms >= 20.0;  // never early
  }

  // 4. Channels: a producer sends 1..100,000 on a buffered channel, then closes it; main
  //    ranges over it (Go: for v := range ch) until it is closed and drained. Then an
  //    unbuffered channel, where every send meets its receive: a ping-pong with an echo
  //    task that closes its output when its input is closed.
  {
    const auto start = goro::clock::now();
    goro::chan<int> ch(64);
    goro::go([](goro::send_chan<int> out) -> goro::task<> {
      for (int i = 1; i <= 100'000; ++i) co_await out.send(i);
      out.close();
    }, ch);
    long sum = 0;
    int count = 0;
    bool in_order = true;
    while (auto v = co_await ch.recv()) {
      in_order &= *v == ++count;
      sum += *v;
    }
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(goro::clock::now() - start).count();
    std::printf("4. 100,000 values through a channel of capacity 64: sum %ld, %s, in %lld us\n", sum,
                in_order ? "in order" : "OUT OF ORDER", static_cast<long long>(us));
    all_correct &= in_order && count == 100'000 && sum == 5'000'050'000;

    goro::chan<int> ping, pong;  // unbuffered
    goro::go([](goro::recv_chan<int> in, goro::send_chan<int> out) -> goro::task<> {
      while (auto v = co_await in.recv()) co_await out.send(*v + 1);
      out.close();
    }, ping, pong);
    int ball = 0;
    for (int i = 0; i < 10'000; ++i) {
      co_await ping.send(ball);
      ball = *co_await pong.recv();
    }
    ping.close();
    const bool echo_closed = !co_await pong.recv();  // the close went down the line
    std::printf("   10,000 unbuffered round trips: ball = %d, then close(ping) closed pong: %s\n", ball,
                echo_closed ? "yes" : "NO");
    all_correct &= ball == 10'000 && echo_closed;
  }

  // 5. select: fan-in from two producers. A closed channel's case is switched off by
  //    making it nil (Go: a = nil), and the loop ends once both are. Then a receive that
  //    nobody answers loses to goro::after, Go's time.After.
  {
    auto produce = [](goro::send_chan<int> out, int first, int n) -> goro::task<> {
      for (int i = 0; i < n; ++i) co_await out.send(first + i);
      out.close();
    };
    goro::chan<int> a, b;
    goro::go(produce, a, 0, 1'000);
    goro::go(produce, b, 1'000'000, 1'000);
    int from_a = 0, from_b = 0;
    bool in_order = true;
    while (a || b) {
      auto r = co_await goro::select(a.recv(), b.recv());
      if (r.index() == 0) {
        if (auto v = std::get<0>(r)) in_order &= *v == from_a++;
        else a = nullptr;  // closed: this case is never chosen again
      } else {
        if (auto v = std::get<1>(r)) in_order &= *v == 1'000'000 + from_b++;
        else b = nullptr;
      }
    }
    std::printf("5. select merged %d values from a and %d from b, each stream %s\n", from_a, from_b,
                in_order ? "in order" : "OUT OF ORDER");
    all_correct &= from_a == 1'000 && from_b == 1'000 && in_order;

    goro::chan<int> silent;
    const auto start = goro::clock::now();
    auto r = co_await goro::select(silent.recv(), goro::after(5ms));
    const auto ms = std::chrono::duration<double, std::milli>(goro::clock::now() - start).count();
    std::printf("   a receive nobody answers: %s after %.1f ms\n", r.index() == 1 ? "timed out" : "WRONG", ms);
    all_correct &= r.index() == 1 && ms >= 5.0;
  }

  // 6. context: a deadline in a select, then a cancel reaching a task that sleeps on it.
  //    ctx.done() is a select case whose result is ctx.err(); goro::sleep_for(ctx, d)
  //    ends early once ctx is done. Go: context.WithTimeout, <-ctx.Done(), cancel().
  {
    auto [ctx, cancel] = goro::with_timeout(goro::background(), 20ms);
    goro::chan<int> silent;
    auto start = goro::clock::now();
    auto r = co_await goro::select(silent.recv(), ctx.done());
    const double waited = ms_since(start);
    const bool deadline = r.index() == 1 && std::get<1>(r) == goro::errc::deadline_exceeded;
    std::printf("6. a 20 ms deadline ended the select after %.1f ms: %s\n", waited,
                deadline ? std::get<1>(r).message().c_str() : "WRONG");
    all_correct &= deadline && waited >= 20.0 && ctx.err() == goro::errc::deadline_exceeded;

    auto [ctx2, cancel2] = goro::with_cancel(goro::background());
    start = goro::clock::now();
    auto sleeper = goro::spawn(sleep_one_second, ctx2);
    co_await goro::sleep_for(10ms);
    cancel2();  // wakes the sleeper at once
    const std::error_code ec = co_await std::move(sleeper);
    const double slept = ms_since(start);
    std::printf("   a 1 s sleep on a context cancelled after 10 ms returned after %.1f ms: %s\n", slept,
                ec == goro::errc::canceled ? ec.message().c_str() : "WRONG");
    all_correct &= ec == goro::errc::canceled && slept >= 10.0 && slept < 900.0;
  }

  // 7. sync: goro::mutex and goro::once. 1,000 tasks add to a plain counter under a
  //    mutex; the lock may be held across a co_await (here a yield). 100 tasks need a
  //    config that goro::once loads exactly once; the others wait until it is loaded.
  {
    shared_counter counter;
    goro::wait_group wg;
    for (int i = 0; i < 1'000; ++i) {
      wg.add(1);
      goro::go(add_under_mutex, &counter, &wg);
    }
    co_await wg.wait();
    const auto total = co_await counter.read();
    std::printf("7. 1,000 tasks x 100 increments under a goro::mutex: %ld\n", total);
    all_correct &= total == 100'000;

    lazy_config config;
    std::atomic<int> saw_loaded = 0;
    for (int i = 0; i < 100; ++i) {
      wg.add(1);
      goro::go(use_config, &config, &saw_loaded, &wg);
    }
    co_await wg.wait();
    std::printf("   100 tasks called once.call(load): loaded %d time(s), %d tasks saw it loaded\n",
                config.loads.load(), saw_loaded.load());
    all_correct &= config.loads.load() == 1 && saw_loaded.load() == 100;
  }

  // 8. goro::group (Go's errgroup): members share a context. The first failure cancels
  //    it, so the slow member stops early, and wait() returns that failure once every
  //    member is done. A member that throws makes wait() rethrow.
  {
    const auto start = goro::clock::now();
    goro::group g;
    g.go(member, g.context(), 5ms, false);    // succeeds
    g.go(member, g.context(), 10ms, true);    // fails
    g.go(member, g.context(), 1'000ms, false);  // cancelled by the failure
    const std::error_code ec = co_await g.wait();
    const double ms = ms_since(start);
    std::printf("8. a group of 3 (5 ms ok, 10 ms failing, 1 s) ended after %.1f ms: \"%s\"\n", ms,
                ec.message().c_str());
    all_correct &= ec == std::errc::io_error && ms >= 10.0 && ms < 900.0;

    goro::group thrower;
    thrower.go(throw_after, thrower.context(), 5ms);
    thrower.go(member, thrower.context(), 1'000ms, false);
    bool caught = false;
    try {
      co_await thrower.wait();
    } catch (const std::exception& e) {
      caught = true;
      std::printf("   a member threw: wait() rethrew \"%s\"\n", e.what());
    }
    all_correct &= caught;
  }

  // 9. I/O through io_uring: a file round trip (Go's os.WriteFile / os.ReadFile), then a
  //    TCP exchange on loopback (net.Listen on port 0, net.Dial). Errors are values
  //    (goro::result: a value and a std::error_code), as in Go; each step checks its own.
  //    Calls that take a std::string or a context by value are started first and awaited
  //    by name (g++ 12 can destroy twice a by-value argument built in a co_await).
  {
    const std::string path =
        (std::filesystem::temp_directory_path() / ("goro-tour-" + std::to_string(::getpid()) + ".txt")).string();
    const std::string text = "line one\nline two\n";
    auto writing = goro::write_file(path, text);
    const std::error_code werr = co_await std::move(writing);
    auto reading = goro::read_file(path);
    auto [back, rerr] = co_await std::move(reading);
    // The same file through goro::file: open, size, read from an offset, close.
    auto opening = goro::file::open(path, goro::file::read_only);
    auto [f, oerr] = co_await std::move(opening);
    auto [size, serr] = co_await f.size();
    char tail[16] = {};
    auto [tail_n, perr] = co_await f.pread(tail, 9);  // from offset 9: "line two\n"
    const std::error_code cerr = co_await f.close();
    // goro has no remove: goro::blocking runs std::filesystem::remove on its pool of
    // threads, so this worker keeps running tasks (Go hands a blocking system call's
    // thread over the same way).
    std::error_code rmerr;
    co_await goro::blocking([&path, &rmerr] { std::filesystem::remove(path, rmerr); });
    const bool file_ok = !werr && !rerr && back == text && !oerr && !serr && size == text.size() && !perr &&
                         std::string_view(tail, tail_n) == "line two\n" && !cerr && !rmerr &&
                         !std::filesystem::exists(path);
    std::printf("9. wrote %zu bytes to %s, read back %zu: %s; pread at offset 9: \"%.*s\"; removed: %s\n",
                text.size(), path.c_str(), back.size(), back == text ? "identical" : "DIFFERENT",
                static_cast<int>(tail_n > 0 && tail[tail_n - 1] == '\n' ? tail_n - 1 : tail_n), tail,
                file_ok ? "yes" : "WRONG");
    if (werr || rerr || oerr || serr || perr || cerr || rmerr)
      std::printf("   error: write %s / read %s / open %s / size %s / pread %s / close %s / remove %s\n",
                  werr.message().c_str(), rerr.message().c_str(), oerr.message().c_str(),
                  serr.message().c_str(), perr.message().c_str(), cerr.message().c_str(),
                  rmerr.message().c_str());
    all_correct &= file_ok;

    auto listening = goro::net::listen_tcp("127.0.0.1:0");
    auto [ln, lerr] = co_await std::move(listening);
    bool net_ok = !lerr;
    if (net_ok) {
      const std::string where = ln.local_addr().to_string();  // the port the kernel chose
      auto [ctx, cancel] = goro::with_timeout(goro::background(), 5s);  // bounds every step
      auto server = goro::spawn(shout_back, &ln, ctx);
      auto dialing = goro::net::dial_tcp(ctx, where);
      auto [conn, derr] = co_await std::move(dialing);
      std::string answer;
      std::error_code ioerr = derr;
      if (!derr) {
        auto sending = conn.write_all("hello from the tour\n");
        auto [sent, swerr] = co_await std::move(sending);
        const std::error_code shut = co_await conn.shutdown();  // FIN: "that is all"
        ioerr = swerr ? swerr : shut;
        char buf[256];
        while (!ioerr) {
          auto [n, err] = co_await conn.read(ctx, buf);
          if (err) ioerr = err;
          if (err || n == 0) break;  // n == 0: the server closed after answering
          answer.append(buf, n);
        }
      }
      auto [server_read, server_err] = co_await std::move(server);
      std::printf("   TCP on %s: sent \"hello from the tour\", the server read %zu bytes and answered \"%.*s\"\n",
                  where.c_str(), server_read, static_cast<int>(answer.empty() ? 0 : answer.size() - 1),
                  answer.c_str());
      if (ioerr || server_err)
        std::printf("   error: client %s / server %s\n", ioerr.message().c_str(), server_err.message().c_str());
      net_ok = !ioerr && !server_err && server_read == 20 && answer == "HELLO FROM THE TOUR\n";
    } else {
      std::printf("   listen on 127.0.0.1:0: %s\n", lerr.message().c_str());
    }
    all_correct &= net_ok;
  }

  {  // 10. Seeing inside: a dump of two tasks parked on a channel, as SIGQUIT would print it
    goro::chan<int> jobs;
    goro::wait_group wg;
    for (int i = 0; i < 2; ++i) {
      wg.add(1);
      goro::go(wait_for_a_job, jobs, &wg);
    }
    // Let them run until both wait on `jobs`: a yield puts main behind them.
    std::size_t parked = 0;
    for (int round = 0; round < 1000 && parked < 2; ++round) {
      co_await goro::yield();
      parked = 0;
      for (const goro::task_info& t : goro::task_snapshot())
        parked += t.state == goro::task_state::parked && t.waiting_on == "chan recv";
    }
    std::printf("10. goro::dump_tasks while two workers wait for a job:\n");
    std::ostringstream dump;
    goro::dump_tasks(dump);
    std::printf("%s", dump.str().c_str());
    jobs.close();  // no jobs after all: they return
    co_await wg.wait();
    const bool dump_ok = parked == 2 && dump.str().find("[chan recv") != std::string::npos;
    std::printf("   %s\n", dump_ok ? "both shown parked on chan recv, with the lines they wait at and started at"
                                   : "WRONG: the waiting tasks were not both shown");
    all_correct &= dump_ok;
  }

  std::printf("\nlive tasks at the end: %zu (just main)\n", goro::num_tasks());
  co_return all_correct ? 0 : 1;
}

int main() { return goro::run(amain); }
