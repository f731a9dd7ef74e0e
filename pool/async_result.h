// Copyright 2026 The shoal Authors.
//
// async_result.h: AsyncResult<T> (Python's multiprocessing.pool.AsyncResult)
// and IMapResult<V> (the iterator imap / imap_unordered return).
//
// AsyncResult<T>
//   get()          waits, then returns the result or rethrows the task's
//                  exception (see pool.h "Exceptions"). On an AsyncResult
//                  you hold: const T&, valid while any copy of it lives. On
//                  a temporary (`pool.apply_async(f, x).get()`): a T (moved
//                  out, or copied when another copy shares it), so
//                  `const auto& v = pool.apply_async(f, x).get();` is safe.
//                  void for T = void.
//   get(deadline)  shoal::TimeoutError when the result is not ready in time
//                  (the task keeps running; get() may be called again).
//   wait(), wait(deadline) -> bool ready in time.
//   ready()        the outcome is known (and callbacks, if any, ran).
//   successful()   true when it succeeded; shoal::ValueError before ready.
//   Copies share the result. Waiting is one futex sleep on the task's slot
//   (the worker wakes the caller directly), after a short adaptive spin.
//   Dropping every copy before the result came is fine: the pool collects
//   it in the background.
//
// IMapResult<V>
//   next(deadline = infinite) -> std::optional<V>: the next result (in input
//   order for imap, in completion order for imap_unordered), std::nullopt
//   at the end; rethrows a failed chunk's exception once, at its position;
//   TimeoutError when nothing came in time (iteration may continue).
//   Range-for works (begin()/end(); an input range of V).
//   Input is read lazily: at most `in flight` chunks are submitted ahead of
//   what you have consumed (2 * workers + 2), so an endless input works.
//   Dropping the iterator early stops reading the input; chunks in flight
//   finish and are discarded. An input that throws (CPython's
//   test_imap_handle_iterable_exception): the results before it, then its
//   exception at its position (a chunk it interrupted is dropped), then the
//   end. The pool's close() does not stop it (every result comes);
//   join() reads the rest of its input. State and protocol:
//   internal/stream_job.h.
//
// Thread safety: an AsyncResult may be waited on from several threads. An
// IMapResult is for one consumer thread at a time.
#ifndef SHOAL_POOL_ASYNC_RESULT_H_
#define SHOAL_POOL_ASYNC_RESULT_H_

#include <cstddef>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <utility>
#include <variant>

#include "shoal/base/deadline.h"
#include "shoal/base/errors.h"
#include "shoal/pool/internal/jobs.h"
#include "shoal/pool/internal/stream_job.h"

namespace shoal {

template <class T>
class AsyncResult {
 public:
  AsyncResult() = default;

  // On an AsyncResult you keep: a reference into it (no copy), valid while
  // any copy of it lives.
  decltype(auto) get() & { return get(Deadline::Infinite()); }
  decltype(auto) get(const Deadline& deadline) & {
    internal::ResultJob<T>& j = Ready(deadline);
    if constexpr (!std::is_void_v<T>) {
      return static_cast<const T&>(j.value());
    }
  }
  // On a temporary (`pool.apply_async(f, x).get()`): the value itself,
  // moved out when no other copy shares it, so binding it to a reference
  // never dangles.
  auto get() && { return std::move(*this).get(Deadline::Infinite()); }
  auto get(const Deadline& deadline) && {
    internal::ResultJob<T>& j = Ready(deadline);
    if constexpr (!std::is_void_v<T>) {
      return j.TakeValue(holder_.use_count() == 1);
    }
  }
  void wait() { job().WaitReady(Deadline::Infinite()); }
  bool wait(const Deadline& deadline) { return job().WaitReady(deadline); }
  bool ready() const { return job().Poll(); }
  bool successful() const {
    if (!job().Poll()) throw ValueError("AsyncResult is not ready");
    return !job().failed();
  }
  explicit operator bool() const { return holder_ != nullptr; }

  // For the pool and tests.
  explicit AsyncResult(std::shared_ptr<internal::ResultJob<T>> job)
      : holder_(std::make_shared<Holder>(std::move(job))) {}
  internal::ResultJob<T>& job() const {
    if (!holder_) throw ValueError("an empty AsyncResult");
    return *holder_->job;
  }

 private:
  internal::ResultJob<T>& Ready(const Deadline& deadline) {
    internal::ResultJob<T>& j = job();
    if (!j.WaitReady(deadline)) {
      throw TimeoutError("AsyncResult.get: the result is not ready");
    }
    if (std::exception_ptr e = j.error()) std::rethrow_exception(e);
    return j;
  }

  struct Holder {
    explicit Holder(std::shared_ptr<internal::ResultJob<T>> j)
        : job(std::move(j)) {}
    ~Holder() { job->Abandon(); }
    std::shared_ptr<internal::ResultJob<T>> job;
  };
  std::shared_ptr<Holder> holder_;
};

template <class V>
class IMapResult {
 public:
  IMapResult() = default;
  IMapResult(IMapResult&&) noexcept = default;
  IMapResult& operator=(IMapResult&& other) noexcept {
    if (this != &other) {
      if (job_) job_->Abandon();
      job_ = std::move(other.job_);
    }
    return *this;
  }
  ~IMapResult() {
    if (job_) job_->Abandon();
  }

  std::optional<V> next() { return next(Deadline::Infinite()); }
  std::optional<V> next(const Deadline& deadline) {
    if (!job_) return std::nullopt;
    return job_->Next(deadline);
  }

  class iterator {
   public:
    using value_type = V;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(IMapResult* r) : r_(r) { Advance(); }
    V& operator*() const { return *cur_; }
    V* operator->() const { return &*cur_; }
    iterator& operator++() {
      Advance();
      return *this;
    }
    void operator++(int) { Advance(); }
    friend bool operator==(const iterator& it, std::default_sentinel_t) {
      return !it.cur_.has_value();
    }

   private:
    void Advance() { cur_ = r_->next(); }
    IMapResult* r_ = nullptr;
    mutable std::optional<V> cur_;
  };
  iterator begin() { return iterator(this); }
  std::default_sentinel_t end() { return {}; }

  // For the pool.
  explicit IMapResult(std::shared_ptr<internal::StreamJob<V>> job)
      : job_(std::move(job)) {}

 private:
  std::shared_ptr<internal::StreamJob<V>> job_;
};

}  // namespace shoal

#endif  // SHOAL_POOL_ASYNC_RESULT_H_
