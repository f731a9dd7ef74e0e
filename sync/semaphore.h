// Copyright 2026 The shoal Authors.
//
// semaphore.h: shoal::Semaphore and shoal::BoundedSemaphore, counting
// semaphores shared by processes.
//
// Contract
//   The analogues of Python's multiprocessing.Semaphore / BoundedSemaphore.
//   A semaphore holds a count: acquire() waits until it is positive and
//   decrements it; release(n) adds n and wakes up to n waiters.
//   BoundedSemaphore::release() refuses (ValueError, count unchanged) to raise
//   the count above its initial value, which catches "released more often
//   than acquired" bugs. Placed directly in shared memory and constructed
//   there once (see lock.h); any thread of any process that maps it may use
//   it. Unlike a lock, a semaphore has no owner: any process may release.
//
//   Names: acquire(), acquire(Deadline) -> bool, try_acquire(), release(n=1),
//   get_value(), plus std Lockable/TimedLockable (lock = acquire, unlock =
//   release, try_lock, try_lock_for, try_lock_until) so a semaphore used as a
//   lock works with std::lock_guard / std::unique_lock.
//
// Algorithm
//   One 32-bit count (the futex word) and a separate sleeper count, on one
//   cache line. acquire: CAS the count down in user space; if it is zero,
//   spin briefly (sync/internal/spin.h), then register as a sleeper and
//   FUTEX_WAIT on the count while it is zero. release(n): CAS the count up,
//   then FUTEX_WAKE(n) only if the sleeper count is non-zero, so an
//   uncontended acquire/release pair makes no system call. A woken waiter
//   re-checks the count (another process may have taken the permit first:
//   not FIFO, no fairness guarantee, as in Python).
//
// Memory ordering: release() happens-before the acquire() that takes its
//   permit (seq_cst CAS on the count). The sleeper count and the count are
//   both seq_cst (a Dekker pair) so a sleeper is never missed.
//
// When a process dies
//   A semaphore has no owner, so permits a dead process acquired are not
//   returned (same as Python); pair it with a robust Lock if that matters. A
//   process that dies while sleeping in acquire() leaves its sleeper
//   registration behind: later releases then always make the FUTEX_WAKE
//   system call (~1 us) but stay correct.
//
// Performance (bench/sync_bench.cc, numbers in bench/RESULTS.md "## sync"):
//   uncontended acquire+release is two CAS and no system call (~18 ns).
//   Cross-process ping-pong round trip through two semaphores:
//     * peer sleeping (spinning off): the same two futex calls per leg as a
//       bare futex ping-pong; measured 0.9-1.1x of it, paired in one run;
//     * peer active (default adaptive spin): ~0.45 us on an idle 2-core VM,
//       next to 0.30 us for a bare spin ping-pong and ~30 us for a futex one
//       whose vCPUs go idle between legs;
//     * CPUs oversubscribed by other processes: the spin policy goes cold
//       (sync/internal/spin.h) and the round trip stays within ~1.0-1.5x of
//       the bare futex one; set_max_spin(0) makes it exactly the sleeping
//       path.
//
// Layout: standard-layout, one 64-byte cache line, no pointers; not copyable
// or movable.
#ifndef SHOAL_SYNC_SEMAPHORE_H_
#define SHOAL_SYNC_SEMAPHORE_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <type_traits>

#include "shoal/base/deadline.h"
#include "shoal/base/errors.h"
#include "shoal/base/internal/cache_line.h"
#include "shoal/sync/internal/semaphore_core.h"

namespace shoal {

class alignas(internal::kCacheLine) Semaphore {
 public:
  // The largest count a semaphore can hold (SEM_VALUE_MAX on Linux).
  static constexpr uint32_t kMaxValue = internal::SemaphoreCore::kMaxValue;

  // Throws ValueError if value > kMaxValue.
  explicit Semaphore(uint32_t value = 1) { core_.Init(value, kMaxValue, false); }

  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;

  // Waits until the count is positive, then decrements it.
  void acquire() { core_.Acquire(Deadline::Infinite()); }
  // As acquire(), or false once `deadline` passes (a zero or negative
  // timeout: never blocks).
  bool acquire(Deadline deadline) { return core_.Acquire(deadline); }
  // Decrements the count if it is positive; never blocks.
  bool try_acquire() { return core_.TryAcquire(); }
  // Adds n (n >= 1) and wakes up to n waiters. Throws ValueError (nothing
  // changed) if n == 0 or the count would exceed kMaxValue.
  void release(uint32_t n = 1) { core_.Release(n); }
  // The count now (a snapshot; Python's get_value()).
  uint32_t get_value() const { return core_.Value(); }

  // Spinning before sleeping in acquire(): at most `max` (0: never spin).
  void set_max_spin(Timeout max) { core_.SetMaxSpin(max); }

  // std::Lockable / TimedLockable.
  void lock() { acquire(); }
  bool try_lock() { return try_acquire(); }
  void unlock() { release(); }
  template <class Rep, class Period>
  bool try_lock_for(const std::chrono::duration<Rep, Period>& timeout) {
    return acquire(Deadline(timeout));
  }
  template <class Clock, class Duration>
  bool try_lock_until(const std::chrono::time_point<Clock, Duration>& when) {
    return acquire(Deadline::Until(when));
  }

 private:
  internal::SemaphoreCore core_;
};

// A Semaphore whose count may never exceed its initial value.
class alignas(internal::kCacheLine) BoundedSemaphore {
 public:
  // Throws ValueError if value > Semaphore::kMaxValue.
  explicit BoundedSemaphore(uint32_t value = 1) { core_.Init(value, value, true); }

  BoundedSemaphore(const BoundedSemaphore&) = delete;
  BoundedSemaphore& operator=(const BoundedSemaphore&) = delete;

  void acquire() { core_.Acquire(Deadline::Infinite()); }
  bool acquire(Deadline deadline) { return core_.Acquire(deadline); }
  bool try_acquire() { return core_.TryAcquire(); }
  // Adds n (n >= 1) and wakes up to n waiters. Throws ValueError and changes
  // nothing if n == 0 or the count would exceed the initial value.
  void release(uint32_t n = 1) { core_.Release(n); }
  uint32_t get_value() const { return core_.Value(); }
  // The initial value, which is also the bound.
  uint32_t bound() const { return core_.Bound(); }

  void set_max_spin(Timeout max) { core_.SetMaxSpin(max); }

  void lock() { acquire(); }
  bool try_lock() { return try_acquire(); }
  void unlock() { release(); }
  template <class Rep, class Period>
  bool try_lock_for(const std::chrono::duration<Rep, Period>& timeout) {
    return acquire(Deadline(timeout));
  }
  template <class Clock, class Duration>
  bool try_lock_until(const std::chrono::time_point<Clock, Duration>& when) {
    return acquire(Deadline::Until(when));
  }

 private:
  internal::SemaphoreCore core_;
};

static_assert(std::is_standard_layout_v<Semaphore>);
static_assert(std::is_standard_layout_v<BoundedSemaphore>);
static_assert(sizeof(Semaphore) == internal::kCacheLine);
static_assert(sizeof(BoundedSemaphore) == internal::kCacheLine);

}  // namespace shoal

#endif  // SHOAL_SYNC_SEMAPHORE_H_
