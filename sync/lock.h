// Copyright 2026 The shoal Authors.
//
// lock.h: shoal::Lock, a mutual-exclusion lock shared by processes, that
// survives the death of its holder.
//
// Contract
//   The analogue of Python's multiprocessing.Lock / threading.Lock. A Lock is
//   placed directly in shared memory (a MAP_SHARED mapping that every process
//   using it maps; ipc/ wraps that for you) and constructed there exactly
//   once, before any other process uses it. Any thread of any process that
//   maps it may then acquire and release it.
//
//     shoal::Lock* lock = new (shared_memory) shoal::Lock;   // once
//     ...
//     {
//       std::lock_guard<shoal::Lock> guard(*lock);           // any process
//       ...
//     }
//
//   Names: Python's `acquire()`, `acquire(timeout)`, `release()`, `locked()`
//   and the standard TimedLockable interface (`lock`, `try_lock`, `unlock`,
//   `try_lock_for`, `try_lock_until`), so std::lock_guard, std::unique_lock
//   and std::scoped_lock work. A Lock is not recursive: a thread that
//   acquires a Lock it already holds waits for itself (forever, or until its
//   deadline), as in Python.
//
//   release() of an unlocked Lock throws shoal::ValueError, as Python's
//   multiprocessing.Lock ("semaphore or lock released too many times").
//
//   Differences from Python: only the holding thread may release a Lock;
//   Python lets any thread release a Lock. Releasing a Lock another thread or
//   process holds throws shoal::RuntimeError (what Python's RLock raises for
//   the same call). This is what lets the kernel tell the next acquirer that
//   the holder died.
//
// When a holder dies (the reason this type exists)
//   Built on a robust, process-shared pthread mutex. When a process dies
//   while holding the Lock (crash, SIGKILL, OOM kill), the kernel marks the
//   lock word at once, and the next acquirer (one already blocked, or the
//   next to come) gets the lock together with the news:
//
//     * acquire(), acquire(deadline), try_acquire() and the std names throw
//       shoal::OwnerDied. THE CALLER THEN HOLDS THE LOCK. The data the lock
//       protects may be half-updated.
//     * acquire_status()/try_acquire_status() return LockStatus::kOwnerDied
//       (sync/lock_status.h) instead of throwing, for code that repairs
//       without exceptions.
//
//   What the caller must do: repair (or discard) the protected data, call
//   make_consistent(), then release(). If it releases without calling
//   make_consistent(), the lock stays marked and the next acquirer gets
//   OwnerDied as well (and so on, until someone repairs). If the repairing
//   process itself dies, the next acquirer gets OwnerDied again. The lock
//   itself never becomes unusable (the pthread mutex is made consistent
//   immediately; only shoal's own flag carries the "unrepaired" state).
//
//   Because acquisition through std::lock_guard / std::unique_lock /
//   std::scoped_lock reports owner death by throwing from lock(), the guard
//   is never constructed: catch OwnerDied, repair, make_consistent() and
//   release() yourself (for std::scoped_lock, std::lock has already released
//   the other locks; the one that threw is still held).
//
//   States (S: shoal's `inconsistent` flag, in the Lock):
//
//     state                    event               next state / reported
//     free, S=0                acquire             held, S=0 / kAcquired
//     held                     holder dies         OWNER_DIED (kernel)
//     OWNER_DIED               acquire             held, S=1 / kOwnerDied
//     held, S=1                make_consistent()   held, S=0
//     held, S=1                release()           free, S=1
//     free, S=1                acquire             held, S=1 / kOwnerDied
//
//   Detection needs no polling and no timeouts and is immune to pid reuse
//   (the kernel walks the dead thread's robust list on exit).
//
// Timeouts
//   acquire(Deadline) returns false once the deadline passes, a zero or
//   negative timeout makes it non-blocking. Deadlines are absolute
//   CLOCK_MONOTONIC points (pthread_mutex_clocklock), so wall-clock jumps do
//   not matter.
//
// Performance
//   Uncontended acquire + release is one pthread trylock and one unlock plus
//   one flag load: ~20 ns on the reference machine (see bench/sync_bench.cc,
//   bench/RESULTS.md "## sync"), the same as a bare robust pthread mutex.
//   Under contention a waiter first spins on the lock word (bounded and
//   adaptive, sync/internal/spin.h; set_max_spin(0) turns it off), taking
//   the lock the moment it is freed, and then sleeps in the kernel. Spinning
//   is skipped when it would only turn a hammered lock into a cache-line
//   ping-pong: when the caller released the lock itself and the current
//   holder is the only acquisition since (two processes taking turns as fast
//   as they can), or when the lock changes hands twice without the spinner.
//   Measured (bench/RESULTS.md "## sync"): two processes doing nothing but
//   lock/unlock (the worst case for any spinning) get ~1.3x the time per
//   acquisition of a bare robust pthread mutex, which never spins; a waiter
//   whose holder releases soon gets the lock without a futex sleep/wake
//   (~2-50 us on the reference VM).
//
//   fork(): a child does not inherit ownership. Forking while holding the
//   lock leaves it held by the parent's thread; the child must not release
//   it (RuntimeError).
//
// Layout: standard-layout, 64 bytes, 64-byte aligned (one cache line), no
// pointers; not copyable or movable (its address is its identity).
#ifndef SHOAL_SYNC_LOCK_H_
#define SHOAL_SYNC_LOCK_H_

#include <pthread.h>

#include <chrono>
#include <type_traits>

#include "shoal/base/deadline.h"
#include "shoal/base/errors.h"
#include "shoal/base/internal/cache_line.h"
#include "shoal/sync/internal/robust_mutex.h"
#include "shoal/sync/lock_status.h"

namespace shoal {

class alignas(internal::kCacheLine) Lock {
 public:
  // Initializes the lock (unlocked, consistent) in place. Throws SystemError
  // if pthread refuses the attributes (never on Linux/glibc).
  Lock() { mu_.Init(PTHREAD_MUTEX_NORMAL); }
  // Call only once nobody (in any process) holds or waits for the lock.
  ~Lock() { mu_.Destroy(); }

  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

  // Blocks until the caller holds the lock. Throws OwnerDied (lock held) if
  // a previous holder died without the data being repaired.
  void acquire() { Check(acquire_status(Deadline::Infinite())); }
  // Blocks until the caller holds the lock (true) or `deadline` passes
  // (false). Throws OwnerDied (lock held) as acquire().
  bool acquire(Deadline deadline) { return Check(acquire_status(deadline)); }
  // Never blocks. true: the caller now holds the lock. Throws OwnerDied.
  bool try_acquire() { return Check(try_acquire_status()); }

  // The non-throwing forms: kAcquired or kOwnerDied (the caller holds the
  // lock in both cases) or kTimedOut (it does not).
  LockStatus acquire_status(Deadline deadline = Deadline::Infinite()) {
    return Done(mu_.Lock(deadline));
  }
  LockStatus try_acquire_status() { return Done(mu_.TryLock()); }

  // Releases the lock. Throws ValueError if nobody holds it, RuntimeError if
  // another thread or process does (the lock is left untouched).
  void release() {
#if defined(__SANITIZE_THREAD__)
    // TSan records an unlock before glibc can refuse it (EPERM), and would
    // report a non-owner's release as a bug; keep it away from pthread.
    if (!mu_.OwnedByCaller()) ThrowNotOwner();
#endif
    // glibc checks the owner of a robust mutex itself (EPERM).
    if (mu_.Unlock() != 0) ThrowNotOwner();
  }

  // Marks the protected data as repaired after OwnerDied. The caller must
  // hold the lock (RuntimeError otherwise). A no-op if nothing died.
  void make_consistent();
  // True while a holder's death is unrepaired (make_consistent() not yet
  // called). Meaningful to the holder; a hint to anyone else.
  bool inconsistent() const { return mu_.Inconsistent(); }

  // Python's Lock.locked(): some thread holds it right now (a snapshot).
  bool locked() const { return mu_.Locked(); }
  // The calling thread holds it (exact for the caller; one load).
  bool is_owned() const { return mu_.OwnedByCaller(); }

  // Spinning before sleeping: at most `max` per acquisition (0 or negative:
  // never spin; clamped to 10 ms). Shared by every process using the lock.
  // Default 20 us (the adaptive policy of base/internal/spin.h usually spins
  // far less).
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
  LockStatus Done(LockStatus s) const {
    // An earlier holder died and nobody repaired since: report it again.
    if (s == LockStatus::kAcquired && mu_.Inconsistent()) {
      return LockStatus::kOwnerDied;
    }
    return s;
  }
  // kAcquired -> true, kTimedOut -> false, kOwnerDied -> throw.
  static bool Check(LockStatus s) {
    if (s == LockStatus::kOwnerDied) ThrowOwnerDied();
    return s == LockStatus::kAcquired;
  }
  [[noreturn]] static void ThrowOwnerDied();
  [[noreturn]] void ThrowNotOwner() const;

  internal::RobustMutex mu_;
};

static_assert(std::is_standard_layout_v<Lock>);
static_assert(sizeof(Lock) == internal::kCacheLine);
static_assert(!std::is_copy_constructible_v<Lock> &&
              !std::is_move_constructible_v<Lock>);

}  // namespace shoal

#endif  // SHOAL_SYNC_LOCK_H_
