#include "shoal/sync/lock.h"

#include <algorithm>
#include <cstdint>

namespace shoal {

void Lock::make_consistent() {
  if (!mu_.OwnedByCaller()) {
    throw RuntimeError(
        "Lock::make_consistent: the caller does not hold the lock");
  }
  mu_.SetInconsistent(false);
}

void Lock::set_max_spin(Timeout max) {
  internal::SetMaxSpin(mu_.spin(), max);
}

void Lock::ThrowOwnerDied() {
  throw OwnerDied(
      "shoal::Lock: a previous holder died while holding the lock; the caller "
      "now holds it: repair the protected data, call make_consistent(), then "
      "release()");
}

void Lock::ThrowNotOwner() const {
  // As Python's multiprocessing.Lock: releasing an unlocked lock is a
  // ValueError. Releasing one somebody else holds (Python allows it; the
  // robust mutex cannot) is the RLock's RuntimeError.
  if (!mu_.Locked()) {
    throw ValueError(
        "shoal::Lock::release: the lock is not held (released too many "
        "times)");
  }
  throw RuntimeError(
      "shoal::Lock::release: cannot release a lock another thread or process "
      "holds");
}

}  // namespace shoal
