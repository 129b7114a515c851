// goro's error values: what a wait that ends early returns (Go's context.Canceled and
// context.DeadlineExceeded), as std::error_code in goro's own category.
//
//   if (auto ec = co_await goro::sleep_for(ctx, 1s)) {   // ec == goro::errc::canceled ...
//
// Each value also matches the portable std::errc condition of the same meaning, so
// generic code can test `ec == std::errc::operation_canceled` / `std::errc::timed_out`.
#pragma once

#include <system_error>

namespace goro {

enum class errc {
  canceled = 1,           // the context was cancelled (Go: context.Canceled)
  deadline_exceeded = 2,  // the context's deadline passed (Go: context.DeadlineExceeded)
  task_threw = 3,         // a cause: a goro::group member failed with an exception
};

const std::error_category& error_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), error_category()}; }

}  // namespace goro

template <>
struct std::is_error_code_enum<goro::errc> : std::true_type {};
