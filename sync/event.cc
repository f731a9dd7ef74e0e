#include "shoal/sync/event.h"

#include <algorithm>
#include <climits>

#include "shoal/base/internal/futex.h"

namespace shoal {

void Event::set() {
  uint32_t w = word_.load(std::memory_order_relaxed);
  do {
    if (w & 1) return;
    // Next generation, flag set. w is even here, so w + 3 == ((w>>1)+1)<<1|1.
  } while (!word_.compare_exchange_weak(w, w + 3, std::memory_order_seq_cst,
                                        std::memory_order_relaxed));
  // Dekker pair with WaitSlow (word first, then sleepers). Read before
  // writing so that set() with nobody asleep does not dirty the line twice.
  if (sleepers_.load(std::memory_order_seq_cst) != 0 &&
      sleepers_.exchange(0, std::memory_order_seq_cst) != 0) {
    internal::FutexWake(&word_, INT_MAX);
  }
}

bool Event::WaitSlow(uint32_t seen, const Deadline& deadline) {
  auto changed = [&] { return word_.load(std::memory_order_acquire) != seen; };
  if (deadline.expired()) return changed();
  if (internal::SpinUntil(spin_, changed)) return true;
  for (;;) {
    // Raise the flag (seq_cst load/store; only written when it is down, so
    // many waiters do not keep dirtying the line). Either set() later sees
    // it raised and wakes us, or its CAS precedes our check below.
    if (sleepers_.load(std::memory_order_seq_cst) == 0) {
      sleepers_.store(1, std::memory_order_seq_cst);
    }
    if (word_.load(std::memory_order_seq_cst) != seen) return true;
    if (internal::FutexWait(&word_, seen, deadline) ==
        internal::WaitResult::kTimedOut) {
      return changed();
    }
    if (changed()) return true;
  }
}

void Event::set_max_spin(Timeout max) {
  internal::SetMaxSpin(spin_, max);
}

}  // namespace shoal
