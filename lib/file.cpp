// goro::file (include/goro/file.hpp): Go's os.File over the worker's io_uring ring.
//
// Every operation is one ring operation (detail::io_awaitable, lib/io.cpp) or a loop of
// them. The only system calls made on the worker itself are the destructor's close(2)
// and read_all's fstat(2) and lseek(2), none of which waits for a device (fstat reads the
// inode the open descriptor pins; Go's os.ReadFile does the same Stat before reading).
//
// Coroutines and their buffers
//   An operation's buffers must stay put until its completion (the kernel writes them):
//   open's path, size's `struct statx`, read_all's string. Each lives in the frame of the
//   coroutine that awaits the operation, so it outlives the operation even when goro::run
//   ends mid-flight (lib/io.cpp drains the ring before any frame is destroyed).
//
// Wait sites: every task here passes its caller's `where` to the operations it awaits,
// so goro::dump_tasks shows the user's line, not one of this file.
//
// g++ 12 (README, "Known compiler issues"): awaitables built here are named before they
// are awaited, tasks returned by calls that take a std::string by value are named too,
// and no co_await is the bare condition of an if or while.
//
// Rejected: reading the whole file with one read of its stat size. Files that grow, or
// report a size of 0 (/proc, pipes, character devices), must still be read to the end,
// so read_all loops until a read returns 0 and uses the size only as a first guess.
#include "goro/file.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

namespace goro {

namespace {

std::error_code bad_fd() noexcept { return std::make_error_code(std::errc::bad_file_descriptor); }

// The converter of file::open's awaitable.
struct to_file {
  result<file> operator()(const detail::io_op& op) const noexcept {
    if (op.res >= 0) return {file(op.res), {}};
    return {file(), detail::io_error(op)};
  }
};

// read_all's first buffer when the size is unknown (0: /proc, pipes), and its growth
// floor. Picked: Go's os.ReadFile starts at 512 bytes.
constexpr std::size_t min_read = 512;

}  // namespace

file& file::operator=(file&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

file::~file() {
  // close(2)'s error is lost here, as with Go's finalizer; call close() to see it.
  if (fd_ >= 0) ::close(fd_);
}

task<result<file>> file::open(std::string path, int flags, unsigned mode, std::source_location where) {
  // path lives in this frame until the completion: the kernel reads it at submission
  // (or later, when the open is punted to an io-wq thread).
  detail::io_awaitable<to_file> op({IORING_OP_OPENAT, AT_FDCWD, reinterpret_cast<std::uintptr_t>(path.c_str()), mode, 0,
                                    static_cast<std::uint32_t>(flags | O_CLOEXEC)},
                                   where);
  co_return co_await op;
}

task<result<std::string>> file::read_all(context ctx, std::source_location where) const {
  std::string out;
  if (fd_ < 0) co_return {std::move(out), bad_fd()};
  // First guess: what is left from the current position to the end, plus one byte so
  // that the final read (the one returning 0) needs no growth.
  std::size_t guess = min_read;
  struct stat st {};
  if (::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
    const off_t pos = ::lseek(fd_, 0, SEEK_CUR);
    const off_t left = pos >= 0 && pos < st.st_size ? st.st_size - pos : (pos >= 0 ? 0 : st.st_size);
    guess = std::max<std::size_t>(static_cast<std::size_t>(left) + 1, min_read);
  }
  out.resize(guess);
  std::size_t len = 0;
  for (;;) {
    if (len == out.size()) out.resize(out.size() * 2);
    auto [n, err] = co_await read(ctx, std::span<char>(out.data() + len, out.size() - len), where);
    if (err || n == 0) {
      out.resize(len);
      co_return {std::move(out), err};
    }
    len += n;
  }
}

task<result<std::size_t>> file::write_all(context ctx, std::string_view data, std::source_location where) const {
  return detail::write_all(*this, std::move(ctx), data, where);
}

detail::io_status file::fsync(std::source_location where) const noexcept {
  return detail::io_status({IORING_OP_FSYNC, fd_}, where);
}

task<result<std::uint64_t>> file::size(std::source_location where) const {
  if (fd_ < 0) co_return {0, bad_fd()};
  // statx(fd, "", AT_EMPTY_PATH): the open file itself. stx is written by the kernel,
  // so it lives in this frame.
  struct statx stx {};
  static constexpr char empty_path[] = "";
  detail::io_status op({IORING_OP_STATX, fd_, reinterpret_cast<std::uintptr_t>(empty_path), STATX_SIZE,
                        reinterpret_cast<std::uintptr_t>(&stx), AT_EMPTY_PATH},
                       where);
  const std::error_code err = co_await op;
  if (err) co_return {0, err};
  co_return {stx.stx_size, {}};
}

task<std::error_code> file::close(std::source_location where) {
  // Released first: the destructor must not close the number again (another open may
  // have reused it by then).
  const int fd = release();
  if (fd < 0) co_return bad_fd();
  detail::io_status op({IORING_OP_CLOSE, fd}, where);
  co_return co_await op;
}

task<result<std::string>> read_file(std::string path, std::source_location where) {
  auto opening = file::open(std::move(path), file::read_only, 0 /* no create: unused */, where);
  auto [f, err] = co_await std::move(opening);
  if (err) co_return {std::string(), err};
  auto reading = f.read_all({}, where);
  co_return co_await std::move(reading);  // f's destructor closes it; a read-only close loses nothing
}

task<std::error_code> write_file(std::string path, std::string data, unsigned mode, std::source_location where) {
  auto opening = file::open(std::move(path), file::write_only | file::create | file::truncate, mode, where);
  auto [f, err] = co_await std::move(opening);
  if (err) co_return err;
  auto writing = f.write_all(data, where);
  const auto written = co_await std::move(writing);
  // Closed through the ring either way; the write's error comes first, then close's
  // (NFS and some FUSE file systems report a failed write-back only at close).
  auto closing = f.close(where);
  const std::error_code close_err = co_await std::move(closing);
  co_return written.err ? written.err : close_err;
}

}  // namespace goro
