// io_uring set-up, with one message per way the kernel can refuse it.
#include <liburing.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "goro/runtime.hpp"
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
  io_uring_params params{};
  // COOP_TASKRUN: a completion does not interrupt a busy worker (no IPI); it is
  // processed at the worker's next kernel entry, and TASKRUN_FLAG tells the worker when
  // one is waiting (worker::flush_io). Linux 5.19+; older kernels get a plain ring.
  params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
  params.cq_entries = cq_entries;
  int r = io_uring_queue_init_params(sq_entries, &ring, &params);
  if (r == -EINVAL) {
    params = io_uring_params{};
    params.flags = IORING_SETUP_CQSIZE;
    params.cq_entries = cq_entries;
    r = io_uring_queue_init_params(sq_entries, &ring, &params);
  }
  if (r < 0) throw config_error(ring_error_message(-r));
  if (!(ring.features & IORING_FEAT_EXT_ARG)) {
    io_uring_queue_exit(&ring);
    throw config_error(
        "goro: cannot start: this kernel's io_uring lacks IORING_FEAT_EXT_ARG (timed waits). Fix: run on Linux "
        "5.19 or newer");
  }
}

}  // namespace goro::detail
