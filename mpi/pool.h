// Copyright 2026 The shoal Authors.
//
// pool.h: shoal::mpi::Pool, multiprocessing.Pool's calls over MPI ranks.
//
//   shoal::mpi::init(argc, argv);
//   shoal::mpi::Pool pool;                                   // every rank > 0
//   std::vector<int> ys = pool.map(square, std::vector<int>{1, 2, 3});
//   auto r = pool.apply_async(square, 8);                    // AsyncResult<int>
//   for (int v : pool.imap_unordered(square, std::views::iota(0, 100))) {}
//   pool.close(); pool.join();
//
// Contract
//   The calls of shoal::Pool (pool/pool.h) that make sense across machines,
//   with the same semantics and the same AsyncResult<T>:
//     apply(f, args...), apply_async([Async{callback, error_callback},] f,
//     args...), map(f, range, chunksize = 0), map_async(...), starmap(...),
//     starmap_async(...), imap(f, input, chunksize = 1) and
//     imap_unordered(...) over a range, an iterator pair or a generator
//     (lazy), close(), terminate(), join().
//   Callbacks run in rank 0's callback thread, before get() returns.
//   Exceptions, modes (inline / hierarchical) and what happens when a
//   process or a rank dies: as shoal::mpi::Executor (executor.h).
//   Default chunksize of map/starmap as CPython: ceil(len / (4 * workers)),
//   workers = live ranks x processes per rank.
//
// Absent, and why
//   * initializer / initargs and maxtasksperchild in inline mode: main()
//     never runs on a worker rank past init(), and a rank is not replaced;
//     hierarchical mode takes maxtasksperchild (PoolOptions).
//   * Async::timeout in inline mode: a task thread cannot be killed;
//     hierarchical mode has PoolOptions::task_timeout (its worker is
//     killed and the task fails with TimeoutError, as locally).
//   * terminate() cannot stop a task already sent to a rank: its result
//     fails at once with CancelledError and the rank's answer is dropped
//     when it comes.
//   * worker_pids(): pids of other hosts mean nothing here; shoal::mpi::
//     ranks() gives each rank's host and pid.
//   * ThreadPool: threads do not cross machines.
//
// Thread safety: every method may be called from any thread of rank 0.
#ifndef SHOAL_MPI_POOL_H_
#define SHOAL_MPI_POOL_H_

#include <chrono>
#include <cstddef>
#include <iterator>
#include <memory>
#include <optional>
#include <ranges>
#include <type_traits>
#include <utility>

#include "shoal/base/deadline.h"
#include "shoal/mpi/imap_result.h"
#include "shoal/mpi/internal/front.h"
#include "shoal/pool/async_result.h"
#include "shoal/pool/context.h"
#include "shoal/pool/pool.h"

namespace shoal::mpi {

struct PoolOptions {
  // 0: inline mode; P > 0: hierarchical mode, P processes per rank.
  std::size_t processes_per_rank = 0;
  // Tasks sent ahead to one rank. 0: adaptive (see ExecutorOptions).
  std::size_t max_inflight_per_rank = 0;
  // Hierarchical mode only (see the file comment).
  std::optional<Context> context{};
  std::size_t maxtasksperchild = 0;
  // A Timeout (any std::chrono or absl duration): zero, negative or huge
  // (hours::max()) means no limit, as PoolOptions::task_timeout.
  Timeout task_timeout{};
};

class Pool : private internal::Front {
 public:
  Pool() : Pool(PoolOptions{}) {}
  explicit Pool(const PoolOptions& options);
  // As shoal::Pool: terminate() unless joined.
  ~Pool();

  // --- single calls -------------------------------------------------------
  template <class F, class... Args>
  auto apply(F fn, Args&&... args) {
    auto r = apply_async(std::move(fn), std::forward<Args>(args)...);
    r.wait();
    if constexpr (std::is_void_v<decltype(r.get())>) {
      r.get();
    } else {
      return std::remove_cvref_t<decltype(r.get())>(r.get());
    }
  }

  template <class F, class... Args>
    requires(!shoal::internal::IsAsync<std::decay_t<F>>::value)
  auto apply_async(F fn, Args&&... args) {
    return apply_async(Async<>{}, std::move(fn), std::forward<Args>(args)...);
  }

  template <class Cb, class ECb, class F, class... Args>
  auto apply_async(const Async<Cb, ECb>& opts, F fn, Args&&... args) {
    CheckRunning();
    auto job = SubmitCall(/*future=*/false, opts, std::move(fn),
                          std::forward<Args>(args)...);
    using T = typename internal::JobValue<
        typename decltype(job)::element_type>::type;
    return AsyncResult<T>(std::move(job));
  }

  // --- map / starmap --------------------------------------------------------
  template <class F, std::ranges::input_range R>
  auto map(F fn, R&& items, std::size_t chunksize = 0) {
    return Blocking(map_async(std::move(fn), std::forward<R>(items), chunksize));
  }
  template <class F, std::ranges::input_range R>
  auto starmap(F fn, R&& items, std::size_t chunksize = 0) {
    return Blocking(
        starmap_async(std::move(fn), std::forward<R>(items), chunksize));
  }
  template <class F, std::ranges::input_range R>
    requires(!shoal::internal::IsAsync<std::decay_t<F>>::value)
  auto map_async(F fn, R&& items, std::size_t chunksize = 0) {
    return map_async(Async<>{}, std::move(fn), std::forward<R>(items),
                     chunksize);
  }
  template <class Cb, class ECb, class F, std::ranges::input_range R>
  auto map_async(const Async<Cb, ECb>& opts, F fn, R&& items,
                 std::size_t chunksize = 0) {
    CheckRunning();
    return SubmitMap<false>(opts, std::move(fn), std::forward<R>(items),
                            chunksize);
  }
  template <class F, std::ranges::input_range R>
    requires(!shoal::internal::IsAsync<std::decay_t<F>>::value)
  auto starmap_async(F fn, R&& items, std::size_t chunksize = 0) {
    return starmap_async(Async<>{}, std::move(fn), std::forward<R>(items),
                         chunksize);
  }
  template <class Cb, class ECb, class F, std::ranges::input_range R>
  auto starmap_async(const Async<Cb, ECb>& opts, F fn, R&& items,
                     std::size_t chunksize = 0) {
    CheckRunning();
    return SubmitMap<true>(opts, std::move(fn), std::forward<R>(items),
                           chunksize);
  }

  // --- imap -----------------------------------------------------------------
  template <class F, std::ranges::input_range R>
  auto imap(F fn, R&& items, std::size_t chunksize = 1) {
    return Stream<R>(std::move(fn), std::forward<R>(items), chunksize, true);
  }
  template <class F, std::input_iterator It, std::sentinel_for<It> S>
  auto imap(F fn, It first, S last, std::size_t chunksize = 1) {
    return StreamIt(std::move(fn), std::move(first), std::move(last),
                    chunksize, true);
  }
  template <class F, shoal::internal::Generator G>
  auto imap(F fn, G gen, std::size_t chunksize = 1) {
    return StreamGen(std::move(fn), std::move(gen), chunksize, true);
  }
  template <class F, std::ranges::input_range R>
  auto imap_unordered(F fn, R&& items, std::size_t chunksize = 1) {
    return Stream<R>(std::move(fn), std::forward<R>(items), chunksize, false);
  }
  template <class F, std::input_iterator It, std::sentinel_for<It> S>
  auto imap_unordered(F fn, It first, S last, std::size_t chunksize = 1) {
    return StreamIt(std::move(fn), std::move(first), std::move(last),
                    chunksize, false);
  }
  template <class F, shoal::internal::Generator G>
  auto imap_unordered(F fn, G gen, std::size_t chunksize = 1) {
    return StreamGen(std::move(fn), std::move(gen), chunksize, false);
  }

  // --- lifecycle --------------------------------------------------------------
  // No more tasks; the ranks finish what they have.
  void close();
  // Tasks not yet sent fail with CancelledError at once, and so do those
  // running on ranks (their results are dropped when they come).
  void terminate();
  // After close() or terminate(): waits until every task finished or was
  // dropped; ValueError otherwise.
  void join();
  bool join(const Deadline& deadline);

  // Worker processes: live ranks x processes per rank (x 1 inline).
  std::size_t processes() const { return workers(); }
  using Front::per_rank;
  bool broken() const { return world().broken(); }

 private:
  template <class Result>
  static auto Blocking(Result r) {
    using V = std::remove_cvref_t<decltype(r.get())>;
    // r is the only handle left on the result: move it out, as shoal::Pool.
    return V(std::move(const_cast<V&>(r.get())));
  }
  template <class R, class F>
  auto Stream(F fn, R&& items, std::size_t chunksize, bool ordered) {
    CheckRunning();
    using Elem = std::remove_cvref_t<std::ranges::range_reference_t<R>>;
    return MakeStream<false, Elem>(
        std::move(fn), chunksize, ordered,
        [&]<class Item>(std::type_identity<Item>) {
          return std::make_unique<shoal::internal::RangeSource<Item, R>>(
              std::forward<R>(items));
        });
  }
  template <class F, class It, class S>
  auto StreamIt(F fn, It first, S last, std::size_t chunksize, bool ordered) {
    CheckRunning();
    using Elem = std::remove_cvref_t<std::iter_reference_t<It>>;
    return MakeStream<false, Elem>(
        std::move(fn), chunksize, ordered,
        [&]<class Item>(std::type_identity<Item>) {
          return std::make_unique<shoal::internal::IteratorSource<Item, It, S>>(
              std::move(first), std::move(last));
        });
  }
  template <class F, class G>
  auto StreamGen(F fn, G gen, std::size_t chunksize, bool ordered) {
    CheckRunning();
    using Elem = std::remove_cvref_t<decltype(*gen())>;
    return MakeStream<false, Elem>(
        std::move(fn), chunksize, ordered,
        [&]<class Item>(std::type_identity<Item>) {
          return std::make_unique<shoal::internal::GeneratorSource<Item, G>>(
              std::move(gen));
        });
  }
  void CheckRunning() const;

  enum State { kRunning, kClosed, kTerminated, kJoined };
  std::atomic<int> state_{kRunning};
};

}  // namespace shoal::mpi

#endif  // SHOAL_MPI_POOL_H_
