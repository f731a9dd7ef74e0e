// Copyright 2026 The shoal Authors.
//
// wait_hook.h: what an object tells a WaitSet (ipc/wait.h) so that it can be
// waited on together with others. The extension point for new waitable
// types: give the type a `MakeWaitHook(const T&)` found by argument-dependent
// lookup (a free function or hidden friend in the type's namespace)
// returning one of these, and shoal::wait / WaitSet take it.
//
// Three kinds of hook, by what wakes their waiter:
//   futex   the object's state lives in shared memory with a futex word a
//           waker bumps and wakes (queues, channels, events). Arm()
//           registers this process as a watcher (so a waker knows to issue
//           FUTEX_WAKE, and only then) and returns the word and the value it
//           held before the readiness check; the waiter sleeps on many such
//           words at once (futex_waitv). Every Arm() is paired with one
//           Disarm().
//   fd      readiness is a descriptor becoming readable (Connections,
//           process sentinels = pidfds, a Listener's epoll instance);
//           fd() >= 0.
//   timer   neither: Ready() by the clock, Recheck() says when.
// Ready() is the level check that decides (after Arm() for futex hooks); a
// hook may also ask to be re-checked at a time (Recheck(): a timer's due
// time, the liveness check of a peer that holds a slot the object waits
// for).
//
// Thread safety: a WaitSet calls Ready(), Recheck(), Arm() and Disarm() of
// futex and timer hooks from its caller's thread and its helper thread at
// once; fd hooks only from the caller's. Hooks are process-local (never in
// shared memory), so virtual functions are fine here.
#ifndef SHOAL_IPC_INTERNAL_WAIT_HOOK_H_
#define SHOAL_IPC_INTERNAL_WAIT_HOOK_H_

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <memory>
#include <mutex>

#include "shoal/base/deadline.h"
#include "shoal/base/internal/futex.h"

namespace shoal::internal {

class RingCore;

class WaitHook {
 public:
  // What the waiter waits for (for messages and Waitable::kind()).
  enum class Kind { kReadable, kWritable, kExited, kSet, kTimer };

  WaitHook(const void* object, Kind kind) : object_(object), kind_(kind) {}
  virtual ~WaitHook() = default;
  WaitHook(const WaitHook&) = delete;
  WaitHook& operator=(const WaitHook&) = delete;

  // futex hooks: true, and Arm/Disarm as above.
  virtual bool futex_based() const { return false; }
  virtual FutexWaitItem Arm() { return {}; }
  virtual void Disarm() {}
  // Armed, after a wake-up that found nothing ready: the word and value to
  // sleep on again (what Disarm() then Arm() would give, maybe cheaper).
  virtual FutexWaitItem Refresh() {
    Disarm();
    return Arm();
  }
  // fd hooks: the descriptor whose POLLIN means "ready" (or -1).
  virtual int fd() const { return -1; }
  // The level check. May repair the slot of a dead peer (as a blocked
  // claimer would). Throwing (a corrupt shared structure) counts as ready:
  // the caller's next operation on the object reports the error.
  virtual bool Ready() = 0;
  // When to call Ready() again with no wake-up; Infinite when never. Read
  // after Ready() returned false. (fd hooks: honoured by wait(); with
  // WaitSet::fd() in an event loop only at the next poll().)
  virtual Deadline Recheck() const { return Deadline::Infinite(); }
  // A wait reported this hook ready (a periodic timer moves on).
  virtual void Reported() {}

  const void* object() const { return object_; }
  Kind kind() const { return kind_; }

 private:
  const void* object_;
  Kind kind_;
};

using WaitHookPtr = std::shared_ptr<WaitHook>;

// The liveness bookkeeping of a futex hook whose object a peer may block
// (a slot held by another process): which blocker has stood in the way
// since when, as a blocked claimer keeps it in its wait loop. Ready() runs
// in the caller's and the helper's thread at once, hence the lock (taken
// only while something needs watching).
class BlockerClock {
 public:
  // Nothing that needs a look blocks the object.
  void Clear() { recheck_ns_.store(kNever, std::memory_order_relaxed); }
  // Blocked by the blocker (a, b) (equal pairs: the same one). True when it
  // has stood in the way for `interval`: check on it now (the clock starts
  // again). Either way Recheck() then says when to look next.
  bool Due(uint64_t a, uint64_t b, std::chrono::nanoseconds interval) {
    std::lock_guard<std::mutex> lock(mu_);
    const auto now = Deadline::Clock::now();
    bool due = false;
    if (!have_ || a != a_ || b != b_) {
      have_ = true;
      a_ = a;
      b_ = b;
      since_ = now;
    } else if (now - since_ >= interval) {
      since_ = now;
      due = true;
    }
    recheck_ns_.store((since_ + interval).time_since_epoch().count(),
                      std::memory_order_relaxed);
    return due;
  }
  Deadline Recheck() const {
    const int64_t ns = recheck_ns_.load(std::memory_order_relaxed);
    if (ns == kNever) return Deadline::Infinite();
    return Deadline(Deadline::Clock::time_point(Deadline::Clock::duration(ns)));
  }

 private:
  static constexpr int64_t kNever = INT64_MAX;
  std::atomic<int64_t> recheck_ns_{kNever};
  std::mutex mu_;
  bool have_ = false;  // a stale entry only brings the next check forward
  uint64_t a_ = 0, b_ = 0;
  Deadline::Clock::time_point since_{};
};


// A futex hook on one side of a ring (ring_core.h's watcher protocol):
// readable when a reader's claim would not block (an item at head, or
// closed and drained), writable when a writer's would not (a free slot at
// tail, or closed). `keep` keeps the ring's mapping (and whatever `ring`'s
// reclaimer points to) alive. For the ring's users: Queue, Channel, and
// later rings with their own cursors.
WaitHookPtr MakeRingWaitHook(std::shared_ptr<const void> keep,
                             const RingCore& ring, bool writable,
                             const void* object);

// An fd hook: ready when `fd` is readable (POLLIN, or an error/hang-up,
// which the next operation reports). The caller keeps `fd` open.
WaitHookPtr MakeFdWaitHook(int fd, const void* object, WaitHook::Kind kind);

}  // namespace shoal::internal

#endif  // SHOAL_IPC_INTERNAL_WAIT_HOOK_H_
