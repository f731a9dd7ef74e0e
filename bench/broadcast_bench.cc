// Copyright 2026 The shoal Authors.
//
// broadcast_bench.cc: shoal::Broadcast fan-out next to a single-reader
// Channel and iceoryx's publish/subscribe, in one binary and one run
// (bench/RESULTS.md, "## broadcast").
//
//   BM_Channel_Loan/<bytes>            1 writer -> 1 reader, zero-copy: the
//                                      reference rate of one reader.
//   BM_Broadcast_Loan/<bytes>/<subs>   1 publisher -> <subs> subscribers, each
//                                      in its own process, every one of
//                                      which receives every block (kBlock-
//                                      Writer: nothing may be missed).
//                                      items/s = blocks/s = the rate EACH
//                                      subscriber receives at.
//   BM_Iceoryx_FanOut/<bytes>/<subs>[/poll]
//                                      iceoryx 2.0: an UntypedPublisher
//                                      (WAIT_FOR_CONSUMER) to <subs>
//                                      UntypedSubscribers (BLOCK_PRODUCER,
//                                      queue 8), waiting in a WaitSet, or
//                                      busy-polling take() (its fastest
//                                      mode). Needs iox-roudi (Debian's
//                                      `iceoryx`); the benchmark starts and
//                                      stops its own RouDi, or skips with
//                                      the reason.
//
// Every row is zero-copy and does the same work per block: the writer stamps
// word 0, one word per 4 KiB page and the last word (bench::Stamp), and each
// reader checks them all in place (bench::Check) before releasing the block;
// a wrong stamp fails the row. The ring is 8 blocks deep everywhere (Channel
// slots, Broadcast slots, iceoryx queue capacity). One iteration = one
// block; every reader acknowledges every 64th block and the clock stops
// after the last acknowledgement, so blocks in flight never count. The
// readers' and writers' loops are the shoot-out's fan-out workload's
// (bench/shootout/fanout.h).
//
// Goals: each Broadcast subscriber of 1 MiB blocks >= 0.8x the Channel
// reader; 64 B to 4 subscribers faster than iceoryx's fastest mode.
//
// Run: bazel run -c opt //bench:broadcast_bench -- --benchmark_min_time=0.5
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "bench/shootout/fanout.h"
#include "bench/shootout/peer_links.h"
#include "benchmark/benchmark.h"
#include "shoal/ipc/broadcast.h"
#include "shoal/ipc/channel.h"

namespace {

using shoal::bench::Check;
using shoal::bench::DestroyShared;
using shoal::bench::ForkPeer;
using shoal::bench::kStopSeq;
using shoal::bench::NewShared;
using shoal::bench::Reap;
using shoal::bench::Relax;
using shoal::bench::Stamp;
using shoal::shootout::kFanOutAckEvery;
using Ctl = shoal::shootout::FanOutCtl;

constexpr uint64_t kAckEvery = kFanOutAckEvery;
constexpr uint32_t kDepth = shoal::shootout::kFanOutDepth;
// Blocks per iceoryx row (one timed iteration of that many).
constexpr uint64_t kIceoryxBlocks = 320 * kAckEvery;  // 20,480

// Drives `subs` reader processes: reader(k, ctl) runs in each child (it sets
// ctl->reader[k].ready once it can receive, acknowledges every 64th block,
// and returns when told to stop); produce(seq) publishes block seq; stop()
// tells the readers to finish.
template <class Reader, class Produce, class Stop>
void FanOut(benchmark::State& state, int subs, std::size_t bytes,
            Reader reader, Produce produce, Stop stop) {
  auto* ctl = NewShared<Ctl>();
  std::vector<pid_t> kids;
  for (int k = 0; k < subs; ++k) kids.push_back(ForkPeer([&, k] { reader(k, ctl); }));
  for (int k = 0; k < subs; ++k) {
    while (ctl->reader[k].ready.load(std::memory_order_acquire) == 0) usleep(100);
  }
  uint64_t seq = 0;
  for (auto _ : state) produce(seq++);
  while (seq % kAckEvery != 0) produce(seq++);
  for (int k = 0; k < subs; ++k) {
    while (ctl->reader[k].acked.load(std::memory_order_acquire) < seq) Relax();
  }
  stop();
  for (pid_t p : kids) Reap(p);
  state.SetItemsProcessed(static_cast<int64_t>(seq));
  state.SetBytesProcessed(static_cast<int64_t>(seq * bytes));
  state.counters["subscribers"] = subs;
  if (ctl->bad.load() != 0) state.SkipWithError("a block arrived corrupted");
  DestroyShared(ctl);
}

// The ends-only stamp: word 0 and the last word. With it a row measures
// what the hand-over of a block costs; with the page stamps (bench::Stamp)
// it also measures each reader pulling one cache line per 4 KiB page of the
// block from the writer's core, work that grows with the number of readers.
void StampEnds(uint64_t* w, std::size_t n, uint64_t seq) {
  w[0] = seq;
  w[n - 1] = ~seq;
}
uint64_t CheckEnds(const uint64_t* w, std::size_t n) {
  return w[n - 1] == ~w[0] ? w[0] : shoal::bench::kBadSeq;
}

template <void (*kStamp)(uint64_t*, std::size_t, uint64_t),
          uint64_t (*kCheck)(const uint64_t*, std::size_t)>
void ChannelLoan(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  const std::size_t words = bytes / 8;
  shoal::Channel<uint64_t> ch(words, kDepth);
  FanOut(
      state, 1, bytes,
      [&](int k, Ctl* ctl) { shoal::shootout::ReceiveChannel(ch, words, ctl, k, kCheck); },
      [&](uint64_t seq) { shoal::shootout::PublishLoaned(ch, words, seq, kStamp); },
      [&] { ch.close(); });
}
void BM_Channel_Loan(benchmark::State& state) { ChannelLoan<Stamp, Check>(state); }
void BM_Channel_LoanEnds(benchmark::State& state) {
  ChannelLoan<StampEnds, CheckEnds>(state);
}
BENCHMARK(BM_Channel_Loan)->Arg(64)->Arg(1 << 20)->UseRealTime();
BENCHMARK(BM_Channel_LoanEnds)->Arg(1 << 20)->UseRealTime();

template <void (*kStamp)(uint64_t*, std::size_t, uint64_t),
          uint64_t (*kCheck)(const uint64_t*, std::size_t)>
void BroadcastLoan(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  const int subs = static_cast<int>(state.range(1));
  const std::size_t words = bytes / 8;
  shoal::Broadcast<uint64_t> bus(words, shoal::BroadcastOptions{.slots = kDepth});
  FanOut(
      state, subs, bytes,
      [&](int k, Ctl* ctl) {
        shoal::shootout::ReceiveBroadcast(bus, words, ctl, k, kCheck);
      },
      [&](uint64_t seq) { shoal::shootout::PublishLoaned(bus, words, seq, kStamp); },
      [&] { bus.close(); });
}
void BM_Broadcast_Loan(benchmark::State& state) {
  BroadcastLoan<Stamp, Check>(state);
}
void BM_Broadcast_LoanEnds(benchmark::State& state) {
  BroadcastLoan<StampEnds, CheckEnds>(state);
}
BENCHMARK(BM_Broadcast_LoanEnds)->Args({1 << 20, 4})->UseRealTime();
BENCHMARK(BM_Broadcast_Loan)
    ->Args({64, 1})
    ->Args({64, 4})
    ->Args({1 << 20, 1})
    ->Args({1 << 20, 4})
    ->UseRealTime();

// --------------------------------------------------------------- iceoryx

std::size_t Depth(std::size_t) { return kDepth; }

// iceoryx allows one runtime per process: the publisher side runs in a
// process of its own as well, and the benchmark is run once per row (fixed
// iterations), timed by the driver around the publisher's loop.
void IceoryxFanOut(benchmark::State& state, bool poll) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  const int subs = static_cast<int>(state.range(1));
  const std::size_t words = bytes / 8;
  if (std::string why = shoal::shootout::RouDi::Unavailable(); !why.empty()) {
    state.SkipWithError(why.c_str());
    return;
  }
  shoal::shootout::RouDi roudi;
  char dir[] = "/tmp/shoal-broadcast-bench-XXXXXX";
  if (mkdtemp(dir) == nullptr) {
    state.SkipWithError("mkdtemp failed");
    return;
  }
  if (std::string why = roudi.Start({bytes}, &Depth, dir); !why.empty()) {
    state.SkipWithError(why.c_str());
    return;
  }
  auto* ctl = NewShared<Ctl>();
  auto* go = NewShared<std::atomic<uint64_t>>(0);   // blocks to publish
  auto* done = NewShared<std::atomic<uint64_t>>(0);  // publisher finished
  std::vector<pid_t> kids;
  for (int k = 0; k < subs; ++k) {
    kids.push_back(ForkPeer([&, k] {
      shoal::shootout::ReceiveIceoryx("bcast-bench-sub-" + std::to_string(k),
                                      "broadcast-bench", words, poll, ctl, k);
    }));
  }
  const pid_t publisher = ForkPeer([&] {
    shoal::shootout::IceoryxFanOutPublisher pub("bcast-bench-pub", "broadcast-bench");
    for (int k = 0; k < subs; ++k) {
      while (ctl->reader[k].ready.load(std::memory_order_acquire) == 0) usleep(100);
    }
    auto send = [&](uint64_t seq) { pub.Publish(words, seq); };
    uint64_t target;
    while ((target = go->load(std::memory_order_acquire)) == 0) Relax();
    for (uint64_t seq = 0; seq < target; ++seq) send(seq);
    done->store(1, std::memory_order_release);
    // Stop markers, once everything was acknowledged.
    for (int k = 0; k < subs; ++k) {
      while (ctl->reader[k].acked.load(std::memory_order_acquire) < target) Relax();
    }
    send(kStopSeq);
    // The port must outlive the stop marker's take().
    (void)ctl->WaitDone(subs, shoal::bench::NowNs() + 10'000'000'000ull, nullptr);
  });
  for (int k = 0; k < subs; ++k) {
    while (ctl->reader[k].ready.load(std::memory_order_acquire) == 0) usleep(100);
  }
  // One timed iteration: start the publisher, wait until every subscriber
  // acknowledged the last block.
  const uint64_t n = kIceoryxBlocks;
  bool stalled = false;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    go->store(n, std::memory_order_release);
    // Bounded: under load RouDi may declare a busy process dead (its
    // keep-alive monitor) and the fan-out then stops for good.
    uint64_t last = 0;
    auto last_progress = start;
    for (int k = 0; k < subs && !stalled; ++k) {
      for (;;) {
        const uint64_t a = ctl->reader[k].acked.load(std::memory_order_acquire);
        if (a >= n) break;
        const auto now = std::chrono::steady_clock::now();
        if (a != last) {
          last = a;
          last_progress = now;
        } else if (now - last_progress > std::chrono::seconds(10)) {
          stalled = true;
          break;
        }
        usleep(50);
      }
    }
    state.SetIterationTime(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count());
  }
  if (stalled) {
    for (pid_t p : kids) kill(p, SIGKILL);
    kill(publisher, SIGKILL);
  }
  for (pid_t p : kids) Reap(p);
  Reap(publisher);
  roudi.Stop();
  for (const char* f : {"/roudi.toml", "/roudi.log"}) {
    unlink((std::string(dir) + f).c_str());
  }
  rmdir(dir);
  if (stalled) {
    state.SkipWithError("iceoryx stalled for 10 s (RouDi dropped a process "
                        "it found unresponsive under load)");
    DestroyShared(ctl);
    return;
  }
  state.SetItemsProcessed(static_cast<int64_t>(n));
  state.SetBytesProcessed(static_cast<int64_t>(n * bytes));
  state.counters["subscribers"] = subs;
  if (ctl->bad.load() != 0) state.SkipWithError("a block arrived corrupted");
  DestroyShared(ctl);
}

void BM_Iceoryx_FanOut(benchmark::State& state) { IceoryxFanOut(state, false); }
void BM_Iceoryx_FanOut_Poll(benchmark::State& state) { IceoryxFanOut(state, true); }
BENCHMARK(BM_Iceoryx_FanOut)->Args({64, 4})->Iterations(1)->UseManualTime();
BENCHMARK(BM_Iceoryx_FanOut_Poll)->Args({64, 4})->Iterations(1)->UseManualTime();

}  // namespace
