// goro::blocking's thread pool (lib/blocking.cpp). One per runtime.
#pragma once

#include <condition_variable>
#include <list>
#include <mutex>
#include <thread>

#include "goro/io.hpp"

namespace goro::detail {

class blocking_pool {
 public:
  explicit blocking_pool(unsigned max_threads) noexcept : max_threads_(max_threads) {}
  ~blocking_pool() { shutdown(); }
  blocking_pool(const blocking_pool&) = delete;
  blocking_pool& operator=(const blocking_pool&) = delete;

  void submit(blocking_job& job);
  // A job is queued or running: its task will be woken (deadlock detection). A finished
  // job's task is scheduled before the job stops counting.
  bool busy();
  // goro::run is ending (no task runs any more): drops the jobs not started, waits for
  // the running ones, stops every thread.
  void shutdown() noexcept;

 private:
  void thread_main(std::list<std::thread>::iterator self);
  void join_exited();  // under mu_

  const unsigned max_threads_;
  std::mutex mu_;
  std::condition_variable work_cv_;  // a job was queued, or shutdown
  std::condition_variable idle_cv_;  // running_ reached 0 during shutdown
  // Under mu_:
  blocking_job* head_ = nullptr;
  blocking_job* tail_ = nullptr;
  unsigned queued_ = 0, idle_ = 0, running_ = 0;
  bool stopping_ = false;
  std::list<std::thread> threads_;  // live threads
  std::list<std::thread> exited_;   // threads that returned, to join
};

}  // namespace goro::detail
