// goro::net (include/goro/net.hpp): addresses, name resolution, TCP and UDP sockets.
//
// Addresses
//   Numeric only: "a.b.c.d:port" (inet_pton AF_INET), "[v6]:port" or "[v6%zone]:port"
//   (AF_INET6, the zone an interface name or index) and ":port", the IPv6 any address.
//   An unbracketed IPv6 literal ("::1:80") is ambiguous and refused, as Go refuses it.
//   Anything else is a host name: resolve() hands it to getaddrinfo on goro::blocking.
//
// ":port" means every local address, IPv4 included (Go's ":8080")
//   1. It parses to [::]:port; a socket bound to it gets IPV6_V6ONLY cleared, so it is
//      dual-stack whatever net.ipv6.bindv6only says. An explicit "[::]:port" keeps the
//      system's default, as the user asked for that address family.
//   2. On a host without IPv6 (booted with ipv6.disable=1: socket(AF_INET6) fails with
//      EAFNOSUPPORT), the socket is made for 0.0.0.0:port instead (open_socket).
//   3. dial_tcp(":port") connects to the local host: Linux routes a connect to the
//      unspecified address to loopback, as Go's dial of ":port" does.
//
// Name resolution errors
//   getaddrinfo's EAI_* codes are returned in a category of their own named
//   "getaddrinfo" (gai_category below; messages from gai_strerror), except EAI_SYSTEM,
//   which is the errno it left, in std::system_category(). So a failed lookup reads as
//   "getaddrinfo: Name or service not known" and never poses as an unrelated errno.
//   Those with a portable meaning also match a std::errc condition:
//     EAI_AGAIN  -> resource_unavailable_try_again (the DNS server did not answer; retry)
//     EAI_MEMORY -> not_enough_memory
//     EAI_FAMILY -> address_family_not_supported
//     EAI_SERVICE, EAI_SOCKTYPE, EAI_BADFLAGS -> invalid_argument
//   EAI_NONAME / EAI_NODATA / EAI_ADDRFAMILY / EAI_FAIL (no such host, no address for
//   it) have no portable equivalent and match only themselves.
//   AI_ADDRCONFIG is not used: it makes "localhost" fail on a host whose only
//   interface is loopback (a container, a CI sandbox). Addresses of a family the host
//   cannot use fail at socket(2) or connect(2) instead, and the next one is tried.
//
// Which address is used
//   listen_tcp and udp_socket::bind take the first address that works, IPv4 ones first
//   (Go prefers IPv4 for listening, so "localhost:0" listens on 127.0.0.1, which every
//   client of "localhost" reaches). dial_tcp tries them in getaddrinfo's order (RFC 6724)
//   until one connects or the context ends.
//
// Sockets are created in blocking mode: io_uring's accept, connect, recv and send poll
// a socket that is not ready, whatever its O_NONBLOCK flag, and nothing in goro calls
// read(2) or write(2) on one directly. socket, setsockopt, bind, listen, getsockname,
// getpeername and the destructors' close are plain system calls on the worker: none of
// them waits for the network.
//
// Wait sites: every task here passes its caller's `where` to what it awaits (resolve's
// goro::blocking, dial_tcp's connect...), so goro::dump_tasks shows the user's line.
// dial_tcp's resolver task (below) is a real task in flight, left visible in dumps; its
// wait site is the dial_tcp call too.
//
// g++ 12 (README, "Known compiler issues"): tasks returned by calls that take a
// std::string by value, and awaitables built here, are named before they are awaited;
// getaddrinfo's lambda captures only references (trivially destructible) and is named.
#include "goro/net.hpp"

#include <arpa/inet.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "goro/select.hpp"
#include "log.hpp"

namespace goro::net {

namespace {

std::error_code errno_code() noexcept { return {errno, std::system_category()}; }
std::error_code invalid() noexcept { return std::make_error_code(std::errc::invalid_argument); }
std::error_code bad_fd() noexcept { return std::make_error_code(std::errc::bad_file_descriptor); }

// ---- getaddrinfo's errors

class gai_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "getaddrinfo"; }
  std::string message(int value) const override { return ::gai_strerror(value); }
  std::error_condition default_error_condition(int value) const noexcept override {
    switch (value) {
      case EAI_AGAIN: return std::errc::resource_unavailable_try_again;
      case EAI_MEMORY: return std::errc::not_enough_memory;
      case EAI_FAMILY: return std::errc::address_family_not_supported;
      case EAI_SERVICE:
      case EAI_SOCKTYPE:
      case EAI_BADFLAGS: return std::errc::invalid_argument;
      default: return {value, *this};
    }
  }
};

const std::error_category& gai_errors() noexcept {
  static const gai_category category;
  return category;
}

std::error_code gai_error(int code, int saved_errno) noexcept {
  if (code == EAI_SYSTEM) return {saved_errno ? saved_errno : EIO, std::system_category()};
  return {code, gai_errors()};
}

// ---- "host:port"

struct host_port_parts {
  std::string_view host;  // without brackets
  std::string_view port;
  bool bracketed = false;
};

// Splits "host:port", "[host]:port", ":port". False if the form is wrong (no port, an
// unbracketed IPv6 literal, text after "]" other than ":port").
bool split_host_port(std::string_view text, host_port_parts& out) noexcept {
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return false;
    out.host = text.substr(1, close - 1);
    out.port = text.substr(close + 2);
    out.bracketed = true;
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return false;
    out.host = text.substr(0, colon);
    out.port = text.substr(colon + 1);
    if (out.host.find(':') != std::string_view::npos) return false;  // "::1:80": brackets needed
    if (out.host.find_first_of("[]") != std::string_view::npos) return false;
  }
  return !out.port.empty();
}

// A decimal port 0..65535; false otherwise (a service name like "http" included).
bool parse_port(std::string_view text, std::uint16_t& port) noexcept {
  if (text.empty() || text.size() > 5) return false;
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value > 65535) return false;
  port = static_cast<std::uint16_t>(value);
  return true;
}

bool starts_any_form(std::string_view host_port) noexcept { return !host_port.empty() && host_port.front() == ':'; }

address ipv4_any(std::uint16_t port) noexcept {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  sin.sin_addr.s_addr = htonl(INADDR_ANY);
  return address::from(reinterpret_cast<const sockaddr*>(&sin), sizeof sin);
}

// ---- sockets

// A close-on-exec socket of `type` for a's family, owned by S (listener, tcp_conn,
// udp_socket). For the any address of ":port" (any_form): IPV6_V6ONLY cleared, and on a
// host without IPv6 a is switched to 0.0.0.0:port (see the top of this file).
template <class S>
S open_socket(address& a, int type, bool any_form, std::error_code& err) noexcept {
  int fd = ::socket(a.family(), type | SOCK_CLOEXEC, 0);
  if (fd < 0 && errno == EAFNOSUPPORT && any_form && a.family() == AF_INET6) {
    a = ipv4_any(a.port());
    fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
  }
  if (fd < 0) {
    err = errno_code();
    return S();
  }
  S s(fd);
  if (any_form && a.family() == AF_INET6) {
    const int off = 0;
    if (::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off) != 0) {
      err = errno_code();
      return S();
    }
  }
  return s;
}

// IPv4 addresses first, each family in resolve's order (see "Which address is used").
void prefer_ipv4(std::vector<address>& addrs) {
  std::stable_partition(addrs.begin(), addrs.end(), [](const address& a) { return a.family() == AF_INET; });
}

// dial_tcp's lookup when its context can end it early: the answer comes through `out`
// (capacity 1, so the send never waits even when nobody listens any more).
task<> resolve_into(std::string host_port, chan<result<std::vector<address>>> out, std::source_location where) {
  auto lookup = resolve(std::move(host_port), where);
  auto answer = co_await std::move(lookup);
  out.try_send(std::move(answer));
}

}  // namespace

// ---------------------------------------------------------------- address

result<address> address::parse(std::string_view text) noexcept {
  host_port_parts parts;
  std::uint16_t port = 0;
  if (!split_host_port(text, parts) || !parse_port(parts.port, port)) return {address(), invalid()};
  if (parts.host.empty() && !parts.bracketed) {  // ":port": the IPv6 any address
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(port);
    sin6.sin6_addr = in6addr_any;
    return {from(reinterpret_cast<const sockaddr*>(&sin6), sizeof sin6), {}};
  }
  // inet_pton wants a NUL-terminated string; anything longer than the longest literal
  // plus a zone is not numeric anyway.
  char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
  if (parts.host.size() >= sizeof buf) return {address(), invalid()};
  std::memcpy(buf, parts.host.data(), parts.host.size());
  buf[parts.host.size()] = '\0';
  if (!parts.bracketed) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    if (::inet_pton(AF_INET, buf, &sin.sin_addr) != 1) return {address(), invalid()};
    return {from(reinterpret_cast<const sockaddr*>(&sin), sizeof sin), {}};
  }
  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  sin6.sin6_port = htons(port);
  if (char* zone = std::strchr(buf, '%')) {  // "fe80::1%eth0" or "fe80::1%2"
    *zone++ = '\0';
    unsigned index = ::if_nametoindex(zone);
    if (index == 0) {
      const std::string_view z(zone);
      const auto [end, ec] = std::from_chars(z.data(), z.data() + z.size(), index);
      if (z.empty() || ec != std::errc() || end != z.data() + z.size()) return {address(), invalid()};
    }
    sin6.sin6_scope_id = index;
  }
  if (::inet_pton(AF_INET6, buf, &sin6.sin6_addr) != 1) return {address(), invalid()};
  return {from(reinterpret_cast<const sockaddr*>(&sin6), sizeof sin6), {}};
}

address address::from(const sockaddr* sa, socklen_t len) noexcept {
  address out;
  if (!sa || len == 0) return out;
  const auto n = std::min<socklen_t>(len, sizeof out.storage_);
  std::memcpy(&out.storage_, sa, n);
  out.len_ = n;
  return out;
}

std::string address::to_string() const {
  char ip[INET6_ADDRSTRLEN];
  switch (family()) {
    case AF_INET: {
      const auto* sin = reinterpret_cast<const sockaddr_in*>(&storage_);
      if (!::inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof ip)) return {};
      return std::string(ip) + ':' + std::to_string(port());
    }
    case AF_INET6: {
      const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&storage_);
      if (!::inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof ip)) return {};
      std::string out = "[";
      out += ip;
      if (sin6->sin6_scope_id != 0) {
        char name[IF_NAMESIZE];
        out += '%';
        out += ::if_indextoname(sin6->sin6_scope_id, name) ? std::string(name) : std::to_string(sin6->sin6_scope_id);
      }
      return out + "]:" + std::to_string(port());
    }
    default: return {};  // not an IP address (or empty)
  }
}

std::uint16_t address::port() const noexcept {
  switch (family()) {
    case AF_INET: return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
    case AF_INET6: return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
    default: return 0;
  }
}

// ---------------------------------------------------------------- resolve

task<result<std::vector<address>>> resolve(std::string host_port, std::source_location where) {
  std::vector<address> out;
  if (auto numeric = address::parse(host_port)) {
    out.push_back(numeric.value);
    co_return {std::move(out), {}};
  }
  host_port_parts parts;
  if (!split_host_port(host_port, parts)) co_return {std::move(out), invalid()};
  // A port in digits must be a valid one: glibc's getaddrinfo would take "99999" modulo
  // 65536. Anything else is a service name ("http"), which getaddrinfo looks up.
  std::uint16_t numeric_port = 0;
  const bool port_is_number = parse_port(parts.port, numeric_port);
  if (!port_is_number && parts.port.find_first_not_of("0123456789") == std::string_view::npos)
    co_return {std::move(out), invalid()};
  // NUL-terminated copies for getaddrinfo, in this frame (the lambda borrows them).
  const std::string host(parts.host), port(parts.port);
  auto lookup = [&host, &port, port_is_number]() -> result<std::vector<address>> {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;  // one entry per address, not one per socket type
    hints.ai_flags = (host.empty() ? AI_PASSIVE : 0)  // ":http": the any addresses
                     | (port_is_number ? AI_NUMERICSERV : 0);
    addrinfo* list = nullptr;
    errno = 0;
    const int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &list);
    if (rc != 0) return {{}, gai_error(rc, errno)};
    std::vector<address> found;
    for (const addrinfo* ai = list; ai; ai = ai->ai_next)
      if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6)
        found.push_back(address::from(ai->ai_addr, ai->ai_addrlen));
    ::freeaddrinfo(list);
    if (found.empty()) return {{}, gai_error(EAI_NONAME, 0)};
    return {std::move(found), {}};
  };
  auto call = goro::blocking(lookup, where);
  co_return co_await std::move(call);
}

// ---------------------------------------------------------------- socket_handle

socket_handle& socket_handle::operator=(socket_handle&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

socket_handle::~socket_handle() {
  if (fd_ >= 0) ::close(fd_);
}

address socket_handle::local_addr() const noexcept {
  address a;
  *a.size_ptr() = sizeof(sockaddr_storage);
  if (fd_ < 0 || ::getsockname(fd_, a.data(), a.size_ptr()) != 0) return address();
  return a;
}

task<std::error_code> socket_handle::close() {
  // Released first, so the destructor does not close the number again.
  const int fd = std::exchange(fd_, -1);
  if (fd < 0) co_return bad_fd();
  // close(2) directly, not IORING_OP_CLOSE: closing a socket without SO_LINGER never
  // waits, and ThreadSanitizer does not see a close made by the kernel on the ring's
  // behalf, so it reported a false race when an accept reused the number and another
  // worker closed it (test/stress/net_stress_test.cpp, resets).
  co_return ::close(fd) == 0 ? std::error_code() : errno_code();
}

// ---------------------------------------------------------------- tcp_conn

task<result<std::size_t>> tcp_conn::write_all(context ctx, std::string_view data, std::source_location where) const {
  return goro::detail::write_all(*this, std::move(ctx), data, where);
}

std::error_code tcp_conn::set_nodelay(bool on) const noexcept {
  const int value = on ? 1 : 0;
  if (::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &value, sizeof value) != 0) return errno_code();
  return {};
}

address tcp_conn::remote_addr() const noexcept {
  address a;
  *a.size_ptr() = sizeof(sockaddr_storage);
  if (fd_ < 0 || ::getpeername(fd_, a.data(), a.size_ptr()) != 0) return address();
  return a;
}

// ---------------------------------------------------------------- listen / dial

task<result<listener>> listen_tcp(std::string host_port, int backlog, std::source_location where) {
  const bool any_form = starts_any_form(host_port);
  auto resolving = resolve(std::move(host_port), where);
  auto [addrs, err] = co_await std::move(resolving);
  if (err) co_return {listener(), err};
  prefer_ipv4(addrs);
  std::error_code last;
  for (address a : addrs) {
    auto ln = open_socket<listener>(a, SOCK_STREAM, any_form, last);
    if (!ln.is_open()) continue;
    const int on = 1;
    if (::setsockopt(ln.fd(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
        ::bind(ln.fd(), a.data(), a.size()) != 0 || ::listen(ln.fd(), backlog) != 0) {
      last = errno_code();
      continue;
    }
    co_return {std::move(ln), {}};
  }
  co_return {listener(), last};
}

task<result<tcp_conn>> dial_tcp(context ctx, std::string host_port, std::source_location where) {
  if (auto done = ctx.err()) co_return {tcp_conn(), done};
  const bool any_form = starts_any_form(host_port);
  std::vector<address> addrs;
  if (auto numeric = address::parse(host_port)) {
    addrs.push_back(numeric.value);
  } else if (!goro::detail::canceler_of(ctx)) {  // nothing can end the lookup early
    auto resolving = resolve(std::move(host_port), where);
    auto [found, err] = co_await std::move(resolving);
    if (err) co_return {tcp_conn(), err};
    addrs = std::move(found);
  } else {
    // getaddrinfo cannot be interrupted: the lookup runs in a task of its own, and we
    // stop waiting for it when ctx ends (the task finishes on its own later).
    chan<result<std::vector<address>>> answer(1);
    goro::go(resolve_into, std::move(host_port), answer, where);
    auto r = co_await goro::select(answer.recv(), ctx.done());
    if (r.index() == 1) co_return {tcp_conn(), ctx.err()};
    auto& got = std::get<0>(r);  // never empty: answer is never closed
    if (got->err) co_return {tcp_conn(), got->err};
    addrs = std::move(got->value);
  }
  std::error_code last = std::make_error_code(std::errc::host_unreachable);  // no address at all
  for (const address& candidate : addrs) {
    address a = candidate;  // in this frame: the kernel reads it during the connect
    auto conn = open_socket<tcp_conn>(a, SOCK_STREAM, any_form, last);
    if (!conn.is_open()) continue;
    goro::detail::io_status op({IORING_OP_CONNECT, conn.fd(), reinterpret_cast<std::uintptr_t>(a.data()), 0, a.size(),
                                0, goro::detail::canceler_of(ctx)},
                               where);
    const std::error_code err = co_await op;
    if (!err) {
      static_cast<void>(conn.set_nodelay());  // Go's default for TCP (see net.hpp)
      co_return {std::move(conn), {}};
    }
    if (auto done = ctx.err()) co_return {tcp_conn(), done};
    last = err;
  }
  co_return {tcp_conn(), last};
}

// ---------------------------------------------------------------- udp_socket

task<result<udp_socket>> udp_socket::bind(std::string host_port, std::source_location where) {
  const bool any_form = starts_any_form(host_port);
  auto resolving = resolve(std::move(host_port), where);
  auto [addrs, err] = co_await std::move(resolving);
  if (err) co_return {udp_socket(), err};
  prefer_ipv4(addrs);
  std::error_code last;
  for (address a : addrs) {
    auto s = open_socket<udp_socket>(a, SOCK_DGRAM, any_form, last);
    if (!s.is_open()) continue;
    if (::bind(s.fd(), a.data(), a.size()) != 0) {
      last = errno_code();
      continue;
    }
    co_return {std::move(s), {}};
  }
  co_return {udp_socket(), last};
}

task<result<datagram>> udp_socket::recv_from(context ctx, std::span<char> buf, std::source_location where) const {
  if (fd_ < 0) co_return {datagram(), bad_fd()};
  // The message header, the vector and the sender's address are written by the kernel:
  // they live in this frame until the completion.
  datagram d;
  iovec iov{buf.data(), buf.size()};
  msghdr msg{};
  msg.msg_name = d.from.data();
  msg.msg_namelen = sizeof(sockaddr_storage);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  goro::detail::io_bytes op(
      {IORING_OP_RECVMSG, fd_, reinterpret_cast<std::uintptr_t>(&msg), 1, 0, 0, goro::detail::canceler_of(ctx)}, where);
  auto [n, err] = co_await op;
  if (err) co_return {datagram(), err};
  // Without MSG_TRUNC in the flags the result is the bytes stored, never more than buf
  // (msg.msg_flags has MSG_TRUNC when the rest of the datagram was dropped).
  d.size = std::min(n, buf.size());
  *d.from.size_ptr() = msg.msg_namelen;
  co_return {std::move(d), {}};
}

task<result<std::size_t>> udp_socket::send_to(context ctx, address to, std::string_view data,
                                              std::source_location where) const {
  if (fd_ < 0) co_return {0, bad_fd()};
  iovec iov{const_cast<char*>(data.data()), data.size()};
  msghdr msg{};
  msg.msg_name = to.data();
  msg.msg_namelen = to.size();
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  goro::detail::io_bytes op({IORING_OP_SENDMSG, fd_, reinterpret_cast<std::uintptr_t>(&msg), 1, 0, MSG_NOSIGNAL,
                             goro::detail::canceler_of(ctx)},
                            where);
  co_return co_await op;
}

// ---------------------------------------------------------------- serve's policy

namespace detail {

bool is_resource_shortage(std::error_code err) noexcept {
  return err == std::errc::too_many_files_open || err == std::errc::too_many_files_open_in_system ||
         err == std::errc::no_buffer_space || err == std::errc::not_enough_memory;
}

std::chrono::milliseconds shortage_backoff(std::error_code err, std::chrono::milliseconds previous,
                                           const address& where) {
  // Go's net/http Server.Serve: 5 ms, doubling, capped at 1 s.
  constexpr std::chrono::milliseconds first{5}, cap{1000};
  if (previous.count() == 0) {
    goro::detail::log().warn(
        "goro::net::serve on {}: accept failed: {}; backing off until descriptors free up (logged once)",
        where.to_string(), err.message());
    return first;
  }
  return std::min(previous * 2, cap);
}

void log_shortage_over(const address& where) {
  goro::detail::log().info("goro::net::serve on {}: accepting again", where.to_string());
}

}  // namespace detail

}  // namespace goro::net
