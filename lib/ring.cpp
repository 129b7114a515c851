// io_uring set-up, with one message per way the kernel can refuse it.
#include <liburing.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "goro/runtime.hpp"
#include "log.hpp"
#include "runtime.hpp"

namespace goro::detail {

std::string ring_error_message(int error) {
  const std::string prefix = "goro: cannot start: io_uring_setup failed with ";
  switch (error) {
    case EPERM:
      return prefix +
             "EPERM: io_uring is disabled for this process, by the sysctl kernel.io_uring_disabled (1 limits it "
             "to the group in kernel.io_uring_group, 2 disables it), or by a seccomp profile (Docker's and "
             "Kubernetes' default ones block io_uring). Fix: `sysctl -w kernel.io_uring_disabled=0`, or run the "
             "container with a seccomp profile that allows io_uring_setup, io_uring_enter and io_uring_register";
    case ENOSYS:
      return prefix +
             "ENOSYS: this kernel has no io_uring (built without CONFIG_IO_URING, or hidden by a seccomp "
             "profile). Fix: run on Linux 5.19 or newer with io_uring enabled, or allow the io_uring syscalls "
             "in the seccomp profile";
    case ENOMEM:
      return prefix +
             "ENOMEM: the rings could not be allocated; kernels before 5.12 charge them to the locked-memory "
             "limit. Fix: raise `ulimit -l` (RLIMIT_MEMLOCK), or lower GOMAXPROCS to create fewer rings";
    case EMFILE:
    case ENFILE:
      return prefix + std::strerror(error) +
             ": no file descriptor left for the ring. Fix: raise `ulimit -n`, or close descriptors first";
    default:
      return prefix + std::strerror(error) + " (errno " + std::to_string(error) + ")";
  }
}

void ring_init(io_uring& ring, unsigned sq_entries, unsigned cq_entries) {
  // Each ring is used by its worker's thread only (other threads reach a worker through
  // its eventfd and its cancel inbox), which lets the kernel skip work:
  //   SINGLE_ISSUER + DEFER_TASKRUN (Linux 6.1): completions are processed when the
  //     worker enters the ring to submit or wait, never by interrupting it; TASKRUN_FLAG
  //     tells it when some are waiting (worker::flush_io). Measured on perf/tcp_echo:
  //     +50% requests/s against COOP_TASKRUN alone.
  //   COOP_TASKRUN (Linux 5.19): the fallback; no interrupt of a busy worker either.
  //   R_DISABLED: the ring is created here, on the thread starting goro::run, and
  //     enabled by its worker's thread (worker::run_loop), which SINGLE_ISSUER then
  //     binds it to.
  // A kernel that knows neither gets a plain ring.
  constexpr unsigned common = IORING_SETUP_CQSIZE | IORING_SETUP_R_DISABLED;
  constexpr unsigned variants[] = {
      common | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
      common | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
      common,
  };
  int r = -EINVAL;
  for (unsigned flags : variants) {
    io_uring_params params{};
    params.flags = flags;
    params.cq_entries = cq_entries;
    r = io_uring_queue_init_params(sq_entries, &ring, &params);
    if (r != -EINVAL) break;
  }
  if (r < 0) throw config_error(ring_error_message(-r));
  if (!(ring.features & IORING_FEAT_EXT_ARG)) {
    io_uring_queue_exit(&ring);
    throw config_error(
        "goro: cannot start: this kernel's io_uring lacks IORING_FEAT_EXT_ARG (timed waits). Fix: run on Linux "
        "5.19 or newer");
  }
}

void enable_ring(io_uring& ring) {
  // liburing 2.3 declares io_uring_enable_rings but its shared library does not export
  // it: the system call it wraps.
  if (syscall(__NR_io_uring_register, ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, nullptr, 0) != 0)
    log().critical("goro: cannot enable a worker's io_uring: {}", std::strerror(errno));
}

}  // namespace goro::detail
