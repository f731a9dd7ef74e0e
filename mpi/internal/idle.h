// Copyright 2026 The shoal Authors.
//
// idle.h: how shoal::mpi's threads wait without burning a core.
//
// Why by hand: MPI has no way to sleep until a message arrives. Open MPI's
// blocking calls (MPI_Probe, MPI_Recv, MPI_Wait) spin in its progress loop,
// so a rank waiting for work in MPI_Probe keeps a core at 100% for as long
// as it is idle. shoal's MPI threads poll with MPI_Improbe instead, and
// between polls follow IdlePolicy:
//
//   busy   less than `spin` after the last event: yield the CPU, then poll
//          again (a reply is usually microseconds away while work flows);
//          on quiet CPUs, with no other thread of the rank at work, poll
//          with no system call and yield only once every kPollNs;
//   idle   after that, sleep on a Doorbell between polls: 10 us, doubling up
//          to `max_sleep` (1 ms by default). A local event (a task submitted
//          on rank 0, a result finished on a worker) rings the doorbell and
//          ends the sleep at once; a message from another rank is seen at
//          the next poll, so the first message after an idle spell waits at
//          most `max_sleep`.
//
// Why yield rather than spin on pause instructions, and why not sleep at
// once: measured on the 2-core reference machine with ~20 runnable threads
// of other jobs (round trips of submit().result(), np = 2): pure spinning
// starved the very threads it waited for (3-6 ms per round trip), and a
// poller that slept 10 us between polls waited a whole time slice to run
// again (~4 ms: a thread woken by its own timer does not preempt the
// running one), while yielding between polls gave 18 us (median). Threads
// with nothing to poll (a rank's task thread, rank 0's callers) instead
// sleep on a futex and are woken by whoever has work for them, which the
// scheduler honours at once. Short sleeps set the thread's timer slack to
// 1 us (TightTimers), or Linux rounds each up by 50 us.
//
// But yielding only works while the CPUs are not crowded: when other
// processes keep both CPUs busy (a build next door; on 2 cores, two ranks
// running CPU-bound tasks), sched_yield() hands the CPU to a CPU-bound
// thread for its whole time slice, and every hand-off in a round trip
// costs milliseconds (measured: 24-40 ms per submit().result() at load
// ~12, and rank 0 burning 68 ms of CPU per 80 ms of tasks). A thread
// woken from a timed sleep instead preempts such a thread (it has slept,
// so it is owed the CPU): 0.3 ms per round trip in the same conditions.
// So the policy watches its own yields: one that kept the thread off the
// CPU for more than kSlowYieldNs means the CPUs are crowded, and for the
// next kCrowdedNs the busy phase sleeps on the Doorbell in short steps
// (10 us doubling up to kCrowdedSleepNs) instead of yielding; then it
// tries yielding again. On a quiet machine a yield returns in a few
// microseconds and nothing changes.
//
// Why poll kPollNs between yields rather than yield at every poll: on the
// reference machine a sched_yield() is a system call of ~1 us even when
// nothing else wants the CPU, so a thread that yields at every poll sees a
// message ~1-2 us late (bench/RESULTS.md "## mpi", the cost split of a
// round trip: each MPI hop took 1.6-4.9 us against a 0.33 us MPI ping-pong
// round trip). The catch: Open MPI binds each rank to one core, so a
// rank's MPI thread shares it with the thread it hands work to (a rank's
// task thread, rank 0's caller waiting for a result); a poller that does
// not yield keeps that thread waiting. So after a pass that handed work to
// such a thread (a task to a task thread, an outcome to a waiting caller)
// the MPI thread yields at once (HandedOff), and it polls without yielding
// only while no other thread of its rank has work (`alone`). Both only
// while the CPUs are quiet (no slow yield for kQuietNs): with CPU-bound
// processes next door they turned 0.1-0.3 ms round trips into 0.5-1.7 ms
// (measured under `stress-ng --cpu 2`).
//
// An idle rank thus costs ~1,000 short polls per second (~2% of a core on
// the reference machine: bench/RESULTS.md "## mpi" measures it).
//
// Doorbell: a 32-bit sequence number and a sleeping flag. Ring() bumps the
// number and makes a futex call only when the waiter really sleeps.
//
// Thread safety: Ring() from any thread; Snapshot()/Wait() and IdlePolicy
// from the one thread that owns them.
#ifndef SHOAL_MPI_INTERNAL_IDLE_H_
#define SHOAL_MPI_INTERNAL_IDLE_H_

#include <sched.h>
#include <sys/prctl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>

#include "shoal/base/deadline.h"
#include "shoal/base/internal/clock.h"
#include "shoal/base/internal/futex.h"

namespace shoal::mpi::internal {

// Short timed sleeps of the calling thread end on time (1 us slack).
inline void TightTimers() { prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0); }

class Doorbell {
 public:
  uint32_t Snapshot() const { return seq_.load(std::memory_order_seq_cst); }
  void Ring() {
    seq_.fetch_add(1, std::memory_order_seq_cst);
    if (sleeping_.load(std::memory_order_seq_cst)) {
      shoal::internal::FutexWake(&seq_, 1);
    }
  }
  // Sleeps until a Ring() after the Snapshot() that returned `seen`, or
  // until `deadline`.
  void Wait(uint32_t seen, const Deadline& deadline) {
    sleeping_.store(true, std::memory_order_seq_cst);
    if (seq_.load(std::memory_order_seq_cst) == seen) {
      shoal::internal::FutexWait(&seq_, seen, deadline);
    }
    sleeping_.store(false, std::memory_order_relaxed);
  }

 private:
  std::atomic<uint32_t> seq_{0};
  std::atomic<bool> sleeping_{false};
};

class IdlePolicy {
 public:
  static constexpr int64_t kFirstSleepNs = 10'000;
  // A yield that took longer than this: other threads hold the CPUs.
  static constexpr int64_t kSlowYieldNs = 500'000;
  // How long the busy phase then sleeps instead of yielding ...
  static constexpr int64_t kCrowdedNs = 100'000'000;
  // ... in steps of at most this long.
  static constexpr int64_t kCrowdedSleepNs = 50'000;
  // While busy, how long a thread polls without a system call before it
  // yields the CPU once (see the top of this file).
  static constexpr int64_t kPollNs = 5'000;
  // ... and only after this long without a slow yield (Quiet()).
  static constexpr int64_t kQuietNs = 250'000'000;

  IdlePolicy(int64_t spin_ns, int64_t busy_ns, int64_t max_sleep_ns)
      : spin_ns_(spin_ns),
        busy_ns_(std::max(spin_ns, busy_ns)),
        max_sleep_ns_(std::max<int64_t>(max_sleep_ns, kFirstSleepNs)),
        last_ns_(shoal::internal::MonotonicNanos()) {}

  // Something happened: stay busy.
  void Progress() {
    last_ns_ = shoal::internal::MonotonicNanos();
    sleep_ns_ = kFirstSleepNs;
  }

  // A pass found nothing: yield while recently busy, else sleep on `bell`
  // (rung after the Snapshot() that returned `seen`) for the current
  // backoff, at most until `wake_by_ns` (a timer of the caller; 0: none).
  // `expecting`: work is out and its answer is due (tasks in flight): stay
  // busy for the longer window.
  // `alone`: no other thread of this process is known to have work (a
  // task running, a caller submitting), so polling without yielding takes
  // the CPU from nobody of ours; otherwise yield at every poll.
  void Idle(Doorbell& bell, uint32_t seen, int64_t wake_by_ns = 0,
            bool expecting = false, bool alone = false) {
    const int64_t now = shoal::internal::MonotonicNanos();
    int64_t step = sleep_ns_;
    if (now - last_ns_ < (expecting ? busy_ns_ : spin_ns_)) {
      if (!Crowded(now)) {
        if (alone && Quiet(now) && now - last_yield_ns_ < kPollNs) {
          shoal::internal::CpuRelax();
          return;
        }
        Yield(now);
        return;
      }
      step = std::min(step, kCrowdedSleepNs);
    }
    int64_t until = now + step;
    if (wake_by_ns != 0) until = std::min(until, std::max(wake_by_ns, now));
    bell.Wait(seen, Deadline(Deadline::Clock::time_point(
                        std::chrono::nanoseconds(until))));
    sleep_ns_ = std::min(sleep_ns_ * 2, max_sleep_ns_);
  }

  // This pass handed work to a thread that may share the CPU with this one
  // (a task thread, a caller waiting for its result): let it run now. Only
  // while Quiet() (on crowded CPUs a yield may cost a whole time slice).
  void HandedOff() {
    const int64_t now = shoal::internal::MonotonicNanos();
    if (Quiet(now)) Yield(now);
  }

  // A sched_yield() that started at `before_ns` and returned at `after_ns`.
  void NoteYield(int64_t before_ns, int64_t after_ns) {
    if (after_ns - before_ns > kSlowYieldNs) {
      crowded_until_ns_ = after_ns + kCrowdedNs;
    }
  }
  // Whether the busy phase sleeps instead of yielding at `now_ns`.
  bool Crowded(int64_t now_ns) const { return now_ns < crowded_until_ns_; }
  // Whether polling without yielding and HandedOff()'s yields are on: no
  // slow yield for kQuietNs (on a crowded machine both cost milliseconds
  // per round trip: a poller that keeps the CPU, or a yield that hands it
  // to a CPU-bound thread, delays the very thread it waits for).
  bool Quiet(int64_t now_ns) const {
    return crowded_until_ns_ == 0 ||
           now_ns >= crowded_until_ns_ - kCrowdedNs + kQuietNs;
  }

 private:
  void Yield(int64_t now) {
    sched_yield();
    last_yield_ns_ = shoal::internal::MonotonicNanos();
    NoteYield(now, last_yield_ns_);
  }

  int64_t spin_ns_;
  int64_t busy_ns_;
  int64_t max_sleep_ns_;
  int64_t last_ns_;
  int64_t sleep_ns_ = kFirstSleepNs;
  int64_t crowded_until_ns_ = 0;
  int64_t last_yield_ns_ = 0;
};

}  // namespace shoal::mpi::internal

#endif  // SHOAL_MPI_INTERNAL_IDLE_H_
