// Coroutine frame allocation: per-thread size-class free lists, the analogue of Go's
// per-P stack cache (runtime/stack.go: stackcache_refill / stackcache_release); and the
// registry of live spawned tasks, which lives in the same pool.
//
// Design
//   Every goro coroutine frame (task<T> and the wrapper of spawned callables) is allocated
//   through this pool from its promise's operator new/delete. Frames up to
//   max_pooled_frame bytes come from a free list of their size class owned by the
//   calling thread: no lock and no atomic on the common path. Larger frames go to
//   ::operator new. Each block carries a header in front of the frame, because
//   any task frame may become a spawned task's root (goro::spawn of a function taking its
//   parameters by value runs in the function's own frame). A root is "live" from
//   mark_root_live (at spawn) until its frame is freed; the live roots are found by
//   walking the slabs (live_roots), so registering and unregistering a task is one store
//   into its own, already hot, frame header.
//
// Invariants
//   1. A thread's free lists are touched only by that thread.
//   2. A frame freed on another thread than the one that allocated it joins the freeing
//      thread's list: blocks are interchangeable within a size class.
//   3. A list longer than 2 * batch moves one batch to the global depot (one mutex per
//      batch), and an empty list takes one back (or carves a fresh slab), so memory
//      flowing from producer threads to consumer threads comes back in batches.
//   4. Slabs are never returned to the system while the process lives: like Go's stack
//      cache, the pool keeps its peak and reuses it; slabs must stay walkable.
//   5. A block's header holds the live root, or null while the block is free or its
//      frame is not a spawned task. Oversized live roots are kept in a mutex-guarded set.
//
// Rejected: a per-worker intrusive list of live tasks with remote frees sent home
// through an atomic stack (mimalloc's scheme). Unlinking touched neighbouring frames,
// and tasks finished on another worker went back to their owner through a CAS and a
// walk of cold frames: 17% of perf/spawn_join.
#pragma once

#include <cstddef>
#include <vector>

#include "goro/detail/task_trace.hpp"

namespace goro::detail {

// In front of every frame. `link` overlaps the free list's next pointer while the block
// is free; `root` is null then (invariant 5). `trace` is built with the slab and only
// ever accessed atomically (task_trace).
struct frame_header {
  void* link;
  std::atomic<void*> root;
  task_trace trace;
};
inline constexpr std::size_t frame_header_size = sizeof(frame_header);
static_assert(frame_header_size % 16 == 0, "frames must stay 16-byte aligned");

inline frame_header& header_of(void* frame) noexcept {
  return *reinterpret_cast<frame_header*>(static_cast<char*>(frame) - frame_header_size);
}
// The trace of a root frame (as returned by frame_alloc).
inline task_trace& trace_of(void* frame) noexcept { return header_of(frame).trace; }

// Frames larger than this come from ::operator new (picked: covers the frames goro's
// own tests and benchmarks produce, which are 100-600 bytes; to be tuned).
inline constexpr std::size_t max_pooled_frame = 2048;

void* frame_alloc(std::size_t size);
void frame_free(void* frame, std::size_t size) noexcept;
// Marks `frame` (as returned by frame_alloc) as the live spawned task `root`. Only the
// thread that allocated it, before publishing the task.
void mark_root_live(void* frame, void* root) noexcept;
// Every live root. While other threads spawn and finish tasks, a root in the answer may
// already be finished and its frame freed or reused: read only its trace (lib/trace.cpp)
// unless no other thread runs tasks (after the workers stopped).
struct live_root {
  void* root;
  frame_header* header;
};
std::vector<live_root> live_roots();

}  // namespace goro::detail
