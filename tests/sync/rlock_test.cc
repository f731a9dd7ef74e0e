// Tests for sync/rlock.h: reentrancy, mutual exclusion across forked
// processes, owner death, ownership errors, timeouts, std adapters.
#include "shoal/sync/rlock.h"

#include <signal.h>
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
using testing::ForEachFarTimePoint;
using testing::ForEachHugeDuration;
using testing::StartPeer;
using testing::WaitUntil;

struct Counter {
  RLock lock;
  uint64_t value = 0;
};

// A child holds the RLock (twice) until told to let go.
struct HeldRLock {
  RLock lock;
  std::atomic<int> held{0};
  std::atomic<int> let_go{0};
  std::atomic<int64_t> died_at{0};  // steady_clock ticks
};

pid_t HoldInChild(HeldRLock* h) {
  pid_t pid = ForkChild([h] {
    h->lock.acquire();
    h->lock.acquire();
    h->held.store(1);
    CHILD_CHECK(WaitUntil([&] { return h->let_go.load() == 1; }, 20000ms));
    h->lock.release();
    h->lock.release();
  });
  EXPECT_TRUE(WaitUntil([&] { return h->held.load() == 1; }));
  return pid;
}

TEST(RLockTest, LayoutIsOneCacheLine) {
  EXPECT_EQ(sizeof(RLock), 64u);
  EXPECT_TRUE(std::is_standard_layout_v<RLock>);
}

TEST(RLockTest, IsReentrant) {
  RLock* lock = NewShared<RLock>();
  EXPECT_EQ(lock->recursion_count(), 0u);
  lock->acquire();
  EXPECT_TRUE(lock->try_acquire());
  EXPECT_TRUE(lock->acquire(10ms));
  EXPECT_EQ(lock->acquire_status(), LockStatus::kAcquired);
  EXPECT_EQ(lock->recursion_count(), 4u);
  EXPECT_TRUE(lock->is_owned());
  for (int i = 0; i < 4; ++i) lock->release();
  EXPECT_EQ(lock->recursion_count(), 0u);
  EXPECT_FALSE(lock->is_owned());
  EXPECT_FALSE(lock->locked());
  // Python: threading.RLock().release() -> RuntimeError("cannot release
  // un-acquired lock").
  EXPECT_THROW(lock->release(), RuntimeError);  // released more than acquired
  DestroyShared(lock);
}

TEST(RLockTest, FourProcessesCountExactlyWithRecursion) {
  constexpr int kProcs = 4;
  constexpr int kIters = 100000;
  Counter* c = NewShared<Counter>();
  std::vector<pid_t> pids;
  for (int p = 0; p < kProcs; ++p) {
    pids.push_back(ForkChild([c] {
      for (int i = 0; i < kIters; ++i) {
        std::lock_guard<RLock> outer(c->lock);
        std::lock_guard<RLock> inner(c->lock);
        CHILD_CHECK(c->lock.recursion_count() == 2);
        c->value = c->value + 1;
      }
    }));
  }
  for (pid_t pid : pids) EXPECT_CHILD_OK(WaitChild(pid));
  EXPECT_EQ(c->value, uint64_t{kProcs} * kIters);
  DestroyShared(c);
}

TEST(RLockTest, OwnerDiedIsReportedAtDepthOne) {
  RLock* lock = NewShared<RLock>();
  pid_t pid = ForkChild([lock] {
    lock->acquire();
    lock->acquire();
    lock->acquire();
    raise(SIGKILL);
  });
  int status = WaitChild(pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << testing::DescribeStatus(status);

  const auto start = Clock::now();
  EXPECT_THROW(lock->acquire(5s), OwnerDied);
  EXPECT_LT(ElapsedMs(start), 200.0 + testing::kSlackMs);
  EXPECT_TRUE(lock->is_owned());
  EXPECT_EQ(lock->recursion_count(), 1u);
  // Nested acquisitions by the repairing holder do not report it again.
  EXPECT_EQ(lock->acquire_status(), LockStatus::kAcquired);
  EXPECT_EQ(lock->recursion_count(), 2u);
  lock->release();
  lock->make_consistent();
  lock->release();
  EXPECT_FALSE(lock->locked());

  pid = ForkChild([lock] {
    CHILD_CHECK(lock->acquire_status(1s) == LockStatus::kAcquired);
    lock->release();
  });
  EXPECT_CHILD_OK(WaitChild(pid));
  DestroyShared(lock);
}

TEST(RLockTest, BlockedWaiterLearnsOfOwnerDeathPromptly) {
  HeldRLock* h = NewShared<HeldRLock>();
  pid_t pid = ForkChild([h] {
    h->lock.acquire();
    h->held.store(1);
    usleep(200 * 1000);
    h->died_at.store(Clock::now().time_since_epoch().count());
    raise(SIGKILL);
  });
  ASSERT_TRUE(WaitUntil([&] { return h->held.load() == 1; }));
  EXPECT_EQ(h->lock.acquire_status(), LockStatus::kOwnerDied);
  // Timed from the death, not from the start of the wait (the owner's nap
  // may end late on a busy machine).
  ASSERT_NE(h->died_at.load(), 0);
  EXPECT_LT(ElapsedMs(Clock::time_point(Clock::duration(h->died_at.load()))),
            testing::kSlackMs);
  h->lock.make_consistent();
  h->lock.release();
  WaitChild(pid);
  DestroyShared(h);
}

TEST(RLockTest, ReleaseWithoutMakeConsistentReportsAgain) {
  RLock* lock = NewShared<RLock>();
  pid_t pid = ForkChild([lock] {
    lock->acquire();
    raise(SIGKILL);
  });
  WaitChild(pid);
  ASSERT_EQ(lock->acquire_status(1s), LockStatus::kOwnerDied);
  lock->release();
  pid = ForkChild([lock] {
    bool threw = false;
    try {
      lock->acquire();
    } catch (const OwnerDied&) {
      threw = true;
    }
    CHILD_CHECK(threw);
    CHILD_CHECK(lock->recursion_count() == 1);
    lock->make_consistent();
    lock->release();
  });
  EXPECT_CHILD_OK(WaitChild(pid));
  EXPECT_EQ(lock->try_acquire_status(), LockStatus::kAcquired);
  lock->release();
  DestroyShared(lock);
}

// Python: releasing an RLock the caller does not hold raises RuntimeError.
TEST(RLockTest, ReleaseUnacquiredIsRuntimeError_LikePythonRLock) {
  HeldRLock* h = NewShared<HeldRLock>();
  pid_t pid = HoldInChild(h);
  // The child holds it: neither a release nor a repair from here.
  EXPECT_FALSE(h->lock.is_owned());
  EXPECT_EQ(h->lock.recursion_count(), 0u);
  EXPECT_THROW(h->lock.release(), RuntimeError);
  EXPECT_THROW(h->lock.make_consistent(), RuntimeError);
  EXPECT_TRUE(h->lock.locked());
  EXPECT_FALSE(h->lock.try_acquire());
  h->let_go.store(1);
  EXPECT_CHILD_OK(WaitChild(pid));

  // And the other way round: held here, released by a forked child. The
  // parent's cached tid must not leak into the child.
  h->lock.acquire();
  ASSERT_TRUE(h->lock.is_owned());
  pid = ForkChild([h] {
    CHILD_CHECK(!h->lock.is_owned());
    bool threw = false;
    try {
      h->lock.release();
    } catch (const RuntimeError&) {
      threw = true;
    }
    CHILD_CHECK(threw);
  });
  EXPECT_CHILD_OK(WaitChild(pid));
  EXPECT_TRUE(h->lock.is_owned());
  EXPECT_EQ(h->lock.recursion_count(), 1u);
  h->lock.release();
  DestroyShared(h);
}

TEST(RLockTest, TimedAcquireReturnsWithinItsBound) {
  HeldRLock* h = NewShared<HeldRLock>();
  pid_t pid = HoldInChild(h);
  auto start = Clock::now();
  EXPECT_FALSE(h->lock.acquire(100ms));
  double ms = ElapsedMs(start);
  EXPECT_GE(ms, 99.0);
  EXPECT_LE(ms, 100.0 + testing::kSlackMs);
  start = Clock::now();
  EXPECT_FALSE(h->lock.try_lock_for(100ms));
  ms = ElapsedMs(start);
  EXPECT_GE(ms, 99.0);
  EXPECT_LE(ms, 100.0 + testing::kSlackMs);
  start = Clock::now();
  EXPECT_FALSE(h->lock.try_lock_until(std::chrono::system_clock::now() + 100ms));
  ms = ElapsedMs(start);
  EXPECT_GE(ms, 95.0);
  EXPECT_LE(ms, 100.0 + testing::kSlackMs);
  start = Clock::now();
  EXPECT_FALSE(h->lock.acquire(0ms));
  EXPECT_LE(ElapsedMs(start), testing::kSlackMs);
  h->let_go.store(1);
  EXPECT_TRUE(h->lock.acquire(30s));
  h->lock.release();
  EXPECT_CHILD_OK(WaitChild(pid));
  DestroyShared(h);
}

// Python: rlock.acquire(timeout=1e30) waits for the holder.
TEST(RLockTest, HugeTimeoutWaitsForTheHolder_LikePythonAcquireTimeout) {
  auto* lock = NewShared<RLock>();
  auto holder = [lock] {
    return StartPeer([lock] { lock->acquire(); }, [lock] { lock->release(); });
  };
  ForEachHugeDuration([&](const char* what, auto timeout) {
    ExpectWaitsForPeer(what, holder(), [&] {
      const bool ok = lock->try_lock_for(timeout);
      if (ok) lock->release();
      return ok;
    });
  });
  ForEachFarTimePoint([&](const char* what, auto when) {
    ExpectWaitsForPeer(what, holder(), [&] {
      const bool ok = lock->try_lock_until(when);
      if (ok) lock->release();
      return ok;
    });
  });
  DestroyShared(lock);
}

TEST(RLockTest, StdAdaptersWork) {
  struct Two {
    RLock a;
    RLock b;
  };
  Two* t = NewShared<Two>();
  {
    std::lock_guard<RLock> g1(t->a);
    std::unique_lock<RLock> g2(t->a);
    EXPECT_EQ(t->a.recursion_count(), 2u);
    std::scoped_lock both(t->a, t->b);
    EXPECT_EQ(t->a.recursion_count(), 3u);
    EXPECT_TRUE(t->b.is_owned());
  }
  EXPECT_FALSE(t->a.locked());
  EXPECT_FALSE(t->b.locked());
  DestroyShared(t);
}

}  // namespace
}  // namespace shoal
