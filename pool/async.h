// Copyright 2026 The shoal Authors.
//
// async.h: shoal::Async, the options of apply_async / map_async /
// starmap_async (Python's keyword arguments callback=, error_callback=, and
// a per-task time limit):
//
//   pool.apply_async(shoal::Async{.callback = [](int r) {...},
//                                 .error_callback = [](std::exception_ptr e) {...},
//                                 .timeout = std::chrono::seconds(5)},
//                    fn, args...);
//
// callback gets the result (const T&; nothing for void); error_callback gets
// a std::exception_ptr or a const std::exception&. Both run in the pool's
// callback thread in the parent, before get() returns (as in Python), one at
// a time. timeout: the task's time limit (its worker is killed and replaced,
// the task fails with TimeoutError); unset: the pool's task_timeout. Any
// std::chrono or absl duration converts (shoal::Timeout, saturated): zero,
// negative and huge ones (hours::max(), longer than ~146 years) mean "no
// limit". A ThreadPool refuses timeouts (a thread cannot be killed).
#ifndef SHOAL_POOL_ASYNC_H_
#define SHOAL_POOL_ASYNC_H_

#include <chrono>
#include <optional>

#include "shoal/base/deadline.h"

namespace shoal {
namespace internal {

// A per-task time limit as the engine stores it: > 0 nanoseconds, or 0 for
// none -- zero, negative, Timeout::Infinite() and anything past 2^62 ns
// (~146 years, so a start time plus the limit never overflows).
constexpr std::chrono::nanoseconds TaskLimit(Timeout t) {
  const int64_t ns = t.count();
  return std::chrono::nanoseconds(ns > 0 && ns <= (int64_t{1} << 62) ? ns : 0);
}
// An Async's timeout for SubmitSpec: -1 when unset (the pool's default).
constexpr std::chrono::nanoseconds TaskLimit(const std::optional<Timeout>& t) {
  return t ? TaskLimit(*t) : std::chrono::nanoseconds(-1);
}

}  // namespace internal

// No callback (the default of Async).
struct NoCallback {};

template <class Callback = NoCallback, class ErrorCallback = NoCallback>
struct Async {
  Callback callback{};
  ErrorCallback error_callback{};
  std::optional<Timeout> timeout{};
};

}  // namespace shoal

#endif  // SHOAL_POOL_ASYNC_H_
