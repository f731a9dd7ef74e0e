// Copyright 2026 The shoal Authors.
//
// rlock.h: shoal::RLock, a reentrant lock shared by processes, that survives
// the death of its holder.
//
// Contract
//   The analogue of Python's multiprocessing.RLock / threading.RLock: the
//   thread that holds it may acquire it again; it is released when release()
//   has been called as many times as acquire(). Placed directly in shared
//   memory and constructed there once, like shoal::Lock (see lock.h).
//
//   Names: acquire(), acquire(Deadline) -> bool, try_acquire(), release(),
//   plus std TimedLockable (lock/try_lock/unlock/try_lock_for/
//   try_lock_until) for std::lock_guard, std::unique_lock, std::scoped_lock.
//   is_owned() and recursion_count() are Python's _is_owned() and
//   _recursion_count().
//
//   release() by a thread that does not hold the lock (another thread, another
//   process, or nobody holds it) throws shoal::RuntimeError and changes
//   nothing, as Python's RLock ("cannot release un-acquired lock").
//
// When a holder dies
//   Exactly as shoal::Lock (read lock.h): a robust recursive pthread mutex;
//   the next acquirer gets the lock with OwnerDied (or
//   LockStatus::kOwnerDied from the non-throwing forms), at recursion depth 1
//   whatever depth the dead holder had reached. Repair, make_consistent(),
//   release(). Unrepaired, the next outermost acquisition reports OwnerDied
//   again. Nested acquisitions by the current holder never report it (the
//   holder already knows).
//
// Performance: as Lock, plus one relaxed counter update per call; the
// ownership test is one thread-local load and one load of the lock word.
//
// Layout: standard-layout, 64 bytes, 64-byte aligned, no pointers; not
// copyable or movable.
#ifndef SHOAL_SYNC_RLOCK_H_
#define SHOAL_SYNC_RLOCK_H_

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <type_traits>

#include "shoal/base/deadline.h"
#include "shoal/base/errors.h"
#include "shoal/base/internal/cache_line.h"
#include "shoal/sync/internal/robust_mutex.h"
#include "shoal/sync/lock_status.h"

namespace shoal {

class alignas(internal::kCacheLine) RLock {
 public:
  RLock() { mu_.Init(PTHREAD_MUTEX_RECURSIVE); }
  ~RLock() { mu_.Destroy(); }

  RLock(const RLock&) = delete;
  RLock& operator=(const RLock&) = delete;

  // As Lock (lock.h); a thread that already holds the lock gets it again at
  // once (recursion_count() + 1).
  void acquire() { Check(acquire_status(Deadline::Infinite())); }
  bool acquire(Deadline deadline) { return Check(acquire_status(deadline)); }
  bool try_acquire() { return Check(try_acquire_status()); }
  LockStatus acquire_status(Deadline deadline = Deadline::Infinite()) {
    return Done(mu_.Lock(deadline));
  }
  LockStatus try_acquire_status() { return Done(mu_.TryLock()); }

  // One level of release. Throws RuntimeError, changing nothing, if the
  // calling thread does not hold the lock.
  void release();

  // As Lock::make_consistent(): the caller must hold the lock (RuntimeError
  // otherwise).
  void make_consistent();
  bool inconsistent() const { return mu_.Inconsistent(); }

  // The calling thread holds the lock.
  bool is_owned() const { return mu_.OwnedByCaller(); }
  // How many times the calling thread holds it (0 if it does not).
  uint32_t recursion_count() const {
    return is_owned() ? mu_.depth().load(std::memory_order_relaxed) : 0;
  }
  // Some thread holds it (a snapshot).
  bool locked() const { return mu_.Locked(); }

  void set_max_spin(Timeout max);

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
  LockStatus Done(LockStatus s) {
    if (s == LockStatus::kTimedOut) return s;
    if (s == LockStatus::kOwnerDied) {
      // The dead holder's depth is meaningless now; glibc restarts its own
      // count at 1 as well.
      mu_.depth().store(1, std::memory_order_relaxed);
      return s;
    }
    const uint32_t depth = mu_.depth().load(std::memory_order_relaxed) + 1;
    mu_.depth().store(depth, std::memory_order_relaxed);
    return depth == 1 && mu_.Inconsistent() ? LockStatus::kOwnerDied : s;
  }
  static bool Check(LockStatus s) {
    if (s == LockStatus::kOwnerDied) ThrowOwnerDied();
    return s == LockStatus::kAcquired;
  }
  [[noreturn]] static void ThrowOwnerDied();

  // Includes the recursion depth (RobustMutex::depth()).
  internal::RobustMutex mu_;
};

static_assert(std::is_standard_layout_v<RLock>);
static_assert(sizeof(RLock) == internal::kCacheLine);
static_assert(std::atomic<uint32_t>::is_always_lock_free);

}  // namespace shoal

#endif  // SHOAL_SYNC_RLOCK_H_
