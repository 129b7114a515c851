// Files through io_uring: Go's os.File.
//
//   auto [f, err] = co_await goro::file::open("/tmp/x", goro::file::write_only | goro::file::create);
//   if (err) ...
//   co_await f.write_all("hello\n");
//   co_await f.fsync();
//   auto [text, err2] = co_await goro::read_file("/tmp/x");
//
// Contract
//   - goro::file owns one descriptor (move-only). The destructor closes it (with
//     close(2), not through the ring); close() closes it through the ring and reports
//     the error, after which the file is empty (is_open() false).
//   - read/write use and advance the file position; pread/pwrite take an offset and
//     leave it alone. Each returns the bytes transferred (read: 0 at end of file), or
//     an error (see goro/io.hpp). read_all reads from the current position to the end;
//     write_all writes everything or returns the error and how much it wrote.
//   - read, write, pread, pwrite, read_all and write_all have an overload taking a
//     context first: it ends with ctx.err() when the context is done first (see
//     goro/io.hpp for what a cancellation keeps). open, fsync, size and close do not
//     wait on anything a context should cut short.
//   - Operations on a file that is not open return std::errc::bad_file_descriptor.
//   - Each operation's last parameter, `where`, defaults to the caller's line: the wait
//     site goro::dump_tasks shows (goro/io.hpp).
#pragma once

#include <fcntl.h>

#include <cstdint>
#include <source_location>
#include <span>
#include <string>
#include <string_view>

#include "goro/io.hpp"

namespace goro {

class file {
 public:
  // open flags (combine with |); exactly one of read_only, write_only, read_write.
  static constexpr int read_only = O_RDONLY, write_only = O_WRONLY, read_write = O_RDWR;
  static constexpr int create = O_CREAT, truncate = O_TRUNC, append = O_APPEND, exclusive = O_EXCL;

  file() noexcept = default;
  explicit file(int fd) noexcept : fd_(fd) {}  // adopts fd
  file(file&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  file& operator=(file&& other) noexcept;
  ~file();

  // Opens (O_CLOEXEC always added). mode applies when the file is created.
  static task<result<file>> open(std::string path, int flags = read_only, unsigned mode = 0644,
                                 std::source_location where = std::source_location::current());

  bool is_open() const noexcept { return fd_ >= 0; }
  int fd() const noexcept { return fd_; }
  int release() noexcept { return std::exchange(fd_, -1); }  // gives up ownership

  detail::io_bytes read(std::span<char> buf,
                        std::source_location where = std::source_location::current()) const noexcept {
    return read(context(), buf, where);
  }
  detail::io_bytes read(const context& ctx, std::span<char> buf,
                        std::source_location where = std::source_location::current()) const noexcept {
    return rw(IORING_OP_READ, ctx, buf.data(), buf.size(), ~std::uint64_t{0}, where);
  }
  detail::io_bytes pread(std::span<char> buf, std::uint64_t offset,
                         std::source_location where = std::source_location::current()) const noexcept {
    return pread(context(), buf, offset, where);
  }
  detail::io_bytes pread(const context& ctx, std::span<char> buf, std::uint64_t offset,
                         std::source_location where = std::source_location::current()) const noexcept {
    return rw(IORING_OP_READ, ctx, buf.data(), buf.size(), offset, where);
  }
  detail::io_bytes write(std::string_view data,
                         std::source_location where = std::source_location::current()) const noexcept {
    return write(context(), data, where);
  }
  detail::io_bytes write(const context& ctx, std::string_view data,
                         std::source_location where = std::source_location::current()) const noexcept {
    return rw(IORING_OP_WRITE, ctx, data.data(), data.size(), ~std::uint64_t{0}, where);
  }
  detail::io_bytes pwrite(std::string_view data, std::uint64_t offset,
                          std::source_location where = std::source_location::current()) const noexcept {
    return pwrite(context(), data, offset, where);
  }
  detail::io_bytes pwrite(const context& ctx, std::string_view data, std::uint64_t offset,
                          std::source_location where = std::source_location::current()) const noexcept {
    return rw(IORING_OP_WRITE, ctx, data.data(), data.size(), offset, where);
  }
  // The whole rest of the file. On an error, value holds what was read before it.
  task<result<std::string>> read_all(context ctx = {},
                                     std::source_location where = std::source_location::current()) const;
  // Writes all of data; on an error, value is the bytes written before it.
  task<result<std::size_t>> write_all(std::string_view data,
                                      std::source_location where = std::source_location::current()) const {
    return write_all(context(), data, where);
  }
  task<result<std::size_t>> write_all(context ctx, std::string_view data,
                                      std::source_location where = std::source_location::current()) const;
  detail::io_status fsync(std::source_location where = std::source_location::current()) const noexcept;
  task<result<std::uint64_t>> size(std::source_location where = std::source_location::current()) const;
  task<std::error_code> close(std::source_location where = std::source_location::current());

 private:
  detail::io_bytes rw(std::uint8_t opcode, const context& ctx, const void* p, std::size_t n, std::uint64_t offset,
                      const std::source_location& where) const noexcept {
    return detail::io_bytes(
        {opcode, fd_, reinterpret_cast<std::uintptr_t>(p), clamp_len(n), offset, 0, detail::canceler_of(ctx)}, where);
  }
  static std::uint32_t clamp_len(std::size_t n) noexcept { return n > 0x7ffff000u ? 0x7ffff000u : static_cast<std::uint32_t>(n); }

  int fd_ = -1;
};

// Go's os.ReadFile / os.WriteFile.
task<result<std::string>> read_file(std::string path, std::source_location where = std::source_location::current());
task<std::error_code> write_file(std::string path, std::string data, unsigned mode = 0644,
                                 std::source_location where = std::source_location::current());

}  // namespace goro
