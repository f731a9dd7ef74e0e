// Copyright 2026 The shoal Authors.
//
// barrier.h: shoal::Barrier, a cyclic barrier shared by processes.
//
// Contract
//   The analogue of Python's multiprocessing.Barrier / threading.Barrier.
//   Barrier(parties, action, timeout): each of `parties` participants calls
//   wait(); all of them block until the last one arrives, then all are
//   released together and the barrier is ready for the next round (a new
//   "generation"). Placed directly in shared memory and constructed there
//   once (see lock.h).
//
//   wait(deadline) returns the caller's arrival index in its generation,
//   0 for the first arrival .. parties-1 for the last (Python: "an integer in
//   the range 0 to parties-1, different for each thread").
//
//   The barrier breaks -- every process waiting in the current generation,
//   and every later wait() until reset(), gets shoal::BrokenBarrierError --
//   when:
//     * abort() is called;
//     * a wait() times out (Python: the barrier is broken so that the others
//       do not wait forever for a party that gave up);
//     * the action throws (that caller gets the action's exception, the
//       others BrokenBarrierError);
//     * a process died inside the barrier's internal critical section (its
//       robust internal lock reports OwnerDied; the state it was updating
//       cannot be trusted, so the barrier repairs itself by breaking).
//   reset() returns the barrier to its initial empty state; processes waiting
//   at that moment get BrokenBarrierError (as in Python).
//
//   The action (Python's `action=`): a function `void()` -- a plain function
//   or a captureless lambda -- given to the constructor. The last arriving
//   process runs it, with the barrier's internal lock held, before the
//   others are released. A pointer means nothing in another address space,
//   so the barrier stores the function as (module, offset)
//   (base/internal/code_ref.h): a fork()ed child, a process that exec'd the
//   same binary (spawn, fork server) and one that opened the barrier by name
//   all find it. A process where the module is not loaded gets CodecError
//   from that wait() and the barrier breaks. State the action needs lives in
//   shared memory (a function has no captures to carry).
//   Difference from Python: a closure cannot cross processes; for one,
//   wait(deadline, action) additionally runs `action` (any callable, this
//   call only) after the barrier's own action.
//
//   The default timeout (Python's `timeout=`): wait() without an argument
//   waits at most that long (and breaks the barrier when it passes); an
//   explicit wait(deadline) overrides it, as Python's wait(timeout).
//
//   The deadline bounds the wait for the other parties. The internal lock is
//   held for a few instructions (or for the duration of an action), so taking
//   it is not bounded by the deadline.
//
// Algorithm
//   Arrival bookkeeping (count, generation, broken) is protected by an
//   internal robust shoal::Lock, held only for a few instructions. Waiters
//   sleep (after a short spin) on a 32-bit generation word, a shared futex.
//   The last arrival ends the generation: it records the outcome (released
//   or broken) in a 256-generation ring of outcome bits, then bumps the
//   generation and wakes the sleepers (FUTEX_WAKE only if a sleeper flag is
//   raised). A woken waiter reads the outcome of ITS generation from the
//   ring, so it learns reliably whether it was released or broken even if
//   the barrier has already cycled again (or been broken and reset) before
//   it got the CPU. Nobody ever waits for stragglers to leave (Python's
//   "draining" state), so a waiter that dies after being released cannot
//   hang anyone.
//
//   The ring's limit: a waiter that is descheduled while 256 further
//   generations end (impossible when exactly `parties` processes use the
//   barrier, since a new generation cannot complete without that waiter
//   arriving again; only abort()/reset()/timeouts by others could do it)
//   cannot tell the outcome any more and conservatively gets
//   BrokenBarrierError.
//
// Shared-memory fields that decide a jump (the action) or a time (the
// default timeout) are checksummed at construction and verified on use: a
// stray write there gives InvalidRegion (and breaks the barrier), never a
// call through garbage.
//
// When a process dies
//   * Before arriving: indistinguishable from a slow party -- the others
//     wait until their deadlines (use one) and the barrier breaks.
//   * After arriving (while waiting): it counts as arrived; the generation
//     completes when the others arrive.
//   * Inside the internal critical section: the barrier breaks (see above).
//
// Memory ordering: everything a process wrote before wait() is visible to
//   every process after the barrier released them (internal lock + seq_cst
//   generation word).
//
// Layout: standard-layout, three 64-byte cache lines (internal lock; hot
// generation word and counters; the outcome ring), no pointers; not copyable
// or movable.
#ifndef SHOAL_SYNC_BARRIER_H_
#define SHOAL_SYNC_BARRIER_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "shoal/base/deadline.h"
#include "shoal/base/errors.h"
#include "shoal/base/internal/cache_line.h"
#include "shoal/base/internal/code_ref.h"
#include "shoal/base/internal/spin.h"
#include "shoal/sync/lock.h"

namespace shoal {

class alignas(internal::kCacheLine) Barrier {
 public:
  // Python's Barrier(parties, action=None, timeout=None). Throws ValueError
  // if parties == 0, SerializationError if `action` is not a function of a
  // loaded module (it always is for a function or captureless lambda).
  explicit Barrier(uint32_t parties, void (*action)() = nullptr,
                   Timeout timeout = Timeout::Infinite());

  Barrier(const Barrier&) = delete;
  Barrier& operator=(const Barrier&) = delete;

  // Waits for all parties, at most the constructor's timeout; returns this
  // caller's arrival index (0 .. parties-1). Throws BrokenBarrierError if
  // the barrier is or becomes broken, or if the timeout passes (which breaks
  // it). The last arrival runs the action first (see the top of the file).
  uint32_t wait() { return wait(DefaultDeadline(), [] {}); }
  // The same with an explicit deadline instead of the default timeout.
  uint32_t wait(Deadline deadline) { return wait(deadline, [] {}); }

  // As wait(deadline); the last arriving process also runs action() (after
  // the barrier's own action) before the others are released. If an action
  // throws, the barrier breaks and the exception propagates to that caller.
  template <class Action>
  uint32_t wait(Deadline deadline, Action&& action) {
    const Arrival a = Arrive();
    if (!a.last) return AwaitOutcome(a, deadline);
    try {
      RunOwnAction();
      std::forward<Action>(action)();
    } catch (...) {
      EndGenerationAndUnlock(/*broken=*/true);
      throw;
    }
    EndGenerationAndUnlock(/*broken=*/false);
    return a.index;
  }

  // Returns the barrier to the empty, unbroken state. Waiting processes get
  // BrokenBarrierError.
  void reset();
  // Breaks the barrier: waiting processes and later wait() calls get
  // BrokenBarrierError until reset().
  void abort();

  uint32_t parties() const { return parties_; }
  // Python's timeout attribute: the default for wait() (Infinite: none).
  // Throws InvalidRegion if the field was corrupted.
  Timeout timeout() const;
  // Parties waiting in the current generation (a snapshot).
  uint32_t n_waiting() const { return count_.load(std::memory_order_relaxed); }
  bool broken() const { return broken_.load(std::memory_order_relaxed) != 0; }

  void set_max_spin(Timeout max);

 private:
  static constexpr uint32_t kRingBits = 256;

  struct Arrival {
    uint32_t index;
    uint32_t generation;
    bool last;  // true: the internal lock is still held by the caller
  };

  Arrival Arrive();
  Deadline DefaultDeadline() const { return Deadline(timeout()); }
  // Runs the constructor's action, if any (internal lock held).
  void RunOwnAction();
  // Throws InvalidRegion unless the action/timeout fields match check_.
  void VerifyFields() const;
  uint64_t FieldsCheck() const;
  uint32_t AwaitOutcome(const Arrival& a, const Deadline& deadline);
  // Acquires the internal lock; if its holder died, breaks the barrier
  // (repairing the state) and makes the lock consistent. Returns true if it
  // had to repair.
  bool LockInternal();
  // Internal lock held: ends the current generation with `broken`. Returns
  // whether sleepers must be woken (after unlocking).
  bool EndGenerationLocked(bool broken);
  void EndGenerationAndUnlock(bool broken);
  void WakeAll();
  // 1: generation g ended broken; 0: released; -1: g is too old to know.
  int OutcomeOf(uint32_t g) const;

  Lock mu_;
  // Hot line: the futex word and what arrivals update.
  alignas(internal::kCacheLine) std::atomic<uint32_t> generation_;
  std::atomic<uint32_t> sleepers_;  // 1: somebody may sleep on generation_
  std::atomic<uint32_t> count_;     // arrived in the current generation
  std::atomic<uint32_t> broken_;    // 1: broken until reset()
  uint32_t parties_;                // immutable
  internal::SpinPolicy spin_;
  // Immutable after construction, checksummed by check_ (see above).
  internal::CodeRef action_;        // {0, 0}: no action
  int64_t timeout_ns_;              // the default timeout (Timeout::count())
  uint64_t check_;
  // Bit (g % kRingBits): generation g ended broken. Written under mu_ before
  // the generation word moves past g.
  alignas(internal::kCacheLine) std::atomic<uint64_t> outcome_[kRingBits / 64];
};

static_assert(std::is_standard_layout_v<Barrier>);
static_assert(sizeof(Barrier) == 3 * internal::kCacheLine);
static_assert(std::atomic<uint64_t>::is_always_lock_free);

}  // namespace shoal

#endif  // SHOAL_SYNC_BARRIER_H_
