// Copyright 2026 The shoal Authors.
//
// pool_bench.cc: shoal's Pool and ProcessPoolExecutor next to the floor and
// to Python's, in one binary and one run (bench/RESULTS.md, "## pool").
//
//   Round trips (one call of a trivial function, int -> int):
//     BM_RawFutex_*      the floor: two processes hand a word over with
//                        FUTEX_WAIT/FUTEX_WAKE every time (bench_util.h).
//     BM_RawSpin_*       the spinning floor.
//     BM_PoolApply_*/N   Pool(N).apply(f, i), N = 1 and 2 workers.
//     BM_ExecutorSubmit_*/N ProcessPoolExecutor(N).submit(f, i).result().
//     BM_ThreadPoolApply_* ThreadPool(1).apply(f, i), for comparison.
//     *_BothActive: back to back. *_PeerSleeps: 200 us pause between calls
//     (outside the timed region), so the worker has gone to sleep and is
//     woken by a FUTEX_WAKE, as in the raw futex ping-pong it is compared
//     with. Goal: Pool.apply <= 1.5x the raw futex ping-pong.
//   BM_PoolMap1M: Pool(2).map(f, 1,000,000 ints), default chunksize; the
//     ns_per_item counter is the cost per item. Goal <= 20 ns.
//   BM_PoolMapCpu1ms/<workers>: map of 40 tasks of ~1 ms of CPU each
//     (chunksize 1) on 1 and 2 workers; the speedup is their ratio. Goal
//     >= 1.8x (needs two idle cores).
//   BM_Python_*: bench/pool_bench.py, run once (fork start method, same
//     shapes): Pool.apply, Pool.map per item, submit().result(). Goal:
//     shoal >= 20x faster for apply and submit.
//
// Every result is checked; a wrong one fails the benchmark.
// Run: bazel run -c opt //bench:pool_bench -- --benchmark_repetitions=5
#include <stdio.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <numeric>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "bench/python_script.h"
#include "benchmark/benchmark.h"
#include "shoal/pool/executor.h"
#include "shoal/pool/pool.h"
#include "shoal/pool/thread_pool.h"

namespace {

using shoal::bench::ForkPeer;
using shoal::bench::NewShared;
using shoal::bench::NowNs;
using shoal::bench::Reap;

constexpr uint64_t kGapNs = 200'000;

int Inc(int x) { return x + 1; }

void SpinFor(uint64_t ns) {
  const uint64_t until = NowNs() + ns;
  while (NowNs() < until) {
  }
}

// A CPU-bound task of about `us` microseconds (no syscalls, no sleeping).
double Burn(int us) {
  const uint64_t until = NowNs() + static_cast<uint64_t>(us) * 1000;
  double x = 1.0;
  while (NowNs() < until) {
    for (int i = 0; i < 100; ++i) x = std::sqrt(x + i);
  }
  return x;
}

// Runs `call(i)` (which must return i + 1) back to back or after a gap.
template <class Call>
void RoundTrip(benchmark::State& state, uint64_t gap_ns, Call call) {
  int i = 0;
  bool bad = false;
  bad |= call(i) != i + 1;  // warm: workers up
  for (auto _ : state) {
    ++i;
    if (gap_ns == 0) {
      bad |= call(i) != i + 1;
    } else {
      SpinFor(gap_ns);
      const uint64_t t0 = NowNs();
      bad |= call(i) != i + 1;
      state.SetIterationTime(static_cast<double>(NowNs() - t0) * 1e-9);
    }
  }
  if (bad) state.SkipWithError("a wrong result");
}

// --- the floor -----------------------------------------------------------

template <class Flag>
void RawPingPong(benchmark::State& state, uint64_t gap_ns) {
  struct Link {
    Flag flag[2];
    std::atomic<int> value[2];
  };
  auto* link = NewShared<Link>();
  pid_t pid = ForkPeer([&] {
    for (;;) {
      link->flag[0].Take();
      const int v = link->value[0].load(std::memory_order_relaxed);
      if (v < 0) break;
      link->value[1].store(v + 1, std::memory_order_relaxed);
      link->flag[1].Post();
    }
  });
  RoundTrip(state, gap_ns, [&](int i) {
    link->value[0].store(i, std::memory_order_relaxed);
    link->flag[0].Post();
    link->flag[1].Take();
    return link->value[1].load(std::memory_order_relaxed);
  });
  link->value[0].store(-1);
  link->flag[0].Post();
  Reap(pid);
  shoal::bench::DestroyShared(link);
}
void BM_RawFutex_BothActive(benchmark::State& state) {
  RawPingPong<shoal::bench::FutexFlag>(state, 0);
}
BENCHMARK(BM_RawFutex_BothActive)->UseRealTime();
void BM_RawFutex_PeerSleeps(benchmark::State& state) {
  RawPingPong<shoal::bench::FutexFlag>(state, kGapNs);
}
BENCHMARK(BM_RawFutex_PeerSleeps)->UseManualTime();
void BM_RawSpin_BothActive(benchmark::State& state) {
  RawPingPong<shoal::bench::SpinFlag>(state, 0);
}
BENCHMARK(BM_RawSpin_BothActive)->UseRealTime();

// --- shoal ---------------------------------------------------------------

// The argument is the number of workers: /1 is the round trip against the
// ping-pong floors (caller and worker on the 2 CPUs); /2 is the shoot-out's
// pool-apply case (Pool(2), as Python's peer), where the caller and two
// workers share 2 CPUs and both workers wait (spin, then sleep) for each
// task (bench/RESULTS.md, "Two Pool.apply figures").
void PoolApply(benchmark::State& state, uint64_t gap_ns) {
  shoal::Pool pool(static_cast<std::size_t>(state.range(0)));
  RoundTrip(state, gap_ns, [&](int i) { return pool.apply(Inc, i); });
}
void BM_PoolApply_BothActive(benchmark::State& state) { PoolApply(state, 0); }
BENCHMARK(BM_PoolApply_BothActive)->Arg(1)->Arg(2)->UseRealTime();
void BM_PoolApply_PeerSleeps(benchmark::State& state) {
  PoolApply(state, kGapNs);
}
BENCHMARK(BM_PoolApply_PeerSleeps)->Arg(1)->Arg(2)->UseManualTime();

void ExecutorSubmit(benchmark::State& state, uint64_t gap_ns) {
  shoal::ProcessPoolExecutor ex(static_cast<std::size_t>(state.range(0)));
  RoundTrip(state, gap_ns, [&](int i) { return ex.submit(Inc, i).result(); });
}
void BM_ExecutorSubmit_BothActive(benchmark::State& state) {
  ExecutorSubmit(state, 0);
}
BENCHMARK(BM_ExecutorSubmit_BothActive)->Arg(1)->Arg(2)->UseRealTime();
void BM_ExecutorSubmit_PeerSleeps(benchmark::State& state) {
  ExecutorSubmit(state, kGapNs);
}
BENCHMARK(BM_ExecutorSubmit_PeerSleeps)->Arg(1)->Arg(2)->UseManualTime();

void BM_ThreadPoolApply_BothActive(benchmark::State& state) {
  shoal::ThreadPool pool(1);
  RoundTrip(state, 0, [&](int i) { return pool.apply(Inc, i); });
}
BENCHMARK(BM_ThreadPoolApply_BothActive)->UseRealTime();

// One iteration = one map over 1,000,000 items; the ns_per_item counter is
// the map's wall time / 1,000,000, averaged over iterations.
void BM_PoolMap1M(benchmark::State& state) {
  shoal::Pool pool(2);
  std::vector<int> in(1'000'000);
  std::iota(in.begin(), in.end(), 0);
  pool.map(Inc, in);  // warm: heap pages touched, workers up
  bool bad = false;
  double total_ns = 0;
  for (auto _ : state) {
    const uint64_t t0 = NowNs();
    std::vector<int> out = pool.map(Inc, in);
    total_ns += static_cast<double>(NowNs() - t0);
    bad |= out.size() != in.size() || out[12345] != 12346 ||
           out.back() != 1'000'000;
    benchmark::DoNotOptimize(out.data());
  }
  if (bad) state.SkipWithError("a wrong result");
  state.counters["ns_per_item"] = benchmark::Counter(
      total_ns / static_cast<double>(in.size()),
      benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_PoolMap1M)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_PoolMapCpu1ms(benchmark::State& state) {
  shoal::Pool pool(static_cast<std::size_t>(state.range(0)));
  std::vector<int> in(40, 1000);
  pool.map(Burn, std::vector<int>{1, 1});
  for (auto _ : state) {
    std::vector<double> out = pool.map(Burn, in, 1);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_PoolMapCpu1ms)
    ->Arg(1)
    ->Arg(2)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// --- Python --------------------------------------------------------------

const shoal::bench::PythonFigures& Python() {
  static const auto* f = new shoal::bench::PythonFigures(
      "SHOAL_POOL_PY", "pool_bench.py", {"apply_s", "map_item_s", "submit_s"});
  return *f;
}

void BM_Python_PoolApply(benchmark::State& state) {
  Python().Report(state, "apply_s");
}
BENCHMARK(BM_Python_PoolApply)->UseManualTime()->Iterations(1);
void BM_Python_PoolMap1M_PerItem(benchmark::State& state) {
  Python().Report(state, "map_item_s");
}
BENCHMARK(BM_Python_PoolMap1M_PerItem)
    ->UseManualTime()
    ->Iterations(1)
    ->Unit(benchmark::kNanosecond);
void BM_Python_ExecutorSubmit(benchmark::State& state) {
  Python().Report(state, "submit_s");
}
BENCHMARK(BM_Python_ExecutorSubmit)->UseManualTime()->Iterations(1);

}  // namespace
