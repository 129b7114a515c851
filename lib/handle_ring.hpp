// A FIFO of coroutine handles in a circular buffer that doubles when full and never
// shrinks: the global run queue's storage. std::deque frees and allocates a chunk every
// few hundred entries, and under a spawn flood that churn made glibc trim the heap,
// each trim a TLB shootdown across every worker (seen in perf/spawn_join). Not
// thread-safe: the owner locks.
#pragma once

#include <coroutine>
#include <cstddef>
#include <vector>

namespace goro::detail {

class handle_ring {
 public:
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

  void push_back(std::coroutine_handle<> h) {
    if (size_ == slots_.size()) grow();
    slots_[(head_ + size_) & (slots_.size() - 1)] = h;
    ++size_;
  }

  std::coroutine_handle<> pop_front() noexcept {
    const auto h = slots_[head_];
    head_ = (head_ + 1) & (slots_.size() - 1);
    --size_;
    return h;
  }

  void clear() noexcept { head_ = size_ = 0; }

 private:
  void grow() {
    std::vector<std::coroutine_handle<>> bigger(slots_.empty() ? 256 : 2 * slots_.size());
    for (std::size_t i = 0; i < size_; ++i) bigger[i] = slots_[(head_ + i) & (slots_.size() - 1)];
    slots_.swap(bigger);
    head_ = 0;
  }

  std::vector<std::coroutine_handle<>> slots_;  // size is zero or a power of two
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

}  // namespace goro::detail
