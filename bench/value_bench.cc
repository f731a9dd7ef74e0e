// Copyright 2026 The shoal Authors.
//
// value_bench.cc: shoal::Value<long> increments under its lock by 2
// processes, next to a Boost.Interprocess interprocess_mutex-protected
// counter and a bare robust pthread mutex, in one binary and one run
// (bench/RESULTS.md, "## value").
//
//   This process and a forked child both increment the same counter as fast
//   as they can; the parent's iterations are timed and the figure is the
//   total increments/s of both processes together (items_per_second).
//   At the end the counter must equal the sum of both processes'
//   increments exactly; otherwise the benchmark fails.
//
//   Value_Add:        counter.add(1)  (lock, add, unlock inside)
//   Value_LockGuard:  std::lock_guard g(counter.get_lock()); ++*counter.get();
//   BoostInterprocessMutex: scoped_lock + ++counter in shared memory
//   PthreadRobustMutex: the floor shoal::Lock is built on.
//
// Run: bazel run -c opt //bench:value_bench -- --benchmark_min_time=0.2
#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <mutex>

#include "bench/bench_util.h"
#include "benchmark/benchmark.h"
#include "boost/interprocess/sync/interprocess_mutex.hpp"
#include "boost/interprocess/sync/scoped_lock.hpp"
#include "shoal/ipc/value.h"

namespace {

using shoal::bench::DestroyShared;
using shoal::bench::ForkPeer;
using shoal::bench::NewShared;
using shoal::bench::Reap;
using shoal::bench::Relax;

struct Ctl {
  alignas(64) std::atomic<uint32_t> started{0};
  alignas(64) std::atomic<uint32_t> stop{0};
  alignas(64) std::atomic<uint64_t> child_done{0};
};

// inc() adds one under the lock; read() returns the counter.
template <class Inc, class Read>
void TwoProcessIncrements(benchmark::State& state, Inc inc, Read read) {
  auto* ctl = NewShared<Ctl>();
  pid_t pid = ForkPeer([&] {
    uint64_t n = 0;
    ctl->started.store(1);
    while (ctl->stop.load(std::memory_order_relaxed) == 0) {
      inc();
      ++n;
    }
    ctl->child_done.store(n);
  });
  while (ctl->started.load() == 0) Relax();
  uint64_t mine = 0;
  for (auto _ : state) {
    inc();
    ++mine;
  }
  ctl->stop.store(1);
  Reap(pid);
  const uint64_t total = mine + ctl->child_done.load();
  // The counter started at 0: it must hold every increment of both.
  if (static_cast<uint64_t>(read()) != total) {
    state.SkipWithError("lost increments: the counter does not add up");
  }
  state.SetItemsProcessed(static_cast<int64_t>(total));
  state.counters["peer_share"] =
      static_cast<double>(ctl->child_done.load()) / static_cast<double>(total);
  DestroyShared(ctl);
}

void BM_Value_Add_2Proc(benchmark::State& state) {
  shoal::Value<long> counter(0);
  TwoProcessIncrements(
      state, [&] { counter.add(1); }, [&] { return counter.load(); });
}
BENCHMARK(BM_Value_Add_2Proc)->UseRealTime();

void BM_Value_LockGuard_2Proc(benchmark::State& state) {
  shoal::Value<long> counter(0);
  TwoProcessIncrements(
      state,
      [&] {
        std::lock_guard<shoal::RLock> g(counter.get_lock());
        ++*counter.get();
      },
      [&] { return counter.load(); });
}
BENCHMARK(BM_Value_LockGuard_2Proc)->UseRealTime();

struct BoostCounter {
  boost::interprocess::interprocess_mutex mu;
  long value = 0;
};

void BM_BoostInterprocessMutex_Counter_2Proc(benchmark::State& state) {
  auto* c = NewShared<BoostCounter>();
  TwoProcessIncrements(
      state,
      [&] {
        boost::interprocess::scoped_lock<boost::interprocess::interprocess_mutex>
            g(c->mu);
        ++c->value;
      },
      [&] {
        boost::interprocess::scoped_lock<boost::interprocess::interprocess_mutex>
            g(c->mu);
        return c->value;
      });
  DestroyShared(c);
}
BENCHMARK(BM_BoostInterprocessMutex_Counter_2Proc)->UseRealTime();

struct PthreadCounter {
  PthreadCounter() {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&mu, &a);
    pthread_mutexattr_destroy(&a);
  }
  pthread_mutex_t mu;
  long value = 0;
};

void BM_PthreadRobustMutex_Counter_2Proc(benchmark::State& state) {
  auto* c = NewShared<PthreadCounter>();
  TwoProcessIncrements(
      state,
      [&] {
        pthread_mutex_lock(&c->mu);
        ++c->value;
        pthread_mutex_unlock(&c->mu);
      },
      [&] {
        pthread_mutex_lock(&c->mu);
        long v = c->value;
        pthread_mutex_unlock(&c->mu);
        return v;
      });
  DestroyShared(c);
}
BENCHMARK(BM_PthreadRobustMutex_Counter_2Proc)->UseRealTime();

}  // namespace
