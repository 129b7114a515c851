// Frame pool and live-root registry: see include/goro/detail/frame_pool.hpp.
#include "goro/detail/frame_pool.hpp"

#include <pthread.h>

#include <array>
#include <atomic>
#include <cassert>
#include <cstdint>
#include <mutex>
#include <new>
#include <unordered_set>

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
// Blocks per batch (and per slab): about 16 KiB, at least 8 (picked, to be tuned). A
// table, so the free path divides nothing.
constexpr auto batch_table = [] {
  std::array<std::uint32_t, class_count> t{};
  for (std::size_t cls = 0; cls < class_count; ++cls) {
    const std::size_t n = 16384 / block_size(cls);
    t[cls] = static_cast<std::uint32_t>(n < 8 ? 8 : n);
  }
  return t;
}();
constexpr std::size_t batch_blocks(std::size_t cls) { return batch_table[cls]; }

struct free_block {
  free_block* next;
};

constexpr std::size_t header_size = frame_header_size;

// The link word of an oversized block (not from a slab) points here.
char oversized;

// A free block keeps its header readable (the link word, the root, the trace); the
// rest is poisoned under ASan, so a frame used after it was freed is reported even
// though its memory stays in the pool.
void poison(void* b, std::size_t size) {
#ifdef GORO_ASAN
  ASAN_POISON_MEMORY_REGION(static_cast<char*>(b) + header_size, size - header_size);
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

struct block_list {
  free_block* head;
  std::uint32_t count;
};

struct slab {
  char* memory;
  std::size_t cls;
};

// Global depot of block lists per class. Guarded by its mutex, never nested
// with another goro lock.
struct depot {
  std::mutex mu;
  std::array<std::vector<block_list>, class_count> lists;  // under mu
  std::vector<slab> slabs;                                 // under mu
  std::unordered_set<void*> big_roots;  // under mu; oversized live root frames
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

// Returns the exiting thread's cached blocks to the global depot. Registered (once per
// thread) by the first allocation or free on that thread.
pthread_key_t exit_key;
void flush_at_exit(void*) {
  std::lock_guard lock(global_depot().mu);
  for (std::size_t cls = 0; cls < class_count; ++cls) {
    block_list& c = cache.classes[cls];
    if (c.count != 0) global_depot().lists[cls].push_back(c);
    c = {nullptr, 0};
  }
}
void set_exit_hook() {
  static const bool key_made = [] { return pthread_key_create(&exit_key, flush_at_exit) == 0; }();
  if (key_made) pthread_setspecific(exit_key, &cache);
  cache.exit_hook_set = true;
}

// Slow path of alloc: take a list from the depot, or carve a new slab.
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
  // Cache-line aligned, so a 64- or 128-byte block spans one or two lines, not two or three.
  char* memory = static_cast<char*>(::operator new(size * n, std::align_val_t{64}));
  for (std::size_t i = 0; i < n; ++i) {
    char* b = memory + i * size;
    new (b) frame_header{nullptr, nullptr, {}};
    reinterpret_cast<free_block*>(b)->next = i + 1 < n ? reinterpret_cast<free_block*>(b + size) : nullptr;
    poison(b, size);
  }
  {
    std::lock_guard lock(d.mu);
    d.slabs.push_back({memory, cls});
  }
  cache.classes[cls] = {reinterpret_cast<free_block*>(memory), static_cast<std::uint32_t>(n)};
  return cache.classes[cls].head;
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

void* alloc(std::size_t cls) {
  block_list& c = cache.classes[cls];
  free_block* b = c.head ? c.head : refill(cls);
  unpoison(b, block_size(cls));
  c.head = b->next;
  --c.count;
  return b;
}

void free_to_cache(std::size_t cls, void* block) {
  if (!cache.exit_hook_set) set_exit_hook();  // a thread may only ever free frames
  block_list& c = cache.classes[cls];
  auto* b = static_cast<free_block*>(block);
  b->next = c.head;
  poison(b, block_size(cls));
  c.head = b;
  if (++c.count >= 2 * batch_blocks(cls)) release_batch(cls);
}

}  // namespace

void* frame_alloc(std::size_t size) {
  const std::size_t total = size + header_size;
  char* block;
  if (total > max_pooled_frame) {
    block = static_cast<char*>(::operator new(total));
    new (block) frame_header{&oversized, nullptr, {}};
  } else {
    block = static_cast<char*>(alloc(class_of(total)));
    reinterpret_cast<frame_header*>(block)->link = nullptr;  // the stale free-list link
  }
  return block + header_size;
}

void frame_free(void* frame, std::size_t size) noexcept {
  frame_header& h = header_of(frame);
  // relaxed, and a load and a store rather than an exchange (a locked instruction): only
  // the thread freeing the frame writes it now. A walker of live_roots may still see the
  // old root; it only reads the trace, and checks `root` again afterwards (lib/trace.cpp).
  const bool was_live = h.root.load(std::memory_order_relaxed) != nullptr;
  h.root.store(nullptr, std::memory_order_relaxed);
  if (h.link == &oversized) {
    if (was_live) {
      std::lock_guard lock(global_depot().mu);
      global_depot().big_roots.erase(frame);
    }
    ::operator delete(&h);
  } else {
    free_to_cache(class_of(size + header_size), &h);
  }
}

void mark_root_live(void* frame, void* root) noexcept {
  frame_header& h = header_of(frame);
  assert((h.link == nullptr || h.link == &oversized) && "goro: a root frame that did not come from frame_alloc");
  assert(h.root.load(std::memory_order_relaxed) == nullptr && "goro: root frame marked live twice");
  // release: a walker's acquire load that sees the root sees its trace written (id, start
  // site); a plain store on x86.
  h.root.store(root, std::memory_order_release);
  if (h.link == &oversized) {  // not in any slab: remember it by address
    std::lock_guard lock(global_depot().mu);
    global_depot().big_roots.insert(frame);
  }
}

std::vector<live_root> live_roots() {
  std::vector<live_root> roots;
  depot& d = global_depot();
  std::lock_guard lock(d.mu);
  for (const slab& s : d.slabs) {
    const std::size_t size = block_size(s.cls);
    for (std::size_t i = 0; i < batch_blocks(s.cls); ++i) {
      auto* h = reinterpret_cast<frame_header*>(s.memory + i * size);
      if (void* r = h->root.load(std::memory_order_acquire)) roots.push_back({r, h});  // see mark_root_live
    }
  }
  for (void* frame : d.big_roots)  // under d.mu, as their insertion and removal
    if (void* r = header_of(frame).root.load(std::memory_order_acquire)) roots.push_back({r, &header_of(frame)});
  return roots;
}

}  // namespace goro::detail
