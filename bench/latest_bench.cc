// Copyright 2026 The shoal Authors.
//
// latest_bench.cc: reading and publishing a Latest<T> and a Blackboard
// entry, next to their floors in the same binary and run (bench/RESULTS.md,
// "## latest"):
//
//   Floor_AtomicLoad/8        one acquire load of a 64-bit atomic in a shared
//                             mapping: the least any shared read costs
//   Floor_Memcpy/N            memcpy of N bytes out of a shared mapping
//   Latest_Read/N             Latest<T>::read() of an N-byte T, no writer
//   Blackboard_Read/N         Blackboard::Entry<T>::read(), no writer
//   Value_Load/8              shoal::Value<uint64_t>::load() (takes its lock,
//                             as Python's Value does): the locking way
//   Latest_Read_WithWriter/N  read() while a forked process publishes N-byte
//                             values back to back (contended)
//   Latest_Publish/N          publish() by one writer, no reader
//
// Reads run with 1 and 2 threads (`threads:2`: items_per_second is the sum;
// two readers on the two CPUs should give twice one reader's rate if reads
// scale). Every value read is checked (its first and last words carry the
// same stamp), so no variant can win by not reading.
//
// Run: bazel build -c opt //bench:latest_bench &&
//      bazel-bin/bench/latest_bench --benchmark_min_time=0.2
//        --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <atomic>
#include <cstdint>
#include <cstring>

#include "bench/bench_util.h"
#include "benchmark/benchmark.h"
#include "shoal/ipc/blackboard.h"
#include "shoal/ipc/latest.h"
#include "shoal/ipc/value.h"

namespace {

using shoal::bench::ForkPeer;
using shoal::bench::MapShared;
using shoal::bench::NewShared;
using shoal::bench::Reap;
using shoal::bench::Relax;

template <std::size_t N>
struct Blob {
  static_assert(N % 8 == 0 && N >= 8);
  uint64_t w[N / 8];
  static Blob Make(uint64_t stamp) {
    Blob b;
    for (auto& x : b.w) x = stamp;
    return b;
  }
  bool Ok() const { return w[0] == w[N / 8 - 1]; }
};

template <std::size_t N>
shoal::Latest<Blob<N>>& SharedLatest() {
  static auto* x = new shoal::Latest<Blob<N>>(Blob<N>::Make(1));
  return *x;
}

template <std::size_t N>
shoal::Blackboard::Entry<Blob<N>>& SharedEntry() {
  static auto* e = [] {
    auto* board = new shoal::Blackboard(
        {shoal::Blackboard::Key<int>("other", 0),
         shoal::Blackboard::Key<Blob<N>>("blob", Blob<N>::Make(1))});
    return new shoal::Blackboard::Entry<Blob<N>>(
        board->entry<Blob<N>>("blob"));
  }();
  return *e;
}

void BM_Floor_AtomicLoad(benchmark::State& state) {
  static auto* word = NewShared<std::atomic<uint64_t>>(1);
  uint64_t sum = 0;
  for (auto _ : state) {
    sum += word->load(std::memory_order_acquire);
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations());
}

template <std::size_t N>
void BM_Floor_Memcpy(benchmark::State& state) {
  static auto* src = [] {
    auto* p = static_cast<Blob<N>*>(MapShared(sizeof(Blob<N>)));
    *p = Blob<N>::Make(1);
    return p;
  }();
  Blob<N> dst;
  uint64_t bad = 0;
  for (auto _ : state) {
    benchmark::ClobberMemory();
    std::memcpy(&dst, src, N);
    benchmark::DoNotOptimize(dst);
    bad += !dst.Ok();
  }
  if (bad != 0) state.SkipWithError("torn copy");
  state.SetItemsProcessed(state.iterations());
}

template <std::size_t N>
void BM_Latest_Read(benchmark::State& state) {
  auto& x = SharedLatest<N>();
  uint64_t bad = 0;
  for (auto _ : state) {
    Blob<N> b = x.read();
    benchmark::DoNotOptimize(b);
    bad += !b.Ok();
  }
  if (bad != 0) state.SkipWithError("torn value");
  state.SetItemsProcessed(state.iterations());
}

template <std::size_t N>
void BM_Blackboard_Read(benchmark::State& state) {
  auto& e = SharedEntry<N>();
  uint64_t bad = 0;
  for (auto _ : state) {
    Blob<N> b = e.read();
    benchmark::DoNotOptimize(b);
    bad += !b.Ok();
  }
  if (bad != 0) state.SkipWithError("torn value");
  state.SetItemsProcessed(state.iterations());
}

void BM_Value_Load(benchmark::State& state) {
  static auto* v = new shoal::Value<uint64_t>(1);
  uint64_t sum = 0;
  for (auto _ : state) {
    sum += v->load();
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations());
}

struct Ctl {
  alignas(64) std::atomic<uint32_t> started{0};
  alignas(64) std::atomic<uint32_t> stop{0};
  alignas(64) std::atomic<uint64_t> published{0};
};

template <std::size_t N>
void BM_Latest_Read_WithWriter(benchmark::State& state) {
  shoal::Latest<Blob<N>> x(Blob<N>::Make(1));
  auto* ctl = NewShared<Ctl>();
  pid_t pid = ForkPeer([&] {
    uint64_t n = 0;
    ctl->started.store(1);
    while (ctl->stop.load(std::memory_order_relaxed) == 0) {
      x.publish(Blob<N>::Make(++n));
    }
    ctl->published.store(n);
  });
  while (ctl->started.load() == 0) Relax();
  const uint64_t v0 = x.version();
  uint64_t bad = 0;
  for (auto _ : state) {
    Blob<N> b = x.read();
    benchmark::DoNotOptimize(b);
    bad += !b.Ok();
  }
  const uint64_t v1 = x.version();
  ctl->stop.store(1);
  Reap(pid);
  if (bad != 0) state.SkipWithError("torn value");
  state.SetItemsProcessed(state.iterations());
  // Publications the writer made while we read (it was really writing).
  state.counters["writes_during"] = static_cast<double>(v1 - v0);
  shoal::bench::DestroyShared(ctl);
}

template <std::size_t N>
void BM_Latest_Publish(benchmark::State& state) {
  shoal::Latest<Blob<N>> x(Blob<N>::Make(0));
  uint64_t n = 0;
  for (auto _ : state) x.publish(Blob<N>::Make(++n));
  if (x.read().w[0] != n) state.SkipWithError("lost publication");
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_Floor_AtomicLoad)->Arg(8)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK_TEMPLATE(BM_Floor_Memcpy, 8)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK_TEMPLATE(BM_Floor_Memcpy, 64)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK_TEMPLATE(BM_Floor_Memcpy, 256)->Threads(1)->UseRealTime();
BENCHMARK_TEMPLATE(BM_Floor_Memcpy, 4096)->Threads(1)->UseRealTime();
BENCHMARK_TEMPLATE(BM_Latest_Read, 8)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK_TEMPLATE(BM_Latest_Read, 64)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK_TEMPLATE(BM_Latest_Read, 256)->Threads(1)->UseRealTime();
BENCHMARK_TEMPLATE(BM_Latest_Read, 4096)->Threads(1)->UseRealTime();
BENCHMARK_TEMPLATE(BM_Blackboard_Read, 8)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK_TEMPLATE(BM_Blackboard_Read, 64)->Threads(1)->UseRealTime();
BENCHMARK(BM_Value_Load)->Arg(8)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK_TEMPLATE(BM_Latest_Read_WithWriter, 8)->UseRealTime();
BENCHMARK_TEMPLATE(BM_Latest_Read_WithWriter, 64)->UseRealTime();
BENCHMARK_TEMPLATE(BM_Latest_Read_WithWriter, 4096)->UseRealTime();
BENCHMARK_TEMPLATE(BM_Latest_Publish, 8)->UseRealTime();
BENCHMARK_TEMPLATE(BM_Latest_Publish, 64)->UseRealTime();
BENCHMARK_TEMPLATE(BM_Latest_Publish, 4096)->UseRealTime();

}  // namespace
