// Copyright 2026 The shoal Authors.
//
// event.h: shoal::Event, a flag processes can wait on.
//
// Contract
//   The analogue of Python's multiprocessing.Event / threading.Event: an
//   internal flag, initially false. set() makes it true and wakes every
//   waiter; clear() makes it false; wait() blocks until it is true. Placed
//   directly in shared memory and constructed there once (see lock.h).
//
//   wait(deadline) returns true if the flag was set when it was called or was
//   set at any moment while it waited -- even if another process cleared it
//   again before this waiter ran (Python's semantics: a set() followed at once
//   by clear() still releases everyone who was waiting). It returns false
//   only when the deadline passes first.
//
// Algorithm
//   One 32-bit futex word holding (generation << 1) | flag. set() on a clear
//   flag bumps the generation and sets the flag in one CAS; clear() only
//   clears the bit. A waiter remembers the word it saw (flag clear) and waits
//   until the word changes: any change means a set() happened. Waiters raise
//   a separate `sleepers` flag before FUTEX_WAIT; set() issues the wake-all
//   system call only if it finds that flag raised (and lowers it), so set()
//   with nobody asleep is one CAS and one load. Waiters spin briefly before
//   sleeping (sync/internal/spin.h).
//
// Memory ordering: everything a process wrote before set() is visible to a
//   waiter once wait() returns true (seq_cst CAS / acquire load).
//
// When a process dies: an Event has no owner; nothing to repair. A waiter
//   that dies leaves at most one stale `sleepers` flag: the next set() makes
//   one unnecessary FUTEX_WAKE (~1 us) and lowers it.
//
// A generation wraps after 2^31 set() calls; a waiter that sleeps through
// exactly a multiple of 2^31 set()/clear() pairs would miss them (ABA);
// that is not a practical concern.
//
// Layout: standard-layout, one 64-byte cache line, no pointers; not copyable
// or movable.
#ifndef SHOAL_SYNC_EVENT_H_
#define SHOAL_SYNC_EVENT_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <type_traits>

#include "shoal/base/deadline.h"
#include "shoal/base/internal/cache_line.h"
#include "shoal/base/internal/spin.h"

namespace shoal {
namespace internal {
struct WaitAccess;  // ipc/wait.h: waits on an Event among other objects
}  // namespace internal

class alignas(internal::kCacheLine) Event {
 public:
  Event() {
    word_.store(0, std::memory_order_relaxed);
    sleepers_.store(0, std::memory_order_relaxed);
    spin_.Init();
  }

  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  // True iff the flag is set (a snapshot).
  bool is_set() const {
    return (word_.load(std::memory_order_acquire) & 1) != 0;
  }

  // Sets the flag and wakes every waiter. No system call unless somebody
  // sleeps. Setting a set flag does nothing.
  void set();

  // Clears the flag. Waiters that were released by an earlier set() are not
  // affected.
  void clear() { word_.fetch_and(~uint32_t{1}, std::memory_order_seq_cst); }

  // Blocks until the flag is set (true) or `deadline` passes (false).
  bool wait(Deadline deadline = Deadline::Infinite()) {
    const uint32_t seen = word_.load(std::memory_order_acquire);
    if (seen & 1) return true;
    return WaitSlow(seen, deadline);
  }

  void set_max_spin(Timeout max);

 private:
  friend struct internal::WaitAccess;
  bool WaitSlow(uint32_t seen, const Deadline& deadline);

  std::atomic<uint32_t> word_;      // (generation << 1) | flag; futex word
  std::atomic<uint32_t> sleepers_;  // 1: somebody may sleep on word_
  internal::SpinPolicy spin_;
};

static_assert(std::is_standard_layout_v<Event>);
static_assert(sizeof(Event) == internal::kCacheLine);
static_assert(std::atomic<uint32_t>::is_always_lock_free);

}  // namespace shoal

#endif  // SHOAL_SYNC_EVENT_H_
