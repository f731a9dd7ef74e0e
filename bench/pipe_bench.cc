// Copyright 2026 The shoal Authors.
//
// pipe_bench.cc: shoal::Pipe (Connection) round trip next to the raw system
// calls it is built on, in one binary and one run (bench/RESULTS.md,
// "## pipe").
//
//   64 B round trip, forked echo peer:
//     shoal duplex Pipe, send_bytes / recv_bytes_into (raw bytes API);
//     shoal duplex Pipe, send<T> / recv<T> (the codec API, T = 64 B array);
//     raw socketpair(AF_UNIX, SOCK_STREAM), write + read of 64 bytes;
//     raw pipe(2) pair, write + read of 64 bytes.
//   Goal: shoal Pipe <= 1.2x the raw socketpair.
//
// Every message is stamped (bench_util.h) and checked on arrival.
//
// Run: bazel run -c opt //bench:pipe_bench -- --benchmark_min_time=0.2
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "bench/bench_util.h"
#include "benchmark/benchmark.h"
#include "shoal/ipc/connection.h"

namespace {

using shoal::bench::Check;
using shoal::bench::DestroyShared;
using shoal::bench::ForkPeer;
using shoal::bench::kBadSeq;
using shoal::bench::kStopSeq;
using shoal::bench::NewShared;
using shoal::bench::Reap;
using shoal::bench::Stamp;

using Msg64 = std::array<uint64_t, 8>;

// send(side, msg) / recv(side) -> msg: side 0 is the parent, 1 the child.
template <class SendFn, class RecvFn>
void RoundTrip64(benchmark::State& state, SendFn send, RecvFn recv) {
  auto* bad = NewShared<std::atomic<uint64_t>>(0);
  pid_t pid = ForkPeer([&] {
    for (;;) {
      Msg64 m = recv(1);
      const uint64_t s = Check(m.data(), m.size());
      if (s == kStopSeq) break;
      if (s == kBadSeq) bad->fetch_add(1);
      send(1, m);
    }
  });
  Msg64 m{};
  uint64_t seq = 0;
  for (auto _ : state) {
    Stamp(m.data(), m.size(), seq);
    send(0, m);
    Msg64 r = recv(0);
    if (Check(r.data(), r.size()) != seq) bad->fetch_add(1);
    ++seq;
  }
  Stamp(m.data(), m.size(), kStopSeq);
  send(0, m);
  Reap(pid);
  if (bad->load() != 0) state.SkipWithError("a message arrived corrupted");
  DestroyShared(bad);
}

void BM_Pipe_RoundTrip64B_Bytes(benchmark::State& state) {
  auto [a, b] = shoal::Pipe();
  shoal::Connection* end[2] = {&a, &b};
  RoundTrip64(
      state,
      [&](int side, const Msg64& m) {
        end[side]->send_bytes(std::as_bytes(std::span<const uint64_t>(m)));
      },
      [&](int side) {
        Msg64 m{};
        end[side]->recv_bytes_into(std::as_writable_bytes(std::span<uint64_t>(m)));
        return m;
      });
}
BENCHMARK(BM_Pipe_RoundTrip64B_Bytes)->UseRealTime();

void BM_Pipe_RoundTrip64B_Codec(benchmark::State& state) {
  auto [a, b] = shoal::Pipe();
  shoal::Connection* end[2] = {&a, &b};
  RoundTrip64(
      state, [&](int side, const Msg64& m) { end[side]->send(m); },
      [&](int side) { return end[side]->recv<Msg64>(); });
}
BENCHMARK(BM_Pipe_RoundTrip64B_Codec)->UseRealTime();

void WriteAll(int fd, const void* p, std::size_t n) {
  auto* c = static_cast<const char*>(p);
  while (n > 0) {
    ssize_t w = write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) std::abort();
    c += w;
    n -= static_cast<std::size_t>(w);
  }
}
void ReadAll(int fd, void* p, std::size_t n) {
  auto* c = static_cast<char*>(p);
  while (n > 0) {
    ssize_t r = read(fd, c, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) std::abort();
    c += r;
    n -= static_cast<std::size_t>(r);
  }
}

// wfd[side] / rfd[side]: where side writes and reads.
void RawRoundTrip(benchmark::State& state, const int wfd[2], const int rfd[2]) {
  RoundTrip64(
      state, [&](int side, const Msg64& m) { WriteAll(wfd[side], m.data(), sizeof m); },
      [&](int side) {
        Msg64 m{};
        ReadAll(rfd[side], m.data(), sizeof m);
        return m;
      });
}

void BM_RawSocketpair_RoundTrip64B(benchmark::State& state) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) std::abort();
  const int wfd[2] = {sv[0], sv[1]}, rfd[2] = {sv[0], sv[1]};
  RawRoundTrip(state, wfd, rfd);
  close(sv[0]);
  close(sv[1]);
}
BENCHMARK(BM_RawSocketpair_RoundTrip64B)->UseRealTime();

void BM_RawPipe_RoundTrip64B(benchmark::State& state) {
  int down[2], up[2];  // parent -> child, child -> parent
  if (pipe2(down, O_CLOEXEC) != 0 || pipe2(up, O_CLOEXEC) != 0) std::abort();
  const int wfd[2] = {down[1], up[1]}, rfd[2] = {up[0], down[0]};
  RawRoundTrip(state, wfd, rfd);
  for (int fd : {down[0], down[1], up[0], up[1]}) close(fd);
}
BENCHMARK(BM_RawPipe_RoundTrip64B)->UseRealTime();

}  // namespace
