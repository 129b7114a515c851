// TCP and UDP through io_uring: Go's net package.
//
//   auto [ln, err] = co_await goro::net::listen_tcp("127.0.0.1:0");
//   std::cout << ln.local_addr().to_string();              // the ephemeral port chosen
//   co_await goro::net::serve(ctx, ln, [](goro::net::tcp_conn c) -> goro::task<> {
//     char buf[4096];
//     for (;;) {
//       auto [n, err] = co_await c.read(buf);
//       if (err || n == 0) co_return;                       // error, or the peer closed
//       if ((co_await c.write_all({buf, n})).err) co_return;
//     }
//   });
//
//   auto [conn, err] = co_await goro::net::dial_tcp(ctx, "localhost:8080");
//
// Contract
//   - Addresses are "host:port", "[ipv6]:port" or ":port" (every local address: the
//     IPv6 any address accepting IPv4 too, or 0.0.0.0 on a host without IPv6). A host
//     that is not a numeric IP is resolved with getaddrinfo on goro::blocking; its errors
//     are in a category named "getaddrinfo" (gai_strerror's messages). listen_tcp and
//     udp_socket::bind take the first resolved address that works, IPv4 first (as Go:
//     "localhost:0" listens on 127.0.0.1). Port 0 asks the kernel for an ephemeral port:
//     listener::local_addr() tells which.
//   - Accepted and dialled connections have TCP_NODELAY set, as in Go
//     (set_nodelay(false) turns Nagle's algorithm back on).
//   - listener, tcp_conn and udp_socket own their descriptor (move-only) and close it
//     when destroyed; close() closes it at once (close(2)) and reports the error.
//   - Reads return the bytes received, 0 when the peer closed its side. Writes never
//     raise SIGPIPE: a write to a closed or reset peer returns
//     std::errc::broken_pipe or connection_reset. Nothing is buffered in user space: a
//     write waits until the kernel took the data, so a peer that stops reading stops
//     its writer (TCP flow control), never grows memory.
//   - Every operation that can wait has an overload taking a context first (see
//     goro/io.hpp). dial_tcp always takes one: it ends with errc::deadline_exceeded at
//     the context's deadline, trying the resolved addresses in order until then.
//   - serve(ctx, ln, handler) is the accept loop: it starts goro::go(handler, conn) for
//     each accepted connection, stops accepting once ctx is done, then waits for every
//     handler it started and returns. When the process runs out of descriptors
//     (EMFILE, ENFILE) or memory for sockets, it logs once per episode, backs off (5 ms
//     doubling up to 1 s, as Go's net/http) and accepts again once descriptors free up.
//     Other accept errors on a connection (ECONNABORTED...) are skipped.
//   - Every call that can wait takes a defaulted last parameter, `where`: the caller's
//     line, the wait site goro::dump_tasks shows (goro/io.hpp). The tasks here (resolve,
//     dial_tcp, write_all, serve...) pass it on to what they await.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <source_location>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "goro/io.hpp"
#include "goro/spawn.hpp"
#include "goro/wait_group.hpp"

namespace goro::net {

// An IPv4 or IPv6 socket address.
class address {
 public:
  address() noexcept = default;
  // A numeric "ip:port", "[ipv6]:port" or ":port" (the IPv6 any address, which also
  // accepts IPv4); std::errc::invalid_argument otherwise.
  static result<address> parse(std::string_view text) noexcept;
  static address from(const sockaddr* sa, socklen_t len) noexcept;

  std::string to_string() const;  // "127.0.0.1:80", "[::1]:80"
  std::uint16_t port() const noexcept;
  int family() const noexcept { return storage_.ss_family; }
  bool valid() const noexcept { return len_ != 0; }
  const sockaddr* data() const noexcept { return reinterpret_cast<const sockaddr*>(&storage_); }
  sockaddr* data() noexcept { return reinterpret_cast<sockaddr*>(&storage_); }
  socklen_t size() const noexcept { return len_; }
  socklen_t* size_ptr() noexcept { return &len_; }  // for the kernel to fill in

 private:
  sockaddr_storage storage_{};
  socklen_t len_ = 0;
};

// Every address "host:port" names, numeric ones without a lookup (Go's net.ResolveTCPAddr).
task<result<std::vector<address>>> resolve(std::string host_port,
                                           std::source_location where = std::source_location::current());

// A descriptor closed when destroyed. The base of listener, tcp_conn and udp_socket.
class socket_handle {
 public:
  socket_handle() noexcept = default;
  explicit socket_handle(int fd) noexcept : fd_(fd) {}
  socket_handle(socket_handle&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  socket_handle& operator=(socket_handle&& other) noexcept;
  ~socket_handle();

  bool is_open() const noexcept { return fd_ >= 0; }
  int fd() const noexcept { return fd_; }
  address local_addr() const noexcept;
  task<std::error_code> close();

 protected:
  int fd_ = -1;
};

class tcp_conn : public socket_handle {
 public:
  using socket_handle::socket_handle;

  detail::io_bytes read(std::span<char> buf,
                        std::source_location where = std::source_location::current()) const noexcept {
    return read(context(), buf, where);
  }
  detail::io_bytes read(const context& ctx, std::span<char> buf,
                        std::source_location where = std::source_location::current()) const noexcept {
    return detail::io_bytes({IORING_OP_RECV, fd_, reinterpret_cast<std::uintptr_t>(buf.data()), clamp(buf.size()), 0, 0,
                             detail::canceler_of(ctx)},
                            where);
  }
  detail::io_bytes write(std::string_view data,
                         std::source_location where = std::source_location::current()) const noexcept {
    return write(context(), data, where);
  }
  detail::io_bytes write(const context& ctx, std::string_view data,
                         std::source_location where = std::source_location::current()) const noexcept {
    return detail::io_bytes({IORING_OP_SEND, fd_, reinterpret_cast<std::uintptr_t>(data.data()), clamp(data.size()), 0,
                             MSG_NOSIGNAL, detail::canceler_of(ctx)},
                            where);
  }
  // Writes all of data; on an error, value is the bytes written before it.
  task<result<std::size_t>> write_all(std::string_view data,
                                      std::source_location where = std::source_location::current()) const {
    return write_all(context(), data, where);
  }
  task<result<std::size_t>> write_all(context ctx, std::string_view data,
                                      std::source_location where = std::source_location::current()) const;
  // Half-close: SHUT_WR sends FIN after the data written so far.
  detail::io_status shutdown(int how = SHUT_WR,
                             std::source_location where = std::source_location::current()) const noexcept {
    return detail::io_status({IORING_OP_SHUTDOWN, fd_, 0, static_cast<std::uint32_t>(how)}, where);
  }
  std::error_code set_nodelay(bool on = true) const noexcept;
  address remote_addr() const noexcept;

 private:
  static std::uint32_t clamp(std::size_t n) noexcept { return n > 0x7ffff000u ? 0x7ffff000u : static_cast<std::uint32_t>(n); }
};

// The awaitable of listener::accept: the new connection, with O_CLOEXEC.
struct to_conn {
  result<tcp_conn> operator()(const detail::io_op& op) const noexcept {
    if (op.res < 0) return {tcp_conn(), detail::io_error(op)};
    tcp_conn conn(op.res);
    static_cast<void>(conn.set_nodelay());  // Go's default for TCP (see the contract)
    return {std::move(conn), {}};
  }
};
using accept_awaitable = detail::io_awaitable<to_conn>;

class listener : public socket_handle {
 public:
  using socket_handle::socket_handle;
  accept_awaitable accept(std::source_location where = std::source_location::current()) const noexcept {
    return accept(context(), where);
  }
  accept_awaitable accept(const context& ctx,
                          std::source_location where = std::source_location::current()) const noexcept {
    return accept_awaitable({IORING_OP_ACCEPT, fd_, 0, 0, 0, SOCK_CLOEXEC, detail::canceler_of(ctx)}, where);
  }
};

// Listens on "host:port" (SO_REUSEADDR; the backlog is capped by net.core.somaxconn).
task<result<listener>> listen_tcp(std::string host_port, int backlog = 4096,
                                  std::source_location where = std::source_location::current());
// Connects to "host:port" before ctx's deadline.
task<result<tcp_conn>> dial_tcp(context ctx, std::string host_port,
                                std::source_location where = std::source_location::current());

// A datagram received by udp_socket::recv_from.
struct datagram {
  std::size_t size = 0;  // bytes stored in the buffer (a longer datagram is truncated)
  address from;
};

class udp_socket : public socket_handle {
 public:
  using socket_handle::socket_handle;
  // A socket bound to "host:port" (port 0: ephemeral); ":0" for any local address.
  static task<result<udp_socket>> bind(std::string host_port,
                                       std::source_location where = std::source_location::current());

  task<result<datagram>> recv_from(std::span<char> buf,
                                   std::source_location where = std::source_location::current()) const {
    return recv_from(context(), buf, where);
  }
  task<result<datagram>> recv_from(context ctx, std::span<char> buf,
                                   std::source_location where = std::source_location::current()) const;
  task<result<std::size_t>> send_to(const address& to, std::string_view data,
                                    std::source_location where = std::source_location::current()) const {
    return send_to(context(), to, data, where);
  }
  task<result<std::size_t>> send_to(context ctx, address to, std::string_view data,
                                    std::source_location where = std::source_location::current()) const;
};

namespace detail {
// serve's accept-error policy (lib/net.cpp): whether err is a shortage of descriptors
// or socket memory, worth waiting out.
bool is_resource_shortage(std::error_code err) noexcept;
// Logs the first shortage of an episode; returns the next back-off delay.
std::chrono::milliseconds shortage_backoff(std::error_code err, std::chrono::milliseconds previous,
                                           const address& where);
void log_shortage_over(const address& where);
}  // namespace detail

// The accept loop (see the contract above). handler is called as handler(tcp_conn) and
// returns goro::task<> (or void); it is copied into each connection's task. Its accepts
// show `where` as their wait site.
template <class Handler>
task<std::error_code> serve(context ctx, const listener& ln, Handler handler,
                            std::source_location where = std::source_location::current()) {
  // Shared with the handlers: one destroyed after this frame (goro::run ending) still
  // calls done() on a live group.
  auto handlers = std::make_shared<wait_group>();
  // Each connection's task.
  const auto run_handler = [](Handler h, tcp_conn c, std::shared_ptr<wait_group> wg) -> task<> {
    struct done_on_exit {
      wait_group& wg;
      ~done_on_exit() { wg.done(); }
    } done{*wg};
    if constexpr (std::is_void_v<decltype(h(std::move(c)))>)
      h(std::move(c));
    else
      co_await h(std::move(c));
  };
  std::chrono::milliseconds backoff{0};
  std::error_code result;
  while (!ctx.err()) {
    auto [conn, err] = co_await ln.accept(ctx, where);
    if (!err) {
      if (backoff.count() != 0) detail::log_shortage_over(ln.local_addr());
      backoff = std::chrono::milliseconds(0);
      handlers->add(1);
      // Started "at" serve's caller, so that a task dump tells one server's connections
      // from another's (the template arguments make `where` the location, not an argument).
      goro::go<decltype(run_handler)&, Handler&, tcp_conn, std::shared_ptr<wait_group>&>(
          run_handler, handler, std::move(conn), handlers, where);
      continue;
    }
    if (ctx.err()) break;
    if (detail::is_resource_shortage(err)) {
      backoff = detail::shortage_backoff(err, backoff, ln.local_addr());
      if (co_await goro::sleep_for(ctx, backoff)) break;
      continue;
    }
    if (err == std::errc::bad_file_descriptor || err == std::errc::invalid_argument) {
      result = err;  // the listener is closed or not listening: nothing more will come
      break;
    }
  }
  co_await handlers->wait();
  co_return result;
}

}  // namespace goro::net
