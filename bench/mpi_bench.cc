// Copyright 2026 The shoal Authors.
//
// mpi_bench.cc: shoal::mpi::Executor through MPI on one machine, next to
// shoal's local ProcessPoolExecutor in the same process (bench/RESULTS.md,
// "## mpi"). Run under mpirun; rank 0 runs the benchmarks, the other ranks
// serve. bench/mpi_bench.sh runs it next to mpi4py.futures
// (bench/mpi_bench.py) in one run and prints the comparison.
//
//   BM_SubmitResult/<mode>  submit(f, i).result() of int f(int), back to
//     back. Counters: median_us and p90_us of the single round trips (the
//     time per iteration is their mean: on a shared machine the mean is
//     dominated by the rare preemptions, the median is the cost).
//       mode 0: local ProcessPoolExecutor(1) on rank 0 (no MPI)
//       mode 1: MPI, inline (the task runs in the rank's task thread)
//       mode 2: MPI, hierarchical (a local Pool of 1 process per rank)
//   BM_MapPerItem/<mode>/<chunksize>  Executor.map(f, ints) consumed in
//     order; ns_per_item = wall time / items. 100,000 items (2,000 for
//     chunksize 1: one MPI message per item).
//   BM_CpuMap/<mode>  40 tasks of 2 ms of CPU time each, chunksize 1; the
//     speedup of 2 worker ranks over 1 is the ratio of two runs of
//     mpi_bench.sh (-np 3 vs -np 2). rank0_cpu_ms / workers_extra_cpu_ms:
//     CPU per map of rank 0, and of the worker ranks beyond the 80 ms of
//     work (what polling costs while tasks run).
//   --spin_us=N, --spin_while_working_us=N, --max_poll_interval_us=N set
//   shoal::mpi::InitOptions' fields, to measure the polling policy.
//   BM_PayloadRoundTrip/<bytes>  submit(Length, string of <bytes>).result()
//     through MPI (inline): the cost of a message past the eager limit.
//   BM_IdleCpu  every rank's CPU time over 1 s with nothing to do
//     (cpu_pct_per_rank).
//
// Every result is checked; a wrong one fails the benchmark.
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <numeric>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "benchmark/benchmark.h"
#include "shoal/mpi/executor.h"
#include "shoal/mpi/init.h"
#include "shoal/pool/executor.h"

namespace {

using Clock = std::chrono::steady_clock;

// Sorts `us` (one round trip each, in microseconds) and reports its median
// and 90th percentile as counters; returns the median.
double ReportLatency(benchmark::State& state, std::vector<double>& us) {
  std::sort(us.begin(), us.end());
  state.counters["median_us"] = us[us.size() / 2];
  state.counters["p90_us"] = us[us.size() * 9 / 10];
  return us[us.size() / 2];
}

int Inc(int x) { return x + 1; }
int64_t Twice(int64_t x) { return 2 * x; }

// `us` microseconds of this thread's CPU time (not wall time: on a shared
// machine a preempted task still does the same work).
int64_t ThreadCpuNs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}
double Burn(int us) {
  const int64_t until = ThreadCpuNs() + int64_t{us} * 1000;
  double x = 1.0;
  while (ThreadCpuNs() < until) {
    for (int i = 0; i < 100; ++i) x = std::sqrt(x + i);
  }
  return x;
}

std::pair<int64_t, int64_t> PidAndCpuNs(int) {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return {getpid(),
          (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1'000'000'000LL +
              (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1'000LL};
}

// One executor per mode for the whole run (a session per rank costs a
// local pool start in hierarchical mode; not what is measured).
shoal::ProcessPoolExecutor& Local() {
  static auto* ex = new shoal::ProcessPoolExecutor(1);
  return *ex;
}
shoal::mpi::Executor& Mpi(int mode) {
  static auto* in = new shoal::mpi::Executor();
  static auto* hier = new shoal::mpi::Executor(
      shoal::mpi::ExecutorOptions{.processes_per_rank = 1});
  return mode == 1 ? *in : *hier;
}

template <class Fn>
void ForMode(int mode, Fn fn) {
  if (mode == 0) {
    fn(Local());
  } else {
    fn(Mpi(mode));
  }
}

void BM_SubmitResult(benchmark::State& state) {
  const int mode = static_cast<int>(state.range(0));
  ForMode(mode, [&](auto& ex) {
    std::vector<double> us;
    us.reserve(1 << 16);
    bool bad = ex.submit(Inc, 0).result() != 1;
    int i = 0;
    for (auto _ : state) {
      const auto t0 = Clock::now();
      ++i;
      bad |= ex.submit(Inc, i).result() != i + 1;
      us.push_back(
          std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    }
    if (bad) state.SkipWithError("a wrong result");
    ReportLatency(state, us);
  });
}
BENCHMARK(BM_SubmitResult)
    ->ArgName("mode")
    ->Arg(0)
    ->Arg(1)
    ->Arg(2)
    ->UseRealTime()
    ->MinTime(0.5);

void BM_MapPerItem(benchmark::State& state) {
  const int mode = static_cast<int>(state.range(0));
  const auto chunksize = static_cast<std::size_t>(state.range(1));
  std::vector<int64_t> in(chunksize == 1 ? 2'000 : 100'000);
  std::iota(in.begin(), in.end(), 0);
  ForMode(mode, [&](auto& ex) {
    bool bad = false;
    for (auto _ : state) {
      int64_t k = 0;
      for (int64_t v : ex.map(shoal::MapOptions{.chunksize = chunksize}, Twice,
                              in)) {
        bad |= v != 2 * k++;
      }
      bad |= k != static_cast<int64_t>(in.size());
    }
    if (bad) state.SkipWithError("a wrong result");
    state.SetItemsProcessed(state.iterations() *
                            static_cast<int64_t>(in.size()));
    state.counters["ns_per_item"] = benchmark::Counter(
        static_cast<double>(state.iterations() * in.size()),
        benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  });
}
BENCHMARK(BM_MapPerItem)
    ->ArgNames({"mode", "chunksize"})
    ->ArgsProduct({{0, 1, 2}, {1, 100, 1000, 10000}})
    ->UseRealTime()
    ->MinTime(0.5);

// Every rank's CPU time so far (pid -> ns), rank 0's included: one
// PidAndCpuNs call per worker rank, repeated until each has answered.
template <class Ex>
std::map<int64_t, int64_t> RankCpu(Ex& ex) {
  const int workers = shoal::mpi::size() - 1;
  std::map<int64_t, int64_t> cpu;
  for (int round = 0; round < 100 && static_cast<int>(cpu.size()) < workers;
       ++round) {
    std::vector<shoal::Future<std::pair<int64_t, int64_t>>> fs;
    for (int i = 0; i < workers; ++i) fs.push_back(ex.submit(PidAndCpuNs, i));
    for (auto& f : fs) cpu.emplace(f.result());
  }
  cpu[getpid()] = PidAndCpuNs(0).second;
  return cpu;
}

void BM_CpuMap(benchmark::State& state) {
  const int mode = static_cast<int>(state.range(0));
  std::vector<int> us(40, 2000);
  ForMode(mode, [&](auto& ex) {
    bool bad = false;
    const auto before = RankCpu(ex);
    for (auto _ : state) {
      int n = 0;
      for (double v : ex.map(Burn, us)) bad |= !(v > 0), ++n;
      bad |= n != 40;
    }
    const auto after = RankCpu(ex);  // after the timed loop
    if (bad) state.SkipWithError("a wrong result");
    state.counters["tasks_per_s"] = benchmark::Counter(
        static_cast<double>(state.iterations() * us.size()),
        benchmark::Counter::kIsRate);
    // CPU beyond the 80 ms of work per map: rank 0 and the worker ranks
    // (their MPI threads' polling, hand-offs), per map.
    double rank0 = 0, workers = 0;
    for (const auto& [pid, ns] : after) {
      const double ms = (ns - before.at(pid)) / 1e6 /
                        static_cast<double>(state.iterations());
      (pid == getpid() ? rank0 : workers) += ms;
    }
    state.counters["rank0_cpu_ms"] = rank0;
    state.counters["workers_extra_cpu_ms"] = workers - 40 * 2.0;
  });
}
BENCHMARK(BM_CpuMap)->ArgName("mode")->Arg(1)->Arg(2)->UseRealTime();

// A round trip carrying `bytes` of argument to a worker rank (mode 1,
// inline) and its size back: where MPI's eager limit (Open MPI's
// shared-memory transport: 4 KiB per message) shows. Counters as in
// BM_SubmitResult, and MB_per_s of argument moved at the median.
std::size_t Length(const std::string& s) { return s.size(); }
void BM_PayloadRoundTrip(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  auto& ex = Mpi(1);
  const std::string arg(bytes, 'x');
  std::vector<double> us;
  us.reserve(1 << 16);
  bool bad = ex.submit(Length, arg).result() != bytes;
  for (auto _ : state) {
    const auto t0 = Clock::now();
    bad |= ex.submit(Length, arg).result() != bytes;
    us.push_back(
        std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  if (bad) state.SkipWithError("a wrong result");
  state.counters["MB_per_s"] =
      static_cast<double>(bytes) / ReportLatency(state, us);
}
BENCHMARK(BM_PayloadRoundTrip)
    ->ArgName("bytes")
    ->Arg(1024)
    ->Arg(3968)
    ->Arg(4160)
    ->Arg(8192)
    ->Arg(32768)
    ->Arg(65536)
    ->Arg(1 << 20)
    ->UseRealTime()
    ->MinTime(0.3);

// CPU used by every rank (and rank 0) while nothing is submitted.
void BM_IdleCpu(benchmark::State& state) {
  auto& ex = Mpi(1);
  auto sample = [&] { return RankCpu(ex); };
  double pct = 0;
  for (auto _ : state) {
    sample();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // settle
    const auto t0 = Clock::now();
    const auto before = sample();
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const auto after = sample();
    const double wall =
        std::chrono::duration<double>(Clock::now() - t0).count();
    double cpu = 0;
    for (const auto& [pid, ns] : after) cpu += (ns - before.at(pid)) / 1e9;
    pct = 100 * cpu / wall / static_cast<double>(after.size());
  }
  state.counters["cpu_pct_per_rank"] = pct;
}
BENCHMARK(BM_IdleCpu)->Iterations(1)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  // --spin_while_working_us=N (every rank sees the same arguments):
  // InitOptions::spin_while_working, to measure its cost.
  shoal::mpi::InitOptions options;
  for (int i = 1; i < argc;) {
    const std::string_view a = argv[i];
    const auto us = [&] {
      return std::chrono::microseconds(std::atoll(argv[i] + a.find('=') + 1));
    };
    if (a.starts_with("--spin_while_working_us=")) {
      options.spin_while_working = us();
    } else if (a.starts_with("--spin_us=")) {
      options.spin = us();
    } else if (a.starts_with("--max_poll_interval_us=")) {
      options.max_poll_interval = us();
    } else {
      ++i;
      continue;
    }
    for (int j = i; j + 1 < argc; ++j) argv[j] = argv[j + 1];
    --argc;
  }
  shoal::mpi::init(argc, argv, options);  // ranks > 0 serve and exit here
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
