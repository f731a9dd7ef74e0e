// Copyright 2026 The shoal Authors.
//
// service_bench.cc: shoal::Service request/response next to the Queue round
// trip it is built to match, and next to Python's pair of
// multiprocessing.Queues, in one binary and one run (bench/RESULTS.md,
// "## service").
//
//   BM_Queue_RoundTrip64B: 64 B (std::array<uint64_t, 8>) through two
//     shoal::Queues to a forked echo peer and back (as queue_bench).
//   BM_Service_Call64B: ServiceClient::call of the same 64 B message to one
//     forked server that echoes it. Counter x_queue = this row's time per
//     round trip / BM_Queue_RoundTrip64B's (measured just before). Goal:
//     x_queue <= 1.2.
//   BM_Paired_ServiceVsQueue64B: the two above in the same two processes,
//     alternating every 32 round trips and timed separately (service_ns,
//     queue_ns, service_over_queue): both see the same machine state at the
//     same moments, the robust ratio on a shared machine. Goal: <= 1.2.
//   BM_Service_CallAsync64B: call_async(m).result(): the same plus the hop
//     through the client's receiver thread.
//   BM_Service_Call1MiB_InPlace: a loaned 1 MiB request and a reply read in
//     place (no copy on either side; the server touches one element).
//   BM_Python_MpQueuePair64B: bench/service_bench.py, run once: the same
//     echo through a pair of multiprocessing.Queues (fork), 64-byte bytes.
//
// Every message is stamped (bench_util.h) and checked on arrival; a mismatch
// fails the benchmark (SkipWithError).
//
// Run: bazel run -c opt //bench:service_bench -- --benchmark_min_time=0.3
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "bench/bench_util.h"
#include "bench/python_script.h"
#include "benchmark/benchmark.h"
#include "shoal/ipc/queue.h"
#include "shoal/pool/service.h"

namespace {

using shoal::bench::Check;
using shoal::bench::ForkPeer;
using shoal::bench::kBadSeq;
using shoal::bench::kStopSeq;
using shoal::bench::Reap;
using shoal::bench::Stamp;

using Msg64 = std::array<uint64_t, 8>;

double g_queue_ns = 0;  // BM_Queue_RoundTrip64B's time per round trip

shoal::RegionOptions Anon() {
  shoal::RegionOptions o;
  o.kind = shoal::RegionKind::kAnonymous;
  return o;
}

void BM_Queue_RoundTrip64B(benchmark::State& state) {
  shoal::Queue<Msg64> q[2] = {shoal::Queue<Msg64>(16),
                              shoal::Queue<Msg64>(16)};
  pid_t pid = ForkPeer([&] {
    for (;;) {
      Msg64 m = q[0].get();
      if (Check(m.data(), m.size()) == kStopSeq) break;
      q[1].put(m);
    }
  });
  Msg64 m{};
  uint64_t seq = 0, bad = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    Stamp(m.data(), m.size(), seq);
    q[0].put(m);
    Msg64 r = q[1].get();
    if (Check(r.data(), r.size()) != seq) ++bad;
    ++seq;
  }
  const double ns =
      std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() -
                                               t0)
          .count();
  if (seq > 0) g_queue_ns = ns / static_cast<double>(seq);
  Stamp(m.data(), m.size(), kStopSeq);
  q[0].put(m);
  Reap(pid);
  if (bad != 0) state.SkipWithError("a message arrived corrupted");
}
BENCHMARK(BM_Queue_RoundTrip64B)->UseRealTime();

template <class Req, class Resp>
shoal::Service<Req, Resp> MakeService() {
  shoal::ServiceOptions o;
  o.max_clients = 4;
  o.calls_per_client = 4;
  o.heap_bytes = uint64_t{16} << 20;
  o.region = Anon();
  return shoal::Service<Req, Resp>(o);
}

template <class Body>
void ServiceRoundTrip(benchmark::State& state, Body body, bool ratio) {
  auto svc = MakeService<Msg64, Msg64>();
  pid_t pid = ForkPeer([&] {
    svc.serve([](const Msg64& m) { return m; });
  });
  shoal::ServiceClient<Msg64, Msg64> client(svc);
  Msg64 m{};
  uint64_t seq = 0, bad = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    Stamp(m.data(), m.size(), seq);
    Msg64 r = body(client, m);
    if (Check(r.data(), r.size()) != seq) ++bad;
    ++seq;
  }
  const double ns =
      std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() -
                                               t0)
          .count();
  if (ratio && g_queue_ns > 0 && seq > 0) {
    state.counters["x_queue"] = ns / static_cast<double>(seq) / g_queue_ns;
  }
  svc.close();
  Reap(pid);
  if (bad != 0) state.SkipWithError("a reply arrived corrupted");
}

void BM_Service_Call64B(benchmark::State& state) {
  ServiceRoundTrip(
      state,
      [](shoal::ServiceClient<Msg64, Msg64>& c, const Msg64& m) {
        return c.call(m);
      },
      true);
}
BENCHMARK(BM_Service_Call64B)->UseRealTime();

void BM_Paired_ServiceVsQueue64B(benchmark::State& state) {
  constexpr int kBlock = 32;
  auto svc = MakeService<Msg64, Msg64>();
  shoal::Queue<Msg64> q[2] = {shoal::Queue<Msg64>(16),
                              shoal::Queue<Msg64>(16)};
  pid_t pid = ForkPeer([&] {
    for (;;) {
      for (int i = 0; i < kBlock; ++i) {
        if (!svc.serve_one([](const Msg64& m) { return m; },
                           shoal::Deadline::Infinite())) {
          return;
        }
      }
      for (int i = 0; i < kBlock; ++i) q[1].put(q[0].get());
    }
  });
  shoal::ServiceClient<Msg64, Msg64> client(svc);
  Msg64 m{};
  uint64_t seq = 0, bad = 0, n = 0;
  double service_ns = 0, queue_ns = 0;
  auto now = [] { return std::chrono::steady_clock::now(); };
  for (auto _ : state) {
    auto t0 = now();
    for (int i = 0; i < kBlock; ++i) {
      Stamp(m.data(), m.size(), seq);
      Msg64 r = client.call(m);
      if (Check(r.data(), r.size()) != seq) ++bad;
      ++seq;
    }
    auto t1 = now();
    for (int i = 0; i < kBlock; ++i) {
      Stamp(m.data(), m.size(), seq);
      q[0].put(m);
      Msg64 r = q[1].get();
      if (Check(r.data(), r.size()) != seq) ++bad;
      ++seq;
    }
    auto t2 = now();
    service_ns += std::chrono::duration<double, std::nano>(t1 - t0).count();
    queue_ns += std::chrono::duration<double, std::nano>(t2 - t1).count();
    n += kBlock;
  }
  if (n > 0) {
    state.counters["service_ns"] = service_ns / static_cast<double>(n);
    state.counters["queue_ns"] = queue_ns / static_cast<double>(n);
    state.counters["service_over_queue"] = service_ns / queue_ns;
  }
  svc.close();
  Reap(pid);
  if (bad != 0) state.SkipWithError("a message arrived corrupted");
}
BENCHMARK(BM_Paired_ServiceVsQueue64B)->UseRealTime();

void BM_Service_CallAsync64B(benchmark::State& state) {
  ServiceRoundTrip(
      state,
      [](shoal::ServiceClient<Msg64, Msg64>& c, const Msg64& m) {
        return c.call_async(m).result();
      },
      false);
}
BENCHMARK(BM_Service_CallAsync64B)->UseRealTime();

using Big = std::array<uint64_t, (1 << 20) / 8>;

void BM_Service_Call1MiB_InPlace(benchmark::State& state) {
  auto svc = MakeService<Big, Big>();
  pid_t pid = ForkPeer([&] {
    while (auto r = svc.try_receive(shoal::Deadline::Infinite())) {
      Big& out = r->loan_reply();
      out[0] = r->value()[0] + 1;
      r->send_reply();
    }
  });
  shoal::ServiceClient<Big, Big> client(svc);
  uint64_t seq = 0, bad = 0;
  for (auto _ : state) {
    auto loan = client.loan();
    (*loan)[0] = seq;
    auto reply = client.call_in_place(std::move(loan));
    if ((*reply)[0] != seq + 1) ++bad;
    ++seq;
  }
  state.SetBytesProcessed(static_cast<int64_t>(seq) * int64_t{1 << 20});
  svc.close();
  Reap(pid);
  if (bad != 0) state.SkipWithError("a reply arrived corrupted");
}
BENCHMARK(BM_Service_Call1MiB_InPlace)->UseRealTime();

// --- Python --------------------------------------------------------------

void BM_Python_MpQueuePair64B(benchmark::State& state) {
  static const auto* python = new shoal::bench::PythonFigures(
      "SHOAL_SERVICE_PY", "service_bench.py", {"round_trip_s"});
  python->Report(state, "round_trip_s");
}
BENCHMARK(BM_Python_MpQueuePair64B)->UseManualTime()->Iterations(1);

}  // namespace
