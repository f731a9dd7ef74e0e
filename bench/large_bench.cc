// Copyright 2026 The shoal Authors.
//
// large_bench.cc: 1 MiB messages between two processes, with what each
// message costs besides the copy (bench/RESULTS.md, "Where a 1 MiB message
// goes").
//
//   BM_RoundTrip1MiB_<method>  one message there and one back (driver pinned
//                              to CPU 0, peer to CPU 1, as in the shoot-out)
//   BM_Stream1MiB_<method>     messages one way; the consumer checks each
//
//   methods: Queue (shoal::Queue<std::vector<uint64_t>>: put copies into a
//   heap block, get decodes into a fresh vector), ChannelCopy
//   (Channel<uint64_t>::send/recv into the caller's buffer), CopyFloor (the
//   shoot-out's floor.spin / floor.spsc: an SPSC ring in shared memory, copy
//   in, copy out, both sides spinning), Socketpair (blocking and busy-polling
//   AF_UNIX stream sockets). The link classes are the shoot-out's
//   (bench/shootout/links.h, floor_links.h): the same code measured two ways.
//
//   Counters, per message (getrusage over the timed loop): faults0 and
//   faults1 (page faults of the sender / driver and of the peer), csw
//   (context switches of both, voluntary + involuntary). They do not depend on the machine's load, the
//   times do: compare times only within one run.
//
// Goals (issue "performance round 2", large messages): Queue and Channel copy
// round trip <= 1.3x CopyFloor and faster than Socketpair; streaming >= 0.9x
// CopyFloor.
//
// Run: bazel run //bench:large_bench -- --benchmark_repetitions=5
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "bench/shootout/floor_links.h"
#include "bench/shootout/links.h"
#include "benchmark/benchmark.h"

namespace {

using shoal::bench::ForkPeer;
using shoal::bench::kBadSeq;
using shoal::bench::kStopSeq;
using shoal::bench::NewShared;
using shoal::bench::Reap;
using shoal::shootout::Spec;

constexpr std::size_t kSize = std::size_t{1} << 20;
// Messages before the counters start: the first ones fault in the heap
// blocks, the receiver's vectors (glibc maps the first 1 MiB blocks with mmap
// until its threshold adapts) and the rings.
constexpr uint64_t kWarm = 48;

struct Usage {
  long faults = 0, csw = 0;
  static Usage Now() {
    rusage r{};
    getrusage(RUSAGE_SELF, &r);
    return {r.ru_minflt + r.ru_majflt, r.ru_nvcsw + r.ru_nivcsw};
  }
  Usage operator-(const Usage& o) const { return {faults - o.faults, csw - o.csw}; }
};

struct Ctl {
  std::atomic<uint64_t> bad{0};
  std::atomic<long> peer_faults{0}, peer_csw{0};
  std::atomic<int> peer_failed{0};
};

// Pins the calling process to `cpu` for the benchmark's lifetime (restores
// the old mask after).
class Pin {
 public:
  explicit Pin(int cpu) {
    ok_ = sched_getaffinity(0, sizeof(old_), &old_) == 0 && shoal::bench::PinTo(cpu);
  }
  ~Pin() {
    if (ok_) sched_setaffinity(0, sizeof(old_), &old_);
  }

 private:
  cpu_set_t old_;
  bool ok_ = false;
};

Spec MakeSpec(bool round_trip) {
  Spec s;
  s.size = kSize;
  s.depth = 16;  // the shoot-out's depth for 1 MiB (16 MiB in flight)
  s.round_trip = round_trip;
  s.tag = "large-bench-" + std::to_string(getpid());
  return s;
}

void Report(benchmark::State& state, Ctl* ctl, const Usage& mine,
            uint64_t messages) {
  if (ctl->peer_failed.load() != 0) {
    state.SkipWithError("the peer failed");
  } else if (ctl->bad.load() != 0) {
    state.SkipWithError("a message arrived corrupted or out of order");
  }
  const double n = static_cast<double>(messages == 0 ? 1 : messages);
  state.counters["faults0"] = static_cast<double>(mine.faults) / n;
  state.counters["faults1"] = static_cast<double>(ctl->peer_faults.load()) / n;
  state.counters["csw"] = static_cast<double>(mine.csw + ctl->peer_csw.load()) / n;
  state.SetBytesProcessed(static_cast<int64_t>(messages * kSize));
}

// Forks the peer (pinned to CPU 1): it attaches to `link`, runs
// loop(&start) (which sets `start` once the warm-up is over and returns at
// kStopSeq), then records its usage since `start` and detaches.
template <class L, class Loop>
pid_t StartPeer(Ctl* ctl, L& link, Loop loop) {
  return ForkPeer([ctl, &link, loop]() mutable {
    shoal::bench::PinTo(1);
    try {
      link.Attach(1);
      link.Ready(1);
      Usage start;
      loop(&start);
      const Usage used = Usage::Now() - start;
      ctl->peer_faults.store(used.faults);
      ctl->peer_csw.store(used.csw);
      link.Detach(1);
    } catch (...) {
      ctl->peer_failed.store(1);
    }
  });
}

template <class L>
void RoundTrip(benchmark::State& state) {
  Pin pin(0);
  L link(MakeSpec(true));
  auto* ctl = NewShared<Ctl>();
  pid_t pid = StartPeer(ctl, link, [&link, ctl](Usage* start) {
    for (;;) {
      uint64_t s = link.Recv(0);
      if (s == kWarm) *start = Usage::Now();
      if (s == kStopSeq) return;
      if (s == kBadSeq) {
        ctl->bad.fetch_add(1);
        s = 0;
      }
      link.Send(1, s);
    }
  });
  link.Attach(0);
  link.Ready(0);
  uint64_t seq = 0;
  for (; seq < kWarm; ++seq) {
    link.Send(0, seq);
    if (link.Recv(1) != seq) ctl->bad.fetch_add(1);
  }
  const Usage start = Usage::Now();
  for (auto _ : state) {
    link.Send(0, seq);
    if (link.Recv(1) != seq) ctl->bad.fetch_add(1);
    ++seq;
  }
  const Usage mine = Usage::Now() - start;
  link.Send(0, kStopSeq);
  Reap(pid);
  link.Detach(0);
  Report(state, ctl, mine, seq - kWarm);
  shoal::bench::DestroyShared(ctl);
}

template <class L>
void Stream(benchmark::State& state) {
  Pin pin(0);
  L link(MakeSpec(false));
  auto* ctl = NewShared<Ctl>();
  pid_t pid = StartPeer(ctl, link, [&link, ctl](Usage* start) {
    uint64_t expect = 0;
    for (;;) {
      const uint64_t s = link.Recv(0);
      if (s == kWarm) *start = Usage::Now();
      if (s == kStopSeq) return;
      if (s != expect) ctl->bad.fetch_add(1);
      expect = (s == kBadSeq ? expect : s) + 1;
    }
  });
  link.Attach(0);
  link.Ready(0);
  uint64_t seq = 0;
  while (seq < kWarm) link.Send(0, seq++);  // three laps of the ring
  const Usage start = Usage::Now();
  for (auto _ : state) link.Send(0, seq++);
  link.Send(0, kStopSeq);
  Reap(pid);  // the time of the last messages in flight counts too
  const Usage mine = Usage::Now() - start;
  link.Detach(0);
  Report(state, ctl, mine, seq - kWarm);
  shoal::bench::DestroyShared(ctl);
}

using QueueLink = shoal::shootout::QueueLink<shoal::Queue, std::vector<uint64_t>>;
using ChannelCopyLink = shoal::shootout::ChannelLink<false>;
using CopyFloorLink = shoal::shootout::FloorSpinLink;
using SocketpairLink = shoal::shootout::SocketpairLink<false>;
using SocketpairPollLink = shoal::shootout::SocketpairLink<true>;

void BM_RoundTrip1MiB_Queue(benchmark::State& s) { RoundTrip<QueueLink>(s); }
void BM_RoundTrip1MiB_ChannelCopy(benchmark::State& s) { RoundTrip<ChannelCopyLink>(s); }
void BM_RoundTrip1MiB_CopyFloor(benchmark::State& s) { RoundTrip<CopyFloorLink>(s); }
void BM_RoundTrip1MiB_Socketpair(benchmark::State& s) { RoundTrip<SocketpairLink>(s); }
void BM_RoundTrip1MiB_SocketpairPoll(benchmark::State& s) {
  RoundTrip<SocketpairPollLink>(s);
}
BENCHMARK(BM_RoundTrip1MiB_Queue)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_RoundTrip1MiB_ChannelCopy)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_RoundTrip1MiB_CopyFloor)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_RoundTrip1MiB_Socketpair)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_RoundTrip1MiB_SocketpairPoll)->UseRealTime()->Unit(benchmark::kMicrosecond);

void BM_Stream1MiB_Queue(benchmark::State& s) { Stream<QueueLink>(s); }
void BM_Stream1MiB_ChannelCopy(benchmark::State& s) { Stream<ChannelCopyLink>(s); }
void BM_Stream1MiB_CopyFloor(benchmark::State& s) {
  Stream<shoal::shootout::FloorSpscLink>(s);
}
void BM_Stream1MiB_Socketpair(benchmark::State& s) { Stream<SocketpairLink>(s); }
BENCHMARK(BM_Stream1MiB_Queue)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Stream1MiB_ChannelCopy)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Stream1MiB_CopyFloor)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Stream1MiB_Socketpair)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace
