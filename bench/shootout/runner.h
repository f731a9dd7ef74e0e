// Copyright 2026 The shoal Authors.
//
// runner.h: how one link-based case runs. The coordinator (the shoot-out's
// main process) creates the link, forks a driver (side 0) and a peer
// (side 1), and supervises them with a timeout; it never touches the link's
// fast path itself, so a method that crashes or hangs costs one row, not the
// run. Samples come back through a shared CaseShared block.
//
//   Round trip: the driver sends seq, the peer checks it and sends seq
//     back, the driver checks the reply. A repeat runs for cfg.duration
//     (at least 2 round trips); its sample is the mean round trip in us.
//   Stream: the driver sends seq = 0, 1, 2, ... for cfg.duration, then an
//     end-of-repeat marker; the peer checks every message and that they
//     arrive in order, and records when the marker arrived and how many
//     came before it. The sample is messages / (marker time - start time),
//     both on CLOCK_MONOTONIC, so messages still in flight are never
//     counted.
#ifndef SHOAL_BENCH_SHOOTOUT_RUNNER_H_
#define SHOAL_BENCH_SHOOTOUT_RUNNER_H_

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>

#include "bench/bench_util.h"
#include "bench/shootout/shootout.h"

namespace shoal::shootout {

inline constexpr int kMaxSamples = 256;

struct CaseShared {
  alignas(64) std::atomic<uint32_t> attached[2];
  alignas(64) std::atomic<uint32_t> abort;
  alignas(64) std::atomic<uint64_t> rep_done;
  std::atomic<uint64_t> rep_end_ns;
  std::atomic<uint64_t> rep_count;
  alignas(64) std::atomic<uint64_t> bad;
  std::atomic<uint64_t> messages;
  uint32_t nsamples;
  double samples[kMaxSamples];
  char error[2][512];
};

// Child process management (runner.cc).
CaseShared* NewCaseShared();
void FreeCaseShared(CaseShared* sh);
// Forks a child pinned to `cpu` (when cfg.pin) that runs body(); an
// exception is written to `err` and the child exits 1. needs_exit: leave
// through exit() (static destructors run) instead of _exit().
pid_t SpawnChild(const Config& cfg, int cpu, bool needs_exit, char* err,
                 const std::function<void()>& body);
// Waits for the children (the first is the driver), kills them all after
// `timeout_s` or 3 s after the driver is done; fills status/note.
void Supervise(const std::vector<pid_t>& pids, CaseShared* sh, double timeout_s,
               Outcome* out);
double CaseTimeout(const Config& cfg);
// How long repeat `rep` runs, in ns: the warm-up for rep -1, else the
// configured duration.
inline uint64_t RepeatNs(const Config& cfg, int rep) {
  return static_cast<uint64_t>((rep < 0 ? cfg.warmup : cfg.duration) * 1e9);
}
// A row that was not measured: `kind` is "not-installed" or "isolation",
// `note` says why (and which package to install).
Outcome Skipped(std::string kind, std::string note);
// Waits until the other side attached (false: it failed or 30 s passed).
bool Rendezvous(CaseShared* sh, int side);
void WaitAtLeast(const std::atomic<uint64_t>& v, uint64_t n);

template <class L>
void DriveRoundTrip(L& link, CaseShared* sh, const Config& cfg) {
  uint64_t seq = 0;
  for (int rep = -1; rep < cfg.repeats; ++rep) {
    const uint64_t dur = RepeatNs(cfg, rep);
    uint64_t n = 0;
    const uint64_t t0 = bench::NowNs();
    uint64_t t = t0;
    do {
      link.Send(0, seq);
      if (link.Recv(1) != seq) sh->bad.fetch_add(1);
      ++seq;
      ++n;
      t = bench::NowNs();
    } while (n < 2 || t - t0 < dur);
    if (rep >= 0 && sh->nsamples < kMaxSamples) {
      sh->samples[sh->nsamples++] =
          static_cast<double>(t - t0) / static_cast<double>(n) / 1e3;
      sh->messages.fetch_add(n);
    }
  }
  link.Send(0, kExit);
}

template <class L>
void EchoRoundTrip(L& link, CaseShared* sh) {
  for (;;) {
    uint64_t s = link.Recv(0);
    if (s == kExit) return;
    if (s == bench::kBadSeq) {
      sh->bad.fetch_add(1);
      s = 0;
    }
    link.Send(1, s);
  }
}

template <class L>
void DriveStream(L& link, CaseShared* sh, const Config& cfg, std::size_t size) {
  const uint64_t batch = std::clamp<uint64_t>(65536 / size, 1, 64);
  uint64_t seq = 0;
  uint64_t reps_done = 0;
  for (int rep = -1; rep < cfg.repeats; ++rep) {
    const uint64_t dur = RepeatNs(cfg, rep);
    const uint64_t t0 = bench::NowNs();
    do {
      for (uint64_t k = 0; k < batch; ++k) link.Send(0, seq++);
    } while (bench::NowNs() - t0 < dur);
    link.Send(0, kEndRepeat);
    WaitAtLeast(sh->rep_done, ++reps_done);
    const uint64_t end = sh->rep_end_ns.load(std::memory_order_acquire);
    const uint64_t count = sh->rep_count.load(std::memory_order_acquire);
    if (rep >= 0 && sh->nsamples < kMaxSamples && end > t0) {
      sh->samples[sh->nsamples++] =
          static_cast<double>(count) / (static_cast<double>(end - t0) * 1e-9);
      sh->messages.fetch_add(count);
    }
  }
  link.Send(0, kExit);
}

template <class L>
void ConsumeStream(L& link, CaseShared* sh) {
  uint64_t expect = 0, count = 0;
  for (;;) {
    const uint64_t s = link.Recv(0);
    if (s == kExit) return;
    if (s == kEndRepeat) {
      sh->rep_end_ns.store(bench::NowNs(), std::memory_order_relaxed);
      sh->rep_count.store(count, std::memory_order_relaxed);
      sh->rep_done.fetch_add(1, std::memory_order_release);
      count = 0;
      continue;
    }
    if (s != expect) sh->bad.fetch_add(1);
    expect = (s == bench::kBadSeq ? expect : s) + 1;
    ++count;
  }
}

template <class L>
Outcome RunLink(bool round_trip, const Spec& spec, const Config& cfg) {
  Outcome out;
  CaseShared* sh = NewCaseShared();
  std::optional<L> link;
  try {
    link.emplace(spec);
  } catch (const std::exception& e) {
    out.status = "failed";
    out.note = std::string("setup: ") + e.what();
    FreeCaseShared(sh);
    return out;
  }
  auto side_body = [&](int side) {
    return [&, side] {
      link->Attach(side);
      sh->attached[side].store(1, std::memory_order_release);
      if (!Rendezvous(sh, side)) throw std::runtime_error("the other side failed");
      link->Ready(side);
      if (side == 0) {
        if (round_trip) {
          DriveRoundTrip(*link, sh, cfg);
        } else {
          DriveStream(*link, sh, cfg, spec.size);
        }
      } else {
        if (round_trip) {
          EchoRoundTrip(*link, sh);
        } else {
          ConsumeStream(*link, sh);
        }
      }
      link->Detach(side);
    };
  };
  std::vector<pid_t> pids;
  pids.push_back(SpawnChild(cfg, 0, L::kNeedsExit, sh->error[0], side_body(0)));
  pids.push_back(SpawnChild(cfg, 1, L::kNeedsExit, sh->error[1], side_body(1)));
  Supervise(pids, sh, CaseTimeout(cfg), &out);
  link.reset();
  FreeCaseShared(sh);
  return out;
}

}  // namespace shoal::shootout

#endif  // SHOAL_BENCH_SHOOTOUT_RUNNER_H_
