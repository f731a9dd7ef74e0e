// Copyright 2026 The shoal Authors.
//
// semaphore_core.h: the futex counting semaphore under shoal::Semaphore and
// shoal::BoundedSemaphore (the algorithm is described in sync/semaphore.h).
#ifndef SHOAL_SYNC_INTERNAL_SEMAPHORE_CORE_H_
#define SHOAL_SYNC_INTERNAL_SEMAPHORE_CORE_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <type_traits>

#include "shoal/base/deadline.h"
#include "shoal/base/internal/spin.h"

namespace shoal::internal {

class SemaphoreCore {
 public:
  static constexpr uint32_t kMaxValue = 0x7fffffff;

  // `bound`: the largest value release() may reach; `bounded` selects the
  // BoundedSemaphore error message.
  void Init(uint32_t value, uint32_t bound, bool bounded);

  bool TryAcquire() {
    uint32_t v = value_.load(std::memory_order_relaxed);
    while (v != 0) {
      if (value_.compare_exchange_weak(v, v - 1, std::memory_order_seq_cst,
                                       std::memory_order_relaxed)) {
        return true;
      }
    }
    return false;
  }

  bool Acquire(const Deadline& deadline) {
    return TryAcquire() || AcquireSlow(deadline);
  }

  void Release(uint32_t n) {
    uint32_t v = value_.load(std::memory_order_relaxed);
    do {
      if (n == 0 || n > bound_ - v) ThrowBadRelease(n, v);
    } while (!value_.compare_exchange_weak(v, v + n, std::memory_order_seq_cst,
                                           std::memory_order_relaxed));
    // Dekker pair with AcquireSlow: count first, then sleepers.
    if (sleepers_.load(std::memory_order_seq_cst) != 0) Wake(n);
  }

  uint32_t Value() const { return value_.load(std::memory_order_relaxed); }
  uint32_t Bound() const { return bound_; }
  void SetMaxSpin(Timeout max);

 private:
  bool AcquireSlow(const Deadline& deadline);
  void Wake(uint32_t n);
  [[noreturn]] void ThrowBadRelease(uint32_t n, uint32_t v) const;

  std::atomic<uint32_t> value_;     // the count; the futex word
  std::atomic<uint32_t> sleepers_;  // processes inside FUTEX_WAIT (or about to)
  uint32_t bound_;                  // immutable after Init
  uint32_t bounded_;                // immutable after Init
  SpinPolicy spin_;
};

static_assert(std::is_standard_layout_v<SemaphoreCore>);
static_assert(std::atomic<uint32_t>::is_always_lock_free);

}  // namespace shoal::internal

#endif  // SHOAL_SYNC_INTERNAL_SEMAPHORE_CORE_H_
