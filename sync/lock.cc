#include "shoal/sync/lock.h"

#include <algorithm>
#include <cstdint>

namespace shoal {

void Lock::make_consistent() {
  if (!mu_.OwnedByCaller()) {
    throw ValueError("Lock::make_consistent: the caller does not hold the lock");
  }
  mu_.SetInconsistent(false);
}

void Lock::set_max_spin(std::chrono::nanoseconds max) {
  internal::SetMaxSpin(mu_.spin(), max);
}

void Lock::ThrowOwnerDied() {
  throw OwnerDied(
      "shoal::Lock: a previous holder died while holding the lock; the caller "
      "now holds it: repair the protected data, call make_consistent(), then "
      "release()");
}

void Lock::ThrowNotOwner() {
  throw ValueError("shoal::Lock::release: the calling thread does not hold the lock");
}

}  // namespace shoal
