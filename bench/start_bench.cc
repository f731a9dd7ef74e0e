// Copyright 2026 The shoal Authors.
//
// start_bench.cc: what starting children costs with each start method
// (fork, spawn, forkserver), next to Python's multiprocessing with the same
// methods (bench/start_bench.py, run once in the same run).
// bench/RESULTS.md, "## start methods".
//
//   BM_ProcessStartJoin/<method>   Process(noop).start() + join(): one
//                                  worker's start-up, from the call to its
//                                  end as seen by the parent.
//   BM_Pool4Ready/<method>         Pool(4) constructed and every one of its
//                                  4 workers has run a task (a rendezvous
//                                  of 4 tasks): a pool ready to work. Its
//                                  teardown (terminate + join) is not timed.
//   BM_ForkserverFirstUse          Process(noop).start() + join() with no
//                                  server running yet: the one-time cost of
//                                  starting the server, paid once per
//                                  program (its stop is not timed).
//   BM_Python_*                    the same shapes in Python 3 (seconds per
//                                  operation, manual time).
//   <method>: 0 fork, 1 spawn, 2 forkserver.
//
// Its own main(): spawn and forkserver children are copies of this binary,
// which must call shoal::init first.
// Run: bazel run -c opt //bench:start_bench -- --benchmark_repetitions=5
#include <sched.h>
#include <stdio.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "bench/python_script.h"
#include "benchmark/benchmark.h"
#include "shoal/ipc/shared.h"
#include "shoal/pool/context.h"
#include "shoal/pool/internal/forkserver.h"
#include "shoal/pool/pool.h"
#include "shoal/pool/process.h"

namespace {

const char* const kMethods[] = {"fork", "spawn", "forkserver"};

void Noop() {}

struct Rendezvous {
  std::atomic<int> arrived{0};
};

// Each of the 4 tasks waits (bounded) until all 4 have arrived, so all 4
// workers must be up. Returns 1 when they met.
int Meet(shoal::Shared<Rendezvous> r, int n) {
  r->arrived.fetch_add(1);
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (r->arrived.load() < n) {
    if (std::chrono::steady_clock::now() > until) return 0;
    sched_yield();
  }
  return 1;
}

// Starts a Process(noop) and joins it; false if it failed.
bool StartAndJoin(const shoal::Context& ctx) {
  shoal::Process p = ctx.Process(Noop);
  p.start();
  p.join();
  return p.exitcode() == 0;
}

void BM_ProcessStartJoin(benchmark::State& state) {
  const shoal::Context ctx = shoal::get_context(kMethods[state.range(0)]);
  for (auto _ : state) {
    if (!StartAndJoin(ctx)) {
      state.SkipWithError("child failed");
      break;
    }
  }
  state.SetLabel(kMethods[state.range(0)]);
}
BENCHMARK(BM_ProcessStartJoin)
    ->DenseRange(0, 2)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

void BM_Pool4Ready(benchmark::State& state) {
  const shoal::Context ctx = shoal::get_context(kMethods[state.range(0)]);
  for (auto _ : state) {
    state.PauseTiming();
    auto r = shoal::Shared<Rendezvous>::Create();
    state.ResumeTiming();
    auto* pool = new shoal::Pool(
        shoal::PoolOptions{.processes = 4, .context = ctx});
    std::vector<shoal::AsyncResult<int>> rs;
    for (int i = 0; i < 4; ++i) rs.push_back(pool->apply_async(Meet, r, 4));
    int met = 0;
    for (auto& x : rs) met += x.get();
    state.PauseTiming();
    delete pool;
    state.ResumeTiming();
    if (met != 4) {
      state.SkipWithError("the 4 workers did not meet");
      break;
    }
  }
  state.SetLabel(kMethods[state.range(0)]);
}
BENCHMARK(BM_Pool4Ready)
    ->DenseRange(0, 2)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

void BM_ForkserverFirstUse(benchmark::State& state) {
  const shoal::Context ctx = shoal::get_context("forkserver");
  for (auto _ : state) {
    state.PauseTiming();
    shoal::internal::StopForkserver();
    state.ResumeTiming();
    if (!StartAndJoin(ctx)) {
      state.SkipWithError("child failed");
      break;
    }
  }
}
BENCHMARK(BM_ForkserverFirstUse)->UseRealTime()->Unit(benchmark::kMillisecond);

// --- Python ------------------------------------------------------------------

const shoal::bench::PythonFigures& Python() {
  static const auto* f = new shoal::bench::PythonFigures(
      "SHOAL_START_PY", "start_bench.py", {"process_s", "pool4_s"});
  return *f;
}

void ReportPython(benchmark::State& state, const char* key) {
  state.SetLabel(kMethods[state.range(0)]);
  Python().Report(state, key, state.range(0));
}
void BM_Python_ProcessStartJoin(benchmark::State& state) {
  ReportPython(state, "process_s");
}
BENCHMARK(BM_Python_ProcessStartJoin)
    ->DenseRange(0, 2)
    ->UseManualTime()
    ->Iterations(1)
    ->Unit(benchmark::kMicrosecond);
void BM_Python_Pool4Ready(benchmark::State& state) {
  ReportPython(state, "pool4_s");
}
BENCHMARK(BM_Python_Pool4Ready)
    ->DenseRange(0, 2)
    ->UseManualTime()
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  shoal::init(argc, argv);  // spawned and forkserver children stop here
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
