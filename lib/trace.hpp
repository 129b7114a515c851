// The runtime's side of goro/debug.hpp (lib/trace.cpp).
#pragma once

#include <thread>
#include <vector>

#include "goro/debug.hpp"

namespace goro::detail {

// Every live task but `skip_frame`'s (null: none) and goro's own, by id. Exact once the
// workers stopped; a snapshot while they run.
std::vector<task_info> collect_tasks(const void* skip_frame);

// While it lives, SIGQUIT prints goro::dump_tasks to stderr (config::dump_on_sigquit):
// a handler forwards the signal through a pipe to a thread of its own, which dumps even
// when every worker is busy. Installed only over SIGQUIT's default action.
class sigquit_dump {
 public:
  explicit sigquit_dump(bool wanted);
  ~sigquit_dump();
  sigquit_dump(const sigquit_dump&) = delete;
  sigquit_dump& operator=(const sigquit_dump&) = delete;

 private:
  bool installed_ = false;
  int pipe_[2] = {-1, -1};
  std::thread thread_;
};

}  // namespace goro::detail
