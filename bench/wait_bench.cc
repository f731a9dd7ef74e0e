// Copyright 2026 The shoal Authors.
//
// wait_bench: what waiting on many queues costs (ipc/wait.h).
//
// A parent sends one 8-byte item to queue k of 64 (k cycles through all
// 64); a forked child waits for it, takes it and echoes it on a reply queue
// the parent blocks on. Timed: one round trip (manual time). The parent
// spins kGapNs between round trips outside the timed region, so the child is
// asleep when the item comes: this measures *waking*.
//   BM_Wake_OneQueue_Get        the floor we compare with: the child sleeps
//                               in get() on the one queue that gets items.
//   BM_Wake_OneQueue_WaitSet    the child waits on that one queue through a
//                               WaitSet, then try_get().
//   BM_Wake_OneOf64_WaitSet     the child waits on 64 queues (WaitSet, one
//                               futex_waitv over 64 words), then try_get().
//   BM_Wake_OneOf64_Fallback    the same without futex_waitv (the fallback:
//                               one thread per queue per wait).
//   BM_Wake_OneOf64_Mixed       the 64 queues plus a pipe: epoll in the
//                               caller, a helper thread sleeps on the queues.
//   BM_Wake_Subscriber_Receive / BM_Wake_SubscriberOf64_WaitSet: the same
//                               for a Broadcast subscriber (see below).
// The goal: OneOf64_WaitSet <= 1.5x OneQueue_Get (same run). Counter
// waiter_cpu_us: the child's CPU time (user + system, getrusage) per round
// trip, everything it does to sleep, wake, take and reply: the part of the
// cost that a loaded machine's scheduling delays do not blur.
#include <sys/resource.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "benchmark/benchmark.h"
#include "bench/bench_util.h"
#include "shoal/base/internal/futex.h"
#include "shoal/ipc/broadcast.h"
#include "shoal/ipc/connection.h"
#include "shoal/ipc/queue.h"
#include "shoal/ipc/wait.h"

namespace {

using shoal::bench::ForkPeer;
using shoal::bench::NowNs;
using shoal::bench::Reap;
using shoal::bench::Relax;

constexpr uint64_t kGapNs = 200'000;
constexpr uint64_t kStop = ~uint64_t{0};

void SpinFor(uint64_t ns) {
  const uint64_t end = NowNs() + ns;
  while (NowNs() < end) Relax();
}

uint64_t CpuNs() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto ns = [](const timeval& t) {
    return static_cast<uint64_t>(t.tv_sec) * 1'000'000'000 +
           static_cast<uint64_t>(t.tv_usec) * 1000;
  };
  return ns(ru.ru_utime) + ns(ru.ru_stime);
}

struct Ctl {
  std::atomic<uint64_t> cpu_ns{0};
};

enum class Mode { kGet, kWaitSetOne, kWaitSet64, kFallback64, kMixed64 };

void Wake(benchmark::State& state, Mode mode) {
  const int n = (mode == Mode::kGet || mode == Mode::kWaitSetOne) ? 1 : 64;
  std::vector<shoal::Queue<uint64_t>> qs;
  for (int i = 0; i < n; ++i) qs.emplace_back(16);
  shoal::Queue<uint64_t> reply(16);
  auto [pipe_r, pipe_w] = shoal::Pipe(false);
  auto* ctl = shoal::bench::NewShared<Ctl>();
  pid_t pid = ForkPeer([&] {
    struct Report {  // the child's CPU time, however it leaves the loop
      Ctl* ctl;
      uint64_t start = CpuNs();
      ~Report() { ctl->cpu_ns = CpuNs() - start; }
    } report{ctl};
    if (mode == Mode::kFallback64) shoal::internal::SetFutexWaitvForTesting(false);
    if (mode == Mode::kGet) {
      for (;;) {
        const uint64_t v = qs[0].get();
        reply.put(v);
        if (v == kStop) return;
      }
    }
    shoal::WaitSet set;
    for (auto& q : qs) set.add(q);
    if (mode == Mode::kMixed64) set.add(pipe_r);
    for (;;) {
      for (const shoal::Waitable& r : set.wait()) {
        for (auto& q : qs) {
          if (!r.is(q)) continue;
          while (auto v = q.try_get()) {
            reply.put(*v);
            if (*v == kStop) return;
          }
        }
      }
    }
  });
  uint64_t seq = 0;
  reply.put(0);  // warm the reply queue's pages
  (void)reply.get();
  for (auto _ : state) {
    SpinFor(kGapNs);
    const uint64_t t0 = NowNs();
    qs[seq % n].put(seq);
    const uint64_t back = reply.get();
    state.SetIterationTime(static_cast<double>(NowNs() - t0) * 1e-9);
    if (back != seq) {
      state.SkipWithError("wrong item echoed");
      break;
    }
    ++seq;
  }
  qs[0].put(kStop);
  Reap(pid);
  if (seq > 0) {
    state.counters["waiter_cpu_us"] =
        static_cast<double>(ctl->cpu_ns.load()) / 1e3 / static_cast<double>(seq);
  }
  shoal::bench::DestroyShared(ctl);
}

// A Broadcast subscriber instead of a queue: the parent publishes one 8-byte
// block, the child receives it and echoes it on the reply queue.
//   BM_Wake_Subscriber_Receive    the child sleeps in receive().
//   BM_Wake_SubscriberOf64_WaitSet  the child waits on the subscriber and 63
//                                 idle queues in one WaitSet, then
//                                 try_receive().
void WakeSubscriber(benchmark::State& state, bool waitset) {
  shoal::Broadcast<uint64_t> bus(1, shoal::BroadcastOptions{.slots = 16});
  std::vector<shoal::Queue<uint64_t>> idle;
  if (waitset) {
    for (int i = 0; i < 63; ++i) idle.emplace_back(16);
  }
  shoal::Queue<uint64_t> reply(16);
  auto* ctl = shoal::bench::NewShared<Ctl>();
  pid_t pid = ForkPeer([&] {
    auto sub = bus.subscribe();
    reply.put(0);  // subscribed
    struct Report {
      Ctl* ctl;
      uint64_t start = CpuNs();
      ~Report() { ctl->cpu_ns = CpuNs() - start; }
    } report{ctl};
    if (!waitset) {
      for (;;) {
        const uint64_t v = sub.recv()[0];
        reply.put(v);
        if (v == kStop) return;
      }
    }
    shoal::WaitSet set;
    for (auto& q : idle) set.add(q);
    set.add(sub);
    for (;;) {
      for (const shoal::Waitable& r : set.wait()) {
        if (!r.is(sub)) continue;
        while (auto v = sub.try_receive()) {
          const uint64_t x = (*v)[0];
          reply.put(x);
          if (x == kStop) return;
        }
      }
    }
  });
  (void)reply.get();
  uint64_t seq = 0;
  for (auto _ : state) {
    SpinFor(kGapNs);
    const uint64_t t0 = NowNs();
    bus.send(std::vector<uint64_t>{seq});
    const uint64_t back = reply.get();
    state.SetIterationTime(static_cast<double>(NowNs() - t0) * 1e-9);
    if (back != seq) {
      state.SkipWithError("wrong block echoed");
      break;
    }
    ++seq;
  }
  bus.send(std::vector<uint64_t>{kStop});
  Reap(pid);
  if (seq > 0) {
    state.counters["waiter_cpu_us"] =
        static_cast<double>(ctl->cpu_ns.load()) / 1e3 / static_cast<double>(seq);
  }
  shoal::bench::DestroyShared(ctl);
}

void BM_Wake_OneQueue_Get(benchmark::State& state) { Wake(state, Mode::kGet); }
BENCHMARK(BM_Wake_OneQueue_Get)->UseManualTime();
void BM_Wake_OneQueue_WaitSet(benchmark::State& state) {
  Wake(state, Mode::kWaitSetOne);
}
BENCHMARK(BM_Wake_OneQueue_WaitSet)->UseManualTime();
void BM_Wake_OneOf64_WaitSet(benchmark::State& state) {
  Wake(state, Mode::kWaitSet64);
}
BENCHMARK(BM_Wake_OneOf64_WaitSet)->UseManualTime();
void BM_Wake_OneOf64_Mixed(benchmark::State& state) {
  Wake(state, Mode::kMixed64);
}
BENCHMARK(BM_Wake_OneOf64_Mixed)->UseManualTime();
void BM_Wake_OneOf64_Fallback(benchmark::State& state) {
  Wake(state, Mode::kFallback64);
}
BENCHMARK(BM_Wake_OneOf64_Fallback)->UseManualTime()->Iterations(300);
void BM_Wake_Subscriber_Receive(benchmark::State& state) {
  WakeSubscriber(state, false);
}
BENCHMARK(BM_Wake_Subscriber_Receive)->UseManualTime();
void BM_Wake_SubscriberOf64_WaitSet(benchmark::State& state) {
  WakeSubscriber(state, true);
}
BENCHMARK(BM_Wake_SubscriberOf64_WaitSet)->UseManualTime();

}  // namespace
