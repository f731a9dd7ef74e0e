// Copyright 2026 The shoal Authors.
//
// imap_result.h: shoal::mpi::IMapResult<V>, the iterator that
// shoal::mpi::Pool::imap / imap_unordered and shoal::mpi::Executor::map
// return. The same interface as shoal::IMapResult (pool/async_result.h):
//
//   next(deadline = infinite) -> std::optional<V>: the next result (input
//   order for imap and Executor.map, completion order for imap_unordered),
//   std::nullopt at the end; rethrows a failed chunk's exception once, at
//   its position; TimeoutError when nothing came in time (iteration may go
//   on). Range-for works.
//   Input is read lazily, so an endless input works: imap and
//   Executor.map read at most `max_inflight` chunks (2 per credit of every
//   live rank) ahead of what was consumed; imap_unordered keeps at most
//   that many in flight (finished ones wait for the consumer on top). Dropping the iterator stops reading the input;
//   chunks already sent finish on their ranks and are discarded.
//
// Thread safety: one consumer thread at a time. Results arrive from the MPI
// thread.
#ifndef SHOAL_MPI_IMAP_RESULT_H_
#define SHOAL_MPI_IMAP_RESULT_H_

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <variant>
#include <vector>

#include "shoal/base/deadline.h"
#include "shoal/base/errors.h"

namespace shoal::mpi {

template <class V>
class IMapResult {
 public:
  // Where finished chunks meet the consumer (shared with the MPI thread).
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    bool ordered = true;
    bool abandoned = false;
    uint32_t inflight = 0;
    std::map<uint32_t, std::variant<std::vector<V>, std::exception_ptr>> done;
    std::deque<std::variant<V, std::exception_ptr>> items;  // unordered

    // A chunk's outcome (the MPI thread; a submitter on failure).
    void Finish(uint32_t index,
                std::variant<std::vector<V>, std::exception_ptr> outcome) {
      std::lock_guard<std::mutex> lock(mu);
      --inflight;
      if (!abandoned) {
        if (ordered) {
          done.emplace(index, std::move(outcome));
        } else if (auto* v = std::get_if<std::vector<V>>(&outcome)) {
          for (V& x : *v) items.emplace_back(std::in_place_index<0>, std::move(x));
        } else {
          items.emplace_back(std::in_place_index<1>,
                             std::get<std::exception_ptr>(outcome));
        }
      }
      cv.notify_all();
    }
  };

  // Reads chunk `index` from the input and submits it: kEnd when the input
  // had nothing more (nothing submitted), kMore, or kLast (submitted, and
  // the input ended with it). Throws what submission throws.
  enum Submitted { kEnd = 0, kMore = 1, kLast = 2 };
  using SubmitOne = std::function<Submitted(uint32_t index)>;

  IMapResult() = default;
  IMapResult(std::shared_ptr<Shared> shared, SubmitOne submit,
             std::size_t max_inflight, std::optional<Deadline> overall)
      : s_(std::move(shared)),
        submit_(std::move(submit)),
        max_inflight_(max_inflight == 0 ? 1 : max_inflight),
        overall_(overall) {
    TopUp();
  }
  IMapResult(IMapResult&&) noexcept = default;
  IMapResult& operator=(IMapResult&&) noexcept = default;
  ~IMapResult() {
    if (!s_) return;
    std::lock_guard<std::mutex> lock(s_->mu);
    s_->abandoned = true;
    s_->done.clear();
    s_->items.clear();
  }

  std::optional<V> next() { return next(Deadline::Infinite()); }
  std::optional<V> next(const Deadline& deadline) {
    if (!s_) return std::nullopt;
    const Deadline d = overall_ ? Deadline::Min(*overall_, deadline) : deadline;
    for (;;) {
      TopUp();
      std::unique_lock<std::mutex> lock(s_->mu);
      if (s_->ordered) {
        auto it = s_->done.find(yield_chunk_);
        if (it != s_->done.end()) {
          if (auto* e = std::get_if<std::exception_ptr>(&it->second)) {
            std::exception_ptr ex = *e;
            s_->done.erase(it);
            ++yield_chunk_;
            yield_pos_ = 0;
            std::rethrow_exception(ex);
          }
          auto& vec = std::get<std::vector<V>>(it->second);
          if (yield_pos_ < vec.size()) {
            V v = std::move(vec[yield_pos_++]);
            if (yield_pos_ == vec.size()) {
              s_->done.erase(it);
              ++yield_chunk_;
              yield_pos_ = 0;
            }
            return v;
          }
          s_->done.erase(it);
          ++yield_chunk_;
          yield_pos_ = 0;
          continue;
        }
        if (exhausted_ && yield_chunk_ >= next_chunk_) return std::nullopt;
        if (yield_chunk_ >= next_chunk_) continue;  // TopUp submits it
        if (!Wait(lock, d, [&] { return s_->done.count(yield_chunk_) != 0; })) {
          throw TimeoutError("imap: the next result is not ready");
        }
        continue;
      }
      if (!s_->items.empty()) {
        auto item = std::move(s_->items.front());
        s_->items.pop_front();
        if (auto* e = std::get_if<std::exception_ptr>(&item)) {
          std::rethrow_exception(*e);
        }
        return std::move(std::get<0>(item));
      }
      if (s_->inflight == 0) {
        if (exhausted_) return std::nullopt;
        continue;
      }
      if (!Wait(lock, d, [&] {
            return !s_->items.empty() || s_->inflight == 0 ||
                   (!exhausted_ && s_->inflight < max_inflight_);
          })) {
        throw TimeoutError("imap_unordered: no result is ready");
      }
    }
  }

  class iterator {
   public:
    using value_type = V;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(IMapResult* r) : r_(r) { cur_ = r_->next(); }
    V& operator*() const { return *cur_; }
    V* operator->() const { return &*cur_; }
    iterator& operator++() {
      cur_ = r_->next();
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& it, std::default_sentinel_t) {
      return !it.cur_.has_value();
    }

   private:
    IMapResult* r_ = nullptr;
    mutable std::optional<V> cur_;
  };
  iterator begin() { return iterator(this); }
  std::default_sentinel_t end() { return {}; }

 private:
  template <class Pred>
  bool Wait(std::unique_lock<std::mutex>& lock, const Deadline& d, Pred pred) {
    if (d.infinite()) {
      s_->cv.wait(lock, pred);
      return true;
    }
    return s_->cv.wait_until(lock, d.when(), pred);
  }

  void TopUp() {
    while (!exhausted_) {
      {
        std::lock_guard<std::mutex> lock(s_->mu);
        if (s_->inflight >= max_inflight_) return;
        // In order, finished chunks not yet consumed count too: a slow
        // head chunk must not let the input be read ahead without bound.
        if (s_->ordered && next_chunk_ - yield_chunk_ >= max_inflight_) return;
        ++s_->inflight;  // the chunk about to be submitted
      }
      const uint32_t index = next_chunk_;
      Submitted r = kEnd;
      try {
        r = submit_(index);
      } catch (...) {
        // Reported at its position, like a failed task.
        ++next_chunk_;
        s_->Finish(index, std::current_exception());
        exhausted_ = true;
        return;
      }
      if (r == kEnd) {
        std::lock_guard<std::mutex> lock(s_->mu);
        --s_->inflight;
        s_->cv.notify_all();
        exhausted_ = true;
        return;
      }
      ++next_chunk_;
      if (r == kLast) exhausted_ = true;
    }
  }

  std::shared_ptr<Shared> s_;
  SubmitOne submit_;
  std::size_t max_inflight_ = 1;
  std::optional<Deadline> overall_;
  uint32_t next_chunk_ = 0;
  uint32_t yield_chunk_ = 0;
  std::size_t yield_pos_ = 0;
  bool exhausted_ = false;
};

}  // namespace shoal::mpi

#endif  // SHOAL_MPI_IMAP_RESULT_H_
