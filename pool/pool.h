// Copyright 2026 The shoal Authors.
//
// pool.h: shoal::Pool, Python's multiprocessing.Pool over shared memory.
//
//   int square(int x) { return x * x; }
//
//   shoal::Pool pool(4);                                   // 4 worker processes
//   int y = pool.apply(square, 7);                         // 49
//   auto r = pool.apply_async(square, 8);                  // AsyncResult<int>
//   std::vector<int> ys = pool.map(square, std::vector<int>{1, 2, 3});
//   for (int v : pool.imap(square, std::views::iota(0))) { if (v > 100) break; }
//   pool.close(); pool.join();
//
// Contract
//   Workers are processes started with the pool's start method (fork by
//   default; see context.h), or threads for ThreadPool (thread_pool.h). The
//   pool keeps `processes` workers alive: one that exits (maxtasksperchild,
//   max_memory_per_child, a crash) is replaced.
//
//   Callables and arguments follow pool/internal/callable.h: function
//   pointers, captureless lambdas, serializable function objects; arguments
//   converted to the parameter types and encoded with the codec. Anything
//   else is a compile-time error that says why.
//
//   Calls (Python's names and semantics):
//     apply(f, args...)                 runs f in a worker, returns its result
//     apply_async([Async{...},] f, args...)    -> AsyncResult<R>
//     map(f, range, chunksize = 0)      -> std::vector<R>, in order
//     map_async([Async{...},] f, range, chunksize = 0)
//                                       -> AsyncResult<std::vector<R>>
//     imap(f, input, chunksize = 1)     -> IMapResult<R>, in order, lazy
//     imap_unordered(f, input, chunksize = 1)  -> IMapResult<R>, as done
//     starmap(f, range_of_tuples, chunksize = 0) / starmap_async(...)
//     close()      no more calls; workers leave once the queue is drained.
//                  An imap/imap_unordered made before keeps reading its
//                  input as it is iterated, so every result still comes.
//     terminate()  kill the workers now; unfinished tasks fail with
//                  CancelledError (Python leaves them waiting forever)
//     join()       after close()/terminate(): has imaps made before close()
//                  read the rest of their input (as Python, whose imap
//                  queues its whole input at once: so an endless one never
//                  ends), then waits for the workers to leave; their
//                  results wait in the iterators. ValueError otherwise.
//   The destructor of a pool that was not joined terminates it (Python's
//   `with Pool() as p:`).
//   `input` for imap: any input range (read lazily, so std::views::iota(0)
//   works), an iterator pair (imap(f, first, last, chunksize)), or a
//   generator: a callable returning std::optional<T> (nullopt ends).
//   Default chunksize of map/starmap as CPython: ceil(len / (4 * workers)).
//   R = void: map returns std::vector<std::monostate> (Python's [None...]).
//
// Exceptions
//   A task's exception reaches get()/map()/next() with its type name and
//   message: std::invalid_argument, out_of_range, runtime_error,
//   logic_error (and the other <stdexcept> types), std::bad_alloc and every
//   shoal::Error are rethrown as themselves; anything else as
//   shoal::RemoteError(type_name, message). A result that cannot be encoded
//   fails that task with SerializationError, never the pool.
//   Pool-level failures: a worker that dies mid-task fails exactly that task
//   with shoal::WorkerLost (pid, signal or exit code; the others complete);
//   a task running past its timeout fails with TimeoutError (its worker is
//   killed and replaced); an initializer that throws breaks the pool:
//   pending tasks and later calls fail with shoal::BrokenPool, whose nested
//   exception (std::rethrow_if_nested) is the initializer's error.
//   Using a closed pool: ValueError("Pool not running"), as Python.
//
// Guarantees when processes die
//   A task a dead worker had taken but not started runs on another worker
//   (never twice, never lost); a task it had started fails with WorkerLost
//   (never retried: it may have had side effects). No call ever hangs
//   because a worker died; callers wake as soon as the pool's supervisor
//   sees the death (at once: pidfd). If the parent dies, workers die with it
//   (PR_SET_PDEATHSIG), so no worker lingers.
//
// Backpressure and memory
//   At most max_pending tasks are in flight (default 1024 task slots in
//   shared memory); submitting more blocks until results are collected
//   (a blocked submitter has finished results moved out of shared memory
//   into their AsyncResults, so holding many AsyncResults never deadlocks).
//   Arguments and results up to inline_bytes (default 192) travel inside
//   the slot; larger ones in a shared heap (shared_heap_bytes, default 256
//   MiB of address space, touched only as used).
//
// Performance (bench/pool_bench.cc; bench/RESULTS.md "## pool"): apply()
//   is one slot write + ring push by the caller, one futex wake of an idle
//   worker, and one futex wake back (none when the other side is spinning):
//   about a raw futex ping-pong. map() of a trivial function over 1,000,000
//   ints costs a few ns per item (chunks are memcpy'd to and from shared
//   memory; the chunk loop calls f directly).
//
// Thread safety: every method may be called from any thread of the parent;
// callbacks run in the pool's callback thread (one at a time).
#ifndef SHOAL_POOL_POOL_H_
#define SHOAL_POOL_POOL_H_

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <iterator>
#include <memory>
#include <optional>
#include <ranges>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "shoal/base/deadline.h"
#include "shoal/base/errors.h"
#include "shoal/pool/async.h"
#include "shoal/pool/async_result.h"
#include "shoal/pool/context.h"
#include "shoal/pool/internal/callable.h"
#include "shoal/pool/internal/engine.h"
#include "shoal/pool/internal/jobs.h"
#include "shoal/pool/process.h"

namespace shoal {

// A call to run once in every worker when it starts (Python's initializer
// and initargs): shoal::Initializer(fn, args...). Same rules as tasks.
class Initializer {
 public:
  Initializer() = default;
  template <class F, class... Args>
    requires(!std::is_same_v<std::decay_t<F>, Initializer>)
  explicit Initializer(F fn, Args&&... args) {
    using Fn = std::decay_t<F>;
    using Raw = typename internal::RawParamsOf<Fn, Args...>::type;
    internal::CheckCall<Fn, Raw, Args...>();
    using Inv = internal::CallInvoker<Fn, Raw>;
    Fn f = std::move(fn);
    internal::BoundCall<Fn, Raw, Inv, Args...> call(f,
                                                   std::forward<Args>(args)...);
    payload_.assign(call.size(), '\0');
    call.Write(std::as_writable_bytes(std::span<char>(payload_)));
    invoker_ = call.invoker();
    set_ = true;
  }
  explicit operator bool() const { return set_; }
  const internal::CodeRef& invoker() const { return invoker_; }
  const std::string& payload() const { return payload_; }

 private:
  bool set_ = false;
  internal::CodeRef invoker_;
  std::string payload_;
};

struct PoolOptions {
  // Workers; unset: process_cpu_count(). 0: ValueError, as Python.
  std::optional<std::size_t> processes{};
  Initializer initializer{};
  // Tasks a worker runs before it is replaced; 0: unlimited.
  std::size_t maxtasksperchild = 0;
  // Start method; unset: the default context (set_start_method).
  std::optional<Context> context{};
  // Per-task time limit; zero (the default), negative or huge
  // (hours::max(), > ~146 years): none. Overridable per call
  // (Async::timeout). Any std::chrono/absl duration, saturated (Timeout).
  Timeout task_timeout{};
  // A worker whose resident set exceeds this after a task is replaced; 0:
  // no limit.
  uint64_t max_memory_per_child = 0;
  // Tasks in flight before submitting blocks; 0: 1024; at most
  // kMaxPending (ValueError beyond, as Python's for a bad argument).
  std::size_t max_pending = 0;
  // Argument/result bytes kept inside a task slot; 0: 192; at most
  // kMaxInlineBytes (ValueError beyond).
  std::size_t inline_bytes = 0;
  // Shared heap for larger arguments and results; 0: 256 MiB.
  uint64_t shared_heap_bytes = 0;

  // The largest max_pending and inline_bytes: what a pool's shared region
  // can describe (its reader refuses a region claiming more).
  static constexpr std::size_t kMaxPending = std::size_t{1} << 20;
  static constexpr std::size_t kMaxInlineBytes = std::size_t{1} << 20;
};

namespace internal {

// The raw parameter list for a one-argument call of Fn with an Elem.
template <class Fn, class Elem>
struct MapRaw {
  using type = std::tuple<Elem&>;
};
template <class Fn, class Elem>
  requires SignatureOf<Fn>::kKnown
struct MapRaw<Fn, Elem> {
  using type = typename SignatureOf<Fn>::Raw;
};
// ... and for a star call with a tuple-like Elem.
template <class Fn, class Elem>
struct StarRaw {
  using type = typename decltype([]<std::size_t... I>(std::index_sequence<I...>) {
    return std::type_identity<
        std::tuple<std::remove_cvref_t<std::tuple_element_t<I, Elem>>&...>>{};
  }(std::make_index_sequence<std::tuple_size_v<Elem>>()))::type;
};
template <class Fn, class Elem>
  requires SignatureOf<Fn>::kKnown
struct StarRaw<Fn, Elem> {
  using type = typename SignatureOf<Fn>::Raw;
};

template <class Fn, class Elem, bool kStar>
using RawFor = typename std::conditional_t<kStar, StarRaw<Fn, Elem>,
                                           MapRaw<Fn, Elem>>::type;

template <class T>
struct IsAsync : std::false_type {};
template <class Cb, class ECb>
struct IsAsync<Async<Cb, ECb>> : std::true_type {};

// A callable whose call returns a std::optional: an imap generator.
template <class G>
concept Generator = requires(G& g) {
  { g().has_value() } -> std::convertible_to<bool>;
  *g();
} && !std::ranges::range<G>;

}  // namespace internal

class Pool {
 public:
  // process_cpu_count() workers.
  Pool() : Pool(PoolOptions{}) {}
  // `processes` workers; 0: ValueError (Python's Pool(0) raises it too).
  explicit Pool(std::size_t processes)
      : Pool(PoolOptions{.processes = processes}) {}
  explicit Pool(const PoolOptions& options) : Pool(options, false) {}
  // Pool(processes, initializer, initargs...).
  template <class F, class... Args>
  Pool(std::size_t processes, F initializer, Args&&... initargs)
      : Pool(PoolOptions{.processes = processes,
                         .initializer = Initializer(
                             std::move(initializer),
                             std::forward<Args>(initargs)...)}) {}

  ~Pool();
  Pool(Pool&&) noexcept = default;
  Pool& operator=(Pool&&) noexcept = default;

  // --- single calls -----------------------------------------------------
  template <class F, class... Args>
  auto apply(F fn, Args&&... args) {
    return apply_async(std::move(fn), std::forward<Args>(args)...).get();
  }

  template <class F, class... Args>
    requires(!internal::IsAsync<std::decay_t<F>>::value)
  auto apply_async(F fn, Args&&... args) {
    return apply_async(Async<>{}, std::move(fn), std::forward<Args>(args)...);
  }

  template <class Cb, class ECb, class F, class... Args>
  auto apply_async(const Async<Cb, ECb>& opts, F fn, Args&&... args) {
    using Fn = std::decay_t<F>;
    using Raw = typename internal::RawParamsOf<Fn, Args...>::type;
    internal::CheckCall<Fn, Raw, Args...>();
    using Inv = internal::ApplyInvoker<Fn, Raw>;
    using R = typename Inv::R;
    Fn f = std::move(fn);
    internal::BoundCall<Fn, Raw, Inv, Args...> call(f,
                                                   std::forward<Args>(args)...);
    auto job = std::make_shared<internal::ResultJob<R>>(engine_, 1);
    job->SetCallbacks(opts.callback, opts.error_callback);
    auto write = [&](std::span<std::byte> dst) { call.Write(dst); };
    internal::SubmitSpec spec{call.invoker(),
                              call.size(),
                              write,
                              job,
                              0,
                              internal::TaskLimit(opts.timeout),
                              job->has_callbacks()};
    job->AddTask(*engine_->Submit(spec, Deadline::Infinite()));
    return AsyncResult<R>(std::move(job));
  }

  // --- map / starmap ----------------------------------------------------
  template <class F, std::ranges::input_range R>
  auto map(F fn, R&& items, std::size_t chunksize = 0) {
    return RunMap<false>(std::move(fn), std::forward<R>(items), chunksize);
  }
  template <class F, std::ranges::input_range R>
  auto starmap(F fn, R&& items, std::size_t chunksize = 0) {
    return RunMap<true>(std::move(fn), std::forward<R>(items), chunksize);
  }
  template <class F, std::ranges::input_range R>
    requires(!internal::IsAsync<std::decay_t<F>>::value)
  auto map_async(F fn, R&& items, std::size_t chunksize = 0) {
    return MapAsync<false>(Async<>{}, std::move(fn), std::forward<R>(items),
                           chunksize, true);
  }
  template <class Cb, class ECb, class F, std::ranges::input_range R>
  auto map_async(const Async<Cb, ECb>& opts, F fn, R&& items,
                 std::size_t chunksize = 0) {
    return MapAsync<false>(opts, std::move(fn), std::forward<R>(items),
                           chunksize, true);
  }
  template <class F, std::ranges::input_range R>
    requires(!internal::IsAsync<std::decay_t<F>>::value)
  auto starmap_async(F fn, R&& items, std::size_t chunksize = 0) {
    return MapAsync<true>(Async<>{}, std::move(fn), std::forward<R>(items),
                          chunksize, true);
  }
  template <class Cb, class ECb, class F, std::ranges::input_range R>
  auto starmap_async(const Async<Cb, ECb>& opts, F fn, R&& items,
                     std::size_t chunksize = 0) {
    return MapAsync<true>(opts, std::move(fn), std::forward<R>(items),
                          chunksize, true);
  }

  // --- imap -------------------------------------------------------------
  template <class F, std::ranges::input_range R>
  auto imap(F fn, R&& items, std::size_t chunksize = 1) {
    using Elem = std::remove_cvref_t<std::ranges::range_reference_t<R>>;
    return MakeStream<false, Elem>(
        std::move(fn), chunksize, true,
        [&]<class Item>(std::type_identity<Item>) {
          return std::make_unique<internal::RangeSource<Item, R>>(
              std::forward<R>(items));
        });
  }
  template <class F, std::input_iterator It, std::sentinel_for<It> S>
  auto imap(F fn, It first, S last, std::size_t chunksize = 1) {
    using Elem = std::remove_cvref_t<std::iter_reference_t<It>>;
    return MakeStream<false, Elem>(
        std::move(fn), chunksize, true,
        [&]<class Item>(std::type_identity<Item>) {
          return std::make_unique<internal::IteratorSource<Item, It, S>>(
              std::move(first), std::move(last));
        });
  }
  template <class F, internal::Generator G>
  auto imap(F fn, G gen, std::size_t chunksize = 1) {
    using Elem = std::remove_cvref_t<decltype(*gen())>;
    return MakeStream<false, Elem>(
        std::move(fn), chunksize, true,
        [&]<class Item>(std::type_identity<Item>) {
          return std::make_unique<internal::GeneratorSource<Item, G>>(
              std::move(gen));
        });
  }
  template <class F, std::ranges::input_range R>
  auto imap_unordered(F fn, R&& items, std::size_t chunksize = 1) {
    using Elem = std::remove_cvref_t<std::ranges::range_reference_t<R>>;
    return MakeStream<false, Elem>(
        std::move(fn), chunksize, false,
        [&]<class Item>(std::type_identity<Item>) {
          return std::make_unique<internal::RangeSource<Item, R>>(
              std::forward<R>(items));
        });
  }
  template <class F, std::input_iterator It, std::sentinel_for<It> S>
  auto imap_unordered(F fn, It first, S last, std::size_t chunksize = 1) {
    using Elem = std::remove_cvref_t<std::iter_reference_t<It>>;
    return MakeStream<false, Elem>(
        std::move(fn), chunksize, false,
        [&]<class Item>(std::type_identity<Item>) {
          return std::make_unique<internal::IteratorSource<Item, It, S>>(
              std::move(first), std::move(last));
        });
  }
  template <class F, internal::Generator G>
  auto imap_unordered(F fn, G gen, std::size_t chunksize = 1) {
    using Elem = std::remove_cvref_t<decltype(*gen())>;
    return MakeStream<false, Elem>(
        std::move(fn), chunksize, false,
        [&]<class Item>(std::type_identity<Item>) {
          return std::make_unique<internal::GeneratorSource<Item, G>>(
              std::move(gen));
        });
  }

  // --- lifecycle --------------------------------------------------------
  void close();
  void terminate();
  void join();
  // Bounded join: false when the workers had not all left by `deadline`.
  bool join(const Deadline& deadline);

  // Number of workers the pool keeps.
  std::size_t processes() const;
  // Pids of the live workers (the parent's pid for each ThreadPool thread).
  // Complete right after the constructor (the workers are started there,
  // as in Python); a worker that died drops out as soon as the pool has
  // seen its death, and its replacement comes in.
  std::vector<pid_t> worker_pids() const;
  // True when the pool can no longer run tasks (see BrokenPool).
  bool broken() const;

  // The engine, for ProcessPoolExecutor and tests.
  const std::shared_ptr<internal::Engine>& engine() const { return engine_; }

 protected:
  // Lets go of the engine without terminating it (ProcessPoolExecutor:
  // the lazy maps still open keep it).
  void ReleaseEngine() { engine_.reset(); }

  Pool(const PoolOptions& options, bool threads,
       bool break_on_worker_death = false);

  template <bool kStar, class Elem, class F, class MakeSource>
  auto MakeStream(F fn, std::size_t chunksize, bool ordered,
                  MakeSource&& make_source,
                  std::optional<Deadline> overall = std::nullopt,
                  std::size_t max_ahead = 0, bool eager = false) {
    using Fn = std::decay_t<F>;
    using Raw = internal::RawFor<Fn, Elem, kStar>;
    internal::CheckSendable<Fn>();
    using Inv = internal::ChunkInvoker<Fn, Raw, kStar>;
    using Item = typename Inv::Item;
    using V = typename Inv::V;
    static_assert(Encodable<Item>, "shoal: imap items must be Encodable");
    typename internal::StreamCore::Options o;
    o.ordered = ordered;
    o.max_ahead = max_ahead != 0 ? max_ahead : 2 * engine_->workers() + 2;
    o.overall = overall;
    auto job = std::make_shared<internal::FedStream<V, Item, Fn, Inv>>(
        engine_, o, make_source(std::type_identity<Item>{}), Fn(std::move(fn)),
        chunksize);
    job->Open();
    if (eager) job->Drain(Deadline::Infinite());
    return IMapResult<V>(std::move(job));
  }

 private:
  template <bool kStar, class F, class R>
  auto RunMap(F fn, R&& items, std::size_t chunksize) {
    auto result = MapAsync<kStar>(Async<>{}, std::move(fn),
                                  std::forward<R>(items), chunksize, false);
    auto& job = result.job();
    job.WaitReady(Deadline::Infinite());
    if (std::exception_ptr e = job.error()) std::rethrow_exception(e);
    using V = typename std::remove_cvref_t<decltype(job.value())>::value_type;
    return std::vector<V>(std::move(const_cast<std::vector<V>&>(job.value())));
  }

  template <bool kStar, class Cb, class ECb, class F, class R>
  auto MapAsync(const Async<Cb, ECb>& opts, F fn, R&& items,
                std::size_t chunksize, bool notify) {
    using Elem = std::remove_cvref_t<std::ranges::range_reference_t<R>>;
    using Fn = std::decay_t<F>;
    using Raw = internal::RawFor<Fn, Elem, kStar>;
    internal::CheckSendable<Fn>();
    using Inv = internal::ChunkInvoker<Fn, Raw, kStar>;
    using Item = typename Inv::Item;
    using V = typename Inv::V;
    static_assert(Encodable<Item>, "shoal: map items must be Encodable");
    if constexpr (!std::ranges::random_access_range<R> ||
                  !std::ranges::sized_range<R>) {
      // Python turns such iterables into a list first.
      std::vector<Item> all;
      for (auto&& e : items) all.push_back(Item(e));
      return MapAsync<kStar>(opts, std::move(fn), all, chunksize, notify);
    } else {
      const std::size_t n = std::ranges::size(items);
      if (chunksize == 0) {
        const std::size_t parts = 4 * engine_->workers();
        chunksize = (n + parts - 1) / parts;
        if (chunksize == 0) chunksize = 1;
      }
      std::vector<std::size_t> offsets;
      for (std::size_t off = 0; off < n; off += chunksize) {
        offsets.push_back(off);
      }
      auto job = std::make_shared<internal::MapJob<V>>(engine_, offsets, n);
      job->SetCallbacks(opts.callback, opts.error_callback);
      AsyncResult<std::vector<V>> result(job);
      if (offsets.empty()) {
        job->FinishNow();
        return result;
      }
      const bool watch = notify || job->has_callbacks();
      internal::ChunkWriter<Fn> writer(fn);
      std::vector<Item> tmp;
      for (std::size_t c = 0; c < offsets.size(); ++c) {
        const std::size_t begin = offsets[c];
        const std::size_t len = std::min(chunksize, n - begin);
        std::span<const Item> chunk;
        if constexpr (std::ranges::contiguous_range<R> &&
                      std::is_same_v<Elem, Item>) {
          chunk = std::span<const Item>(std::ranges::data(items) + begin, len);
        } else {
          tmp.clear();
          tmp.reserve(len);
          auto it = std::ranges::begin(items) + begin;
          for (std::size_t k = 0; k < len; ++k, ++it) tmp.push_back(Item(*it));
          chunk = std::span<const Item>(tmp);
        }
        try {
          job->AddTask(internal::SubmitChunk<Fn, Inv, Item>(
              *engine_, writer, chunk, job, static_cast<uint32_t>(c), watch,
              opts.timeout));
        } catch (...) {
          job->FailSubmission(std::current_exception());
          throw;
        }
      }
      return result;
    }
  }

  std::shared_ptr<internal::Engine> engine_;
};

}  // namespace shoal

#endif  // SHOAL_POOL_POOL_H_
