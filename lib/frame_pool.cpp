// Frame pool: see include/goro/detail/frame_pool.hpp for the design and invariants.
#include "goro/detail/frame_pool.hpp"

#include <pthread.h>

#include <array>
#include <cstdint>
#include <mutex>
#include <new>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define GORO_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GORO_ASAN 1
#endif
#endif
#ifdef GORO_ASAN
#include <sanitizer/asan_interface.h>
#endif

namespace goro::detail {
namespace {

constexpr std::size_t granule = 32;  // class width; keeps every block 16-byte aligned
constexpr std::size_t class_count = max_pooled_frame / granule;

constexpr std::size_t class_of(std::size_t size) { return (size + granule - 1) / granule - 1; }
constexpr std::size_t block_size(std::size_t cls) { return (cls + 1) * granule; }
// Blocks per batch: about 16 KiB per batch, at least 8 (picked, to be tuned).
constexpr std::size_t batch_blocks(std::size_t cls) {
  std::size_t n = 16384 / block_size(cls);
  return n < 8 ? 8 : n;
}

struct free_block {
  free_block* next;
};

// A free block keeps its link word readable; the rest is poisoned under ASan, so a frame
// used after it was freed is reported even though the memory stays in the pool.
void poison(free_block* b, std::size_t size) {
#ifdef GORO_ASAN
  ASAN_POISON_MEMORY_REGION(reinterpret_cast<char*>(b) + sizeof(free_block), size - sizeof(free_block));
#else
  (void)b, (void)size;
#endif
}
void unpoison(void* b, std::size_t size) {
#ifdef GORO_ASAN
  ASAN_UNPOISON_MEMORY_REGION(b, size);
#else
  (void)b, (void)size;
#endif
}

// A singly linked list of free blocks of one class and its length.
struct block_list {
  free_block* head;
  std::uint32_t count;
};

// Global depot: lists of blocks per class (a batch each, or a thread's leftovers). Guarded by its mutex; never nested with another
// goro lock.
struct depot {
  std::mutex mu;
  std::array<std::vector<block_list>, class_count> lists;  // under mu
  std::vector<void*> slabs;                                   // under mu; keeps slabs reachable
};
depot& global_depot() {
  static depot* d = new depot;  // never destroyed: frames may be freed during static destruction
  return *d;
}

struct thread_cache {
  std::array<block_list, class_count> classes;
  bool exit_hook_set;
};
// Trivially constructible and destructible, so access needs no TLS guard.
constinit thread_local thread_cache cache{};

pthread_key_t exit_key;
void flush_at_exit(void*) { frame_cache_flush(); }
void set_exit_hook() {
  static const bool key_made = [] { return pthread_key_create(&exit_key, flush_at_exit) == 0; }();
  if (key_made) pthread_setspecific(exit_key, &cache);
  cache.exit_hook_set = true;
}

// Slow path of frame_alloc: take a batch from the depot, or carve a new slab.
free_block* refill(std::size_t cls) {
  if (!cache.exit_hook_set) set_exit_hook();
  const std::size_t size = block_size(cls), n = batch_blocks(cls);
  depot& d = global_depot();
  {
    std::lock_guard lock(d.mu);
    auto& lists = d.lists[cls];
    if (!lists.empty()) {
      cache.classes[cls] = lists.back();
      lists.pop_back();
      return cache.classes[cls].head;
    }
  }
  char* slab = static_cast<char*>(::operator new(size * n));
  for (std::size_t i = 0; i < n; ++i) {
    auto* b = reinterpret_cast<free_block*>(slab + i * size);
    b->next = i + 1 < n ? reinterpret_cast<free_block*>(slab + (i + 1) * size) : nullptr;
    poison(b, size);
  }
  {
    std::lock_guard lock(global_depot().mu);
    global_depot().slabs.push_back(slab);
  }
  auto* first = reinterpret_cast<free_block*>(slab);
  cache.classes[cls] = {first, static_cast<std::uint32_t>(n)};
  return first;
}

// Moves one batch (the first batch_blocks(cls) blocks) of the list to the depot.
void release_batch(std::size_t cls) {
  block_list& c = cache.classes[cls];
  const std::size_t n = batch_blocks(cls);
  free_block* batch = c.head;
  free_block* last = batch;
  for (std::size_t i = 1; i < n; ++i) last = last->next;
  c.head = last->next;
  c.count -= static_cast<std::uint32_t>(n);
  last->next = nullptr;
  std::lock_guard lock(global_depot().mu);
  global_depot().lists[cls].push_back({batch, static_cast<std::uint32_t>(n)});
}

}  // namespace

void* frame_alloc(std::size_t size) {
  if (size > max_pooled_frame) return ::operator new(size);
  const std::size_t cls = class_of(size);
  block_list& c = cache.classes[cls];
  free_block* b = c.head ? c.head : refill(cls);
  unpoison(b, block_size(cls));
  c.head = b->next;
  --c.count;
  return b;
}

void frame_free(void* frame, std::size_t size) noexcept {
  if (size > max_pooled_frame) {
    ::operator delete(frame);
    return;
  }
  const std::size_t cls = class_of(size);
  block_list& c = cache.classes[cls];
  auto* b = static_cast<free_block*>(frame);
  b->next = c.head;
  poison(b, block_size(cls));
  c.head = b;
  if (++c.count >= 2 * batch_blocks(cls)) release_batch(cls);
}

void frame_cache_flush() noexcept {
  std::lock_guard lock(global_depot().mu);
  for (std::size_t cls = 0; cls < class_count; ++cls) {
    block_list& c = cache.classes[cls];
    if (c.count != 0) global_depot().lists[cls].push_back(c);
    c = {nullptr, 0};
  }
}

}  // namespace goro::detail
