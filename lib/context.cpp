// The context tree (include/goro/context.hpp): Go's context.go for tasks.
//
// Nodes
//   Every context other than background() is a reference-counted context_node with a
//   strong reference to its parent (values are found by walking up). Three kinds:
//     cancel   - with_cancel / with_deadline / with_timeout / with_cancel_cause: it can
//                be cancelled, has waiters (done()), children, maybe a deadline timer;
//     value    - with_value: a key and a value;
//     detached - without_cancel: values pass through, cancellation does not.
//   `canceler` is the nearest cancel node on the chain (the node itself for a cancel
//   node; null under a detached node or background): err(), done() and deadline() of
//   any context are its canceler's.
//
// Invariants (each cancel node n)
//   1. n.state goes 0 -> errc once, under n.lock; n.cause is written before that store
//      and never again.
//   2. n is in its link parent's children list (n.linked) only while n is live; the
//      list holds a reference to n. A child links to its parent's canceler, under the
//      canceler's lock, only if the canceler is live (else it is born cancelled), so a
//      live parent's children are exactly its live cancel descendants one level down.
//   3. n's deadline timer is armed before n is shared and removed by whoever cancels n,
//      so a node is never freed while its timer is queued: the node lives while its
//      cancel_func does, and the cancel_func cancels it when destroyed.
//   4. n.waiters holds parked done() waiters only while n is live.
//
// Cancelling n (context_cancel): under n.lock set state and cause, take the waiters and
// the whole children list (clearing each child's `linked`, since that flag is guarded
// by n.lock); unlock; wake the waiters; remove the timer; unlink n from its own parent
// (under the parent's lock); then cancel the taken children the same way, iteratively
// with an explicit stack threaded through next_sibling (a deep tree must not overflow
// the native stack). All of it happens before cancel returns.
//
// Races
//   - Two cancels of one node (its cancel_func on one thread, its parent's propagation on
//     another): exactly one wins the state change under n.lock; the loser returns. The
//     propagation owns the child's list reference it took and drops it afterwards; the
//     node's own cancel finds `linked` false and does not unlink again.
//   - A child created while its parent is being cancelled: it links under the parent's
//     lock, so either it is linked before the cancel takes the list (and is cancelled
//     with it) or it sees the state set (born cancelled).
//   - A deadline firing while the node is cancelled explicitly: the timer's fire() runs
//     under the worker's timer lock and pins the node (a reference); after the lock it
//     cancels with deadline_exceeded, which loses to an earlier cancel.
//
// Deadlock safety: a thread holds at most one context lock at a time, and takes nothing
// under it (waking and timer removal happen after unlocking). A select takes context
// locks among its guards (rank select_guard, address order, see
// goro/detail/short_lock.hpp).
#include <new>
#include <stdexcept>

#include "goro/context.hpp"
#include "goro/detail/scheduler_hooks.hpp"
#include "runtime.hpp"

namespace goro::detail {

struct cancel_node;

struct context_node {
  enum class kind : std::uint8_t { cancel, value, detached };

  context_node(kind k, context_node* parent_node, cancel_node* canceler_node) noexcept
      : what(k), parent(parent_node), canceler(canceler_node) {
    context_retain(parent);
  }
  virtual ~context_node() = default;
  context_node(const context_node&) = delete;
  context_node& operator=(const context_node&) = delete;

  std::atomic<std::uint32_t> refs{1};
  const kind what;
  context_node* const parent;     // strong reference; null: background
  cancel_node* const canceler;    // see the top; immutable
};

namespace {

struct value_node final : context_node {
  value_node(context_node* parent_node, const void* k, std::unique_ptr<context_value_base> v) noexcept
      : context_node(kind::value, parent_node, parent_node ? parent_node->canceler : nullptr),
        key(k),
        value(std::move(v)) {}
  const void* const key;
  const std::unique_ptr<context_value_base> value;
};

}  // namespace

struct cancel_node final : context_node, timer_node {
  cancel_node(context_node* parent_node, std::optional<clock::time_point> effective_deadline) noexcept
      : context_node(kind::cancel, parent_node, this),
        link_parent(parent_node ? parent_node->canceler : nullptr),
        deadline_at(effective_deadline) {}

  short_lock lock{lock_rank::select_guard};
  // 0 while live, then the errc. Written once under `lock` (release, pairs with the
  // acquire in context_err / context_cause); read under the lock relaxed.
  std::atomic<int> state{0};
  std::error_code cause;  // written once, before `state` is released; never empty once set
  cancel_node* const link_parent;  // the parent's canceler (kept alive by the parent chain)
  const std::optional<clock::time_point> deadline_at;  // the earliest on the chain
  bool timer_armed = false;  // this node's own timer was added; written before sharing

  // Under lock:
  waiter_queue waiters;
  cancel_node* children = nullptr;  // each holds a reference
  // Under link_parent->lock (and, once unlinked, owned by whoever unlinked it: see the top):
  cancel_node* prev_sibling = nullptr;
  cancel_node* next_sibling = nullptr;
  bool linked = false;
};

namespace {

cancel_node* as_cancel(context_node* n) noexcept { return static_cast<cancel_node*>(n); }
const cancel_node* as_cancel(const context_node* n) noexcept { return static_cast<const cancel_node*>(n); }

// Marks n cancelled, wakes its waiters, removes its timer and pushes its children (with
// the list's references) on `stack`. Returns false if n already was cancelled.
bool cancel_one(cancel_node& n, errc err, std::error_code cause, cancel_node*& stack) noexcept {
  wake_list woken;
  {
    short_lock_guard guard(n.lock);
    if (n.state.load(std::memory_order_relaxed) != 0) return false;  // under the lock: exact
    n.cause = cause ? cause : make_error_code(err);
    n.state.store(static_cast<int>(err), std::memory_order_release);  // pairs with context_err's acquire
    while (waiter* w = n.waiters.dequeue_claimed()) woken.append(*w);  // FIFO wake order
    for (cancel_node* k = n.children; k;) {
      cancel_node* next = k->next_sibling;
      k->linked = false;  // guarded by n.lock; k and its list reference now belong to us
      k->prev_sibling = nullptr;
      k->next_sibling = stack;
      stack = k;
      k = next;
    }
    n.children = nullptr;
  }
  woken.wake_all();
  if (n.timer_armed) timer_cancel(n);
  return true;
}

// Takes n out of its parent's children list, if it is still there.
void unlink(cancel_node& n) noexcept {
  cancel_node* p = n.link_parent;
  if (!p) return;
  bool was_linked;
  {
    short_lock_guard guard(p->lock);
    was_linked = n.linked;
    if (was_linked) {
      (n.prev_sibling ? n.prev_sibling->next_sibling : p->children) = n.next_sibling;
      if (n.next_sibling) n.next_sibling->prev_sibling = n.prev_sibling;
      n.prev_sibling = n.next_sibling = nullptr;
      n.linked = false;
    }
  }
  if (was_linked) context_release(&n);  // the list's reference; the caller still holds one
}

}  // namespace

void context_retain(context_node* n) noexcept {
  if (n) n->refs.fetch_add(1, std::memory_order_relaxed);  // the caller already holds one
}

void context_release(context_node* n) noexcept {
  // Iterative: dropping the last reference to a long chain must not recurse.
  while (n) {
    // acq_rel: release publishes this holder's uses; the acquire of the last release
    // makes all of them visible before the delete.
    if (n->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    context_node* parent = n->parent;
    delete n;
    n = parent;
  }
}

context_node* context_canceler(context_node* n) noexcept { return n ? n->canceler : nullptr; }

std::error_code context_err(const context_node* canceler) noexcept {
  if (!canceler) return {};
  const int s = as_cancel(canceler)->state.load(std::memory_order_acquire);  // pairs with cancel_one's release
  return s ? make_error_code(static_cast<errc>(s)) : std::error_code();
}

std::error_code context_cause(const context_node* canceler) noexcept {
  if (!canceler) return {};
  const cancel_node* c = as_cancel(canceler);
  // acquire: pairs with cancel_one's release, which follows the write of cause.
  return c->state.load(std::memory_order_acquire) ? c->cause : std::error_code();
}

std::optional<clock::time_point> context_deadline(const context_node* canceler) noexcept {
  return canceler ? as_cancel(canceler)->deadline_at : std::nullopt;
}

void context_cancel(context_node* canceler, errc err, std::error_code cause) noexcept {
  cancel_node* stack = nullptr;
  cancel_node& n = *as_cancel(canceler);
  if (!cancel_one(n, err, cause, stack)) return;
  unlink(n);
  const std::error_code inherited = n.cause;  // ours: we wrote it
  while (cancel_node* k = stack) {
    stack = k->next_sibling;
    k->next_sibling = nullptr;
    cancel_one(*k, err, inherited, stack);
    context_release(k);  // the reference the parent's list held
  }
}

short_lock& context_lock(context_node* canceler) noexcept { return as_cancel(canceler)->lock; }

bool context_done_locked(const context_node* canceler) noexcept {
  return as_cancel(canceler)->state.load(std::memory_order_relaxed) != 0;  // under the lock
}

void context_enqueue_locked(context_node* canceler, waiter& w) noexcept { as_cancel(canceler)->waiters.push_back(w); }

void context_dequeue_locked(context_node* canceler, waiter& w) noexcept { as_cancel(canceler)->waiters.remove(w); }

bool context_park(context_node* canceler, waiter& w, std::coroutine_handle<> task, parked_task* parked,
                  const std::source_location& where) noexcept {
  cancel_node& n = *as_cancel(canceler);
  short_lock_guard guard(n.lock);
  if (n.state.load(std::memory_order_relaxed) != 0) return false;  // under the lock
  // Under the lock, so before a canceller can find w; and only when the task parks.
  if (parked) parked->park(wait_kind::context_done, canceler, 0, where);
  w.task = task;
  n.waiters.push_back(w);
  return true;
}

const context_value_base* context_find_value(const context_node* n, const void* key) noexcept {
  for (; n; n = n->parent)
    if (n->what == context_node::kind::value) {
      auto* v = static_cast<const value_node*>(n);
      if (v->key == key) return v->value.get();
    }
  return nullptr;
}

context_node* context_make_cancel(context_node* parent, std::optional<clock::time_point> deadline) {
  cancel_node* pc = parent ? parent->canceler : nullptr;
  std::optional<clock::time_point> effective = pc ? pc->deadline_at : std::nullopt;
  // A deadline later than the parent's never fires first: the node is a plain cancel
  // node with the parent's deadline (Go's WithDeadline does the same).
  const bool own_deadline = deadline && (!effective || *deadline < *effective);
  if (own_deadline) effective = deadline;
  const bool arm = own_deadline && clock::now() < *deadline;
  if (arm && !current_worker)
    throw std::logic_error("goro: a context with a deadline (with_timeout, with_deadline) created outside a goro task");

  auto* n = new cancel_node(parent, effective);
  if (arm) {
    n->fire = [](timer_node& t) noexcept -> std::coroutine_handle<> {
      // Under the worker's timer lock: pin the node for after_fire (invariant 3).
      static_cast<cancel_node&>(t).refs.fetch_add(1, std::memory_order_relaxed);  // a holder exists: the heap's
      return {};
    };
    n->after_fire = [](timer_node& t) noexcept {
      auto& c = static_cast<cancel_node&>(t);
      context_cancel(&c, errc::deadline_exceeded, {});
      context_release(&c);
    };
    n->deadline = *deadline;
    timer_add(*n);  // before n is shared (invariant 3); only this worker fires it
    n->timer_armed = true;
  }
  if (pc) {
    bool parent_done;
    {
      short_lock_guard guard(pc->lock);
      parent_done = pc->state.load(std::memory_order_relaxed) != 0;  // under the lock
      if (!parent_done) {
        context_retain(n);  // the list's reference
        n->next_sibling = pc->children;
        if (pc->children) pc->children->prev_sibling = n;
        pc->children = n;
        n->linked = true;
      }
    }
    if (parent_done) {
      // Born cancelled with the parent's err and cause; the parent's fields are final
      // (acquire: pairs with cancel_one's release, although the lock already ordered them).
      context_cancel(n, static_cast<errc>(pc->state.load(std::memory_order_acquire)), pc->cause);
      return n;
    }
  }
  if (own_deadline && !arm) context_cancel(n, errc::deadline_exceeded, {});  // already past
  return n;
}

context_node* context_make_value(context_node* parent, const void* key, std::unique_ptr<context_value_base> v) {
  return new value_node(parent, key, std::move(v));
}

context_node* context_make_detached(context_node* parent) {
  // Keeps the parent's values (the parent chain) but has no canceler.
  return new context_node(context_node::kind::detached, parent, nullptr);
}

}  // namespace goro::detail
