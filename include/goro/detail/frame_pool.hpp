// Coroutine frame allocation: per-thread size-class free lists, the analogue of Go's
// per-P stack cache (runtime/stack.go: stackcache_refill / stackcache_release).
//
// Design
//   Every goro coroutine frame (task<T>, spawned roots) is allocated through
//   frame_alloc/frame_free from the promise's operator new/delete. Frames up to
//   max_pooled_frame bytes come from a free list of their size class owned by the
//   calling thread: no lock and no atomic on the common path. Larger frames go to
//   ::operator new.
//
// Invariants
//   1. A thread's free lists are touched only by that thread.
//   2. A frame freed on another thread than the one that allocated it simply joins the
//      freeing thread's list: blocks are interchangeable within a size class.
//   3. A list longer than 2 * batch moves one batch to the global depot (one mutex per
//      batch), and an empty list takes a batch back (or carves a fresh slab), so memory
//      flowing from producer threads to consumer threads comes back in batches.
//   4. Slabs are never returned to the system while the process lives: like Go's stack
//      cache, the pool keeps its peak and reuses it.
//
// Rejected: a header word per block naming its owner thread, so frees go home through a
// remote queue (mimalloc). Sized delete already gives the class, and invariant 2 makes
// the owner irrelevant, so the extra word and the atomic remote queue buy nothing here.
#pragma once

#include <cstddef>

namespace goro::detail {

// Frames larger than this come from ::operator new (picked: covers the frames goro's
// own tests and benchmarks produce, which are 100-600 bytes; to be tuned).
inline constexpr std::size_t max_pooled_frame = 2048;

void* frame_alloc(std::size_t size);
void frame_free(void* frame, std::size_t size) noexcept;

// Returns the calling thread's cached blocks to the global depot. Worker threads call it
// when they exit; other threads' caches are flushed by a thread-exit hook.
void frame_cache_flush() noexcept;

}  // namespace goro::detail
