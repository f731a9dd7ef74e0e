// Tests for sync/condition.h: exact notify counts across forked processes,
// wait_for, timeouts, misuse, owner death through wait().
#include "shoal/sync/condition.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <vector>

#include "gtest/gtest.h"
#include "shoal/base/errors.h"
#include "tests/sync/fork_helpers.h"
#include "tests/sync/huge_timeouts.h"

namespace shoal {
namespace {

using namespace std::chrono_literals;
using testing::Clock;
using testing::DestroyShared;
using testing::ElapsedMs;
using testing::ForkChild;
using testing::NewShared;
using testing::WaitChild;
using testing::ExpectWaitsForPeer;
using testing::ForEachHugeAbslDuration;
using testing::ForEachHugeDuration;
using testing::Peer;
using testing::StartPeer;
using testing::WaitUntil;

struct Shared {
  Condition cond;
  // Protected by cond's lock.
  int registered = 0;
  int woken = 0;
  int timed_out = 0;
  int released = 0;  // woken by the test's final notify_all (value == 1)
  int value = 0;
  std::atomic<int> let_go{0};
};

// Starts `n` children that each wait once (deadline `timeout`) and record
// whether they were notified; returns once all n are registered waiters.
std::vector<pid_t> StartWaiters(Shared* s, int n, std::chrono::milliseconds timeout) {
  std::vector<pid_t> pids;
  for (int p = 0; p < n; ++p) {
    pids.push_back(ForkChild([s, timeout] {
      s->cond.acquire();
      ++s->registered;  // same critical section as wait()'s registration
      const bool notified = s->cond.wait(timeout);
      CHILD_CHECK(s->cond.get_lock().is_owned());
      if (!notified) {
        ++s->timed_out;
      } else if (s->value == 1) {
        ++s->released;
      } else {
        ++s->woken;
      }
      s->cond.release();
    }));
  }
  EXPECT_TRUE(WaitUntil([&] {
    std::lock_guard<Condition> g(s->cond);
    return s->registered == n;
  }));
  return pids;
}

void Notify(Shared* s, uint32_t n) {
  std::lock_guard<Condition> g(s->cond);
  if (n == UINT32_MAX) {
    s->cond.notify_all();
  } else {
    s->cond.notify(n);
  }
}

// No waiter gives up on its own (30 s): the ones notify_n did not wake are
// let go by a notify_all once the woken ones are counted, so a parent kept
// off the CPU cannot turn "not woken" into "timed out".
void ExpectWoken(uint32_t notify_n, int waiters, int expect_woken) {
  Shared* s = NewShared<Shared>();
  auto pids = StartWaiters(s, waiters, 30s);
  EXPECT_EQ(s->cond.waiting(), static_cast<uint32_t>(waiters));
  Notify(s, notify_n);
  auto woken = [&] {
    std::lock_guard<Condition> g(s->cond);
    return s->woken;
  };
  ASSERT_TRUE(WaitUntil([&] { return woken() >= expect_woken; }));
  usleep(200 * 1000);  // an extra wake-up would show now
  {
    std::lock_guard<Condition> g(s->cond);
    EXPECT_EQ(s->woken, expect_woken);
    EXPECT_EQ(s->cond.waiting(), static_cast<uint32_t>(waiters - expect_woken));
    s->value = 1;
    s->cond.notify_all();
  }
  for (pid_t pid : pids) EXPECT_CHILD_OK(WaitChild(pid));
  EXPECT_EQ(s->woken, expect_woken);
  EXPECT_EQ(s->released, waiters - expect_woken);
  EXPECT_EQ(s->timed_out, 0);
  EXPECT_EQ(s->cond.waiting(), 0u);
  // No notification is left over for a later waiter.
  s->cond.acquire();
  EXPECT_FALSE(s->cond.wait(50ms));
  s->cond.release();
  DestroyShared(s);
}

TEST(ConditionTest, Layout) {
  EXPECT_EQ(sizeof(Condition), 128u);
  EXPECT_TRUE(std::is_standard_layout_v<Condition>);
}

TEST(ConditionTest, NotifyOneWakesExactlyOne) { ExpectWoken(1, 3, 1); }
TEST(ConditionTest, NotifyTwoWakesExactlyTwo) { ExpectWoken(2, 3, 2); }
TEST(ConditionTest, NotifyAllWakesAll) { ExpectWoken(UINT32_MAX, 3, 3); }
TEST(ConditionTest, NotifyMoreThanWaitingWakesThoseWaiting) {
  ExpectWoken(5, 2, 2);
}

TEST(ConditionTest, NotifyWithoutWaitersIsANoOp) {
  Shared* s = NewShared<Shared>();
  Notify(s, 1);
  Notify(s, UINT32_MAX);
  s->cond.acquire();
  EXPECT_FALSE(s->cond.wait(50ms));  // an earlier notify is not remembered
  s->cond.release();
  DestroyShared(s);
}

TEST(ConditionTest, EveryNotifyWakesExactlyOneWaiter) {
  // 3 waiter processes x 200 waits; a notifier process issues notify(1)
  // whenever someone waits, 600 times. Every wait must return true (no
  // notification lost) and the total must be exactly 600 (none duplicated).
  constexpr int kWaiters = 3;
  constexpr int kRounds = 200;
  Shared* s = NewShared<Shared>();
  std::vector<pid_t> pids;
  for (int p = 0; p < kWaiters; ++p) {
    pids.push_back(ForkChild([s] {
      for (int i = 0; i < kRounds; ++i) {
        std::unique_lock<Condition> lk(s->cond);
        CHILD_CHECK(s->cond.wait(30s));
        ++s->woken;
      }
    }));
  }
  pids.push_back(ForkChild([s] {
    int sent = 0;
    const auto end = Clock::now() + 50s;
    while (sent < kWaiters * kRounds && Clock::now() < end) {
      std::lock_guard<Condition> g(s->cond);
      if (s->cond.waiting() > 0) {
        s->cond.notify(1);
        ++sent;
      }
    }
    CHILD_CHECK(sent == kWaiters * kRounds);
  }));
  for (pid_t pid : pids) EXPECT_CHILD_OK(WaitChild(pid));
  EXPECT_EQ(s->woken, kWaiters * kRounds);
  EXPECT_EQ(s->cond.waiting(), 0u);
  DestroyShared(s);
}

// Python: cond.wait(timeout=1e30) waits for another process's notify().
TEST(ConditionTest, HugeTimeoutWaitsForNotify_LikePythonWaitTimeout) {
  Shared* s = NewShared<Shared>();
  // The peer notifies once this process is a registered waiter (so the
  // notification cannot be lost) and 300 ms have passed.
  auto notifier = [s] {
    return StartPeer([] {}, [s] {
      CHILD_CHECK(WaitUntil([&] {
        std::lock_guard<Condition> g(s->cond);
        return s->cond.waiting() == 1;
      }));
      std::lock_guard<Condition> g(s->cond);
      s->cond.notify();
    });
  };
  ForEachHugeDuration([&](const char* what, auto timeout) {
    ExpectWaitsForPeer(what, notifier(), [&] {
      std::unique_lock<Condition> g(s->cond);
      return s->cond.wait(timeout);
    });
  });
  ForEachHugeAbslDuration([&](const char* what, absl::Duration timeout) {
    ExpectWaitsForPeer(what, notifier(), [&] {
      std::unique_lock<Condition> g(s->cond);
      return s->cond.wait(timeout);
    });
  });
  // And the lock itself, through the Condition.
  ForEachHugeDuration([&](const char* what, auto timeout) {
    Peer p = StartPeer([s] { s->cond.acquire(); }, [s] { s->cond.release(); });
    ExpectWaitsForPeer(what, p, [&] {
      const bool ok = s->cond.try_lock_for(timeout);
      if (ok) s->cond.release();
      return ok;
    });
  });
  DestroyShared(s);
}

TEST(ConditionTest, WaitForPredicateAcrossProcesses) {
  Shared* s = NewShared<Shared>();
  pid_t pid = ForkChild([s] {
    usleep(100 * 1000);
    std::lock_guard<Condition> g(s->cond);
    s->value = 1;  // a spurious-looking notify first ...
    s->cond.notify_all();
  });
  pid_t pid2 = ForkChild([s] {
    usleep(200 * 1000);
    // After the first notifier, whichever gets the CPU first.
    CHILD_CHECK(WaitUntil([&] {
      std::lock_guard<Condition> g(s->cond);
      return s->value == 1;
    }));
    std::lock_guard<Condition> g(s->cond);
    s->value = 2;
    s->cond.notify_all();
  });
  {
    std::lock_guard<Condition> g(s->cond);
    EXPECT_TRUE(s->cond.wait_for([&] { return s->value == 2; }, 30s));
    EXPECT_EQ(s->value, 2);
  }
  EXPECT_CHILD_OK(WaitChild(pid));
  EXPECT_CHILD_OK(WaitChild(pid2));
  DestroyShared(s);
}

TEST(ConditionTest, TimedWaitsReturnWithinTheirBoundHoldingTheLock) {
  Shared* s = NewShared<Shared>();
  s->cond.acquire();
  auto start = Clock::now();
  EXPECT_FALSE(s->cond.wait(100ms));
  double ms = ElapsedMs(start);
  EXPECT_GE(ms, 99.0);
  EXPECT_LE(ms, 100.0 + testing::kSlackMs);
  EXPECT_TRUE(s->cond.get_lock().is_owned());

  start = Clock::now();
  EXPECT_FALSE(s->cond.wait_for([] { return false; }, 100ms));
  ms = ElapsedMs(start);
  EXPECT_GE(ms, 99.0);
  EXPECT_LE(ms, 100.0 + testing::kSlackMs);
  EXPECT_TRUE(s->cond.get_lock().is_owned());

  start = Clock::now();
  EXPECT_FALSE(s->cond.wait(0ms));
  EXPECT_LE(ElapsedMs(start), testing::kSlackMs);
  s->cond.release();

  // The lock's own timed forms, through the Condition.
  // The child holds the lock until let go, however late this process looks.
  pid_t pid = ForkChild([s] {
    s->cond.acquire();
    CHILD_CHECK(WaitUntil([&] { return s->let_go.load() == 1; }));
    s->cond.release();
  });
  ASSERT_TRUE(WaitUntil([&] { return s->cond.get_lock().locked(); }));
  start = Clock::now();
  EXPECT_FALSE(s->cond.acquire(100ms));
  ms = ElapsedMs(start);
  EXPECT_GE(ms, 99.0);
  EXPECT_LE(ms, 100.0 + testing::kSlackMs);
  s->let_go.store(1);
  EXPECT_TRUE(s->cond.try_lock_for(30s));
  s->cond.unlock();
  EXPECT_CHILD_OK(WaitChild(pid));
  DestroyShared(s);
}

// Python: threading.Condition().wait() / notify() without the lock raise
// RuntimeError ("cannot wait on un-acquired lock").
TEST(ConditionTest, WaitAndNotifyWithoutTheLockAreRuntimeErrors_LikePython) {
  Shared* s = NewShared<Shared>();
  EXPECT_THROW(s->cond.wait(10ms), RuntimeError);
  EXPECT_THROW(s->cond.notify(), RuntimeError);
  EXPECT_THROW(s->cond.notify_all(), RuntimeError);
  EXPECT_EQ(s->cond.waiting(), 0u);
  DestroyShared(s);
}

// --- Python's Condition(lock) -----------------------------------------------

// Python's queue.Queue pattern: one lock, two conditions over it.
struct BoundedBuffer {
  Lock lock;
  Condition not_empty{lock};
  Condition not_full{lock};
  int items[4] = {};
  int count = 0;  // protected by lock
  int head = 0;
};

// Python: Condition(lock) waits and notifies over the user's lock; wait()
// releases that lock and re-acquires it. Two conditions share it.
TEST(ConditionTest, TwoConditionsOverOneUserLock_LikePythonConditionLock) {
  constexpr int kItems = 2000;
  auto* b = NewShared<BoundedBuffer>();
  pid_t producer = ForkChild([b] {
    for (int i = 0; i < kItems; ++i) {
      std::lock_guard<Lock> g(b->lock);
      while (b->count == 4) CHILD_CHECK(b->not_full.wait(10s));
      CHILD_CHECK(b->lock.is_owned());
      b->items[(b->head + b->count) % 4] = i;
      ++b->count;
      b->not_empty.notify();
    }
  });
  int64_t sum = 0;
  for (int i = 0; i < kItems; ++i) {
    b->not_empty.acquire();  // the user's lock, through the condition
    EXPECT_TRUE(b->lock.is_owned());
    while (b->count == 0) ASSERT_TRUE(b->not_empty.wait(10s));
    EXPECT_EQ(b->items[b->head], i);
    sum += b->items[b->head];
    b->head = (b->head + 1) % 4;
    --b->count;
    b->not_full.notify();
    b->lock.release();
  }
  EXPECT_CHILD_OK(WaitChild(producer));
  EXPECT_EQ(sum, int64_t{kItems} * (kItems - 1) / 2);
  DestroyShared(b);
}

struct OverRLock {
  RLock lock;
  Condition cond{lock};
  int value = 0;
};

// Python: Condition(RLock()) -- wait() releases every level the caller
// holds and restores them afterwards (RLock._release_save/_acquire_restore).
TEST(ConditionTest, WaitOverAUserRLockReleasesEveryLevel_LikePython) {
  auto* s = NewShared<OverRLock>();
  pid_t pid = ForkChild([s] {
    CHILD_CHECK(WaitUntil([&] { return s->cond.waiting() == 1; }));
    std::lock_guard<RLock> g(s->lock);  // free although the waiter held 3
    s->value = 1;
    s->cond.notify();
  });
  s->lock.acquire();
  s->lock.acquire();
  s->cond.acquire();  // depth 3
  EXPECT_EQ(s->lock.recursion_count(), 3u);
  EXPECT_TRUE(s->cond.wait_for([&] { return s->value == 1; }, 30s));
  EXPECT_EQ(s->lock.recursion_count(), 3u);
  for (int i = 0; i < 3; ++i) s->cond.release();
  EXPECT_FALSE(s->lock.locked());
  EXPECT_CHILD_OK(WaitChild(pid));
  EXPECT_THROW(s->cond.get_lock(), RuntimeError);
  EXPECT_EQ(&s->cond.get_rlock(), &s->lock);
  DestroyShared(s);
}

// Python: cond.wait() without holding its lock is a RuntimeError, whichever
// lock it is.
TEST(ConditionTest, WaitWithoutTheUserLockIsRuntimeError_LikePython) {
  auto* b = NewShared<BoundedBuffer>();
  EXPECT_THROW(b->not_empty.wait(10ms), RuntimeError);
  EXPECT_THROW(b->not_full.notify(), RuntimeError);
  auto* r = NewShared<OverRLock>();
  EXPECT_THROW(r->cond.wait(10ms), RuntimeError);
  DestroyShared(r);
  DestroyShared(b);
}

// The lock must be where every process finds it at the same distance: in
// the same shared mapping. A lock elsewhere is refused at construction.
TEST(ConditionTest, UserLockInAnotherMappingIsRefused) {
  Lock* elsewhere = NewShared<Lock>();
  void* mem = testing::MapShared(sizeof(Condition));
  EXPECT_THROW(new (mem) Condition(*elsewhere), ValueError);
  munmap(mem, sizeof(Condition));
  DestroyShared(elsewhere);
}

// The lock's position is read from shared memory: garbage there is
// InvalidRegion, never a call on a random address.
TEST(ConditionTest, CorruptUserLockReferenceIsInvalidRegion) {
  auto* b = NewShared<BoundedBuffer>();
  auto* bytes = reinterpret_cast<unsigned char*>(&b->not_empty);
  for (std::size_t i = 64 + 24; i < 64 + 48; ++i) bytes[i] ^= 0x5a;
  EXPECT_THROW(b->not_empty.acquire(), InvalidRegion);
  EXPECT_THROW(b->not_empty.notify(), InvalidRegion);
  EXPECT_FALSE(b->lock.locked());
  DestroyShared(b);
}

TEST(ConditionTest, OwnerDiedPropagatesFromWait) {
  Shared* s = NewShared<Shared>();
  pid_t pid = ForkChild([s] {
    // Only once the parent waits (and so has released the lock).
    CHILD_CHECK(WaitUntil([&] { return s->cond.waiting() == 1; }));
    s->cond.acquire();
    s->cond.notify();
    raise(SIGKILL);  // dies holding the Condition's lock
  });
  s->cond.acquire();
  bool threw = false;
  try {
    s->cond.wait(30s);
  } catch (const OwnerDied&) {
    threw = true;
  }
  EXPECT_TRUE(threw);
  EXPECT_TRUE(s->cond.get_lock().is_owned());
  s->cond.make_consistent();
  s->cond.release();
  WaitChild(pid);
  // Fully usable afterwards.
  EXPECT_EQ(s->cond.get_lock().acquire_status(1s), LockStatus::kAcquired);
  s->cond.release();
  DestroyShared(s);
}

}  // namespace
}  // namespace shoal
