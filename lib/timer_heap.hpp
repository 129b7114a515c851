// A worker's timers: a 4-ary min-heap on (deadline, seq), each node knowing its own
// index so that any node can be removed in O(log n) (a select's timer case that lost, a
// sleeping task destroyed at shutdown, a context cancelled before its deadline).
//
// Each entry keeps its key next to the node pointer: sifting compares entries of this
// array only, instead of chasing pointers into the waiting tasks' frames (one cache miss
// per comparison with 100,000 sleepers: perf/timers), and a 4-ary heap is half as deep
// as a binary one. Go 1.23's timer heap does both (runtime/time.go, timeWhen).
//
// Invariants (under the owning worker's timer lock, like every field here):
//   - entries_[i].node->heap_index == i for every i, and entries_[i]'s key is its node's
//     (deadline, seq) at push time (a queued node's deadline does not change);
//   - a node not in the heap has heap_index == timer_node::not_queued;
//   - parent(i) = (i - 1) / 4 is not later than i.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "goro/time.hpp"

namespace goro::detail {

class timer_heap {
 public:
  bool empty() const noexcept { return entries_.empty(); }
  std::size_t size() const noexcept { return entries_.size(); }
  timer_node& front() const noexcept { return *entries_.front().node; }

  void push(timer_node& t) {
    t.seq = next_seq_++;
    entries_.push_back({t.deadline, t.seq, &t});
    sift_up(entries_.size() - 1);
  }

  void remove(timer_node& t) noexcept {
    const std::size_t i = t.heap_index;
    t.heap_index = timer_node::not_queued;
    const entry last = entries_.back();
    entries_.pop_back();
    if (i == entries_.size()) return;  // t was the last one
    entries_[i] = last;
    sift_down(sift_up(i));
  }

  // Forget every node (goro::run ending, workers stopped): each is marked not queued and
  // ownerless, so a frame destroyed later (a joinable task's, when its handle is dropped
  // after run returned) cancels nothing through a worker that no longer exists.
  void clear() noexcept {
    for (const entry& e : entries_) {
      e.node->heap_index = timer_node::not_queued;
      e.node->owner.store(nullptr, std::memory_order_relaxed);  // see timer_node::owner
    }
    entries_.clear();
  }

 private:
  static constexpr std::size_t arity = 4;

  struct entry {
    clock::time_point deadline;
    std::uint64_t seq;
    timer_node* node;
  };
  static bool earlier(const entry& a, const entry& b) noexcept {
    return a.deadline != b.deadline ? a.deadline < b.deadline : a.seq < b.seq;
  }
  void put(std::size_t i, const entry& e) noexcept {
    entries_[i] = e;
    e.node->heap_index = i;
  }
  // Moves entry i up to its place (a hole moves instead of swapping); returns where it went.
  std::size_t sift_up(std::size_t i) noexcept {
    const entry e = entries_[i];
    while (i > 0) {
      const std::size_t parent = (i - 1) / arity;
      if (!earlier(e, entries_[parent])) break;
      put(i, entries_[parent]);
      i = parent;
    }
    put(i, e);
    return i;
  }
  void sift_down(std::size_t i) noexcept {
    const entry e = entries_[i];
    const std::size_t n = entries_.size();
    for (;;) {
      const std::size_t first = arity * i + 1;
      if (first >= n) break;
      std::size_t best = first;
      for (std::size_t c = first + 1; c < first + arity && c < n; ++c)
        if (earlier(entries_[c], entries_[best])) best = c;
      if (!earlier(entries_[best], e)) break;
      put(i, entries_[best]);
      i = best;
    }
    put(i, e);
  }

  std::vector<entry> entries_;
  std::uint64_t next_seq_ = 0;
};

}  // namespace goro::detail
