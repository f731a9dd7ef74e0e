// Copyright 2026 The shoal Authors.
//
// channel_bench.cc: shoal::FloatChannel (Channel<double>) next to memcpy, in
// one binary and one run (bench/RESULTS.md, "## channel").
//
//   Copy mode, the FloatChannel pattern's 100,000 doubles per block (800 KB), producer in this
//   process, consumer in a forked child: send(span) copies into a shared
//   slot, recv(span) copies out. Bytes/s, compared with a plain memcpy of the
//   same 800 KB in one process. Goal: copy mode >= 0.5x memcpy.
//   RawSharedCopy: the same two copies through 2 shared slots with a spin
//   flag each and no channel: the floor of a cross-process copy.
//
//   Loan (zero-copy) mode, blocks of 100 / 1,000 / 10,000 / 100,000 doubles
//   (800 B .. 800 KB): loan(n), stamp, publish(); receive(), check,
//   release. Blocks/s. Goal: within 2x across the range (the cost of a loan
//   does not depend on the block size).
//     FloatChannel_Loan: the block carries its sequence number as its first
//       and last value, and the consumer checks both (a "last value"
//       check): what a loan costs.
//     FloatChannel_LoanPageStamps: also one value per 4 KiB page, written
//       by the producer and checked by the consumer, as in the shoot-out:
//       this adds one cache-line transfer per page (196 for 800 KB), i.e.
//       memory traffic that grows with the block, not the channel's cost.
//
// One iteration = one block; the consumer acknowledges every 64th block and
// the producer waits for the last acknowledgement before the clock stops,
// so blocks in flight are never counted. Copy mode stamps the first value,
// one per 4 KiB and the last value, and the consumer checks them all; a
// mismatch fails the benchmark.
//
// Both channels use the default 2 slots (the Python FloatChannel pattern
// has one buffer).
//
// Run: bazel run -c opt //bench:channel_bench -- --benchmark_min_time=0.2
#include <sys/mman.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <vector>

#include "bench/bench_util.h"
#include "benchmark/benchmark.h"
#include "shoal/ipc/channel.h"

namespace {

using shoal::bench::DestroyShared;
using shoal::bench::ForkPeer;
using shoal::bench::NewShared;
using shoal::bench::Reap;
using shoal::bench::Relax;

constexpr uint64_t kAckEvery = 64;

struct Ctl {
  alignas(64) std::atomic<uint64_t> acked{0};
  alignas(64) std::atomic<uint64_t> bad{0};
};

// A block of doubles stamped with seq: v[0] = seq, v[512k] = seq + k,
// v[n-1] = -(seq + 1).
void StampD(double* v, std::size_t n, uint64_t seq) {
  const double s = static_cast<double>(seq);
  v[0] = s;
  for (std::size_t k = 1; k * 512 < n; ++k) v[k * 512] = s + static_cast<double>(k);
  if (n > 1) v[n - 1] = -(s + 1);
}
// First and last value only.
void StampEnds(double* v, std::size_t n, uint64_t seq) {
  v[0] = static_cast<double>(seq);
  if (n > 1) v[n - 1] = -(static_cast<double>(seq) + 1);
}
bool CheckEnds(const double* v, std::size_t n, uint64_t seq) {
  return v[0] == static_cast<double>(seq) &&
         (n <= 1 || v[n - 1] == -(static_cast<double>(seq) + 1));
}

bool CheckD(const double* v, std::size_t n, uint64_t seq) {
  const double s = static_cast<double>(seq);
  if (v[0] != s) return false;
  for (std::size_t k = 1; k * 512 < n; ++k) {
    if (v[k * 512] != s + static_cast<double>(k)) return false;
  }
  return n <= 1 || v[n - 1] == -(s + 1);
}

// produce(seq) sends block `seq`; consume(seq) receives the next block and
// says whether it is block `seq`, intact. To stop, the producer closes the
// channel; the consumer drains it and ends on shoal::Closed.
template <class Produce, class Consume, class Close>
void StreamBlocks(benchmark::State& state, std::size_t n, Produce produce,
                  Consume consume, Close close) {
  auto* ctl = NewShared<Ctl>();
  pid_t pid = ForkPeer([&] {
    uint64_t seq = 0;
    try {
      for (;;) {
        if (!consume(seq)) ctl->bad.fetch_add(1);
        ++seq;
        if (seq % kAckEvery == 0) ctl->acked.store(seq, std::memory_order_release);
      }
    } catch (const shoal::Closed&) {
    }
  });
  uint64_t seq = 0;
  for (auto _ : state) produce(seq++);
  // Round up to the next acknowledged block so nothing in flight counts.
  while (seq % kAckEvery != 0) produce(seq++);
  while (ctl->acked.load(std::memory_order_acquire) < seq) Relax();
  close();
  Reap(pid);
  state.SetItemsProcessed(static_cast<int64_t>(seq));
  state.SetBytesProcessed(static_cast<int64_t>(seq * n * sizeof(double)));
  if (ctl->bad.load() != 0) state.SkipWithError("a block arrived corrupted");
  DestroyShared(ctl);
}

void BM_FloatChannel_Copy(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  shoal::FloatChannel ch(n);
  std::vector<double> src(n, 1.5), dst(n);
  StreamBlocks(
      state, n,
      [&](uint64_t seq) {
        StampD(src.data(), n, seq);
        ch.send(src);
      },
      [&](uint64_t seq) {
        const std::size_t got = ch.recv(std::span<double>(dst));
        return got == n && CheckD(dst.data(), n, seq);
      },
      [&] { ch.close(); });
}
BENCHMARK(BM_FloatChannel_Copy)->Arg(100000)->UseRealTime();

template <void (*kStamp)(double*, std::size_t, uint64_t),
          bool (*kCheck)(const double*, std::size_t, uint64_t)>
void LoanBlocks(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  shoal::FloatChannel ch(n);
  StreamBlocks(
      state, n,
      [&](uint64_t seq) {
        auto w = ch.loan(n);
        kStamp(w.data(), n, seq);
        w.publish();
      },
      [&](uint64_t seq) {
        auto v = ch.receive();
        return v.size() == n && kCheck(v.data(), n, seq);
      },
      [&] { ch.close(); });
}

void BM_FloatChannel_Loan(benchmark::State& state) {
  LoanBlocks<StampEnds, CheckEnds>(state);
}
BENCHMARK(BM_FloatChannel_Loan)
    ->Arg(100)
    ->Arg(1000)
    ->Arg(10000)
    ->Arg(100000)
    ->UseRealTime();

void BM_FloatChannel_LoanPageStamps(benchmark::State& state) {
  LoanBlocks<StampD, CheckD>(state);
}
BENCHMARK(BM_FloatChannel_LoanPageStamps)
    ->Arg(100)
    ->Arg(1000)
    ->Arg(10000)
    ->Arg(100000)
    ->UseRealTime();

// The floor of a cross-process copy: the same two memcpys (into a shared
// slot, out of it) with the same 2 slots, handed over by spinning on a flag
// per slot, no channel at all. What is left between this and BM_Memcpy is
// the cost of moving 800 KB from one core's cache to the other's.
void BM_RawSharedCopy(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  struct Slot {
    alignas(64) std::atomic<uint32_t> full{0};
  };
  auto* slots = static_cast<Slot*>(shoal::bench::MapShared(2 * sizeof(Slot)));
  new (&slots[0]) Slot();
  new (&slots[1]) Slot();
  auto* data = static_cast<double*>(shoal::bench::MapShared(2 * n * sizeof(double)));
  std::vector<double> src(n, 1.5), dst(n);
  auto* ctl = NewShared<Ctl>();
  auto* stop = NewShared<std::atomic<uint32_t>>(0);
  pid_t pid = ForkPeer([&] {
    for (uint64_t seq = 0;; ++seq) {
      Slot& sl = slots[seq % 2];
      while (sl.full.load(std::memory_order_acquire) == 0) {
        if (stop->load(std::memory_order_relaxed)) return;
        Relax();
      }
      std::memcpy(dst.data(), data + (seq % 2) * n, n * sizeof(double));
      sl.full.store(0, std::memory_order_release);
      if (!CheckD(dst.data(), n, seq)) ctl->bad.fetch_add(1);
      if ((seq + 1) % kAckEvery == 0) ctl->acked.store(seq + 1, std::memory_order_release);
    }
  });
  uint64_t seq = 0;
  auto produce = [&] {
    Slot& sl = slots[seq % 2];
    while (sl.full.load(std::memory_order_acquire) != 0) Relax();
    StampD(src.data(), n, seq);
    std::memcpy(data + (seq % 2) * n, src.data(), n * sizeof(double));
    sl.full.store(1, std::memory_order_release);
    ++seq;
  };
  for (auto _ : state) produce();
  while (seq % kAckEvery != 0) produce();
  while (ctl->acked.load(std::memory_order_acquire) < seq) Relax();
  stop->store(1);
  Reap(pid);
  state.SetItemsProcessed(static_cast<int64_t>(seq));
  state.SetBytesProcessed(static_cast<int64_t>(seq * n * sizeof(double)));
  if (ctl->bad.load() != 0) state.SkipWithError("a block arrived corrupted");
  DestroyShared(ctl);
  DestroyShared(stop);
  munmap(data, 2 * n * sizeof(double));
  munmap(slots, 2 * sizeof(Slot));
}
BENCHMARK(BM_RawSharedCopy)->Arg(100000)->UseRealTime();

// The reference: one memcpy of the same block in one process.
void BM_Memcpy(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  std::vector<double> src(n, 1.5), dst(n);
  uint64_t seq = 0;
  for (auto _ : state) {
    StampD(src.data(), n, seq);
    std::memcpy(dst.data(), src.data(), n * sizeof(double));
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
    if (!CheckD(dst.data(), n, seq)) state.SkipWithError("memcpy corrupted");
    ++seq;
  }
  state.SetItemsProcessed(static_cast<int64_t>(seq));
  state.SetBytesProcessed(static_cast<int64_t>(seq * n * sizeof(double)));
}
BENCHMARK(BM_Memcpy)->Arg(100000);

}  // namespace
