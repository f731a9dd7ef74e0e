// Copyright 2026 The shoal Authors.
//
// thread_pool.h: shoal::ThreadPool, Python's multiprocessing.dummy.Pool:
// the Pool interface with threads of this process as workers.
//
//   shoal::ThreadPool pool(8);        // instead of shoal::Pool pool(8);
//   auto ys = pool.map(fetch, urls);  // the same calls, the same results
//
// Contract
//   Every Pool call works the same (apply, apply_async with callbacks,
//   map, imap, imap_unordered, starmap, close, terminate, join,
//   maxtasksperchild, initializer). It is the same engine with thread
//   workers, so tasks go through the same codec and the same callable rules:
//   switching between Pool and ThreadPool is one line and compares the two
//   honestly (the difference is what process isolation costs).
//   Not available (a thread cannot be killed): per-task timeouts,
//   max_memory_per_child, and cancelling a running task; asking for them
//   throws shoal::ValueError. terminate() lets running tasks finish (queued
//   ones are cancelled). A task that crashes a thread crashes the process,
//   as in Python.
//
// Thread safety: as Pool.
#ifndef SHOAL_POOL_THREAD_POOL_H_
#define SHOAL_POOL_THREAD_POOL_H_

#include <cstddef>

#include "shoal/pool/pool.h"

namespace shoal {

class ThreadPool : public Pool {
 public:
  // process_cpu_count() threads.
  ThreadPool() : ThreadPool(PoolOptions{}) {}
  // `processes` threads; 0: ValueError, as Python.
  explicit ThreadPool(std::size_t processes)
      : ThreadPool(PoolOptions{.processes = processes}) {}
  explicit ThreadPool(const PoolOptions& options) : Pool(options, true) {}
  template <class F, class... Args>
  ThreadPool(std::size_t processes, F initializer, Args&&... initargs)
      : ThreadPool(PoolOptions{.processes = processes,
                               .initializer = Initializer(
                                   std::move(initializer),
                                   std::forward<Args>(initargs)...)}) {}
};

}  // namespace shoal

#endif  // SHOAL_POOL_THREAD_POOL_H_
