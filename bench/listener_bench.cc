// Copyright 2026 The shoal Authors.
//
// listener_bench.cc: what a Listener/Client connection costs, next to its
// floor in the same run (bench/RESULTS.md, "## listener"):
//
//   Floor_RawConnect       socket + connect to an AF_UNIX listener that
//                          accept()s and closes (a forked process)
//   Client_NoAuthkey       shoal::Client() to a shoal::Listener without key
//   Client_Authkey         the same with an authkey: the two HMAC
//                          challenges, six messages
//   SendHandle_RoundTrip   send_handle(Queue) + recv_handle on an open
//                          connection (the region already mapped: what a
//                          repeated hand-over costs), and back
//
// Run: bazel build //bench:listener_bench &&
//      bazel-bin/bench/listener_bench --benchmark_min_time=0.2
//        --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>

#include "bench/bench_util.h"
#include "benchmark/benchmark.h"
#include "shoal/base/errors.h"
#include "shoal/ipc/connection.h"
#include "shoal/ipc/listener.h"
#include "shoal/ipc/queue.h"
#include "shoal/ipc/region.h"

namespace {

using shoal::bench::ForkPeer;
using shoal::bench::Reap;

std::string Address() {
  return shoal::AbstractAddress("shoal-bench-" +
                                shoal::internal::RandomHex128());
}

void BM_Floor_RawConnect(benchmark::State& state) {
  const std::string address = Address();
  int srv = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, address.data(), address.size());
  const auto len =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size());
  if (bind(srv, reinterpret_cast<sockaddr*>(&sa), len) != 0 ||
      listen(srv, 128) != 0) {
    state.SkipWithError("bind/listen failed");
    return;
  }
  pid_t pid = ForkPeer([&] {
    for (;;) {
      int c = accept(srv, nullptr, nullptr);
      if (c < 0) return;
      char b;
      if (recv(c, &b, 1, 0) == 1 && b == 'q') return;  // stop
      close(c);
    }
  });
  for (auto _ : state) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(fd, reinterpret_cast<sockaddr*>(&sa), len) != 0) {
      state.SkipWithError("connect failed");
      break;
    }
    close(fd);
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), len) == 0) {
    (void)!send(fd, "q", 1, MSG_NOSIGNAL);
  }
  close(fd);
  Reap(pid);
  close(srv);
  state.SetItemsProcessed(state.iterations());
}

void ClientLoop(benchmark::State& state, const std::string& key) {
  const std::string address = Address();
  shoal::Listener listener(address, key);
  pid_t pid = ForkPeer([&] {
    for (;;) {
      try {
        shoal::Connection c = listener.accept();
        if (c.poll(shoal::Deadline(std::chrono::milliseconds(1))) &&
            c.recv_bytes() == "q") {
          return;
        }
      } catch (const shoal::Error&) {
      }
    }
  });
  for (auto _ : state) {
    shoal::Connection c = shoal::Client(address, key);
    benchmark::DoNotOptimize(c.fileno());
  }
  shoal::Client(address, key).send_bytes(std::string_view("q"));
  Reap(pid);
  state.SetItemsProcessed(state.iterations());
}

void BM_Client_NoAuthkey(benchmark::State& state) { ClientLoop(state, ""); }
void BM_Client_Authkey(benchmark::State& state) {
  ClientLoop(state, "a secret key");
}

void BM_SendHandle_RoundTrip(benchmark::State& state) {
  shoal::Queue<int> q(8);
  auto [a, b] = shoal::Pipe();
  pid_t pid = ForkPeer([&] {
    a.close();  // the child's copy: EOF must come when the parent closes
    try {
      for (;;) b.send_handle(b.recv_handle<shoal::Queue<int>>());
    } catch (const shoal::Error&) {
    }
  });
  b.close();
  for (auto _ : state) {
    a.send_handle(q);
    auto back = a.recv_handle<shoal::Queue<int>>();
    benchmark::DoNotOptimize(back.maxsize());
  }
  a.close();
  Reap(pid);
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_Floor_RawConnect)->UseRealTime();
BENCHMARK(BM_Client_NoAuthkey)->UseRealTime();
BENCHMARK(BM_Client_Authkey)->UseRealTime();
BENCHMARK(BM_SendHandle_RoundTrip)->UseRealTime();

}  // namespace
