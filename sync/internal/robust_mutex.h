// Copyright 2026 The shoal Authors.
//
// robust_mutex.h: the robust, process-shared pthread mutex under shoal::Lock
// and shoal::RLock. Not for direct use: include sync/lock.h or sync/rlock.h.
//
// What it adds to pthread_mutex_t
//   * adaptive spinning (sync/internal/spin.h) before blocking in the
//     kernel, skipped when the lock is hammered (see Lock() in the .cc);
//   * absolute CLOCK_MONOTONIC deadlines (pthread_mutex_clocklock);
//   * owner-death bookkeeping: on EOWNERDEAD it calls
//     pthread_mutex_consistent() at once, so the pthread mutex can never
//     become ENOTRECOVERABLE, and records the death in `inconsistent`, a flag
//     of its own that stays set until the user calls MakeConsistent(). Every
//     acquisition that finds the flag set reports kOwnerDied, so a holder that
//     releases without repairing passes the news on to the next acquirer.
//   * a cheap "owned by the calling thread" test: the robust lock word holds
//     the owner's kernel tid (FUTEX_TID_MASK bits), which the kernel clears
//     (setting FUTEX_OWNER_DIED) when the owner dies, so the test cannot be
//     fooled by a dead owner's recycled tid. This reads glibc's lock word
//     (`__data.__lock`), a Linux/glibc-specific detail; static_asserts below
//     pin the layout it relies on.
//
// Standard-layout, no pointers: it lives in MAP_SHARED memory and every
// process that maps it may use it at the same time.
#ifndef SHOAL_SYNC_INTERNAL_ROBUST_MUTEX_H_
#define SHOAL_SYNC_INTERNAL_ROBUST_MUTEX_H_

#include <linux/futex.h>
#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <type_traits>

#include "shoal/base/deadline.h"
#include "shoal/base/internal/spin.h"
#include "shoal/base/internal/tid.h"
#include "shoal/sync/lock_status.h"

namespace shoal {
namespace internal {

class RobustMutex;

// The lock this thread released last and its acquisition count then. A
// heuristic only (a stale or copied value after fork() merely changes one
// spin decision).
inline thread_local const RobustMutex* tls_last_released = nullptr;
inline thread_local uint32_t tls_last_released_at = 0;

class RobustMutex {
 public:
  // kind: PTHREAD_MUTEX_NORMAL or PTHREAD_MUTEX_RECURSIVE.
  void Init(int kind);
  void Destroy();

  // Blocks until acquired or `deadline`. On kOwnerDied the caller holds the
  // mutex. Throws InvalidRegion when the mutex's kind word is not what Init
  // wrote (a peer overwrote it), SystemError for other states that cannot
  // happen unless the memory was corrupted (EINVAL, ENOTRECOVERABLE).
  LockStatus Lock(const Deadline& deadline);
  LockStatus TryLock();
  // Returns pthread_mutex_unlock's result (0 or EPERM).
  int Unlock() {
    // Remember which acquisition we were (see Lock(): no spinning when the
    // only acquisition since ours is the current holder's).
    tls_last_released = this;
    tls_last_released_at = acquisitions_.load(std::memory_order_relaxed);
    return pthread_mutex_unlock(&mu_);
  }

  // The tid bits of the robust lock word: the owner's kernel tid, or 0.
  pid_t OwnerTid() const {
    return static_cast<pid_t>(
        __atomic_load_n(&mu_.__data.__lock, __ATOMIC_RELAXED) &
        FUTEX_TID_MASK);
  }
  bool OwnedByCaller() const { return OwnerTid() == CurrentTid(); }
  bool Locked() const { return OwnerTid() != 0; }

  bool Inconsistent() const {
    return inconsistent_.load(std::memory_order_relaxed) != 0;
  }
  // Caller holds the mutex.
  void SetInconsistent(bool v) {
    inconsistent_.store(v ? 1 : 0, std::memory_order_relaxed);
  }

  SpinPolicy& spin() { return spin_; }
  std::atomic<uint32_t>& depth() { return depth_; }
  const std::atomic<uint32_t>& depth() const { return depth_; }

 private:
  // Throws InvalidRegion unless the kind word is a robust, process-shared
  // NORMAL or RECURSIVE mutex's.
  void CheckKind() const;
  // Maps a pthread result (0, EOWNERDEAD, EBUSY/ETIMEDOUT) to a status.
  LockStatus Finish(int rc, const char* what);
  int BlockingLock(const Deadline& deadline);

  pthread_mutex_t mu_;
  // 1 while the data is unrepaired after an owner died. Read and written only
  // by the holder (relaxed is enough: the mutex orders it).
  std::atomic<uint32_t> inconsistent_;
  // Bumped by every contended acquisition (by the new holder, on a line it
  // already owns). A spinner that sees it move twice knows the lock is
  // changing hands without it (a hammered lock) and goes to sleep.
  std::atomic<uint32_t> acquisitions_;
  SpinPolicy spin_;
  // RLock's recursion depth (unused by Lock); written only by the holder.
  // Atomic so that a non-holder's read is defined.
  std::atomic<uint32_t> depth_;
};

static_assert(std::is_standard_layout_v<RobustMutex>);
static_assert(std::atomic<uint32_t>::is_always_lock_free);
static_assert(sizeof(pthread_mutex_t) == 40, "glibc x86-64/aarch64 layout");
static_assert(sizeof(RobustMutex) == 64);

}  // namespace internal
}  // namespace shoal

#endif  // SHOAL_SYNC_INTERNAL_ROBUST_MUTEX_H_
