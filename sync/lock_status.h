// Copyright 2026 The shoal Authors.
//
// lock_status.h: shoal::LockStatus, the result of the non-throwing lock
// acquisitions (Lock::acquire_status, RLock::acquire_status and their try_
// forms). See sync/lock.h for what a caller must do on kOwnerDied.
#ifndef SHOAL_SYNC_LOCK_STATUS_H_
#define SHOAL_SYNC_LOCK_STATUS_H_

namespace shoal {

enum class LockStatus {
  kAcquired,   // the caller holds the lock; the protected data is consistent
  kOwnerDied,  // the caller holds the lock, but a previous holder died while
               // holding it (now or earlier, unrepaired): repair the data,
               // then make_consistent(), then release
  kTimedOut,   // not acquired: the deadline passed (try forms: it was busy)
};

}  // namespace shoal

#endif  // SHOAL_SYNC_LOCK_STATUS_H_
