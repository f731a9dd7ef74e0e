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
// the task fails with TimeoutError); unset: the pool's task_timeout.
// A ThreadPool refuses timeouts (a thread cannot be killed).
#ifndef SHOAL_POOL_ASYNC_H_
#define SHOAL_POOL_ASYNC_H_

#include <chrono>
#include <optional>

namespace shoal {

// No callback (the default of Async).
struct NoCallback {};

template <class Callback = NoCallback, class ErrorCallback = NoCallback>
struct Async {
  Callback callback{};
  ErrorCallback error_callback{};
  std::optional<std::chrono::nanoseconds> timeout{};
};

}  // namespace shoal

#endif  // SHOAL_POOL_ASYNC_H_
