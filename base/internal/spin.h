// Copyright 2026 The shoal Authors.
//
// spin.h: the bounded, adaptive spin every shoal primitive runs before it
// sleeps in the kernel.
//
// Why: putting a process to sleep and waking it costs two system calls and
// a context switch on each side (a futex ping-pong round trip is ~16-30 us on
// the reference machine), while a peer that is running on another core
// answers in well under a microsecond (spin ping-pong ~0.4 us). A short spin
// catches the second case; the bound keeps the first case cheap.
//
// Policy (per object, in shared memory, so every process adapts together):
//   limit   = min(max_ns, kSpinFloorNs + 2 * estimate_ns)
//   success = the condition became true after `t` ns of spinning:
//             estimate += (t - estimate) / 4; the failure streak ends
//   failure = the limit passed: estimate -= estimate / 4, the failure streak
//             grows, and the caller sleeps in the kernel
//   cold    = after kProbePeriod consecutive failures the object is "cold":
//             spinning evidently does not pay (the peer sleeps, or the CPUs
//             are oversubscribed and spinning only takes the CPU from the
//             process we wait for), so it does not spin at all ...
//   probe   = ... except for one full max_ns spin at the 16th, 32nd, 64th,
//             ... consecutive failure and then every 1024th, so a pair of
//             processes that fell into the sleeping regime (after a
//             preemption, say) finds its way back to the spinning one when
//             the peer is in fact active.
// Spin cost per blocking call: up to kSpinFloorNs + 2 * estimate while
// spinning pays; ~max_ns / 1024 (~20 ns) once it does not. In
// a ping-pong with an active peer the estimate follows the peer's reply time.
//
// Why these constants (measured on the 2-core reference VM, shared with
// other jobs; semaphore ping-pong round trips, raw spin ping-pong ~0.30 us,
// raw futex ping-pong ~33 us idle / ~2.1 us with the CPUs oversubscribed):
//   * max 10 us averaged 1.5 us (rare drops into the sleeping regime cost up
//     to milliseconds each); 20 us: 0.40-0.46 us; 30 us: 0.38-0.40 us.
//     20 us is about one futex sleep/wake on an idle machine, the classic
//     bound for a spin that should never cost more than blocking.
//   * without a cold state (a 2 us floor and a probe every 16 failures) the
//     ping-pong was 3.5x slower than a bare futex one with the CPUs
//     oversubscribed (two busy loops, or other jobs' compilers): spinning
//     takes the CPU from the very process it waits for. Cold and no spin:
//     ~1.0x (2.03 vs 2.12 us).
//   * with the cold state the floor decides how often an idle machine drops
//     out of the spinning regime: 2 us: 0.85 us average; 5 us: 0.45 us;
//     10 us: 0.38 us. 5 us keeps the spin short for mixed workloads.
//
// max_ns == 0 disables spinning for the object (the benchmarks use that to
// measure the pure sleeping path). The fields are updated with relaxed
// loads/stores from several processes at once; a lost update only makes the
// heuristic a little less precise, never incorrect.
//
// Time is read with clock_gettime(CLOCK_MONOTONIC) (vDSO, ~20 ns) every 8
// pause instructions, so the bound is in nanoseconds whatever the cost of a
// pause on this CPU (~10 ns on some cores, ~40 ns on Skylake-SP).
//
// Spin, then yield: past kYieldAfterNs, the waiter calls sched_yield() at
// each clock read (every 8 polls). With a CPU to itself it gets the CPU
// straight back (one cheap system call per 8 polls, the answer seen as
// soon as before); with more runnable processes than CPUs it hands its time
// slice to them, and the one it waits for is usually among them. Measured
// (shoot-out, 64 B queue items, 2 CPUs, producers x consumers): 1x4 2.1 ->
// 8.7 M items/s, 4x4 1.6 -> 8.3 M items/s, with round trips and 1x1
// streaming unchanged within the run-to-run noise; without it a spinning
// waiter that shares a CPU with the process it waits for burns its whole
// slice, which left the queues at 0.4-0.8x Boost's mutex-based
// message_queue there.
#ifndef SHOAL_BASE_INTERNAL_SPIN_H_
#define SHOAL_BASE_INTERNAL_SPIN_H_

#include <sched.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <type_traits>

#include "shoal/base/deadline.h"
#include "shoal/base/internal/clock.h"
#include "shoal/base/internal/futex.h"

namespace shoal::internal {

inline constexpr uint32_t kDefaultMaxSpinNs = 20'000;
inline constexpr uint32_t kSpinFloorNs = 5'000;
inline constexpr uint32_t kProbePeriod = 16;
// Past this much spinning, the waiter also yields the CPU every 8 polls.
inline constexpr int64_t kYieldAfterNs = 1'000;
inline constexpr uint32_t kMaxProbePeriod = 1024;
// The longest any one spin lasts, whatever the shared fields say: they live
// in shared memory, where a peer may have written anything (a 4.29 s spin
// would make a 50 ms timeout return after seconds). Spinning longer than a
// few futex round trips never pays anyway.
inline constexpr uint32_t kMaxSpinNs = 10'000'000;

// Standard-layout, lives inside each primitive's shared data.
struct SpinPolicy {
  std::atomic<uint32_t> max_ns;
  std::atomic<uint32_t> estimate_ns;
  std::atomic<uint32_t> failures;  // consecutive failed spins

  void Init(uint32_t max = kDefaultMaxSpinNs) {
    max_ns.store(max, std::memory_order_relaxed);
    estimate_ns.store(0, std::memory_order_relaxed);
    failures.store(0, std::memory_order_relaxed);
  }
};
static_assert(std::atomic<uint32_t>::is_always_lock_free);

// The public set_max_spin(): clamps to [0, kMaxSpinNs] (10 ms). (The public
// calls take a shoal::Timeout, so a user's hours::max() arrives here
// saturated, not wrapped.)
inline void SetMaxSpin(SpinPolicy& p, std::chrono::nanoseconds max) {
  const int64_t ns = std::clamp<int64_t>(max.count(), 0, kMaxSpinNs);
  p.max_ns.store(static_cast<uint32_t>(ns), std::memory_order_relaxed);
}

// What a spin condition reports (a condition may also return a plain bool:
// true == kReady, false == kContinue).
enum class SpinStep {
  kContinue,  // not yet; keep spinning
  kReady,     // done: SpinUntil returns true
  kGiveUp,    // spinning is pointless now (e.g. a lock keeps being taken by
              // someone else the moment it is freed): SpinUntil returns
              // false at once, without touching the estimate
};

// Spins until `ready()` reports kReady/true (returns true), kGiveUp (returns
// false), the adaptive limit or `deadline` passes (returns false). `ready` is
// called after each pause; it may have side effects (a trylock, a CAS):
// SpinUntil returns as soon as it succeeds. Never longer than kMaxSpinNs.
template <class Ready>
bool SpinUntil(SpinPolicy& p, Ready&& ready,
               const Deadline& deadline = Deadline::Infinite()) {
  const uint32_t max =
      std::min(p.max_ns.load(std::memory_order_relaxed), kMaxSpinNs);
  if (max == 0) return false;
  const uint32_t est =
      std::min(p.estimate_ns.load(std::memory_order_relaxed), max);
  const uint32_t fails = p.failures.load(std::memory_order_relaxed);
  uint64_t limit;
  if (fails < kProbePeriod) {
    limit = std::min<uint64_t>(max, kSpinFloorNs + 2 * uint64_t{est});
  } else if ((fails & (fails - 1)) == 0 || fails % kMaxProbePeriod == 0) {
    limit = max;  // probe: 16th, 32nd, 64th, ... failure, then every 1024th
  } else {
    // Cold: spinning keeps failing; do not spin until the next probe.
    p.failures.store(fails + 1, std::memory_order_relaxed);
    return false;
  }
  if (!deadline.infinite()) {
    const int64_t left = deadline.remaining().count();
    if (left <= 0) return false;
    limit = std::min<uint64_t>(limit, static_cast<uint64_t>(left));
  }
  // The clock is first read after 8 pauses: the common short spin (a lock
  // held for a few instructions) costs no clock read at all, and counts as
  // zero time for the estimate.
  int64_t start = 0;
  for (uint32_t i = 1;; ++i) {
    CpuRelax();
    SpinStep step;
    if constexpr (std::is_same_v<decltype(ready()), bool>) {
      step = ready() ? SpinStep::kReady : SpinStep::kContinue;
    } else {
      step = ready();
    }
    if (step == SpinStep::kGiveUp) return false;
    if (step == SpinStep::kReady) {
      const int64_t t = start == 0 ? 0 : MonotonicNanos() - start;
      const int64_t next = int64_t{est} + (t - int64_t{est}) / 4;
      const uint32_t clamped =
          static_cast<uint32_t>(std::clamp<int64_t>(next, 0, max));
      if (clamped != est) {
        p.estimate_ns.store(clamped, std::memory_order_relaxed);
      }
      if (fails != 0) p.failures.store(0, std::memory_order_relaxed);
      return true;
    }
    if ((i & 7) == 0) {
      const int64_t now = MonotonicNanos();
      if (start == 0) {
        start = now;
      } else if (static_cast<uint64_t>(now - start) >= limit) {
        break;
      } else if (now - start >= kYieldAfterNs) {
        sched_yield();
      }
    }
  }
  p.estimate_ns.store(est - est / 4, std::memory_order_relaxed);
  if (fails != UINT32_MAX) p.failures.store(fails + 1, std::memory_order_relaxed);
  return false;
}

}  // namespace shoal::internal

#endif  // SHOAL_BASE_INTERNAL_SPIN_H_
