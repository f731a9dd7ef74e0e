// Copyright 2026 The shoal Authors.
//
// condition.h: shoal::Condition, a condition variable shared by processes,
// over its own robust lock or a user's Lock/RLock.
//
// Contract
//   The analogue of Python's multiprocessing.Condition / threading.Condition.
//   Condition() contains its own lock (a shoal::Lock); Condition(lock) uses
//   the caller's shoal::Lock or shoal::RLock instead (Python's
//   Condition(lock)), so several conditions can share one lock, as Python's
//   queue.Queue does with not_empty/not_full:
//
//     struct Buffer {                      // one object in shared memory
//       shoal::Lock lock;
//       shoal::Condition not_empty{lock}, not_full{lock};
//       ...
//     };
//
//   The user's lock must live in the same shared mapping as the Condition
//   (members of one struct, one Shared<T>, one ManagedRegion): the
//   Condition stores where it is relative to itself -- no pointer may live
//   in shared memory -- and that distance is the same in every process only
//   within one mapping. The constructor checks it (/proc/self/maps) and
//   throws ValueError otherwise. Acquire the lock through the Condition
//   (acquire/release, or std::unique_lock<shoal::Condition>), through
//   get_lock() / get_rlock(), or directly.
//
//     cond.acquire();                        // or std::unique_lock lk(cond);
//     while (!ready) cond.wait();            // or cond.wait_for(pred, 1s);
//     ...
//     cond.release();
//
//     // elsewhere, holding the lock:  ready = true;  cond.notify();
//
//   wait(deadline): the caller must hold the lock (RuntimeError otherwise). It
//   releases the lock, sleeps until notified or the deadline passes, and
//   re-acquires the lock before returning -- also on timeout. Returns true
//   if notified, false on timeout.
//   The deadline bounds the wait for a notification; re-acquiring the lock
//   afterwards is not bounded by it (as in Python): a wait() overruns its
//   deadline only by as long as another process keeps holding the lock.
//   wait_for(pred, deadline): Python's wait_for: waits until pred() is true
//   (evaluated with the lock held) or the deadline passes; returns the last
//   value of pred().
//   notify(n=1): wakes exactly min(n, waiting) waiters; notify_all() wakes
//   all. The caller must hold the lock (RuntimeError otherwise), as in Python.
//
//   Exactness: a notify(n) makes exactly min(n, W) wait() calls return true,
//   where W is the number of waiters registered (under the lock) before it;
//   no wait() ever returns true without a notify behind it (no visible
//   spurious wake-ups; a timed-out wait returns false unless a notify raced
//   with the timeout, in which case it takes that notification and returns
//   true so that none is lost). Which waiters wake is not specified: not
//   FIFO. A waiter that registered after the notify may take a notification
//   while an earlier waiter keeps waiting (the count is what is guaranteed).
//
//   Over an RLock, wait() releases every level the caller holds and
//   restores them once it has the lock back (Python's _release_save /
//   _acquire_restore); if a holder died meanwhile, OwnerDied reports it with
//   the RLock held at depth 1.
//
//   Differences from Python: the default lock is a Lock, not an RLock (pass
//   an RLock for Python's default); the lock must share the Condition's
//   mapping (above).
//
// Algorithm (token scheme)
//   One 64-bit word packs W (registered waiters, high 32 bits) and T
//   (notification tokens not yet taken, low 32 bits); a 32-bit sequence
//   number is the futex word. Invariant: live waiters == W + T.
//     wait:   W++ (under the lock); seen = seq; release the lock;
//             loop { if T > 0: CAS T-1 -> notified;
//                    else FUTEX_WAIT(seq, seen, deadline); seen = seq }
//             on timeout: one CAS that takes a token if T > 0 (notified)
//             or else W-1 (timed out).
//     notify: k = min(n, W); CAS (W-k, T+k); seq++; FUTEX_WAKE(seq, k) only
//             if k > 0.
//   A waiter reads `seen` before it looks at T, and notify bumps seq after
//   adding tokens, so a notification can never slip between the check and
//   the sleep. A woken waiter that finds no token (another took it) sleeps
//   again; no wait() ever reports a wake-up it did not get a token for.
//   Waiters spin briefly for a token before sleeping (sync/internal/spin.h).
//
// When a process dies
//   * Holding the lock: the next acquirer -- including a waiter re-acquiring
//     the lock at the end of wait() -- gets shoal::OwnerDied exactly as from
//     Lock (see lock.h): it holds the lock, must repair, make_consistent()
//     (on the Condition or get_lock()) and release.
//   * Inside wait(): its registration (or a token it was given) stays behind:
//     one later notification may be absorbed by it, or one later waiter may
//     return true early. Code that must tolerate crashed peers should use
//     wait_for(pred, ...) (it re-checks the predicate, as Python recommends).
//
// Memory ordering: the lock orders the shared data; the token word and the
//   sequence number are seq_cst.
//
// Which lock (own, user Lock, user RLock) and where a user lock is are read
// from shared memory on every call and checked against a check word written
// at construction: a stray write there gives InvalidRegion, never a call on
// a random address.
//
// Layout: standard-layout, two 64-byte cache lines (the own lock; the token
// word, sequence number and lock reference), no pointers; not copyable or
// movable.
#ifndef SHOAL_SYNC_CONDITION_H_
#define SHOAL_SYNC_CONDITION_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <type_traits>

#include "shoal/base/deadline.h"
#include "shoal/base/errors.h"
#include "shoal/base/internal/cache_line.h"
#include "shoal/base/internal/spin.h"
#include "shoal/sync/lock.h"
#include "shoal/sync/rlock.h"

namespace shoal {

class alignas(internal::kCacheLine) Condition {
 public:
  // Python's Condition(): over a lock of its own.
  Condition() { Init(kOwnLock, 0); }
  // Python's Condition(lock): over `lock`, which must live in the same
  // shared mapping as this Condition (ValueError otherwise) and outlive it.
  explicit Condition(Lock& lock);
  explicit Condition(RLock& lock);

  Condition(const Condition&) = delete;
  Condition& operator=(const Condition&) = delete;

  // The lock (as Lock / RLock, see lock.h and rlock.h): get_lock() for a
  // Condition over its own lock or a user's Lock, get_rlock() for one over
  // an RLock (the other throws RuntimeError).
  Lock& get_lock();
  RLock& get_rlock();
  void acquire();
  bool acquire(Deadline deadline);
  bool try_acquire();
  void release();
  void make_consistent();
  // The calling thread holds the lock.
  bool is_owned() const;
  void lock() { acquire(); }
  bool try_lock() { return try_acquire(); }
  void unlock() { release(); }
  template <class Rep, class Period>
  bool try_lock_for(const std::chrono::duration<Rep, Period>& timeout) {
    return acquire(Deadline(timeout));
  }
  template <class Clock, class Duration>
  bool try_lock_until(const std::chrono::time_point<Clock, Duration>& when) {
    return acquire(Deadline::Until(when));
  }

  // Releases the lock, waits for a notification or `deadline`, re-acquires
  // the lock. true: notified. false: timed out. Throws RuntimeError if the
  // caller does not hold the lock, OwnerDied if the lock's holder died
  // (the caller then holds the lock; see lock.h).
  bool wait(Deadline deadline = Deadline::Infinite());

  // Waits until pred() (called with the lock held) is true or `deadline`
  // passes; returns pred()'s last value. Same errors as wait().
  template <class Predicate>
  bool wait_for(Predicate pred, Deadline deadline = Deadline::Infinite()) {
    bool result = pred();
    while (!result) {
      if (deadline.expired()) break;
      wait(deadline);
      result = pred();
    }
    return result;
  }

  // Wakes exactly min(n, waiting) waiters. Caller holds the lock.
  void notify(uint32_t n = 1);
  // Wakes every waiter. Caller holds the lock.
  void notify_all() { notify(UINT32_MAX); }

  // Waiters registered and not yet notified (a snapshot; for tests and
  // diagnostics).
  uint32_t waiting() const {
    return static_cast<uint32_t>(state_.load(std::memory_order_relaxed) >> 32);
  }

  void set_max_spin(Timeout max);

 private:
  static constexpr uint64_t kOneWaiter = uint64_t{1} << 32;
  static constexpr uint64_t kTokenMask = 0xffffffffu;
  enum : uint32_t { kOwnLock = 0, kUserLock = 1, kUserRLock = 2 };

  void Init(uint32_t kind, int64_t offset);
  static uint64_t CheckOf(uint32_t kind, int64_t offset);
  // The kind, validated (InvalidRegion when the fields were overwritten).
  uint32_t Kind() const;
  // The lock of a kOwnLock/kUserLock (resp. kUserRLock) Condition.
  Lock& AnyLock() const;
  RLock& UserRLock() const;
  bool TakeToken();
  bool TakeTokenOrCancel();

  Lock lock_;  // the own lock (unused over a user's lock)
  alignas(internal::kCacheLine) std::atomic<uint64_t> state_;  // W<<32 | T
  std::atomic<uint32_t> seq_;  // futex word, bumped by every effective notify
  internal::SpinPolicy spin_;
  // Immutable after construction: which lock, and where a user's lock is
  // (its address minus this Condition's), checked by lock_check_.
  uint32_t lock_kind_;
  int64_t lock_offset_;
  uint64_t lock_check_;
};

static_assert(std::is_standard_layout_v<Condition>);
static_assert(sizeof(Condition) == 2 * internal::kCacheLine);
static_assert(std::atomic<uint64_t>::is_always_lock_free);

}  // namespace shoal

#endif  // SHOAL_SYNC_CONDITION_H_
