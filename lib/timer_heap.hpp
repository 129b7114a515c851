// A worker's timers: a binary min-heap of timer_node pointers on (deadline, seq), each
// node knowing its own index so that any node can be removed in O(log n) (a select's
// timer case that lost, a sleeping task destroyed at shutdown).
//
// Invariants (under the owning worker's timer lock, like every field here):
//   - nodes_[i]->heap_index == i for every i;
//   - a node not in the heap has heap_index == timer_node::not_queued;
//   - parent(i) is not later than i.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "goro/time.hpp"

namespace goro::detail {

class timer_heap {
 public:
  bool empty() const noexcept { return nodes_.empty(); }
  std::size_t size() const noexcept { return nodes_.size(); }
  timer_node& front() const noexcept { return *nodes_.front(); }

  void push(timer_node& t) {
    t.seq = next_seq_++;
    nodes_.push_back(&t);
    place(nodes_.size() - 1);
    sift_up(nodes_.size() - 1);
  }

  void remove(timer_node& t) noexcept {
    const std::size_t i = t.heap_index;
    t.heap_index = timer_node::not_queued;
    timer_node* last = nodes_.back();
    nodes_.pop_back();
    if (i == nodes_.size()) return;  // t was the last one
    nodes_[i] = last;
    place(i);
    sift_down(sift_up(i));
  }

  // Forget every node (goro::run ending, workers stopped): each is marked not queued and
  // ownerless, so a frame destroyed later (a joinable task's, when its handle is dropped
  // after run returned) cancels nothing through a worker that no longer exists.
  void clear() noexcept {
    for (timer_node* t : nodes_) {
      t->heap_index = timer_node::not_queued;
      t->owner.store(nullptr, std::memory_order_relaxed);  // see timer_node::owner
    }
    nodes_.clear();
  }

 private:
  static bool earlier(const timer_node* a, const timer_node* b) noexcept {
    return a->deadline != b->deadline ? a->deadline < b->deadline : a->seq < b->seq;
  }
  void place(std::size_t i) noexcept { nodes_[i]->heap_index = i; }
  void swap_nodes(std::size_t i, std::size_t j) noexcept {
    std::swap(nodes_[i], nodes_[j]);
    place(i);
    place(j);
  }
  std::size_t sift_up(std::size_t i) noexcept {
    while (i > 0) {
      const std::size_t parent = (i - 1) / 2;
      if (!earlier(nodes_[i], nodes_[parent])) break;
      swap_nodes(i, parent);
      i = parent;
    }
    return i;
  }
  void sift_down(std::size_t i) noexcept {
    for (;;) {
      std::size_t smallest = i;
      for (std::size_t child = 2 * i + 1; child <= 2 * i + 2 && child < nodes_.size(); ++child)
        if (earlier(nodes_[child], nodes_[smallest])) smallest = child;
      if (smallest == i) return;
      swap_nodes(i, smallest);
      i = smallest;
    }
  }

  std::vector<timer_node*> nodes_;
  std::uint64_t next_seq_ = 0;
};

}  // namespace goro::detail
