// Copyright 2026 The shoal Authors.
//
// reusable_executor.h: an executor that lives as long as you use it, in the
// spirit of loky's get_reusable_executor (joblib's process backend).
//
//   auto ex = shoal::get_reusable_executor({.max_workers = 4});
//   shoal::Future<int> f = ex.submit(square, 7);       // 49
//   ...                                                // later, elsewhere:
//   auto again = shoal::get_reusable_executor({.max_workers = 4});
//   // the same executor: its workers stayed up, nothing is started again
//
// Contract
//   get_reusable_executor(options) returns a handle to the process's one
//   reusable ProcessPoolExecutor (executor.h), starting it if none runs:
//     - Its workers stay up between uses, and all of them leave once the
//       executor has been idle (no task pending or running, no lazy map
//       open, no submit in progress) for `idle_timeout` (loky's `timeout`,
//       default 300 s). The next submit starts them again, transparently:
//       handles stay valid. worker_pids() is empty meanwhile.
//     - Called with a different configuration (max_workers, context,
//       initializer, max_tasks_per_child), the executor is resized /
//       reconfigured: the current one finishes what it was given (or, with
//       kill_workers, its unfinished tasks fail with CancelledError at once)
//       and later calls run on workers with the new configuration. Handles
//       taken before see the new one. Futures obtained before stay valid.
//     - shutdown(wait, cancel_futures) on any handle ends it for good, as
//       Executor.shutdown; those handles then throw RuntimeError on submit,
//       and the next get_reusable_executor starts a fresh one.
//   At normal program exit the executor is shut down and waited for (as
//   concurrent.futures does).
//   What differs from loky: the whole executor (not each worker on its own
//   clock) leaves after the idle timeout, which an idle pool cannot tell
//   apart; resizing restarts the workers rather than adding or removing
//   some; loky's `reuse`, `job_reducers`, `env` are not offered.
//
// Cost: a submit costs what ProcessPoolExecutor::submit costs plus one
// mutex and a shared_ptr copy. The idle check is a background thread that
// sleeps until the executor is idle and then for `idle_timeout` (it never
// polls at a fixed period).
//
// Thread safety: everything may be called from any thread; handles are
// cheap to copy and share the one executor.
#ifndef SHOAL_POOL_REUSABLE_EXECUTOR_H_
#define SHOAL_POOL_REUSABLE_EXECUTOR_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "shoal/pool/context.h"
#include "shoal/pool/executor.h"
#include "shoal/pool/pool.h"

namespace shoal {

struct ReusableExecutorOptions {
  // Unset: process_cpu_count(). 0: ValueError.
  std::optional<std::size_t> max_workers{};
  // The workers leave after the executor has been idle this long
  // (> 0; loky's default).
  std::chrono::nanoseconds idle_timeout = std::chrono::seconds(300);
  // Unset: the default context (set_start_method).
  std::optional<Context> context{};
  Initializer initializer{};
  std::size_t max_tasks_per_child = 0;
  // When the configuration changes: fail the current executor's unfinished
  // tasks (CancelledError) instead of waiting for them.
  bool kill_workers = false;
};

namespace internal {
class ReusableState;
// A use of the current executor (started if needed): it is not retired
// for idleness while a use is open.
class ReusableUse {
 public:
  ReusableUse(const std::shared_ptr<ReusableState>& state, uint64_t epoch);
  ~ReusableUse();
  ReusableUse(const ReusableUse&) = delete;
  ReusableUse& operator=(const ReusableUse&) = delete;
  ProcessPoolExecutor* operator->() const { return executor_.get(); }

 private:
  std::shared_ptr<ReusableState> state_;
  std::shared_ptr<ProcessPoolExecutor> executor_;
};
}  // namespace internal

class ReusableExecutor {
 public:
  ReusableExecutor() = default;

  // As ProcessPoolExecutor::submit. RuntimeError after shutdown().
  template <class F, class... Args>
  auto submit(F fn, Args&&... args) {
    internal::ReusableUse use(state(), epoch_);
    return use->submit(std::move(fn), std::forward<Args>(args)...);
  }
  // As ProcessPoolExecutor::map (a lazy map with buffersize keeps the
  // executor from retiring until it ends).
  template <class... A>
  auto map(A&&... args) {
    internal::ReusableUse use(state(), epoch_);
    return use->map(std::forward<A>(args)...);
  }
  // Ends the executor for good (see the file comment).
  void shutdown(bool wait = true, bool cancel_futures = false);

  // The current workers (empty after the idle timeout).
  std::vector<pid_t> worker_pids() const;
  std::size_t max_workers() const;

  explicit operator bool() const { return state_ != nullptr; }

 private:
  friend ReusableExecutor get_reusable_executor(
      const ReusableExecutorOptions& options);
  ReusableExecutor(std::shared_ptr<internal::ReusableState> s, uint64_t epoch)
      : state_(std::move(s)), epoch_(epoch) {}
  const std::shared_ptr<internal::ReusableState>& state() const;

  std::shared_ptr<internal::ReusableState> state_;
  uint64_t epoch_ = 0;
};

// The process's reusable executor, started, resized or reconfigured to
// `options` (see the file comment). Throws ValueError for max_workers 0 or
// idle_timeout <= 0.
ReusableExecutor get_reusable_executor(
    const ReusableExecutorOptions& options = {});

}  // namespace shoal

#endif  // SHOAL_POOL_REUSABLE_EXECUTOR_H_
