// Copyright 2026 The shoal Authors.
//
// queue_bench.cc: shoal::Queue next to its peers and the floor, in one binary
// and one run (bench/RESULTS.md, "## queue").
//
//   Streaming, 8 B items, 1 producer (this process) and 1 consumer (a forked
//   child): shoal::Queue<uint64_t> vs Boost.Interprocess message_queue, both
//   with room for 1024 items. One iteration = a batch of 4096 items put and
//   then acknowledged by the consumer (so items still in flight are never
//   counted); items/s is the figure. Goal: Queue >= 10x message_queue.
//   The floors (the shoot-out's, bench/shootout/floor_links.h): SpscFloor, a
//   single-producer single-consumer ring with cached indices publishing
//   every item, and SpscFloorBatch64, the same ring publishing every 64
//   items. Goals: Queue put/get >= 0.8x SpscFloor (Spsc: the queue declared
//   single-producer single-consumer); batched puts and gets (put_many of 64,
//   get_many of up to 64; /0 shared, /1 declared SPSC) >= 100 M items/s,
//   >= 10x message_queue and within 4x of SpscFloorBatch64. StreamBytes:
//   64 B (inline) and 4 KiB (through the heap) items one by one.
//
//   Round trip, 64 B (std::array<uint64_t, 8>), two queues, forked echo peer:
//     *_BothActive: back-to-back round trips, both sides busy. Compared with
//       RawSpin (the same 64 B copied through shared memory, hand-over by
//       spinning). Goal: Queue <= 2x RawSpin.
//     *_PeerSleeps: the parent waits 200 us between round trips (outside the
//       timed region), so the peer has gone to sleep when the message
//       arrives; compared with RawFutex (FUTEX_WAIT/FUTEX_WAKE on every
//       hand-over). Goal: Queue <= 1.2x RawFutex.
//     Boost.Interprocess message_queue round trip as the library peer.
//
// Every message is stamped (bench_util.h) and checked on arrival; a mismatch
// fails the benchmark (SkipWithError).
//
// Run: bazel run -c opt //bench:queue_bench -- --benchmark_min_time=0.2
#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>

#include "bench/bench_util.h"
#include "bench/shootout/floor_links.h"
#include "benchmark/benchmark.h"
#include "boost/interprocess/ipc/message_queue.hpp"
#include "shoal/ipc/queue.h"

namespace {

namespace bi = boost::interprocess;
using shoal::bench::Check;
using shoal::bench::DestroyShared;
using shoal::bench::ForkPeer;
using shoal::bench::kBadSeq;
using shoal::bench::kStopSeq;
using shoal::bench::NewShared;
using shoal::bench::NowNs;
using shoal::bench::Reap;
using shoal::bench::Relax;
using shoal::bench::Stamp;

constexpr std::size_t kDepth = 1024;
constexpr uint64_t kBatch = 4096;
constexpr uint64_t kGapNs = 200'000;

struct Ctl {
  alignas(64) std::atomic<uint64_t> acked{0};
  alignas(64) std::atomic<uint64_t> bad{0};
};

void WaitAcked(Ctl* ctl, uint64_t n) {
  while (ctl->acked.load(std::memory_order_acquire) < n) Relax();
}

void SpinFor(uint64_t ns) {
  const uint64_t end = NowNs() + ns;
  while (NowNs() < end) Relax();
}

std::string UniqueName(const char* what) {
  return std::string("shoal_bench_") + what + "_" + std::to_string(getpid());
}

// --------------------------------------------------- streaming, 8 B items

// Put/Get: how one item goes in and comes out. The consumer checks that the
// items arrive as 0, 1, 2, ... and acknowledges each batch.
template <class PutFn, class GetFn>
void Stream8(benchmark::State& state, PutFn put, GetFn get) {
  auto* ctl = NewShared<Ctl>();
  pid_t pid = ForkPeer([&] {
    uint64_t expect = 0;
    for (;;) {
      uint64_t v = get();
      if (v == kStopSeq) break;
      if (v != expect) ctl->bad.fetch_add(1);
      expect = v + 1;
      if (expect % kBatch == 0) {
        ctl->acked.store(expect, std::memory_order_release);
      }
    }
  });
  uint64_t seq = 0;
  for (auto _ : state) {
    for (uint64_t i = 0; i < kBatch; ++i) put(seq++);
    WaitAcked(ctl, seq);
  }
  put(kStopSeq);
  Reap(pid);
  state.SetItemsProcessed(static_cast<int64_t>(seq));
  state.SetBytesProcessed(static_cast<int64_t>(seq * 8));
  if (ctl->bad.load() != 0) state.SkipWithError("items arrived out of order");
  DestroyShared(ctl);
}

void BM_Queue_Stream8B_1P1C(benchmark::State& state) {
  shoal::QueueOptions options;
  options.maxsize = kDepth;
  shoal::Queue<uint64_t> q(options);
  Stream8(
      state, [&](uint64_t v) { q.put(v); }, [&] { return q.get(); });
}
BENCHMARK(BM_Queue_Stream8B_1P1C)->UseRealTime();

void BM_SimpleQueue_Stream8B_1P1C(benchmark::State& state) {
  shoal::SimpleQueue<uint64_t> q(kDepth);
  Stream8(
      state, [&](uint64_t v) { q.put(v); }, [&] { return q.get(); });
}
BENCHMARK(BM_SimpleQueue_Stream8B_1P1C)->UseRealTime();

void BM_BoostMessageQueue_Stream8B_1P1C(benchmark::State& state) {
  const std::string name = UniqueName("mq8");
  bi::message_queue::remove(name.c_str());
  {
    bi::message_queue mq(bi::create_only, name.c_str(), kDepth, 8);
    Stream8(
        state, [&](uint64_t v) { mq.send(&v, sizeof v, 0); },
        [&] {
          uint64_t v = 0;
          bi::message_queue::size_type got = 0;
          unsigned prio = 0;
          mq.receive(&v, sizeof v, got, prio);
          return got == sizeof v ? v : kBadSeq;
        });
  }
  bi::message_queue::remove(name.c_str());
}
BENCHMARK(BM_BoostMessageQueue_Stream8B_1P1C)->UseRealTime();

void BM_Queue_Stream8B_Spsc_1P1C(benchmark::State& state) {
  shoal::QueueOptions options;
  options.maxsize = kDepth;
  options.single_producer = options.single_consumer = true;
  shoal::Queue<uint64_t> q(options);
  Stream8(
      state, [&](uint64_t v) { q.put(v); }, [&] { return q.get(); });
}
BENCHMARK(BM_Queue_Stream8B_Spsc_1P1C)->UseRealTime();

// Batches: put_many of 64 items, get_many of up to 64 (same checks, same
// acknowledgements); /1: declared single producer and consumer.
void BM_Queue_Stream8B_Batch64_1P1C(benchmark::State& state) {
  shoal::QueueOptions options;
  options.maxsize = kDepth;
  options.single_producer = options.single_consumer = state.range(0) != 0;
  shoal::Queue<uint64_t> q(options);
  auto* ctl = NewShared<Ctl>();
  pid_t pid = ForkPeer([&] {
    uint64_t expect = 0;
    uint64_t buf[64];
    for (;;) {
      const std::size_t n = q.get_many(std::span<uint64_t>(buf));
      for (std::size_t i = 0; i < n; ++i) {
        if (buf[i] == kStopSeq) return;
        if (buf[i] != expect) ctl->bad.fetch_add(1);
        expect = buf[i] + 1;
        if (expect % kBatch == 0) {
          ctl->acked.store(expect, std::memory_order_release);
        }
      }
    }
  });
  uint64_t seq = 0;
  uint64_t items[64];
  for (auto _ : state) {
    for (uint64_t i = 0; i < kBatch; i += 64) {
      for (uint64_t k = 0; k < 64; ++k) items[k] = seq++;
      q.put_many(std::span<const uint64_t>(items));
    }
    WaitAcked(ctl, seq);
  }
  q.put(kStopSeq);
  Reap(pid);
  state.SetItemsProcessed(static_cast<int64_t>(seq));
  state.SetBytesProcessed(static_cast<int64_t>(seq * 8));
  if (ctl->bad.load() != 0) state.SkipWithError("items arrived out of order");
  DestroyShared(ctl);
}
BENCHMARK(BM_Queue_Stream8B_Batch64_1P1C)->Arg(0)->Arg(1)->UseRealTime();

// 64 B and 4 KiB items, one by one (the first word is the sequence number;
// the consumer checks it).
template <std::size_t kBytes>
void BM_Queue_StreamBytes_1P1C(benchmark::State& state) {
  using Item = std::array<uint64_t, kBytes / 8>;
  shoal::QueueOptions options;
  options.maxsize = kBytes > 1024 ? 64 : kDepth;
  shoal::Queue<Item> q(options);
  Item item{};
  Stream8(
      state,
      [&](uint64_t v) {
        item[0] = v;
        q.put(item);
      },
      [&] { return q.get()[0]; });
  state.SetBytesProcessed(state.items_processed() * static_cast<int64_t>(kBytes));
}
BENCHMARK(BM_Queue_StreamBytes_1P1C<64>)->UseRealTime();
BENCHMARK(BM_Queue_StreamBytes_1P1C<4096>)->UseRealTime();

// The floors: the shoot-out's SPSC ring (one slot per 8 B item, 1024 deep).
template <class Link>
void SpscFloorStream8(benchmark::State& state) {
  shoal::shootout::Spec spec;
  spec.size = 8;
  spec.depth = kDepth;
  Link link(spec);
  Stream8(
      state, [&](uint64_t v) { link.Send(0, v); }, [&] { return link.Recv(0); });
}
void BM_SpscFloor_Stream8B_1P1C(benchmark::State& state) {
  SpscFloorStream8<shoal::shootout::FloorSpscLink>(state);
}
BENCHMARK(BM_SpscFloor_Stream8B_1P1C)->UseRealTime();
void BM_SpscFloorBatch64_Stream8B_1P1C(benchmark::State& state) {
  // kBatch is a multiple of 64: the last item of every batch is published.
  static_assert(kBatch % 64 == 0);
  SpscFloorStream8<shoal::shootout::FloorSpscBatchLink>(state);
}
BENCHMARK(BM_SpscFloorBatch64_Stream8B_1P1C)->UseRealTime();

// ------------------------------- one thread, 8 B items (CPU cost per item)
// The same operations with no second process: 64 items in, then 64 out, per
// iteration, timed in CPU time. What an item costs in instructions and
// atomics, without the cross-core transfers and the scheduling of two
// processes (so the figures hold on a loaded machine, where the streaming
// ones above do not). Every item is checked.

template <class In, class Out>
void SameThread64(benchmark::State& state, In in, Out out) {
  uint64_t seq = 0, expect = 0, bad = 0;
  for (auto _ : state) {
    in(seq);
    seq += 64;
    out(&expect, &bad);
  }
  state.SetItemsProcessed(static_cast<int64_t>(seq));
  if (bad != 0 || expect != seq) state.SkipWithError("items out of order");
}

void BM_SameThread_Queue_PutGet(benchmark::State& state) {
  shoal::QueueOptions options;
  options.maxsize = kDepth;
  options.single_producer = options.single_consumer = state.range(0) != 0;
  shoal::Queue<uint64_t> q(options);
  SameThread64(
      state,
      [&](uint64_t seq) {
        for (uint64_t k = 0; k < 64; ++k) q.put(seq + k);
      },
      [&](uint64_t* expect, uint64_t* bad) {
        for (uint64_t k = 0; k < 64; ++k) {
          if (q.get() != (*expect)++) ++*bad;
        }
      });
}
BENCHMARK(BM_SameThread_Queue_PutGet)->Arg(0)->Arg(1);

void BM_SameThread_Queue_PutManyGetMany64(benchmark::State& state) {
  shoal::QueueOptions options;
  options.maxsize = kDepth;
  options.single_producer = options.single_consumer = state.range(0) != 0;
  shoal::Queue<uint64_t> q(options);
  uint64_t items[64], buf[64];
  SameThread64(
      state,
      [&](uint64_t seq) {
        for (uint64_t k = 0; k < 64; ++k) items[k] = seq + k;
        q.put_many(std::span<const uint64_t>(items));
      },
      [&](uint64_t* expect, uint64_t* bad) {
        std::size_t got = 0;
        while (got < 64) {
          const std::size_t n = q.get_many(std::span<uint64_t>(buf));
          for (std::size_t i = 0; i < n; ++i) {
            if (buf[i] != (*expect)++) ++*bad;
          }
          got += n;
        }
      });
}
BENCHMARK(BM_SameThread_Queue_PutManyGetMany64)->Arg(0)->Arg(1);

template <class Link>
void SameThreadFloor(benchmark::State& state) {
  shoal::shootout::Spec spec;
  spec.size = 8;
  spec.depth = kDepth;
  Link link(spec);
  SameThread64(
      state,
      [&](uint64_t seq) {
        for (uint64_t k = 0; k < 64; ++k) link.Send(0, seq + k);
      },
      [&](uint64_t* expect, uint64_t* bad) {
        for (uint64_t k = 0; k < 64; ++k) {
          if (link.Recv(0) != (*expect)++) ++*bad;
        }
      });
}
void BM_SameThread_SpscFloor(benchmark::State& state) {
  SameThreadFloor<shoal::shootout::FloorSpscLink>(state);
}
BENCHMARK(BM_SameThread_SpscFloor);
void BM_SameThread_SpscFloorBatch64(benchmark::State& state) {
  SameThreadFloor<shoal::shootout::FloorSpscBatchLink>(state);
}
BENCHMARK(BM_SameThread_SpscFloorBatch64);

void BM_SameThread_BoostMessageQueue(benchmark::State& state) {
  const std::string name = UniqueName("mq_st");
  bi::message_queue::remove(name.c_str());
  {
    bi::message_queue mq(bi::create_only, name.c_str(), kDepth, 8);
    SameThread64(
        state,
        [&](uint64_t seq) {
          for (uint64_t k = 0; k < 64; ++k) {
            const uint64_t v = seq + k;
            mq.send(&v, sizeof v, 0);
          }
        },
        [&](uint64_t* expect, uint64_t* bad) {
          for (uint64_t k = 0; k < 64; ++k) {
            uint64_t v = 0;
            bi::message_queue::size_type got = 0;
            unsigned prio = 0;
            mq.receive(&v, sizeof v, got, prio);
            if (v != (*expect)++) ++*bad;
          }
        });
  }
  bi::message_queue::remove(name.c_str());
}
BENCHMARK(BM_SameThread_BoostMessageQueue);

// --------------------------------------------------- round trip, 64 B

using Msg64 = std::array<uint64_t, 8>;

// Send(dir, msg) / Recv(dir) -> msg move one message in direction dir
// (0: parent to child, 1: child to parent). The child echoes what it gets.
// gap_ns > 0: the parent waits that long between round trips, outside the
// timed region (manual time), so the child is asleep when the ping arrives.
template <class SendFn, class RecvFn>
void RoundTrip64(benchmark::State& state, SendFn send, RecvFn recv,
                 uint64_t gap_ns) {
  auto* ctl = NewShared<Ctl>();
  pid_t pid = ForkPeer([&] {
    for (;;) {
      Msg64 m = recv(0);
      const uint64_t s = Check(m.data(), m.size());
      if (s == kStopSeq) break;
      if (s == kBadSeq) ctl->bad.fetch_add(1);
      send(1, m);
    }
  });
  Msg64 m{};
  uint64_t seq = 0;
  auto one = [&] {
    Stamp(m.data(), m.size(), seq);
    send(0, m);
    Msg64 r = recv(1);
    if (Check(r.data(), r.size()) != seq) ctl->bad.fetch_add(1);
    ++seq;
  };
  one();  // the child is up
  for (auto _ : state) {
    if (gap_ns == 0) {
      one();
    } else {
      SpinFor(gap_ns);
      const uint64_t t0 = NowNs();
      one();
      state.SetIterationTime(static_cast<double>(NowNs() - t0) * 1e-9);
    }
  }
  Stamp(m.data(), m.size(), kStopSeq);
  send(0, m);
  Reap(pid);
  if (ctl->bad.load() != 0) state.SkipWithError("a message arrived corrupted");
  DestroyShared(ctl);
}

void QueueRoundTrip(benchmark::State& state, uint64_t gap_ns) {
  shoal::Queue<Msg64> q[2] = {shoal::Queue<Msg64>(16), shoal::Queue<Msg64>(16)};
  RoundTrip64(
      state, [&](int d, const Msg64& m) { q[d].put(m); },
      [&](int d) { return q[d].get(); }, gap_ns);
}
void BM_Queue_RoundTrip64B_BothActive(benchmark::State& state) {
  QueueRoundTrip(state, 0);
}
BENCHMARK(BM_Queue_RoundTrip64B_BothActive)->UseRealTime();
void BM_Queue_RoundTrip64B_PeerSleeps(benchmark::State& state) {
  QueueRoundTrip(state, kGapNs);
}
BENCHMARK(BM_Queue_RoundTrip64B_PeerSleeps)->UseManualTime();

// The floor: 64 B copied into shared memory, handed over with a flag.
template <class Flag>
struct RawLink {
  Flag flag[2];
  Msg64 buf[2];
};

template <class Flag>
void RawRoundTrip(benchmark::State& state, uint64_t gap_ns) {
  auto* link = NewShared<RawLink<Flag>>();
  RoundTrip64(
      state,
      [&](int d, const Msg64& m) {
        std::memcpy(link->buf[d].data(), m.data(), sizeof(Msg64));
        link->flag[d].Post();
      },
      [&](int d) {
        link->flag[d].Take();
        Msg64 m;
        std::memcpy(m.data(), link->buf[d].data(), sizeof(Msg64));
        return m;
      },
      gap_ns);
  DestroyShared(link);
}
void BM_RawSpin_RoundTrip64B_BothActive(benchmark::State& state) {
  RawRoundTrip<shoal::bench::SpinFlag>(state, 0);
}
BENCHMARK(BM_RawSpin_RoundTrip64B_BothActive)->UseRealTime();
void BM_RawFutex_RoundTrip64B_BothActive(benchmark::State& state) {
  RawRoundTrip<shoal::bench::FutexFlag>(state, 0);
}
BENCHMARK(BM_RawFutex_RoundTrip64B_BothActive)->UseRealTime();
void BM_RawFutex_RoundTrip64B_PeerSleeps(benchmark::State& state) {
  RawRoundTrip<shoal::bench::FutexFlag>(state, kGapNs);
}
BENCHMARK(BM_RawFutex_RoundTrip64B_PeerSleeps)->UseManualTime();

void BoostRoundTrip(benchmark::State& state, uint64_t gap_ns) {
  const std::string n0 = UniqueName("rt0"), n1 = UniqueName("rt1");
  bi::message_queue::remove(n0.c_str());
  bi::message_queue::remove(n1.c_str());
  {
    bi::message_queue q0(bi::create_only, n0.c_str(), 16, sizeof(Msg64));
    bi::message_queue q1(bi::create_only, n1.c_str(), 16, sizeof(Msg64));
    bi::message_queue* q[2] = {&q0, &q1};
    RoundTrip64(
        state, [&](int d, const Msg64& m) { q[d]->send(m.data(), sizeof m, 0); },
        [&](int d) {
          Msg64 m{};
          bi::message_queue::size_type got = 0;
          unsigned prio = 0;
          q[d]->receive(m.data(), sizeof m, got, prio);
          return m;
        },
        gap_ns);
  }
  bi::message_queue::remove(n0.c_str());
  bi::message_queue::remove(n1.c_str());
}
void BM_BoostMessageQueue_RoundTrip64B_BothActive(benchmark::State& state) {
  BoostRoundTrip(state, 0);
}
BENCHMARK(BM_BoostMessageQueue_RoundTrip64B_BothActive)->UseRealTime();
void BM_BoostMessageQueue_RoundTrip64B_PeerSleeps(benchmark::State& state) {
  BoostRoundTrip(state, kGapNs);
}
BENCHMARK(BM_BoostMessageQueue_RoundTrip64B_PeerSleeps)->UseManualTime();

}  // namespace
