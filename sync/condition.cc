#include "shoal/sync/condition.h"

#include <algorithm>

#include "shoal/base/internal/futex.h"

namespace shoal {

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
  if (!lock_.is_owned()) {
    throw RuntimeError("Condition::wait: cannot wait on un-acquired lock");
  }
  state_.fetch_add(kOneWaiter, std::memory_order_seq_cst);  // W++, under lock
  uint32_t seen = seq_.load(std::memory_order_seq_cst);
  lock_.release();

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
  // held, as from Lock::acquire().
  lock_.acquire();
  return notified;
}

void Condition::notify(uint32_t n) {
  if (!lock_.is_owned()) {
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
