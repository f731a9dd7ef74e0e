#include "shoal/sync/rlock.h"

#include <algorithm>

namespace shoal {

void RLock::release() {
  if (!mu_.OwnedByCaller()) {
    throw RuntimeError(
        "shoal::RLock::release: cannot release un-acquired lock (the calling "
        "thread does not hold it)");
  }
  mu_.depth().store(mu_.depth().load(std::memory_order_relaxed) - 1,
                    std::memory_order_relaxed);
  const int rc = mu_.Unlock();
  if (rc != 0) ThrowSystemError("pthread_mutex_unlock(RLock)", rc);
}

void RLock::make_consistent() {
  if (!mu_.OwnedByCaller()) {
    throw RuntimeError(
        "RLock::make_consistent: the caller does not hold the lock");
  }
  mu_.SetInconsistent(false);
}

void RLock::set_max_spin(Timeout max) {
  internal::SetMaxSpin(mu_.spin(), max);
}

void RLock::ThrowOwnerDied() {
  throw OwnerDied(
      "shoal::RLock: a previous holder died while holding the lock; the caller "
      "now holds it (depth 1): repair the protected data, call "
      "make_consistent(), then release()");
}

}  // namespace shoal
