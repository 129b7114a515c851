// The worker's local run queue: a bounded Chase-Lev work-stealing deque.
//
// Design
//   The owner pushes and takes at the bottom (LIFO: the task it just spawned runs next,
//   so fork-join stays depth-first and its queue stays as short as the recursion is
//   deep). Thieves take from the top, the oldest entry, which in fork-join is the biggest
//   piece of work. Capacity is fixed (a power of two); push reports "full" and the
//   worker moves half of the queue to the global queue (Go's runqputslow).
//
//   Rejected: Go's FIFO runq with a CAS on every owner pop. It steals half in one CAS,
//   but FIFO order makes fork-join breadth-first: the pending set grows with the width
//   of the tree and overflows. Thieves here steal half by repeated single steals
//   (worker::steal_from), each an independent, correct Chase-Lev steal.
//
// Invariants
//   1. Only the owner writes bottom_; thieves and the owner may advance top_ by CAS.
//   2. top_ <= bottom_ + 1 at all times; the entries in [top_, bottom_) are live.
//   3. slot i is written only by push, and only while i - top_ < capacity, so a slot
//      is never overwritten while it may still be taken.
//
// Races (the three interleavings, as in Lê, Pop, Cohen, Zappa Nardelli, PPoPP 2013):
//   a. take vs steal on the last entry: both see top_ == bottom_-1 after take lowered
//      bottom_; both CAS top_, exactly one wins, the loser reports empty.
//   b. take vs steal with two or more entries: take lowered bottom_ first (seq_cst
//      store), so a thief reading bottom_ afterwards cannot reach the owner's entry; a
//      thief that read the old bottom_ takes top_, which differs from the owner's.
//   c. push vs steal: the entry is stored before bottom_ is released, so a thief that
//      sees the new bottom_ sees the entry. A thief that read a stale slot fails its CAS.
//
// Memory orders: bottom_ and top_ use seq_cst where the algorithm needs StoreLoad order
// (take's store of bottom_ before its load of top_; steal's load of top_ before its load
// of bottom_). We use seq_cst operations, not seq_cst fences, so ThreadSanitizer sees
// every edge; on x86 the only cost is take's bottom_ store becoming an xchg, the same
// price as the fence it replaces.
#pragma once

#include <algorithm>
#include <atomic>
#include <coroutine>
#include <cstdint>
#include <memory>

namespace goro::detail {

class work_stealing_deque {
 public:
  explicit work_stealing_deque(std::size_t capacity)
      : mask_(capacity - 1), slots_(std::make_unique<std::atomic<void*>[]>(capacity)) {}

  std::size_t capacity() const { return mask_ + 1; }

  // Owner only. Returns false, changing nothing, when the deque is full.
  bool push(std::coroutine_handle<> h) {
    const std::int64_t b = bottom_.load(std::memory_order_relaxed);  // only the owner writes it
    if (b - top_seen_ > static_cast<std::int64_t>(mask_)) {
      // acquire: pairs with the CAS of a steal, so the slot it read is free to reuse (3).
      // Reloaded only when the cached value says "full": top_ only grows, so a stale
      // value errs on the safe side, and pushes do not pull in the thieves' cache line.
      top_seen_ = top_.load(std::memory_order_acquire);
      if (b - top_seen_ > static_cast<std::int64_t>(mask_)) return false;
    }
    // relaxed: published by the release store of bottom_ below.
    slots_[b & mask_].store(h.address(), std::memory_order_relaxed);
    // release: a thief that loads this bottom_ (seq_cst, so acquire) sees the slot (c).
    bottom_.store(b + 1, std::memory_order_release);
    return true;
  }

  // Owner only: the newest entry, or null.
  std::coroutine_handle<> take() {
    const std::int64_t b = bottom_.load(std::memory_order_relaxed) - 1;  // owner's own value
    // seq_cst: this store must be ordered before the load of top_ below (a, b).
    bottom_.store(b, std::memory_order_seq_cst);
    std::int64_t t = top_.load(std::memory_order_seq_cst);
    if (t > b) {  // empty
      bottom_.store(b + 1, std::memory_order_relaxed);  // owner's own value, no reader needs order
      return nullptr;
    }
    void* h = slots_[b & mask_].load(std::memory_order_relaxed);  // written by this thread
    if (t == b) {
      // Last entry: race the thieves for it (a). seq_cst as the steal's CAS.
      if (!top_.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst, std::memory_order_relaxed))
        h = nullptr;
      bottom_.store(b + 1, std::memory_order_relaxed);
    }
    return std::coroutine_handle<>::from_address(h);
  }

  // Owner only: moves up to `max` of the oldest entries (at most half the deque) to
  // `out` with a single CAS; returns how many. Safe against thieves because the owner's
  // bottom_ cannot move meanwhile: the only other takers CAS top_ too.
  std::size_t take_oldest(std::coroutine_handle<>* out, std::size_t max) {
    const std::int64_t b = bottom_.load(std::memory_order_relaxed);  // owner's own value
    for (;;) {
      std::int64_t t = top_.load(std::memory_order_acquire);  // pairs with the thieves' CAS
      const std::size_t n = std::min(max, static_cast<std::size_t>(b > t ? (b - t) / 2 : 0));
      if (n == 0) return 0;
      for (std::size_t i = 0; i < n; ++i)  // own writes, relaxed
        out[i] = std::coroutine_handle<>::from_address(slots_[(t + i) & mask_].load(std::memory_order_relaxed));
      // seq_cst: as every CAS of top_ (see steal).
      if (top_.compare_exchange_strong(t, t + static_cast<std::int64_t>(n), std::memory_order_seq_cst,
                                       std::memory_order_relaxed))
        return n;
    }
  }

  // Any thread: the oldest entry, or null when empty or when another taker won the race.
  std::coroutine_handle<> steal() {
    // seq_cst: top_ must be read before bottom_ (b).
    std::int64_t t = top_.load(std::memory_order_seq_cst);
    const std::int64_t b = bottom_.load(std::memory_order_seq_cst);
    if (t >= b) return nullptr;
    // relaxed: ordered after the push by the bottom_ load above (c); a stale value is
    // discarded when the CAS fails.
    void* h = slots_[t & mask_].load(std::memory_order_relaxed);
    if (!top_.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst, std::memory_order_relaxed))
      return nullptr;
    return std::coroutine_handle<>::from_address(h);
  }

  // The index of the oldest entry (advances with every steal); a snapshot.
  std::int64_t top_index() const {
    return top_.load(std::memory_order_relaxed);  // a hint for starvation checks only
  }

  // Any thread; a snapshot that may be stale by the time it returns.
  std::size_t size_hint() const {
    // seq_cst: a parking worker reads it after its own seq_cst fence-like store to decide
    // whether work was published (see runtime.cpp, "Parking").
    const std::int64_t b = bottom_.load(std::memory_order_seq_cst);
    const std::int64_t t = top_.load(std::memory_order_seq_cst);
    return b > t ? static_cast<std::size_t>(b - t) : 0;
  }

 private:
  // Thieves write top_ and the owner writes bottom_: separate cache lines.
  alignas(64) std::atomic<std::int64_t> top_{0};
  alignas(64) std::atomic<std::int64_t> bottom_{0};
  alignas(64) const std::size_t mask_;
  std::int64_t top_seen_ = 0;  // owner only: a past value of top_, <= the current one
  std::unique_ptr<std::atomic<void*>[]> slots_;
};

}  // namespace goro::detail
