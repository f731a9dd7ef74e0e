#include "shoal/sync/condition.h"

#include <algorithm>
#include <cstdint>
#include <string>

#include "shoal/base/internal/code_ref.h"
#include "shoal/base/internal/futex.h"

namespace shoal {

void Condition::Init(uint32_t kind, int64_t offset) {
  state_.store(0, std::memory_order_relaxed);
  seq_.store(0, std::memory_order_relaxed);
  spin_.Init();
  lock_kind_ = kind;
  lock_offset_ = offset;
  lock_check_ = CheckOf(kind, offset);
}

namespace {

// Where `lock` is relative to `cond`, refusing a lock in another mapping.
int64_t OffsetOfUserLock(const void* cond, const void* lock) {
  if (!internal::InSameMapping(cond, lock)) {
    throw ValueError(
        "Condition(lock): the lock must live in the same shared memory "
        "mapping as the Condition (members of one struct in one region), so "
        "that every process finds it at the same distance");
  }
  return static_cast<int64_t>(reinterpret_cast<uintptr_t>(lock) -
                              reinterpret_cast<uintptr_t>(cond));
}

}  // namespace

Condition::Condition(Lock& lock) {
  Init(kUserLock, OffsetOfUserLock(this, &lock));
}

Condition::Condition(RLock& lock) {
  Init(kUserRLock, OffsetOfUserLock(this, &lock));
}

uint64_t Condition::CheckOf(uint32_t kind, int64_t offset) {
  // Not a hash against attackers: it catches a stray write (garbage), and
  // costs two operations per call.
  return (static_cast<uint64_t>(offset) * 0x9e3779b97f4a7c15ull) ^
         (uint64_t{kind} << 56) ^ 0x5ca1ab1e0ddba11ull;
}

uint32_t Condition::Kind() const {
  const uint32_t kind = lock_kind_;
  const int64_t offset = lock_offset_;
  const bool aligned = offset % static_cast<int64_t>(internal::kCacheLine) == 0;
  if (kind > kUserRLock || lock_check_ != CheckOf(kind, offset) ||
      (kind != kOwnLock && (offset == 0 || !aligned))) {
    throw InvalidRegion(
        "Condition: the reference to its lock in shared memory was "
        "overwritten (kind " + std::to_string(kind) + ", offset " +
        std::to_string(offset) + "); the condition is corrupt");
  }
  return kind;
}

Lock& Condition::AnyLock() const {
  if (Kind() == kOwnLock) return const_cast<Lock&>(lock_);
  return *reinterpret_cast<Lock*>(reinterpret_cast<uintptr_t>(this) +
                                  static_cast<uintptr_t>(lock_offset_));
}

RLock& Condition::UserRLock() const {
  return *reinterpret_cast<RLock*>(reinterpret_cast<uintptr_t>(this) +
                                   static_cast<uintptr_t>(lock_offset_));
}

Lock& Condition::get_lock() {
  if (Kind() == kUserRLock) {
    throw RuntimeError("Condition::get_lock: this Condition is over an RLock "
                       "(use get_rlock())");
  }
  return AnyLock();
}

RLock& Condition::get_rlock() {
  if (Kind() != kUserRLock) {
    throw RuntimeError("Condition::get_rlock: this Condition is over a Lock "
                       "(use get_lock())");
  }
  return UserRLock();
}

void Condition::acquire() {
  if (Kind() == kUserRLock) return UserRLock().acquire();
  AnyLock().acquire();
}

bool Condition::acquire(Deadline deadline) {
  if (Kind() == kUserRLock) return UserRLock().acquire(deadline);
  return AnyLock().acquire(deadline);
}

bool Condition::try_acquire() {
  if (Kind() == kUserRLock) return UserRLock().try_acquire();
  return AnyLock().try_acquire();
}

void Condition::release() {
  if (Kind() == kUserRLock) return UserRLock().release();
  AnyLock().release();
}

void Condition::make_consistent() {
  if (Kind() == kUserRLock) return UserRLock().make_consistent();
  AnyLock().make_consistent();
}

bool Condition::is_owned() const {
  if (Kind() == kUserRLock) return UserRLock().is_owned();
  return AnyLock().is_owned();
}

bool Condition::TakeToken() {
  uint64_t s = state_.load(std::memory_order_seq_cst);
  while ((s & kTokenMask) != 0) {
    if (state_.compare_exchange_weak(s, s - 1, std::memory_order_seq_cst,
                                     std::memory_order_seq_cst)) {
      return true;
    }
  }
  return false;
}

bool Condition::TakeTokenOrCancel() {
  uint64_t s = state_.load(std::memory_order_seq_cst);
  for (;;) {
    // Prefer a token that raced with the timeout: leaving it would make some
    // later waiter return true without a notify of its own.
    const bool token = (s & kTokenMask) != 0;
    const uint64_t next = token ? s - 1 : s - kOneWaiter;
    if (state_.compare_exchange_weak(s, next, std::memory_order_seq_cst,
                                     std::memory_order_seq_cst)) {
      return token;
    }
  }
}

bool Condition::wait(Deadline deadline) {
  const uint32_t kind = Kind();
  if (!is_owned()) {
    throw RuntimeError("Condition::wait: cannot wait on un-acquired lock");
  }
  state_.fetch_add(kOneWaiter, std::memory_order_seq_cst);  // W++, under lock
  uint32_t seen = seq_.load(std::memory_order_seq_cst);
  // Release the lock completely (every level of an RLock), remembering how
  // deep to restore it.
  uint32_t depth = 1;
  if (kind == kUserRLock) {
    RLock& r = UserRLock();
    depth = r.recursion_count();
    for (uint32_t i = 0; i < depth; ++i) r.release();
  } else {
    AnyLock().release();
  }

  bool notified = internal::SpinUntil(spin_, [this] {
    return (state_.load(std::memory_order_relaxed) & kTokenMask) != 0 &&
           TakeToken();
  });
  while (!notified) {
    if (TakeToken()) {
      notified = true;
      break;
    }
    if (internal::FutexWait(&seq_, seen, deadline) ==
        internal::WaitResult::kTimedOut) {
      notified = TakeTokenOrCancel();
      break;
    }
    // Read the sequence before looking at T again (see the header).
    seen = seq_.load(std::memory_order_seq_cst);
  }
  // Python re-acquires even on timeout; OwnerDied propagates with the lock
  // held (an RLock at depth 1), as from Lock::acquire().
  if (kind == kUserRLock) {
    RLock& r = UserRLock();
    r.acquire();
    for (uint32_t i = 1; i < depth; ++i) r.acquire();
  } else {
    AnyLock().acquire();
  }
  return notified;
}

void Condition::notify(uint32_t n) {
  if (!is_owned()) {
    throw RuntimeError("Condition::notify: cannot notify on un-acquired lock");
  }
  uint64_t s = state_.load(std::memory_order_seq_cst);
  uint32_t k;
  do {
    k = std::min<uint32_t>(n, static_cast<uint32_t>(s >> 32));
    if (k == 0) return;
  } while (!state_.compare_exchange_weak(
      s, s - k * kOneWaiter + k, std::memory_order_seq_cst,
      std::memory_order_seq_cst));
  seq_.fetch_add(1, std::memory_order_seq_cst);
  internal::FutexWake(&seq_, static_cast<int>(std::min<uint32_t>(k, INT32_MAX)));
}

void Condition::set_max_spin(Timeout max) {
  internal::SetMaxSpin(spin_, max);
}

}  // namespace shoal
