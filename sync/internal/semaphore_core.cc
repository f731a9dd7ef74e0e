#include "shoal/sync/internal/semaphore_core.h"

#include <algorithm>
#include <string>

#include "shoal/base/errors.h"
#include "shoal/base/internal/futex.h"

namespace shoal::internal {

void SemaphoreCore::Init(uint32_t value, uint32_t bound, bool bounded) {
  if (value > kMaxValue) {
    throw ValueError("shoal::Semaphore: initial value " +
                     std::to_string(value) + " exceeds " +
                     std::to_string(kMaxValue));
  }
  value_.store(value, std::memory_order_relaxed);
  sleepers_.store(0, std::memory_order_relaxed);
  bound_ = bound;
  bounded_ = bounded ? 1 : 0;
  spin_.Init();
}

bool SemaphoreCore::AcquireSlow(const Deadline& deadline) {
  if (deadline.expired()) return TryAcquire();
  if (SpinUntil(spin_, [this] {
        return value_.load(std::memory_order_relaxed) != 0 && TryAcquire();
      })) {
    return true;
  }
  sleepers_.fetch_add(1, std::memory_order_seq_cst);
  bool acquired;
  for (;;) {
    if (TryAcquire()) {
      acquired = true;
      break;
    }
    // Sleeps only while the count is still 0: a release between the check
    // above and the kernel's check makes FUTEX_WAIT return at once.
    if (FutexWait(&value_, 0, deadline) == WaitResult::kTimedOut) {
      // A release may have come with the timeout: take it rather than leave
      // a permit behind with nobody awake to take it.
      acquired = TryAcquire();
      break;
    }
  }
  sleepers_.fetch_sub(1, std::memory_order_seq_cst);
  return acquired;
}

void SemaphoreCore::Wake(uint32_t n) {
  FutexWake(&value_, static_cast<int>(std::min<uint32_t>(n, kMaxValue)));
}

void SemaphoreCore::ThrowBadRelease(uint32_t n, uint32_t v) const {
  if (n == 0) throw ValueError("Semaphore::release: n must be one or more");
  if (bounded_ != 0) {
    throw ValueError("BoundedSemaphore::release: released too many times (value " +
                     std::to_string(v) + " + " + std::to_string(n) +
                     " > initial value " + std::to_string(bound_) + ")");
  }
  throw ValueError("Semaphore::release: value " + std::to_string(v) + " + " +
                   std::to_string(n) + " would exceed " +
                   std::to_string(kMaxValue));
}

void SemaphoreCore::SetMaxSpin(Timeout max) {
  internal::SetMaxSpin(spin_, max);
}

}  // namespace shoal::internal
