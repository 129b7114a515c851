// tcp_load: the load client of the tcp_echo benchmark. One client drives goro's server
// (perf/tcp_echo_server.cpp) and Go's (perf/go/tcp_echo.go) alike, so it uses no goro:
// one thread, plain epoll, non-blocking sockets.
//
//   tcp_load --addr 127.0.0.1:PORT [--conns 64] [--seconds 5] [--size 64] [--name tcp_echo]
//
// prints, in perf/run.py's `<metric> <value> <unit>` format:
//   <name> <round trips completed per second> req/s
//   <name>_p50 <median round-trip latency> us
//   <name>_p99 <99th percentile> us
//
// Design
//   1. Connect every connection first (blocking connect, then TCP_NODELAY and O_NONBLOCK,
//      as Go's and goro's servers set TCP_NODELAY on their side), so connection set-up is
//      not measured. A refused or failed connect exits 1.
//   2. Start the clock, then send each connection's first request. Each connection is a
//      closed loop: send `size` bytes, wait until all `size` bytes of the echo are back,
//      send the next. The latency of a round trip is steady_clock from its first write to
//      the read that completes its echo.
//   3. The bytes of round trip k of connection i are a pattern of (i, k), so an echo that
//      carries wrong bytes (reordered, or from another connection) is caught: the process
//      exits 1. So does a server that closes a connection or resets it.
//   4. Only round trips completed before the deadline count; req/s is their number over
//      the run's length. Round trips in flight at the deadline are dropped, and the
//      sockets are reset (SO_LINGER 0), so runs do not pile up TIME_WAIT sockets; the
//      servers see ECONNRESET and end the connection's task or goroutine.
//   5. Every latency is kept (8 bytes per round trip, a few MB for a 5 s run) and the
//      percentiles are picked by nth_element: exact, no histogram bucket error.
//   6. Level-triggered epoll: EPOLLIN always, EPOLLOUT only while a request is partly
//      written (a 64-byte request always fits in the emptied send buffer, so in practice
//      never). No warm-up: both servers start cold, and 5 s is long against their first
//      allocations.
//
// The client shares the machine's cores with the server (2 cores here): its own cost per
// round trip (an epoll_wait share, a read, a write) caps the figures of both servers alike.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "tcp_load: %s\n", what);
  std::exit(1);
}

[[noreturn]] void die_errno(const char* what) {
  std::fprintf(stderr, "tcp_load: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

struct options {
  std::string addr;
  long conns = 64;
  double seconds = 5;
  long size = 64;
  std::string name = "tcp_echo";
};

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: tcp_load --addr IP:PORT [--conns N] [--seconds S] [--size BYTES] [--name METRIC]\n");
  std::exit(2);
}

options parse_options(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (i + 1 >= argc) usage();
    const char* value = argv[++i];
    char* end = nullptr;
    if (arg == "--addr") {
      o.addr = value;
    } else if (arg == "--conns") {
      o.conns = std::strtol(value, &end, 10);
    } else if (arg == "--seconds") {
      o.seconds = std::strtod(value, &end);
    } else if (arg == "--size") {
      o.size = std::strtol(value, &end, 10);
    } else if (arg == "--name") {
      o.name = value;
    } else {
      usage();
    }
    if (end != nullptr && *end != '\0') usage();
  }
  if (o.addr.empty() || o.conns < 1 || o.conns > 100'000 || !(o.seconds > 0) || o.seconds > 600 || o.size < 1 ||
      o.size > (1 << 20))
    usage();
  return o;
}

// "a.b.c.d:port" -> sockaddr_in. IPv4 only: the benchmark servers listen on 127.0.0.1.
sockaddr_in parse_addr(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) die("--addr must be IPv4:PORT");
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  const std::string host = text.substr(0, colon);
  if (inet_pton(AF_INET, host.c_str(), &sa.sin_addr) != 1) die("--addr must be IPv4:PORT");
  char* end = nullptr;
  const long port = std::strtol(text.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || port < 1 || port > 65535) die("--addr has a bad port");
  sa.sin_port = htons(static_cast<std::uint16_t>(port));
  return sa;
}

// Byte `offset` of round trip `seq` of connection `index`.
inline char pattern(std::uint32_t index, std::uint64_t seq, std::uint32_t offset) {
  return static_cast<char>(index * 131u + static_cast<std::uint32_t>(seq) * 7u + offset);
}

struct connection {
  int fd = -1;
  std::uint32_t sent = 0;      // bytes of the current request written
  std::uint32_t received = 0;  // bytes of its echo read and checked
  std::uint64_t seq = 0;       // round trips started on this connection, minus one
  clock_type::time_point start;
  bool want_out = false;       // EPOLLOUT registered: the request is partly written
};

class load {
 public:
  load(const options& o) : opt_(o), size_(static_cast<std::uint32_t>(o.size)), scratch_(size_) {}

  void connect_all(const sockaddr_in& sa);
  void run();
  void report() const;

 private:
  void set_events(std::uint32_t index, bool out);
  void start_request(std::uint32_t index, clock_type::time_point now);
  void write_more(std::uint32_t index);
  // Reads what is there; returns true when the echo is complete.
  bool read_more(std::uint32_t index);

  const options& opt_;
  const std::uint32_t size_;
  std::vector<char> scratch_;
  std::vector<connection> conns_;
  std::vector<std::uint64_t> latencies_ns_;
  std::vector<std::uint64_t> per_conn_;  // round trips completed per connection
  int epoll_fd_ = -1;
  double elapsed_s_ = 0;
};

void load::connect_all(const sockaddr_in& sa) {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) die_errno("epoll_create1");
  conns_.resize(static_cast<std::size_t>(opt_.conns));
  per_conn_.assign(conns_.size(), 0);
  for (std::uint32_t i = 0; i < conns_.size(); ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die_errno("socket");
    if (connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) die_errno("connect");
    const int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) die_errno("TCP_NODELAY");
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) die_errno("O_NONBLOCK");
    conns_[i].fd = fd;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = i;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) die_errno("epoll_ctl");
  }
}

void load::set_events(std::uint32_t index, bool out) {
  connection& c = conns_[index];
  if (c.want_out == out) return;
  c.want_out = out;
  epoll_event ev{};
  ev.events = EPOLLIN | (out ? EPOLLOUT : 0u);
  ev.data.u32 = index;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev) != 0) die_errno("epoll_ctl");
}

void load::start_request(std::uint32_t index, clock_type::time_point now) {
  connection& c = conns_[index];
  c.sent = 0;
  c.received = 0;
  c.start = now;
  write_more(index);
}

void load::write_more(std::uint32_t index) {
  connection& c = conns_[index];
  while (c.sent < size_) {
    const std::uint32_t n = size_ - c.sent;
    for (std::uint32_t k = 0; k < n; ++k) scratch_[k] = pattern(index, c.seq, c.sent + k);
    const ssize_t w = send(c.fd, scratch_.data(), n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      die_errno("send");
    }
    c.sent += static_cast<std::uint32_t>(w);
  }
  set_events(index, c.sent < size_);
}

bool load::read_more(std::uint32_t index) {
  connection& c = conns_[index];
  while (c.received < size_) {
    const ssize_t r = recv(c.fd, scratch_.data(), size_ - c.received, 0);
    if (r < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
      if (errno == EINTR) continue;
      die_errno("recv");
    }
    if (r == 0) die("the server closed a connection");
    if (c.received + static_cast<std::uint32_t>(r) > c.sent) die("an echo byte arrived before it was sent");
    for (std::uint32_t k = 0; k < static_cast<std::uint32_t>(r); ++k) {
      if (scratch_[k] != pattern(index, c.seq, c.received + k)) die("an echo does not match its request");
    }
    c.received += static_cast<std::uint32_t>(r);
  }
  return true;
}

void load::run() {
  latencies_ns_.reserve(1 << 20);
  std::vector<epoll_event> events(1024);
  const auto t0 = clock_type::now();
  const auto deadline = t0 + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(opt_.seconds));
  for (std::uint32_t i = 0; i < conns_.size(); ++i) start_request(i, clock_type::now());
  for (;;) {
    auto now = clock_type::now();
    if (now >= deadline) break;
    const auto left_ms = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
    const int n = epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), static_cast<int>(left_ms));
    if (n < 0) {
      if (errno == EINTR) continue;
      die_errno("epoll_wait");
    }
    for (int e = 0; e < n; ++e) {
      const std::uint32_t index = events[static_cast<std::size_t>(e)].data.u32;
      const std::uint32_t what = events[static_cast<std::size_t>(e)].events;
      if ((what & EPOLLOUT) != 0) write_more(index);
      if ((what & (EPOLLIN | EPOLLERR | EPOLLHUP)) == 0) continue;
      if (!read_more(index)) continue;  // an error or EOF exits in read_more
      now = clock_type::now();
      if (now >= deadline) continue;  // completed after the deadline: not counted
      connection& c = conns_[index];
      latencies_ns_.push_back(static_cast<std::uint64_t>(std::chrono::nanoseconds(now - c.start).count()));
      ++per_conn_[index];
      ++c.seq;
      start_request(index, now);
    }
  }
  elapsed_s_ = std::chrono::duration<double>(deadline - t0).count();
  const linger reset{1, 0};
  for (auto& c : conns_) {
    setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    close(c.fd);
  }
  close(epoll_fd_);
}

double percentile_us(std::vector<std::uint64_t>& v, double p) {
  const auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return static_cast<double>(v[k]) / 1e3;
}

void load::report() const {
  if (latencies_ns_.empty()) die("no round trip completed");
  const auto [lo, hi] = std::minmax_element(per_conn_.begin(), per_conn_.end());
  if (*lo == 0) die("a connection completed no round trip");
  std::vector<std::uint64_t> lat = latencies_ns_;
  const double p50 = percentile_us(lat, 0.50);
  const double p99 = percentile_us(lat, 0.99);
  std::printf("# %zu connections, %zu round trips of %u bytes in %.1f s; per connection min %llu max %llu\n",
              conns_.size(), latencies_ns_.size(), size_, elapsed_s_, static_cast<unsigned long long>(*lo),
              static_cast<unsigned long long>(*hi));
  std::printf("%s %.0f req/s\n", opt_.name.c_str(), static_cast<double>(latencies_ns_.size()) / elapsed_s_);
  std::printf("%s_p50 %.1f us\n", opt_.name.c_str(), p50);
  std::printf("%s_p99 %.1f us\n", opt_.name.c_str(), p99);
}

// 1,000 connections need more descriptors than a 1024 soft limit leaves: raise it to the
// hard limit, as Go's runtime does for its processes.
void raise_fd_limit(long conns) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < static_cast<rlim_t>(conns) + 16) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const options opt = parse_options(argc, argv);
  const sockaddr_in sa = parse_addr(opt.addr);
  raise_fd_limit(opt.conns);
  load l(opt);
  l.connect_all(sa);
  l.run();
  l.report();
  return 0;
}
