// I/O operations on the workers' rings, and their cancellation through a context.
//
// Submission and completion (all on the worker that started the operation, its owner)
//   io_start fills an SQE on the current worker's ring, with the io_op as user_data, and
//   the task suspends. The worker submits its SQEs once per scheduling round
//   (worker::flush_io: when its queues run dry, at housekeeping, and when it parks in
//   io_uring_submit_and_wait) and reaps completions at the same points;
//   worker::complete_io queues the task, and process_completions pushes the batch on
//   the worker's deque in completion order. `inflight` counts the operations submitted
//   and not yet completed. Only the worker's thread enters its ring (ring_init).
//
// Cancellation (an operation given a context)
//   The operation also parks a waiter on its context's canceler, with `on_wake` set.
//   The completion (case 0) and the context (case 1) race for the operation's `claim`
//   (a select_state: one CAS, exactly one wins):
//   - The completion wins: the owner takes the waiter off the context's queue (under
//     the context's lock, so no canceller is still reading it) and resumes the task.
//   - The context wins: its canceller (any thread) calls request_cancel after releasing
//     the context's lock, which hands the operation to the owner: directly when it runs
//     on the owner, else through the owner's cancel inbox (a lock-free stack) and an
//     eventfd wake-up. The owner then submits IORING_OP_ASYNC_CANCEL for it
//     (`cancel_sent`); the operation's own completion, whatever its result, resumes the
//     task. If that completion arrived first (`kernel_done`: the owner saw it lose the
//     claim before the request reached it), the request resumes the task instead.
//   Either way the task resumes only after the kernel's completion for the operation:
//   the kernel no longer touches the buffer. A canceller touches the op only until its
//   push onto the inbox; the task cannot resume before the owner took it off.
//
// Shutdown: when the workers stop, each worker cancels everything it has in flight
// (IORING_ASYNC_CANCEL_ANY) and waits for every completion and for every cancel request
// a context already won, without resuming anyone (drain_io); then goro::run destroys
// the tasks' frames.
//
// Lock order: the owner takes a context's lock (select_guard) to remove a waiter,
// holding no other lock. The inbox is lock-free.
#include <sys/eventfd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "goro/io.hpp"
#include "log.hpp"
#include "runtime.hpp"

namespace goro::detail {

namespace {

io_op& op_of(waiter& w) noexcept {
  return *reinterpret_cast<io_op*>(reinterpret_cast<char*>(&w) - offsetof(io_op, ctx_waiter));
}

// The context won the operation's claim: called by the canceller, lock released.
void request_cancel(waiter& w) noexcept {
  io_op& op = op_of(w);
  auto* owner = static_cast<worker*>(op.owner);
  if (current_worker == owner) {
    owner->cancel_io(op);
    return;
  }
  // Keeps the runtime (and so the owner) alive while we touch it from another thread.
  const runtime_use use;
  // relaxed: only the first guess of the CAS loop below, which checks it.
  io_op* head = owner->cancel_inbox.load(std::memory_order_relaxed);
  do {
    op.next_cancel = head;
    // release: publishes next_cancel and everything before to the owner's acquire
    // exchange in take_cancel_requests. This is our last touch of op.
  } while (!owner->cancel_inbox.compare_exchange_weak(head, &op, std::memory_order_release,
                                                       std::memory_order_relaxed));
  eventfd_write(owner->wake_fd, 1);
}

}  // namespace

io_uring_sqe* worker::get_sqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring);
  while (!sqe) {  // the SQ ring is full: submit it, which frees every entry
    const int r = io_uring_submit(&ring);
    if (r < 0 && r != -EAGAIN && r != -EBUSY && r != -EINTR)
      log().error("worker {}: io_uring_submit failed: {}", index, std::strerror(-r));
    if (r == -EBUSY) process_completions();  // the CQ is full: make room
    sqe = io_uring_get_sqe(&ring);
  }
  return sqe;
}

bool worker::io_ready() const noexcept {
  // relaxed: a hint; a request pushed after it is found through the wake-up it sends.
  return io_uring_cq_ready(&ring) != 0 || completions_pending() || cancel_inbox.load(std::memory_order_relaxed);
}

bool worker::completions_pending() const noexcept {
  // The kernel sets IORING_SQ_TASKRUN when completions wait for this thread to enter
  // the kernel (IORING_SETUP_TASKRUN_FLAG; see ring_init).
  return (IO_URING_READ_ONCE(*ring.sq.kflags) & IORING_SQ_TASKRUN) != 0;
}

void worker::flush_io() {
  if (io_uring_sq_ready(&ring) != 0 || completions_pending()) {
    // One enter submits the round's operations and runs the pending completion work.
    const int r = io_uring_submit_and_get_events(&ring);
    if (r < 0 && r != -EAGAIN && r != -EBUSY && r != -EINTR)
      log().error("worker {}: io_uring_enter failed: {}", index, std::strerror(-r));
  }
  if (io_ready()) process_completions();
}

void worker::complete_io(io_op& op, int res) {
  --inflight;
  op.res = res;
  if (op.req.canceler) {
    if (op.claim.try_win(0)) {
      short_lock_guard lock(context_lock(op.req.canceler));
      if (op.ctx_waiter.queued) context_dequeue_locked(op.req.canceler, op.ctx_waiter);
    } else if (!op.cancel_sent) {
      op.kernel_done = true;  // the context won; its request is on the way and resumes the task
      ++cancel_requests_due;
      return;
    }
  }
  if (!draining) io_woken.push_back(op.task);
}

void worker::cancel_io(io_op& op) {
  if (op.kernel_done) {  // completed before the request arrived
    op.kernel_done = false;
    --cancel_requests_due;
    if (!draining) schedule(op.task);
    return;
  }
  op.cancel_sent = true;
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_cancel64(sqe, reinterpret_cast<std::uintptr_t>(&op), 0);
  io_uring_sqe_set_data64(sqe, cancel_tag);
}

void worker::take_cancel_requests() {
  // acquire: pairs with request_cancel's release push.
  io_op* op = cancel_inbox.exchange(nullptr, std::memory_order_acquire);
  while (op) {
    io_op* next = op->next_cancel;
    cancel_io(*op);
    op = next;
  }
}

void worker::drain_io() {
  draining = true;
  if (inflight != 0) {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
    io_uring_sqe_set_data64(sqe, cancel_tag);
  }
  while (inflight != 0 || cancel_requests_due != 0) {
    // Timed: a request from another thread arrives through the inbox while the
    // wake-up read may already be cancelled.
    __kernel_timespec ts{0, 1'000'000};
    io_uring_cqe* cqe = nullptr;
    io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &ts, nullptr);
    process_completions();
  }
}

bool io_start(io_op& op, std::coroutine_handle<> task) {
  worker* w = current_worker;
  if (!w) throw std::logic_error("goro: I/O awaited outside a goro task (inside goro::run)");
  op.task = task;
  op.owner = w;
  if (op.req.canceler) {
    op.ctx_waiter.select = &op.claim;
    op.ctx_waiter.case_index = 1;
    op.ctx_waiter.on_wake = request_cancel;
    if (!context_park(op.req.canceler, op.ctx_waiter, task)) {
      op.res = -ECANCELED;  // already done: the kernel never sees it
      return false;
    }
  }
  io_uring_sqe* sqe = w->get_sqe();
  io_uring_prep_rw(op.req.opcode, sqe, op.req.fd, reinterpret_cast<const void*>(op.req.addr), op.req.len,
                   op.req.off);
  sqe->rw_flags = static_cast<__kernel_rwf_t>(op.req.op_flags);
  io_uring_sqe_set_data(sqe, &op);
  ++w->inflight;
  return true;
}

std::error_code io_error(const io_op& op) noexcept {
  if (op.res == -ECANCELED && op.req.canceler)
    if (auto err = context_err(op.req.canceler)) return err;
  return {-op.res, std::system_category()};
}

}  // namespace goro::detail
