// goro::select: Go's select statement.
//
//   auto r = co_await goro::select(in.recv(), out.send(v), goro::after(1s));
//   switch (r.index()) {
//     case 0: if (auto& v = std::get<0>(r)) use(*v); else /* in closed */; break;
//     case 1: /* v was sent */ break;
//     case 2: /* one second passed */ break;
//   }
//
// Contract
//   - The arguments are cases: a channel's recv() or send(v) (goro/chan.hpp), a timer
//     goro::after(d), goro::default_case, a context's done() (goro/context.hpp), a
//     semaphore's acquire(n) (goro/sync.hpp), and any type derived from
//     detail::select_case (goro/detail/select_case.hpp describes the protocol).
//   - Suspends until one case can complete, completes exactly that one, and returns
//     which it was. When several are ready, one is chosen uniformly at random. Without a
//     ready case, default_case (if given) is chosen at once and nothing happens.
//   - The result is a std::variant with one alternative per case, in argument order, so
//     r.index() is the winning case's position and std::get<i>(r) its result:
//       ch.recv()     -> recv_result<T> (std::optional<T>; empty if ch is closed;
//                        bool for chan<void>)
//       ch.send(v)    -> goro::sent (the select throws closed_channel_error instead if
//                        ch is closed when this case is chosen)
//       after(d)      -> goro::timed_out
//       ctx.done()    -> std::error_code (ctx.err())
//       s.acquire(n)  -> goro::acquired (the n units are taken)
//       default_case  -> goro::default_case_t
//   - A case that lost did nothing: a send did not send and did not move its value, a
//     receive took nothing, a timer is removed. A nil channel's case is never chosen; a
//     select whose every case is nil, with no timer and no default, waits forever.
//   - The same channel may appear in several cases; a select never pairs its own send
//     with its own receive.
//   - Waking: the winning peer wakes the task onto its own worker (as chan does). A
//     select allocates nothing; it holds every case's waiter in the awaiting frame.
//   - Like the operations it takes, a select borrows their channels and values: await
//     it in the expression that creates it.
//   - A parked select shows in goro::dump_tasks as "select" waiting at its first case's
//     call (so write that case on the co_await's line); its cases record nothing.
//
// Go: select { case v, ok := <-in: ... case out <- v: ... case <-time.After(d): ...
// default: ... }. Design: lib/select.cpp (Go's selectgo).
#pragma once

#include <array>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <source_location>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

#include "goro/chan.hpp"
#include "goro/detail/select_case.hpp"
#include "goro/time.hpp"

namespace goro {

// The default case; its result alternative is default_case_t.
struct default_case_t {
  explicit constexpr default_case_t(int) noexcept {}
};
inline constexpr default_case_t default_case{0};

// The result of an after() case that won.
struct timed_out {};

// The case goro::after(d) returns: ready once its deadline has passed. Its timer is
// armed only while the select waits, and removed when another case wins. Reusable: each
// select takes a copy, so one after() may serve every round of a loop (one deadline).
class after_case final : public detail::select_case, detail::timer_node {
 public:
  using result_type = timed_out;

  after_case(clock::time_point deadline, const std::source_location& where) noexcept : select_case(where) {
    this->deadline = deadline;
    fire = [](timer_node& t) noexcept {
      auto& self = static_cast<after_case&>(t);
      return self.select_->try_win(self.index_) ? self.task_ : std::coroutine_handle<>();
    };
  }
  // A copy has the same deadline and is not armed: `auto timeout = goro::after(1s);`
  // outside a loop, then select(..., timeout) in it, is Go's hoisted time.After.
  after_case(const after_case& other) noexcept : after_case(other.deadline, other.where()) {}
  after_case& operator=(const after_case&) = delete;
  ~after_case() {
    if (heap_index != not_queued) detail::timer_cancel(*this);  // goro::run ending while armed
  }

  timed_out take_result() const noexcept { return {}; }

  detail::short_lock* guard() noexcept override { return nullptr; }
  bool complete_locked(std::coroutine_handle<>*) noexcept override { return clock::now() >= deadline; }
  void arm_locked(detail::select_state& s, int index, std::coroutine_handle<> task) noexcept override {
    select_ = &s;
    index_ = index;
    task_ = task;
    detail::timer_add(*this);  // throws only outside a goro task: then std::terminate
  }
  void disarm_locked() noexcept override { detail::timer_cancel(*this); }

 private:
  detail::select_state* select_ = nullptr;
  int index_ = 0;
  std::coroutine_handle<> task_;
};

// A select case ready `d` from now (Go's time.After in a select).
template <class Rep, class Period>
after_case after(std::chrono::duration<Rep, Period> d,
                 std::source_location where = std::source_location::current()) noexcept {
  return after_case(clock::now() + std::chrono::ceil<clock::duration>(d), where);
}

namespace detail {

// At most this many cases per select (the engine keeps its arrays on the stack).
inline constexpr std::size_t select_max_cases = 64;
inline constexpr int select_parked = -1;

// What a parked select records for goro::dump_tasks (scheduler_hooks.hpp's wait_kind):
// wait_kind::select and its number of cases, or, for a select that implements another
// primitive's wait (semaphore::acquire(ctx, n), sleep_for(ctx, d)), that primitive's.
struct select_wait {
  wait_kind kind;
  const void* object;
  std::size_t capacity;
};

// The distinct guards of `cases` (null entries skipped) into `out`, in address order;
// returns how many. Computed once per select, used by select_begin and select_end.
int select_guards(select_case* const* cases, int n, short_lock** out) noexcept;
// Go's selectgo, steps 1-3 of goro/detail/select_case.hpp. cases[i] is null for the
// default case, at default_index (-1 if none). Returns the index of the case that won
// without waiting, or select_parked once the task is parked (its frame must not be
// touched after that: a waker may already be resuming it); before arming the cases, a
// parking select records `wait` in `parked`, at the first case's where().
int select_begin(select_case* const* cases, int n, int default_index, short_lock* const* guards, int nguards,
                 select_state& s, std::coroutine_handle<> task, parked_task& parked, const select_wait& wait) noexcept;
// Step 4, after a parked select resumed (winner is s.winner), or when its task is
// destroyed while parked (winner select_state::none): disarm every other case.
void select_end(select_case* const* cases, int n, int winner, short_lock* const* guards, int nguards) noexcept;

template <class C>
struct case_result {
  using type = typename C::result_type;
};
template <>
struct case_result<default_case_t> {
  using type = default_case_t;
};

template <class C>
inline constexpr bool is_select_case = std::is_base_of_v<select_case, C> || std::is_same_v<C, default_case_t>;

}  // namespace detail

template <class... Cases>
class [[nodiscard]] select_awaiter {
  static constexpr int n = static_cast<int>(sizeof...(Cases));
  static constexpr int default_index = [] {
    int i = 0, found = -1;
    ((std::is_same_v<Cases, default_case_t> ? (found = i, ++i) : ++i), ...);
    return found;
  }();

 public:
  using result_type = std::variant<typename detail::case_result<Cases>::type...>;

  explicit select_awaiter(Cases&&... cases)
      : select_awaiter(detail::select_wait{detail::wait_kind::select, nullptr, sizeof...(Cases)},
                       std::move(cases)...) {}
  // A select that is another primitive's wait, recorded as `wait` (see select_wait).
  explicit select_awaiter(const detail::select_wait& wait, Cases&&... cases)
      : cases_(std::move(cases)...), wait_(wait) {}
  select_awaiter(const select_awaiter&) = delete;
  select_awaiter& operator=(const select_awaiter&) = delete;
  ~select_awaiter() {
    if (parked_) detail::select_end(pointers().data(), n, detail::select_state::none, guards_.data(), nguards_);
  }

  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h) noexcept {
    const auto cases = pointers();
    nguards_ = detail::select_guards(cases.data(), n, guards_.data());
    parked_ = true;  // before select_begin: once it has parked us, we touch nothing
    const int r =
        detail::select_begin(cases.data(), n, default_index, guards_.data(), nguards_, state_, h, trace_, wait_);
    if (r == detail::select_parked) return true;
    parked_ = false;
    winner_ = r;
    return false;
  }
  result_type await_resume() {
    trace_.resumed();
    if (parked_) {
      // acquire: the wake-up already ordered the winner's writes before us; this pairs
      // with the winning CAS for the index itself.
      winner_ = state_.winner.load(std::memory_order_acquire);
      detail::select_end(pointers().data(), n, winner_, guards_.data(), nguards_);
      parked_ = false;
    }
    return take(std::make_index_sequence<sizeof...(Cases)>());
  }

 private:
  template <std::size_t I>
  static result_type take_case(select_awaiter& self) {
    auto& c = std::get<I>(self.cases_);
    if constexpr (std::is_same_v<std::remove_reference_t<decltype(c)>, default_case_t>)
      return result_type(std::in_place_index<I>, c);
    else
      return result_type(std::in_place_index<I>, c.take_result());
  }
  template <std::size_t... I>
  result_type take(std::index_sequence<I...>) {
    static constexpr result_type (*table[])(select_awaiter&) = {&take_case<I>...};
    return table[winner_](*this);
  }

  template <class C>
  static detail::select_case* pointer_to(C& c) noexcept {
    if constexpr (std::is_same_v<C, default_case_t>)
      return nullptr;
    else
      return &c;
  }
  std::array<detail::select_case*, sizeof...(Cases)> pointers() noexcept {
    return std::apply([](auto&... c) { return std::array<detail::select_case*, sizeof...(Cases)>{pointer_to(c)...}; },
                      cases_);
  }

  std::tuple<Cases...> cases_;
  std::array<detail::short_lock*, sizeof...(Cases)> guards_{};  // select_guards' result
  int nguards_ = 0;
  detail::select_state state_;
  bool parked_ = false;
  int winner_ = -1;
  detail::parked_task trace_;  // the task dump's record, set by select_begin when it parks
  detail::select_wait wait_;
};

// Waits for the first of `cases` to complete (see the contract above).
template <class... Cases>
select_awaiter<std::remove_cvref_t<Cases>...> select(Cases&&... cases) {
  static_assert(sizeof...(Cases) > 0, "goro::select needs at least one case");
  static_assert(sizeof...(Cases) <= detail::select_max_cases, "goro::select takes at most 64 cases");
  static_assert((detail::is_select_case<std::remove_cvref_t<Cases>> && ...),
                "goro::select's arguments must be cases: ch.recv(), ch.send(v), goro::after(d), ctx.done(), "
                "sem.acquire(n), goro::default_case");
  static_assert((std::is_same_v<std::remove_cvref_t<Cases>, default_case_t> + ... + 0) <= 1,
                "goro::select takes at most one default_case");
  return select_awaiter<std::remove_cvref_t<Cases>...>(std::remove_cvref_t<Cases>(std::forward<Cases>(cases))...);
}

}  // namespace goro
