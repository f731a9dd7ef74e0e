// Copyright 2026 The shoal Authors.
//
// jobs.h: the parent-local state behind AsyncResult, map results and
// Futures (job.h's Job implementations), and the helper that turns a chunk
// of items into a submitted task. imap's state is in stream_job.h.
//
// A job learns its tasks' outcomes through OnResult/OnError, in whichever
// parent thread collects them (a waiting caller, or the callback thread for
// tasks marked NOTIFY). Callbacks always run in the callback thread.
#ifndef SHOAL_POOL_INTERNAL_JOBS_H_
#define SHOAL_POOL_INTERNAL_JOBS_H_

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <exception>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "shoal/base/deadline.h"
#include "shoal/base/errors.h"
#include "shoal/ipc/codec.h"
#include "shoal/pool/async.h"
#include "shoal/pool/internal/callable.h"
#include "shoal/pool/internal/cv_wait.h"
#include "shoal/pool/internal/engine.h"

namespace shoal {

namespace internal {

// Parent-local waiter that several jobs signal (as_completed, wait).
struct MultiWaiter {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::size_t> ready;  // indices, in completion order
};

inline void PrintCallbackError(const char* what) {
  try {
    throw;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "shoal: %s threw: %s\n", what, e.what());
  } catch (...) {
    std::fprintf(stderr, "shoal: %s threw a non-std exception\n", what);
  }
}

template <class Fn, class Arg>
void CallErrorCallback(Fn& fn, const std::exception_ptr& e) {
  if constexpr (std::is_invocable_v<Fn&, std::exception_ptr>) {
    fn(e);
  } else {
    static_assert(std::is_invocable_v<Fn&, const std::exception&>,
                  "shoal: error_callback must take std::exception_ptr or "
                  "const std::exception&");
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      fn(ex);
    }
  }
}

// The state of a result made of `expected` tasks (1 for apply; one per
// chunk for map). T may be void.
template <class T>
class ResultJob : public Job {
 public:
  using Stored = ValueOf<T>;

  ResultJob(std::shared_ptr<Engine> engine, uint32_t expected)
      : engine_(std::move(engine)), remaining_(expected) {}

  // --- a job no engine runs (Promise, pool/promise.h) ---------------------
  // It has no tasks: whoever holds it completes it with SetValue/OnError.
  // Callbacks run through `runner` (empty: in the thread that completes or
  // cancels the job, as Python's Future does).
  using CallbackRunner = std::function<void(std::function<void()>)>;
  explicit ResultJob(CallbackRunner runner)
      : remaining_(1), runner_(std::move(runner)) {}
  bool external() const { return engine_ == nullptr; }
  // Python's set_running_or_notify_cancel(): pending -> running (true), or
  // false when the job was cancelled (or completed) first.
  bool SetRunning() {
    std::lock_guard<std::mutex> lock(mu_);
    if (delivered_) return false;
    running_ = true;
    return true;
  }
  bool RunningExternal() {
    std::lock_guard<std::mutex> lock(mu_);
    return running_ && !delivered_;
  }
  // Pending -> cancelled (true; also when already cancelled); false once
  // running or done.
  bool CancelExternal() {
    std::unique_lock<std::mutex> lock(mu_);
    if (delivered_) return cancelled_;
    if (running_) return false;
    error_ = std::make_exception_ptr(CancelledError("the future was cancelled"));
    cancelled_ = true;
    remaining_ = 0;
    FinishLocked(lock);
    return true;
  }
  // The value; false (and ignored) when the job was already done.
  bool SetValue(Stored v) {
    std::unique_lock<std::mutex> lock(mu_);
    if (delivered_) return false;
    value_.emplace(std::move(v));
    remaining_ = 0;
    FinishLocked(lock);
    return true;
  }
  // The error; false (and ignored) when the job was already done.
  bool SetError(std::exception_ptr e) {
    std::unique_lock<std::mutex> lock(mu_);
    if (delivered_) return false;
    error_ = std::move(e);
    remaining_ = 0;
    FinishLocked(lock);
    return true;
  }

  // --- set up before the tasks are submitted -----------------------------
  template <class Cb, class ECb>
  void SetCallbacks(Cb cb, ECb ecb) {
    if constexpr (!std::is_same_v<Cb, NoCallback>) {
      callback_ = [cb = std::move(cb)](const Stored& v) mutable {
        if constexpr (std::is_void_v<T>) {
          cb();
        } else {
          cb(v);
        }
      };
    }
    if constexpr (!std::is_same_v<ECb, NoCallback>) {
      error_callback_ = [ecb = std::move(ecb)](std::exception_ptr e) mutable {
        CallErrorCallback<ECb, void>(ecb, e);
      };
    }
    has_callbacks_ = callback_ || error_callback_;
  }
  bool has_callbacks() const { return has_callbacks_; }
  // Future semantics: ready first, done-callbacks after (Pool: the reverse).
  void set_callbacks_after_ready() { callbacks_after_ready_ = true; }
  void AddTask(TaskRef ref) {
    std::lock_guard<std::mutex> lock(mu_);
    tasks_.push_back(ref);
  }
  // A job with no tasks (map over an empty input): done now.
  void FinishNow() {
    std::unique_lock<std::mutex> lock(mu_);
    if (delivered_) return;
    remaining_ = 0;
    FinishLocked(lock);
  }
  // Submission failed half-way: the job ends with `e` (tasks already
  // submitted still run; their outcomes are ignored).
  void FailSubmission(std::exception_ptr e) {
    std::unique_lock<std::mutex> lock(mu_);
    if (delivered_) return;
    error_ = e;
    remaining_ = 0;
    FinishLocked(lock);
  }

  // --- Job ------------------------------------------------------------------
  void OnResult(uint32_t index, std::span<const std::byte> bytes) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (delivered_) return;
    }
    Decode(index, bytes);
    std::unique_lock<std::mutex> lock(mu_);
    if (delivered_) return;
    if (--remaining_ == 0) FinishLocked(lock);
  }
  void OnError(uint32_t, std::exception_ptr error, bool cancelled) override {
    std::unique_lock<std::mutex> lock(mu_);
    if (delivered_) return;
    error_ = error;
    cancelled_ = cancelled;
    remaining_ = 0;  // the first error decides (as Python's MapResult)
    FinishLocked(lock);
  }
  void RunCallbacks(bool run_user_code) override {
    std::vector<std::function<void()>> done;
    {
      std::lock_guard<std::mutex> lock(mu_);
      done.swap(done_callbacks_);
    }
    if (run_user_code) {
      try {
        if (error_) {
          if (error_callback_) error_callback_(error_);
        } else if (callback_) {
          callback_(*value_);
        }
      } catch (...) {
        PrintCallbackError("a pool callback");
      }
      for (auto& f : done) {
        try {
          f();
        } catch (...) {
          PrintCallbackError("a done callback");
        }
      }
    }
    MarkReady();
  }

  // --- waiting -----------------------------------------------------------
  // True once the outcome is known and callbacks ran.
  bool WaitReady(const Deadline& deadline) {
    std::vector<TaskRef> tasks;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (ready_) return true;
      tasks = tasks_;
    }
    for (const TaskRef& t : tasks) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (delivered_) break;
      }
      if (!engine_->WaitDone(t, deadline)) return false;
      engine_->Collect(t);
    }
    std::unique_lock<std::mutex> lock(mu_);
    return WaitUntil(cv_, lock, deadline, [&] { return ready_; });
  }
  // Non-blocking: collects what is done; true when ready.
  bool Poll() {
    std::vector<TaskRef> tasks;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (ready_) return true;
      tasks = tasks_;
    }
    for (const TaskRef& t : tasks) {
      if (engine_->IsDone(t)) engine_->Collect(t);
    }
    std::lock_guard<std::mutex> lock(mu_);
    return ready_;
  }
  // The handle went away: let the handler collect whatever is left, so no
  // slot stays occupied by a result nobody will read.
  void Abandon() {
    std::vector<TaskRef> tasks;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (ready_) return;
      tasks = tasks_;
    }
    for (const TaskRef& t : tasks) engine_->Watch(t);
  }
  // Future: the handler must complete this job (done callbacks, waiters).
  void WatchAll() {
    std::vector<TaskRef> tasks;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (ready_) return;
      tasks = tasks_;
    }
    for (const TaskRef& t : tasks) engine_->Watch(t);
  }

  // Future: runs `fn` when ready (now, in this thread, if it already is).
  void AddDoneCallback(std::function<void()> fn) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!ready_) {
        done_callbacks_.push_back(std::move(fn));
        has_callbacks_ = true;
        fn = nullptr;
      }
    }
    if (fn) {
      fn();
    } else {
      WatchAll();
    }
  }
  void AddWaiter(std::shared_ptr<MultiWaiter> w, std::size_t index) {
    bool now = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (ready_) {
        now = true;
      } else {
        waiters_.emplace_back(std::move(w), index);
      }
    }
    if (now) {
      std::lock_guard<std::mutex> lock(w->mu);
      w->ready.push_back(index);
      w->cv.notify_all();
    } else {
      WatchAll();
    }
  }

  bool ready() {
    std::lock_guard<std::mutex> lock(mu_);
    return ready_;
  }
  bool failed() {
    std::lock_guard<std::mutex> lock(mu_);
    return ready_ && error_ != nullptr;
  }
  bool cancelled() {
    std::lock_guard<std::mutex> lock(mu_);
    return ready_ && cancelled_;
  }
  std::exception_ptr error() {
    std::lock_guard<std::mutex> lock(mu_);
    return error_;
  }
  // Valid once ready and successful.
  const Stored& value() const { return *value_; }
  // The value by value: moved out when `sole` (nobody else can read it
  // again), else copied.
  Stored TakeValue(bool sole) {
    if (sole) return std::move(*value_);
    return *value_;
  }
  Engine& engine() { return *engine_; }
  std::vector<TaskRef> tasks() {
    std::lock_guard<std::mutex> lock(mu_);
    return tasks_;
  }

 protected:
  // Decodes task `index`'s result into the job (default: the whole value).
  virtual void Decode(uint32_t, std::span<const std::byte> bytes) {
    if constexpr (std::is_void_v<T>) {
      if (!bytes.empty()) {
        throw CodecError("a void task returned " +
                         std::to_string(bytes.size()) + " bytes");
      }
      value_.emplace();
    } else {
      value_.emplace(shoal::Decode<T>(bytes));
    }
  }

  std::optional<Stored> value_;

 private:
  void FinishLocked(std::unique_lock<std::mutex>& lock) {
    delivered_ = true;
    if (has_callbacks_) {
      if (callbacks_after_ready_) {
        ready_ = true;
        auto waiters = TakeWaitersLocked();
        cv_.notify_all();
        lock.unlock();
        Signal(waiters);
        ScheduleCallbacks();
        return;
      }
      lock.unlock();
      ScheduleCallbacks();
      return;
    }
    ready_ = true;
    auto waiters = TakeWaitersLocked();
    cv_.notify_all();
    lock.unlock();
    Signal(waiters);
  }
  void ScheduleCallbacks() {
    if (engine_) {
      engine_->ScheduleCallbacks(shared_from_this());
    } else if (runner_) {
      runner_([self = shared_from_this()] { self->RunCallbacks(true); });
    } else {
      RunCallbacks(true);
    }
  }
  void MarkReady() {
    std::unique_lock<std::mutex> lock(mu_);
    if (ready_) return;
    ready_ = true;
    auto waiters = TakeWaitersLocked();
    cv_.notify_all();
    lock.unlock();
    Signal(waiters);
  }
  std::vector<std::pair<std::shared_ptr<MultiWaiter>, std::size_t>>
  TakeWaitersLocked() {
    return std::exchange(waiters_, {});
  }
  static void Signal(
      const std::vector<std::pair<std::shared_ptr<MultiWaiter>, std::size_t>>&
          waiters) {
    for (const auto& [w, index] : waiters) {
      std::lock_guard<std::mutex> lock(w->mu);
      w->ready.push_back(index);
      w->cv.notify_all();
    }
  }

  std::shared_ptr<Engine> engine_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<TaskRef> tasks_;
  uint32_t remaining_;
  bool delivered_ = false;
  bool ready_ = false;
  bool cancelled_ = false;
  bool has_callbacks_ = false;
  bool callbacks_after_ready_ = false;
  bool running_ = false;  // external jobs: SetRunning() was called
  CallbackRunner runner_;  // external jobs
  std::exception_ptr error_;
  std::function<void(const Stored&)> callback_;
  std::function<void(std::exception_ptr)> error_callback_;
  std::vector<std::function<void()>> done_callbacks_;
  std::vector<std::pair<std::shared_ptr<MultiWaiter>, std::size_t>> waiters_;
};

// map / starmap: one task per chunk, results decoded straight into place.
template <class V>
class MapJob : public ResultJob<std::vector<V>> {
 public:
  MapJob(std::shared_ptr<Engine> engine, std::vector<std::size_t> offsets,
         std::size_t total)
      : ResultJob<std::vector<V>>(std::move(engine),
                                  static_cast<uint32_t>(offsets.size())),
        offsets_(std::move(offsets)) {
    static_assert(std::is_default_constructible_v<V>,
                  "shoal: map results must be default-constructible");
    this->value_.emplace(total);
  }

 protected:
  void Decode(uint32_t index, std::span<const std::byte> bytes) override {
    if (index >= offsets_.size()) throw CodecError("map: bad chunk index");
    std::vector<V>& out = *this->value_;
    const std::size_t begin = offsets_[index];
    const std::size_t end =
        index + 1 < offsets_.size() ? offsets_[index + 1] : out.size();
    CodecReader r(bytes, "map chunk result");
    const uint64_t n = r.ReadLength(MinSize<V>());
    if (n != end - begin) {
      r.Fail("chunk of " + std::to_string(end - begin) + " items returned " +
             std::to_string(n) + " results");
    }
    if constexpr (kIsRaw<V>) {
      r.ReadInto(static_cast<void*>(out.data() + begin), n * sizeof(V));
    } else {
      for (std::size_t i = begin; i < end; ++i) out[i] = r.Get<V>();
    }
    if (r.remaining() != 0) r.Fail("trailing bytes after the results");
  }

 private:
  std::vector<std::size_t> offsets_;
};

// What the chunk invoker of (Fn, Raw, kStar) expects per item.
template <class Fn, class Raw, bool kStar>
using ChunkItem = typename ChunkInvoker<Fn, Raw, kStar>::Item;

// Submits one chunk of `items`. Blocks while the pool is saturated.
template <class Fn, class Invoker, class Item>
TaskRef SubmitChunk(Engine& engine, const ChunkWriter<Fn>& writer,
                    std::span<const Item> items, std::shared_ptr<Job> job,
                    uint32_t index, bool notify,
                    std::optional<Timeout> timeout = {}) {
  auto write = [&](std::span<std::byte> dst) { writer.Write(items, dst); };
  SubmitSpec spec{InvokerRef<Invoker>(),
                  writer.size(items),
                  write,
                  std::move(job),
                  index,
                  TaskLimit(timeout),
                  notify};
  std::optional<TaskRef> ref = engine.Submit(spec, Deadline::Infinite());
  return *ref;
}

}  // namespace internal
}  // namespace shoal

#endif  // SHOAL_POOL_INTERNAL_JOBS_H_
