// Copyright 2026 The shoal Authors.
//
// async_result.h: AsyncResult<T> (Python's multiprocessing.pool.AsyncResult)
// and IMapResult<V> (the iterator imap / imap_unordered return).
//
// AsyncResult<T>
//   get()          waits, then returns the result (const T&, valid while any
//                  copy of the AsyncResult lives; void for T = void) or
//                  rethrows the task's exception (see pool.h "Exceptions").
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
//   finish and are discarded.
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

namespace shoal {

template <class T>
class AsyncResult {
 public:
  AsyncResult() = default;

  decltype(auto) get() { return get(Deadline::Infinite()); }
  decltype(auto) get(const Deadline& deadline) {
    internal::ResultJob<T>& j = job();
    if (!j.WaitReady(deadline)) {
      throw TimeoutError("AsyncResult.get: the result is not ready");
    }
    if (std::exception_ptr e = j.error()) std::rethrow_exception(e);
    if constexpr (!std::is_void_v<T>) {
      return static_cast<const T&>(j.value());
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
  IMapResult& operator=(IMapResult&&) noexcept = default;
  ~IMapResult() {
    if (s_) s_->Abandon();
  }

  std::optional<V> next() { return next(Deadline::Infinite()); }
  std::optional<V> next(const Deadline& deadline) {
    if (!s_) return std::nullopt;
    return s_->Next(s_->overall ? Deadline::Min(*s_->overall, deadline)
                                : deadline);
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

  // --- for the pool ---------------------------------------------------------
  struct State {
    std::shared_ptr<internal::Engine> engine;
    std::shared_ptr<internal::StreamJob<V>> job;
    // Pulls one chunk from the input and submits it; false when the input
    // had nothing more. Sets `exhausted` when the input ended.
    std::function<bool(State&)> submit_one;
    uint32_t next_chunk = 0;
    uint32_t yield_chunk = 0;
    std::size_t yield_pos = 0;
    bool exhausted = false;
    std::size_t max_inflight = 4;
    std::optional<Deadline> overall;  // Executor.map's timeout

    void TopUp() {
      while (!exhausted) {
        {
          std::lock_guard<std::mutex> lock(job->mu_);
          if (job->inflight_.size() >= max_inflight) return;
        }
        try {
          if (!submit_one(*this)) exhausted = true;
        } catch (...) {
          exhausted = true;
          throw;
        }
      }
    }

    std::optional<V> Next(const Deadline& deadline) {
      for (;;) {
        TopUp();
        internal::StreamJob<V>& j = *job;
        std::unique_lock<std::mutex> lock(j.mu_);
        if (j.ordered_) {
          auto it = j.done_.find(yield_chunk);
          if (it != j.done_.end()) {
            if (auto* e = std::get_if<std::exception_ptr>(&it->second)) {
              std::exception_ptr ex = *e;
              j.done_.erase(it);
              ++yield_chunk;
              yield_pos = 0;
              std::rethrow_exception(ex);
            }
            auto& vec = std::get<std::vector<V>>(it->second);
            if (yield_pos < vec.size()) {
              V v = std::move(vec[yield_pos++]);
              if (yield_pos == vec.size()) {
                j.done_.erase(it);
                ++yield_chunk;
                yield_pos = 0;
              }
              return v;
            }
            j.done_.erase(it);
            ++yield_chunk;
            yield_pos = 0;
            continue;
          }
          auto in = j.inflight_.find(yield_chunk);
          if (in == j.inflight_.end()) {
            if (exhausted && yield_chunk >= next_chunk) return std::nullopt;
            continue;  // not submitted yet: TopUp will
          }
          const internal::TaskRef ref = in->second;
          lock.unlock();
          if (!engine->WaitDone(ref, deadline)) {
            throw TimeoutError("imap: the next result is not ready");
          }
          engine->Collect(ref);
          lock.lock();
          // Collected by the handler meanwhile: wait for its delivery.
          while (j.inflight_.count(yield_chunk) != 0) {
            if (j.cv_.wait_until(lock, std::min(deadline.when(),
                                                Deadline::Clock::now() +
                                                    std::chrono::milliseconds(
                                                        50))) ==
                    std::cv_status::timeout &&
                deadline.expired()) {
              throw TimeoutError("imap: the next result is not ready");
            }
          }
          continue;
        }
        if (!j.items_.empty()) {
          auto item = std::move(j.items_.front());
          j.items_.pop_front();
          if (auto* e = std::get_if<std::exception_ptr>(&item)) {
            std::rethrow_exception(*e);
          }
          return std::move(std::get<0>(item));
        }
        if (j.inflight_.empty()) {
          if (exhausted) return std::nullopt;
          continue;
        }
        // Collect what is done ourselves (no handler hop), then sleep.
        std::vector<internal::TaskRef> refs;
        for (const auto& [k, r] : j.inflight_) refs.push_back(r);
        lock.unlock();
        bool got = false;
        for (const auto& r : refs) {
          if (r.gen != 0 && engine->IsDone(r)) {
            engine->Collect(r);
            got = true;
          }
        }
        if (got) continue;
        lock.lock();
        if (j.items_.empty() && !j.inflight_.empty()) {
          if (j.cv_.wait_until(lock, std::min(deadline.when(),
                                              Deadline::Clock::now() +
                                                  std::chrono::milliseconds(
                                                      200))) ==
                  std::cv_status::timeout &&
              deadline.expired() && j.items_.empty()) {
            throw TimeoutError("imap_unordered: no result is ready");
          }
        }
      }
    }

    void Abandon() {
      if (!job) return;
      std::vector<internal::TaskRef> refs;
      {
        std::lock_guard<std::mutex> lock(job->mu_);
        for (const auto& [k, r] : job->inflight_) refs.push_back(r);
        job->inflight_.clear();
      }
      for (const auto& r : refs) {
        if (r.gen != 0) engine->Watch(r);
      }
    }
  };
  explicit IMapResult(std::unique_ptr<State> s) : s_(std::move(s)) {}
  State* state() { return s_.get(); }

 private:
  std::unique_ptr<State> s_;
};

}  // namespace shoal

#endif  // SHOAL_POOL_ASYNC_RESULT_H_
