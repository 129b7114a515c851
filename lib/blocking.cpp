// goro::blocking: an elastic pool of threads for calls io_uring cannot make.
//
// Invariants (all under mu_): queued_ is the length of the job list; idle_ counts the
// threads waiting for a job, running_ those running one. submit wakes an idle thread
// while queued jobs do not outnumber the idle threads, else starts a thread (up to
// max_threads_). A thread that waited 10 s without a job moves itself to exited_ and
// returns; the next submit or shutdown joins it. A finished job's task is scheduled
// outside the lock, and the job (in the task's frame) is not touched after that.
#include "blocking.hpp"

#include <pthread.h>

#include <chrono>

#include "runtime.hpp"

namespace goro::detail {

namespace {
// How long a pool thread waits for work before it exits (Go keeps idle Ms around too,
// but has no such pool; picked so a burst of lookups reuses threads).
constexpr auto idle_timeout = std::chrono::seconds(10);
}  // namespace

void blocking_pool::submit(blocking_job& job) {
  std::lock_guard lock(mu_);
  join_exited();
  job.next = nullptr;
  (tail_ ? tail_->next : head_) = &job;
  tail_ = &job;
  ++queued_;
  if (queued_ <= idle_) {
    work_cv_.notify_one();
  } else if (threads_.size() < max_threads_) {
    threads_.emplace_front();
    auto self = threads_.begin();
    *self = std::thread([this, self] { thread_main(self); });
  }
  // else: every thread is busy and the pool is at its bound; the job waits its turn.
}

bool blocking_pool::busy() {
  std::lock_guard lock(mu_);
  return queued_ + running_ != 0;
}

void blocking_pool::thread_main(std::list<std::thread>::iterator self) {
  pthread_setname_np(pthread_self(), "goro-blocking");
  std::unique_lock lock(mu_);
  for (;;) {
    if (!head_) {
      if (stopping_) break;
      ++idle_;
      const bool woken = work_cv_.wait_for(lock, idle_timeout, [this] { return head_ || stopping_; });
      --idle_;
      if (!woken) break;  // idle too long
      continue;
    }
    blocking_job* job = head_;
    head_ = job->next;
    if (!head_) tail_ = nullptr;
    --queued_;
    ++running_;
    lock.unlock();
    job->run();
    schedule(job->task);  // job may be gone from here on
    lock.lock();
    if (--running_ == 0 && stopping_) idle_cv_.notify_all();
  }
  if (!stopping_) exited_.splice(exited_.end(), threads_, self);  // shutdown joins threads_ itself
}

void blocking_pool::join_exited() {
  for (auto& t : exited_) t.join();
  exited_.clear();
}

void blocking_pool::shutdown() noexcept {
  std::list<std::thread> threads;
  {
    std::unique_lock lock(mu_);
    stopping_ = true;
    head_ = tail_ = nullptr;  // not started: dropped, their tasks are destroyed by goro::run
    queued_ = 0;
    work_cv_.notify_all();
    idle_cv_.wait(lock, [this] { return running_ == 0; });
    join_exited();
    threads.swap(threads_);
  }
  for (auto& t : threads) t.join();
}

void blocking_submit(blocking_job& job) {
  const runtime_use use;
  runtime* rt = use.get();
  if (!rt) throw std::logic_error("goro::blocking awaited outside goro::run");
  rt->blocking.submit(job);
}

}  // namespace goro::detail
