// I/O through io_uring, and goro::blocking for what io_uring cannot do.
//
//   auto [n, err] = co_await conn.read(buf);            // n == 0 and no err: end of stream
//   auto [n, err] = co_await conn.read(ctx, buf);       // ... or ctx.err() once ctx is done
//   auto addrs = co_await goro::blocking([&] { return slow_library_call(); });
//
// Contract
//   - Every operation returns a goro::result<T>: a value and a std::error_code, as Go's
//     (T, error). EOF, a reset peer, a refused connection, a cancelled context are
//     error values (or, for EOF, a read of 0 bytes), never exceptions. System errors
//     are in std::system_category() (compare with std::errc::connection_reset ...).
//   - An operation fills a submission entry on the ring of the worker running the task
//     and suspends the task; the worker submits every entry of a scheduling round with
//     one io_uring_enter and resumes each task when its completion arrives.
//   - An operation given a context is cancelled in the kernel when the context is
//     (IORING_OP_ASYNC_CANCEL). It returns ctx.err() (errc::canceled or
//     errc::deadline_exceeded) only after the kernel has completed it, so the buffer is
//     never written after the operation returns. If the operation had already
//     transferred data when the cancellation reached it, it returns that data instead:
//     nothing is lost. A context already done when the operation starts makes it
//     return ctx.err() without touching the kernel.
//   - goro::run ignores SIGPIPE (unless the program set a handler for it): a write to a
//     pipe or socket whose reader is gone returns std::errc::broken_pipe.
//   - The context and the buffers must outlive the co_await (they do when they are the
//     caller's variables or temporaries of the co_await's full expression).
//   - I/O is awaited inside goro::run's tasks (std::logic_error otherwise). When goro::run
//     ends, operations still in flight are cancelled and waited for before their tasks'
//     frames are destroyed.
//   - Every call that returns an operation (or a task awaiting some) takes a defaulted
//     last parameter, `where`: the caller's line, which goro::dump_tasks shows as the
//     wait site while the task is parked on the operation (goro/debug.hpp). The
//     descriptor is the detail shown ("fd 7").
//   - goro::blocking(fn) runs fn() on a separate pool of threads (elastic: a thread is
//     started when every pool thread is busy, up to config::max_blocking_threads; a
//     thread idle for 10 s exits) and returns its result, or rethrows its exception, to
//     the awaiting task. goro::run waits for running blocking calls before it returns;
//     calls not started yet are dropped with their tasks.
//
// Go: the netpoller parks goroutines on blocking I/O; goro::blocking is what Go does
// for a cgo or blocking syscall (hand the P to another thread).
#pragma once

#include <linux/io_uring.h>

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <optional>
#include <source_location>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

#include "goro/context.hpp"
#include "goro/detail/parking.hpp"
#include "goro/task.hpp"

namespace goro {

// Go's (T, error). `auto [value, err] = co_await op;` or `if (r) use(r.value);`.
template <class T>
struct [[nodiscard]] result {
  T value{};
  std::error_code err;
  explicit operator bool() const noexcept { return !err; }
};

namespace detail {

// One kernel operation: what to submit (the fields of io_uring_prep_rw), and its state
// while in flight. Lives in the awaiting task's frame; trivially destructible.
struct io_request {
  std::uint8_t opcode;
  int fd;
  std::uint64_t addr = 0;
  std::uint32_t len = 0;
  std::uint64_t off = 0;
  std::uint32_t op_flags = 0;  // the SQE's rw_flags union (msg_flags, open_flags, fsync_flags...)
  context_node* canceler = nullptr;  // the context's canceler, or null: not cancellable
};

struct io_op {
  explicit io_op(const io_request& r) noexcept : req(r) {}
  io_op(const io_op&) = delete;
  io_op& operator=(const io_op&) = delete;

  io_request req;
  int res = 0;                   // the completion's result: >= 0, or -errno
  std::coroutine_handle<> task;  // resumed on completion
  void* owner = nullptr;         // the worker whose ring has it
  // Cancellation (req.canceler set). Exactly one of the kernel completion (case 0) and
  // the context (case 1) wins `claim`; see lib/io.cpp.
  select_state claim;
  waiter ctx_waiter;
  io_op* next_cancel = nullptr;  // in the owner's cancel inbox
  bool kernel_done = false;      // owner only: completed after the context won
  bool cancel_sent = false;      // owner only: the ASYNC_CANCEL was submitted
};

// Submits op for `task` on the current worker's ring (lib/io.cpp). Returns false when
// the operation is already complete (its context was done): don't suspend.
bool io_start(io_op& op, std::coroutine_handle<> task);
// The error for a failed op: ctx.err() for a cancellation the context caused, else errno.
std::error_code io_error(const io_op& op) noexcept;

inline context_node* canceler_of(const context& ctx) noexcept { return context_canceler(ctx.node()); }

// What a task parked on an operation waits on, for goro::dump_tasks (the kinds are
// listed in goro/detail/scheduler_hooks.hpp).
constexpr wait_kind io_wait_kind(std::uint8_t opcode) noexcept {
  switch (opcode) {
    case IORING_OP_READ:
    case IORING_OP_RECV:
    case IORING_OP_RECVMSG: return wait_kind::io_read;
    case IORING_OP_WRITE:
    case IORING_OP_SEND:
    case IORING_OP_SENDMSG: return wait_kind::io_write;
    case IORING_OP_ACCEPT: return wait_kind::io_accept;
    case IORING_OP_CONNECT: return wait_kind::io_connect;
    default: return wait_kind::io;  // open, close, fsync, statx, shutdown
  }
}

// The awaitable of one operation; Convert(op) makes the result. `where` is the call that
// made it: the wait site goro::dump_tasks shows.
template <class Convert>
class [[nodiscard]] io_awaitable {
 public:
  io_awaitable(const io_request& r, const std::source_location& where, Convert c = {}) noexcept
      : op_(r), where_(where), convert_(c) {}
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h) {
    // Before io_start publishes the operation to the ring and to the context's canceller
    // (parked_task's protocol). An open has no descriptor (its AT_FDCWD): 0 is recorded.
    parked_.park(io_wait_kind(op_.req.opcode), nullptr, op_.req.fd >= 0 ? static_cast<std::size_t>(op_.req.fd) : 0,
                 where_);
    return io_start(op_, h);
  }
  auto await_resume() noexcept {
    parked_.resumed();
    return convert_(op_);
  }

 private:
  io_op op_;
  std::source_location where_;
  parked_task parked_;
  [[no_unique_address]] Convert convert_;
};

// result<size_t>: the bytes transferred.
struct to_bytes {
  result<std::size_t> operator()(const io_op& op) const noexcept {
    if (op.res >= 0) return {static_cast<std::size_t>(op.res), {}};
    return {0, io_error(op)};
  }
};
// result<empty>: success or the error.
struct to_status {
  std::error_code operator()(const io_op& op) const noexcept { return op.res >= 0 ? std::error_code() : io_error(op); }
};
using io_bytes = io_awaitable<to_bytes>;
using io_status = io_awaitable<to_status>;

// write_all of goro::file and goro::net::tcp_conn: w.write(ctx, rest) until all of data
// is written; on an error, the bytes written before it. Each write's wait site is
// `where`, the caller's write_all.
template <class Writer>
task<result<std::size_t>> write_all(const Writer& w, context ctx, std::string_view data, std::source_location where) {
  std::size_t done = 0;
  if (w.fd() < 0) co_return {done, std::make_error_code(std::errc::bad_file_descriptor)};
  while (done < data.size()) {
    auto [n, err] = co_await w.write(ctx, data.substr(done), where);
    if (err) co_return {done, err};
    // A write of 0 bytes without an error (a full device that reports no ENOSPC, a
    // driver's quirk) would repeat forever: Go's io.ErrShortWrite, here EIO.
    if (n == 0) co_return {done, std::make_error_code(std::errc::io_error)};
    done += n;
  }
  co_return {done, {}};
}

// ---- goro::blocking's pool (lib/blocking.cpp)
struct blocking_job {
  virtual void run() noexcept = 0;  // runs fn, stores its result or exception
  std::coroutine_handle<> task;
  blocking_job* next = nullptr;  // in the pool's queue
 protected:
  ~blocking_job() = default;
};
// Queues the job; a pool thread runs it, then schedules job.task.
void blocking_submit(blocking_job& job);

template <class F>
struct blocking_call final : blocking_job {
  using R = std::invoke_result_t<F&>;
  blocking_call(F& f, const std::source_location& call_site) noexcept : fn(f), where(call_site) {}
  void run() noexcept override {
    try {
      if constexpr (std::is_void_v<R>) {
        fn();
        value.emplace();
      } else {
        value.emplace(fn());
      }
    } catch (...) {
      error = std::current_exception();
    }
  }
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    // Before a pool thread can run the job and schedule the task (parked_task's protocol).
    parked.park(wait_kind::blocking, nullptr, 0, where);
    task = h;
    try {
      blocking_submit(*this);
    } catch (...) {  // not queued: the task goes on running, with the exception
      parked.resumed();
      throw;
    }
  }
  R await_resume() {
    parked.resumed();
    if (error) std::rethrow_exception(error);
    if constexpr (!std::is_void_v<R>) return std::move(*value);
  }

  F& fn;
  std::source_location where;  // goro::blocking's caller: the wait site
  parked_task parked;
  std::optional<std::conditional_t<std::is_void_v<R>, char, R>> value;
  std::exception_ptr error;
};

}  // namespace detail

// Runs fn() on goro's blocking pool and returns its result (see the contract above).
template <class F>
task<std::invoke_result_t<std::decay_t<F>&>> blocking(F fn,
                                                      std::source_location where = std::source_location::current()) {
  detail::blocking_call<F> call(fn, where);
  co_return co_await call;
}

}  // namespace goro
