// Copyright 2026 The shoal Authors.
//
// promise.h: Promise<T>, the producing side of a shoal::Future<T> that no
// local pool runs: for executors built on another transport (shoal::mpi)
// and for tests. Python's concurrent.futures.Future offers the same calls
// "for use by Executor implementations and unit tests".
//
//   shoal::Promise<int> p;
//   shoal::Future<int> f = p.future();     // as_completed, wait, callbacks...
//   if (p.set_running_or_notify_cancel()) {  // false: f.cancel() came first
//     p.set_result(42);                    // or p.set_exception(...)
//   }
//
// Contract
//   The future behaves as one from ProcessPoolExecutor (executor.h):
//   result(), exception(), done(), as_completed(), wait(), done callbacks.
//   What differs is who decides the outcome:
//     f.cancel(kill_running) cancels a pending future (true, also when it
//       was already cancelled); once set_running_or_notify_cancel() returned
//       true, or once done, it returns false (kill_running is ignored: the
//       producer owns whatever runs the task).
//     f.running() is true between set_running_or_notify_cancel() and the
//       outcome.
//   The first of set_result / set_exception / cancel decides; the later
//   ones return false and change nothing.
//   Done callbacks run through the CallbackRunner given at construction
//   (a function that runs a std::function<void()> somewhere, e.g. posts it
//   to a callback thread), or, without one, in the thread that completes or
//   cancels the future (Python's behaviour). Callbacks added after the
//   future is done run at once in the adding thread.
//
// Cost: one heap allocation per promise; completing it is a mutex, a
// condition-variable broadcast and whatever waiters are registered.
//
// Thread safety: every call may come from any thread; a Promise may be
// copied (copies complete the same future).
#ifndef SHOAL_POOL_PROMISE_H_
#define SHOAL_POOL_PROMISE_H_

#include <exception>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

#include "shoal/pool/executor.h"
#include "shoal/pool/internal/jobs.h"

namespace shoal {

template <class T>
class Promise {
 public:
  using CallbackRunner = std::function<void(std::function<void()>)>;

  Promise() : Promise(CallbackRunner{}) {}
  explicit Promise(CallbackRunner run_callbacks)
      : job_(std::make_shared<internal::ResultJob<T>>(std::move(run_callbacks))),
        future_(job_) {
    job_->set_callbacks_after_ready();
  }

  // The future this promise completes (copies share it).
  Future<T> future() const { return future_; }

  // Pending -> running: true, and the future can no longer be cancelled;
  // false when it was cancelled (or completed) first: do not run the task.
  bool set_running_or_notify_cancel() { return job_->SetRunning(); }

  // Completes the future with a value (nothing for T = void). False when it
  // was already done (cancelled, or completed before).
  template <class U = T>
    requires(!std::is_void_v<U>)
  bool set_result(U value) {
    return job_->SetValue(std::move(value));
  }
  template <class U = T>
    requires std::is_void_v<U>
  bool set_result() {
    return job_->SetValue(std::monostate{});
  }
  // Completes the future with an exception (rethrown by result()).
  bool set_exception(std::exception_ptr error) {
    return job_->SetError(std::move(error));
  }

  bool done() const { return job_->ready(); }

 private:
  std::shared_ptr<internal::ResultJob<T>> job_;
  Future<T> future_;
};

}  // namespace shoal

#endif  // SHOAL_POOL_PROMISE_H_
