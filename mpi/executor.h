// Copyright 2026 The shoal Authors.
//
// executor.h: shoal::mpi::Executor, ProcessPoolExecutor over MPI ranks
// (Python's mpi4py.futures.MPIPoolExecutor).
//
//   int main(int argc, char** argv) {
//     shoal::mpi::init(argc, argv);             // ranks > 0 serve tasks
//     shoal::mpi::Executor ex;                  // every other rank
//     shoal::Future<int> f = ex.submit(square, 7);
//     int y = f.result();                       // 49
//     for (int v : ex.map(square, std::vector<int>{1, 2, 3})) { ... }
//   }
//   $ mpirun -np 4 ./prog
//
// Contract
//   The interface and the semantics of shoal::ProcessPoolExecutor
//   (pool/executor.h): submit(f, args...) returns the same shoal::Future<R>,
//   so shoal::as_completed, shoal::wait(FIRST_COMPLETED | FIRST_EXCEPTION |
//   ALL_COMPLETED), add_done_callback, result(deadline), exception() and
//   cancel() work unchanged, and so do mixed lists of local and MPI
//   futures. Callables and arguments travel as for a local pool
//   (pool/internal/callable.h): every rank runs the same binary (the
//   handshake in init.h checks it), so a function travels as an offset
//   into it. Exceptions thrown on a rank reach result() with their type and
//   message as locally (the <stdexcept> types and shoal's errors as
//   themselves, anything else as shoal::RemoteError).
//     submit(f, args...)          -> Future<R>
//     map(f, iterables...)        -> IMapResult<R>, in order, lazy (the
//                                    shortest iterable ends it);
//     map(MapOptions{.timeout, .chunksize}, f, iterables...)
//     shutdown(wait = true, cancel_futures = false)  no new tasks
//                                    (ValueError); cancel_futures cancels
//                                    every future not yet sent to a rank;
//                                    wait waits for the rest.
//   The destructor calls shutdown(true).
//   Differences from the local executor:
//     * cancel(): a future can be cancelled while it waits on rank 0; once
//       sent to its rank (at most max_inflight_per_rank per rank) it runs to
//       the end, as a task in Python's call queue; kill_running is ignored.
//       running() is true from that moment.
//     * A task that crashes its process: in hierarchical mode
//       (processes_per_rank > 0) only its future fails (WorkerLost, as
//       locally); in inline mode it takes its rank down, which Open MPI
//       turns into an abort of the job (init.h "What happens when a rank
//       dies").
//     * task_timeout, max_tasks_per_child and mp_context apply to the
//       local pools of hierarchical mode; inline mode has no time limit
//       (a thread cannot be killed).
//     * No initializer / initargs: main() never runs on the workers past
//       init(); per-process set-up goes in a function-local static of the
//       task (it runs once per process).
//
// Modes
//   inline        each rank runs tasks in one task thread (one core per
//                 rank: launch one rank per core).
//   hierarchical  processes_per_rank = P: each rank runs a local shoal
//                 Pool of P processes (launch one rank per host, e.g.
//                 `mpirun --map-by ppr:1:node`); a task reaches a core
//                 through MPI once, then through shared memory.
//
// Cost (bench/mpi_bench.cc, bench/RESULTS.md "## mpi"): a round trip is
// two MPI messages and two thread hand-offs on each side; map sends one
// message per chunk.
//
// Thread safety: every method may be called from any thread of rank 0;
// callbacks run in one callback thread of rank 0.
#ifndef SHOAL_MPI_EXECUTOR_H_
#define SHOAL_MPI_EXECUTOR_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <ranges>
#include <tuple>
#include <type_traits>
#include <utility>

#include "shoal/mpi/imap_result.h"
#include "shoal/mpi/internal/front.h"
#include "shoal/pool/context.h"
#include "shoal/pool/executor.h"

namespace shoal::mpi {

struct ExecutorOptions {
  // 0: inline mode; P > 0: hierarchical mode, P processes per rank.
  std::size_t processes_per_rank = 0;
  // Tasks sent ahead to one rank (sent, not finished; not cancellable). 0:
  // adaptive, from 2 (inline) or 2 * P + 2 (hierarchical) for tasks of
  // 0.5 ms or more, to 8 (or 2 * P + 2) for shorter ones, so a rank has its
  // next task queued when tasks are short.
  std::size_t max_inflight_per_rank = 0;
  // Hierarchical mode: the local pools' start method (unset: fork),
  // tasks per worker process (0: unlimited), per-task time limit (0: none).
  std::optional<Context> mp_context{};
  std::size_t max_tasks_per_child = 0;
  // As shoal::ExecutorOptions: zero, negative or huge means no limit.
  Timeout task_timeout{};
};

class Executor : private internal::Front {
 public:
  Executor() : Executor(ExecutorOptions{}) {}
  explicit Executor(const ExecutorOptions& options);
  ~Executor();

  template <class F, class... Args>
  auto submit(F fn, Args&&... args) {
    CheckUsable();
    auto job = SubmitCall(/*future=*/true, Async<>{}, std::move(fn),
                          std::forward<Args>(args)...);
    using T = typename internal::JobValue<
        typename decltype(job)::element_type>::type;
    return Future<T>(std::move(job));
  }

  template <class F, std::ranges::input_range... Rs>
    requires(sizeof...(Rs) >= 1 && !std::is_same_v<std::decay_t<F>, MapOptions>)
  auto map(F fn, Rs&&... iterables) {
    return map(MapOptions{}, std::move(fn), std::forward<Rs>(iterables)...);
  }

  template <class F, std::ranges::input_range... Rs>
    requires(sizeof...(Rs) >= 1)
  auto map(const MapOptions& options, F fn, Rs&&... iterables) {
    CheckUsable();
    std::optional<Deadline> overall;
    if (options.timeout) overall = Deadline(*options.timeout);
    if constexpr (sizeof...(Rs) == 1) {
      auto& r = std::get<0>(std::forward_as_tuple(iterables...));
      using R = decltype(r);
      using Elem = std::remove_cvref_t<std::ranges::range_reference_t<R>>;
      return MakeStream<false, Elem>(
          std::move(fn), options.chunksize, true,
          [&]<class Item>(std::type_identity<Item>) {
            return std::make_unique<shoal::internal::RangeSource<Item, R>>(
                std::forward<R>(r));
          },
          overall);
    } else {
      // Zipped: each call gets one element of every iterable.
      using Elem = std::tuple<
          std::remove_cvref_t<std::ranges::range_reference_t<Rs>>...>;
      auto views = std::make_shared<std::tuple<std::views::all_t<Rs>...>>(
          std::views::all(std::forward<Rs>(iterables))...);
      auto its = std::make_shared<
          std::tuple<std::ranges::iterator_t<std::views::all_t<Rs>>...>>(
          std::apply(
              [](auto&... v) { return std::make_tuple(std::ranges::begin(v)...); },
              *views));
      auto gen = [views, its]() -> std::optional<Elem> {
        return [&]<std::size_t... I>(
                   std::index_sequence<I...>) -> std::optional<Elem> {
          if (((std::get<I>(*its) == std::ranges::end(std::get<I>(*views))) ||
               ...)) {
            return std::nullopt;
          }
          Elem e(*std::get<I>(*its)...);
          (++std::get<I>(*its), ...);
          return e;
        }(std::index_sequence_for<Rs...>());
      };
      return MakeStream<true, Elem>(
          std::move(fn), options.chunksize, true,
          [&]<class Item>(std::type_identity<Item>) {
            return std::make_unique<
                shoal::internal::GeneratorSource<Item, decltype(gen)>>(gen);
          },
          overall);
    }
  }

  void shutdown(bool wait = true, bool cancel_futures = false);

  // Worker processes tasks can run in at once: live ranks x P (x 1 inline).
  std::size_t max_workers() const { return workers(); }
  using Front::per_rank;
  bool broken() const { return world().broken(); }

 private:
  void CheckUsable() const;
  std::atomic<bool> shutdown_{false};
};

}  // namespace shoal::mpi

#endif  // SHOAL_MPI_EXECUTOR_H_
