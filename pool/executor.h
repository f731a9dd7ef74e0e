// Copyright 2026 The shoal Authors.
//
// executor.h: ProcessPoolExecutor and Future, Python's
// concurrent.futures, plus as_completed() and wait().
//
//   shoal::ProcessPoolExecutor ex(4);
//   shoal::Future<int> f = ex.submit(square, 7);
//   int y = f.result();                              // 49
//   for (int v : ex.map(square, std::vector<int>{1, 2, 3})) { ... }
//   for (auto& done : shoal::as_completed(futures)) { done.result(); }
//   ex.shutdown();
//
// Contract
//   The same engine as shoal::Pool (pool.h): callables, arguments,
//   exceptions, timeouts, dead workers and backpressure behave as described
//   there. What differs, as in Python:
//     submit(f, args...)  -> Future<R>
//     map(f, iterables..., ) -> an ordered IMapResult<R> over f(a, b, ...)
//                       for zipped iterables (the shortest ends it). As in
//                       Python, map() reads the whole input and submits
//                       every call before it returns (an un-iterated map
//                       still runs them all); with MapOptions::buffersize
//                       (Python 3.14) it submits at most that many chunks
//                       ahead of what was consumed, so an endless input
//                       works. MapOptions{.timeout} makes next() throw
//                       TimeoutError once `timeout` has passed since the
//                       call to map(). An input that throws: the results
//                       before it, then its exception at its position
//                       (Python raises it from map() and loses them).
//     shutdown(wait = true, cancel_futures = false): no new tasks
//                       (RuntimeError "cannot schedule new futures after
//                       shutdown", as Python); cancel_futures cancels
//                       everything not started (and maps read no more
//                       input); wait waits for the rest. Results of a map
//                       stay retrievable after shutdown and after the
//                       executor is gone. A buffersize map still being
//                       iterated keeps the workers it needs until it ends.
//                       The destructor calls shutdown(true).
//   A worker that dies: by default only its future fails (WorkerLost) and
//   the executor carries on. With ExecutorOptions::break_on_worker_death
//   (Python's behaviour) the executor breaks: that future, every pending
//   and running one fail with BrokenPool, and submit() throws BrokenPool.
//
// Future<T>
//   done(), running(), cancelled()
//   cancel(kill_running = false): a pending future is cancelled (true); a
//     running one only when kill_running: its worker is killed (SIGKILL) and
//     replaced, and the future ends cancelled (true unless it finished
//     first). Done futures: false.
//   result(deadline = infinite): the value (const T& on a future you hold;
//     a T on a temporary, so `const auto& v = ex.submit(f, x).result();` is
//     safe; void), or rethrows the task's exception; CancelledError if
//     cancelled; TimeoutError on timeout.
//   exception(deadline): the exception (nullptr on success); CancelledError
//     if cancelled; TimeoutError on timeout.
//   add_done_callback(fn): fn(future) once done: at once in this thread if
//     already done, else in the pool's callback thread, in the order added.
//   Copies share the future. A future may also come from a Promise
//   (promise.h: shoal::mpi's executor, tests); its producer decides
//   cancellation and runs callbacks as promise.h says.
//
// as_completed(futures, deadline) yields the futures as they finish (an
// input range; next() returns nullopt at the end and throws TimeoutError
// when the deadline passes first). wait(futures, deadline, return_when)
// returns {done, not_done} with FIRST_COMPLETED, FIRST_EXCEPTION or
// ALL_COMPLETED. Both see each distinct future once, however often it is
// listed (Python takes a set; the order is first-seen).
//
// Thread safety: as Pool; a Future may be used from several threads.
#ifndef SHOAL_POOL_EXECUTOR_H_
#define SHOAL_POOL_EXECUTOR_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <ranges>
#include <set>
#include <tuple>
#include <utility>
#include <vector>

#include "shoal/base/deadline.h"
#include "shoal/base/errors.h"
#include "shoal/pool/async_result.h"
#include "shoal/pool/internal/jobs.h"
#include "shoal/pool/pool.h"

namespace shoal {

struct ExecutorOptions {
  // Unset: process_cpu_count(). 0: ValueError, as Python.
  std::optional<std::size_t> max_workers{};
  Initializer initializer{};
  // 0: unlimited.
  std::size_t max_tasks_per_child = 0;
  std::optional<Context> mp_context{};
  // Python's behaviour on a dead worker (see the file comment).
  bool break_on_worker_death = false;
  // As PoolOptions (task_timeout: a Timeout, huge means no limit).
  Timeout task_timeout{};
  uint64_t max_memory_per_child = 0;
  std::size_t max_pending = 0;
  std::size_t inline_bytes = 0;
  uint64_t shared_heap_bytes = 0;
};

template <class T>
class Future {
 public:
  Future() = default;

  bool done() const { return job().Poll(); }
  bool running() const {
    if (job().external()) return job().RunningExternal();
    if (job().ready()) return false;
    auto tasks = job().tasks();
    return !tasks.empty() && job().engine().IsRunning(tasks[0]);
  }
  bool cancelled() const {
    job().Poll();
    return job().cancelled();
  }
  bool cancel(bool kill_running = false) {
    if (job().external()) return job().CancelExternal();
    if (job().Poll()) return job().cancelled();
    auto tasks = job().tasks();
    if (tasks.empty()) return false;
    const bool ok = job().engine().Cancel(tasks[0], kill_running);
    if (ok) job().WaitReady(Deadline(std::chrono::seconds(30)));
    return ok;
  }

  // On a Future you keep: const T& into it (valid while any copy lives).
  // On a temporary (`ex.submit(f, x).result()`): a T, so binding it to a
  // reference never dangles.
  decltype(auto) result() const& { return result(Deadline::Infinite()); }
  decltype(auto) result(const Deadline& deadline) const& {
    internal::ResultJob<T>& j = Ready(deadline);
    if constexpr (!std::is_void_v<T>) {
      return static_cast<const T&>(j.value());
    }
  }
  auto result() && { return std::move(*this).result(Deadline::Infinite()); }
  auto result(const Deadline& deadline) && {
    internal::ResultJob<T>& j = Ready(deadline);
    if constexpr (!std::is_void_v<T>) {
      return j.TakeValue(holder_.use_count() == 1);
    }
  }
  std::exception_ptr exception(
      const Deadline& deadline = Deadline::Infinite()) const {
    internal::ResultJob<T>& j = job();
    if (!j.WaitReady(deadline)) {
      throw TimeoutError("Future.exception: the result is not ready");
    }
    if (j.cancelled()) std::rethrow_exception(j.error());
    return j.error();
  }

  template <class Fn>
  void add_done_callback(Fn fn) {
    Future self = *this;
    job().AddDoneCallback(
        [fn = std::move(fn), self]() mutable { fn(self); });
  }

  explicit operator bool() const { return holder_ != nullptr; }
  friend bool operator==(const Future& a, const Future& b) {
    return a.holder_ == b.holder_;
  }

  // For the executor and the free functions.
  explicit Future(std::shared_ptr<internal::ResultJob<T>> job)
      : holder_(std::make_shared<Holder>(std::move(job))) {}
  internal::ResultJob<T>& job() const {
    if (!holder_) throw ValueError("an empty Future");
    return *holder_->job;
  }

 private:
  internal::ResultJob<T>& Ready(const Deadline& deadline) const {
    internal::ResultJob<T>& j = job();
    if (!j.WaitReady(deadline)) {
      throw TimeoutError("Future.result: the result is not ready");
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

struct MapOptions {
  // next() throws TimeoutError once this has passed since the call to map().
  std::optional<Timeout> timeout{};
  std::size_t chunksize = 1;
  // Python 3.14's buffersize: unset, every call is submitted by map()
  // itself (the input is read to its end first, so it must be finite);
  // set, at most that many chunks are submitted ahead of what was consumed
  // (an endless input works). 0: ValueError.
  std::optional<std::size_t> buffersize{};
};

class ProcessPoolExecutor : private Pool {
 public:
  // process_cpu_count() workers.
  ProcessPoolExecutor() : ProcessPoolExecutor(ExecutorOptions{}) {}
  // `max_workers` workers; 0: ValueError, as Python.
  explicit ProcessPoolExecutor(std::size_t max_workers)
      : ProcessPoolExecutor(ExecutorOptions{.max_workers = max_workers}) {}
  explicit ProcessPoolExecutor(const ExecutorOptions& options);
  template <class F, class... Args>
  ProcessPoolExecutor(std::size_t max_workers, F initializer,
                      Args&&... initargs)
      : ProcessPoolExecutor(ExecutorOptions{
            .max_workers = max_workers,
            .initializer = Initializer(std::move(initializer),
                                       std::forward<Args>(initargs)...)}) {}
  ~ProcessPoolExecutor();

  template <class F, class... Args>
  auto submit(F fn, Args&&... args) {
    CheckOpen();
    using Fn = std::decay_t<F>;
    using Raw = typename internal::RawParamsOf<Fn, Args...>::type;
    internal::CheckCall<Fn, Raw, Args...>();
    using Inv = internal::ApplyInvoker<Fn, Raw>;
    using R = typename Inv::R;
    Fn f = std::move(fn);
    internal::BoundCall<Fn, Raw, Inv, Args...> call(f,
                                                   std::forward<Args>(args)...);
    auto job = std::make_shared<internal::ResultJob<R>>(engine(), 1);
    job->set_callbacks_after_ready();
    auto write = [&](std::span<std::byte> dst) { call.Write(dst); };
    internal::SubmitSpec spec{call.invoker(), call.size(), write, job, 0,
                              std::chrono::nanoseconds(-1), false};
    job->AddTask(*engine()->Submit(spec, Deadline::Infinite()));
    return Future<R>(std::move(job));
  }

  template <class F, std::ranges::input_range... Rs>
    requires(sizeof...(Rs) >= 1 && !std::is_same_v<std::decay_t<F>, MapOptions>)
  auto map(F fn, Rs&&... iterables) {
    return map(MapOptions{}, std::move(fn), std::forward<Rs>(iterables)...);
  }

  template <class F, std::ranges::input_range... Rs>
    requires(sizeof...(Rs) >= 1)
  auto map(const MapOptions& options, F fn, Rs&&... iterables) {
    CheckOpen();
    if (options.buffersize && *options.buffersize == 0) {
      throw ValueError("buffersize must be None or > 0");
    }
    std::optional<Deadline> overall;
    if (options.timeout) overall = Deadline(*options.timeout);
    const std::size_t ahead = options.buffersize.value_or(0);
    const bool eager = !options.buffersize;
    if constexpr (sizeof...(Rs) == 1) {
      // An lvalue range is read in place; an rvalue one is moved into the
      // map, which may read it after this call returns (buffersize).
      using R = std::tuple_element_t<0, std::tuple<Rs...>>;
      auto&& r = std::get<0>(std::forward_as_tuple(std::forward<Rs>(iterables)...));
      using Elem = std::remove_cvref_t<std::ranges::range_reference_t<R>>;
      return MakeStream<false, Elem>(
          std::move(fn), options.chunksize, true,
          [&]<class Item>(std::type_identity<Item>) {
            return std::make_unique<internal::RangeSource<Item, R>>(
                std::forward<R>(r));
          },
          overall, ahead, eager);
    } else {
      using Elem = std::tuple<
          std::remove_cvref_t<std::ranges::range_reference_t<Rs>>...>;
      auto zip = std::make_shared<Zip<Rs...>>(std::forward<Rs>(iterables)...);
      auto gen = [zip]() -> std::optional<Elem> { return zip->Next(); };
      return MakeStream<true, Elem>(
          std::move(fn), options.chunksize, true,
          [&]<class Item>(std::type_identity<Item>) {
            return std::make_unique<
                internal::GeneratorSource<Item, decltype(gen)>>(gen);
          },
          overall, ahead, eager);
    }
  }

  void shutdown(bool wait = true, bool cancel_futures = false);

  using Pool::broken;
  using Pool::worker_pids;
  std::size_t max_workers() const { return processes(); }
  using Pool::engine;

 private:
  template <class... Rs>
  struct Zip {
    explicit Zip(Rs&&... rs)
        : views(std::views::all(std::forward<Rs>(rs))...),
          its(std::apply(
              [](auto&... v) { return std::make_tuple(std::ranges::begin(v)...); },
              views)) {}
    std::optional<std::tuple<
        std::remove_cvref_t<std::ranges::range_reference_t<Rs>>...>>
    Next() {
      bool end = false;
      [&]<std::size_t... I>(std::index_sequence<I...>) {
        ((end = end || std::get<I>(its) == std::ranges::end(std::get<I>(views))),
         ...);
      }(std::index_sequence_for<Rs...>());
      if (end) return std::nullopt;
      return [&]<std::size_t... I>(std::index_sequence<I...>) {
        auto t = std::make_tuple(
            std::remove_cvref_t<std::ranges::range_reference_t<Rs>>(
                *std::get<I>(its))...);
        (++std::get<I>(its), ...);
        return t;
      }(std::index_sequence_for<Rs...>());
    }
    std::tuple<std::views::all_t<Rs>...> views;
    std::tuple<std::ranges::iterator_t<std::views::all_t<Rs>>...> its;
  };

  void CheckOpen() const;
  std::atomic<bool> shutdown_{false};
};

enum class ReturnWhen { FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED };
inline constexpr ReturnWhen FIRST_COMPLETED = ReturnWhen::FIRST_COMPLETED;
inline constexpr ReturnWhen FIRST_EXCEPTION = ReturnWhen::FIRST_EXCEPTION;
inline constexpr ReturnWhen ALL_COMPLETED = ReturnWhen::ALL_COMPLETED;

template <class T>
struct DoneAndNotDone {
  std::vector<Future<T>> done;
  std::vector<Future<T>> not_done;
};

// Waits until `return_when` holds or `deadline` passes; never throws
// TimeoutError (like Python, the sets tell what finished).
namespace internal {
// Each distinct future once, in first-seen order (Python takes a set).
template <class T>
std::vector<Future<T>> Distinct(std::vector<Future<T>> futures) {
  std::vector<Future<T>> out;
  std::set<const void*> seen;
  for (Future<T>& f : futures) {
    if (seen.insert(&f.job()).second) out.push_back(std::move(f));
  }
  return out;
}
}  // namespace internal

template <class T>
DoneAndNotDone<T> wait(const std::vector<Future<T>>& given,
                       const Deadline& deadline = Deadline::Infinite(),
                       ReturnWhen return_when = ALL_COMPLETED) {
  const std::vector<Future<T>> futures = internal::Distinct(given);
  auto waiter = std::make_shared<internal::MultiWaiter>();
  for (std::size_t i = 0; i < futures.size(); ++i) {
    futures[i].job().AddWaiter(waiter, i);
  }
  std::vector<bool> is_done(futures.size(), false);
  std::size_t ndone = 0;
  bool failed = false;
  std::unique_lock<std::mutex> lock(waiter->mu);
  for (;;) {
    while (!waiter->ready.empty()) {
      const std::size_t i = waiter->ready.front();
      waiter->ready.pop_front();
      if (!is_done[i]) {
        is_done[i] = true;
        ++ndone;
        lock.unlock();
        failed |= futures[i].job().failed() && !futures[i].job().cancelled();
        lock.lock();
      }
    }
    const bool met =
        ndone == futures.size() ||
        (return_when == FIRST_COMPLETED && ndone > 0) ||
        (return_when == FIRST_EXCEPTION && failed);
    if (met || deadline.expired()) break;
    internal::WaitUntil(waiter->cv, lock, deadline,
                        [&] { return !waiter->ready.empty(); });
  }
  lock.unlock();
  DoneAndNotDone<T> out;
  for (std::size_t i = 0; i < futures.size(); ++i) {
    (is_done[i] ? out.done : out.not_done).push_back(futures[i]);
  }
  return out;
}

template <class T>
class AsCompleted {
 public:
  AsCompleted(std::vector<Future<T>> futures, const Deadline& deadline)
      : futures_(internal::Distinct(std::move(futures))),
        deadline_(deadline),
        waiter_(std::make_shared<internal::MultiWaiter>()) {
    for (std::size_t i = 0; i < futures_.size(); ++i) {
      futures_[i].job().AddWaiter(waiter_, i);
    }
  }
  // The next future to finish; nullopt when all were yielded. Throws
  // TimeoutError when the deadline passes first.
  std::optional<Future<T>> next() {
    if (yielded_ == futures_.size()) return std::nullopt;
    std::unique_lock<std::mutex> lock(waiter_->mu);
    if (!internal::WaitUntil(waiter_->cv, lock, deadline_,
                             [&] { return !waiter_->ready.empty(); })) {
      throw TimeoutError(std::to_string(futures_.size() - yielded_) + " (of " +
                         std::to_string(futures_.size()) +
                         ") futures unfinished");
    }
    const std::size_t i = waiter_->ready.front();
    waiter_->ready.pop_front();
    ++yielded_;
    return futures_[i];
  }

  class iterator {
   public:
    using value_type = Future<T>;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(AsCompleted* a) : a_(a) { cur_ = a_->next(); }
    Future<T>& operator*() const { return *cur_; }
    iterator& operator++() {
      cur_ = a_->next();
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& it, std::default_sentinel_t) {
      return !it.cur_.has_value();
    }

   private:
    AsCompleted* a_ = nullptr;
    mutable std::optional<Future<T>> cur_;
  };
  iterator begin() { return iterator(this); }
  std::default_sentinel_t end() { return {}; }

 private:
  std::vector<Future<T>> futures_;
  Deadline deadline_;
  std::shared_ptr<internal::MultiWaiter> waiter_;
  std::size_t yielded_ = 0;
};

template <class T>
AsCompleted<T> as_completed(std::vector<Future<T>> futures,
                            const Deadline& deadline = Deadline::Infinite()) {
  return AsCompleted<T>(std::move(futures), deadline);
}

}  // namespace shoal

#endif  // SHOAL_POOL_EXECUTOR_H_
