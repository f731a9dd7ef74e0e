// Tests for sync/semaphore.h: counting across forked processes, bounded
// release errors, cross-process wake-ups, timeouts, std adapters.
#include "shoal/sync/semaphore.h"

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
using testing::ForEachHugeAbslDuration;
using testing::ForEachHugeDuration;
using testing::StartPeer;
using testing::WaitUntil;

template <class Sem>
struct Gate {
  explicit Gate(uint32_t permits) : sem(permits) {}
  Sem sem;
  std::atomic<int> inside{0};
  std::atomic<int> max_inside{0};
  std::atomic<int> ready{0};
  std::atomic<int> acquired{0};
  std::atomic<int> timed_out{0};
};

// N permits, M > N processes: the most processes ever inside at once is
// exactly N.
template <class Sem>
void CheckMaxConcurrency(int permits, int procs) {
  auto* g = NewShared<Gate<Sem>>(permits);
  std::vector<pid_t> pids;
  for (int p = 0; p < procs; ++p) {
    pids.push_back(ForkChild([g] {
      for (int i = 0; i < 300; ++i) {
        CHILD_CHECK(g->sem.acquire(25s));
        int now = g->inside.fetch_add(1) + 1;
        int seen = g->max_inside.load();
        while (now > seen && !g->max_inside.compare_exchange_weak(seen, now)) {
        }
        usleep(100);
        g->inside.fetch_sub(1);
        g->sem.release();
      }
    }));
  }
  for (pid_t pid : pids) EXPECT_CHILD_OK(WaitChild(pid));
  EXPECT_EQ(g->max_inside.load(), permits);
  EXPECT_EQ(g->sem.get_value(), static_cast<uint32_t>(permits));
  DestroyShared(g);
}

TEST(SemaphoreTest, LayoutIsOneCacheLine) {
  EXPECT_EQ(sizeof(Semaphore), 64u);
  EXPECT_EQ(sizeof(BoundedSemaphore), 64u);
  EXPECT_TRUE(std::is_standard_layout_v<Semaphore>);
  EXPECT_TRUE(std::is_standard_layout_v<BoundedSemaphore>);
}

TEST(SemaphoreTest, CountsInOneProcess) {
  Semaphore* s = NewShared<Semaphore>(2);
  EXPECT_EQ(s->get_value(), 2u);
  EXPECT_TRUE(s->try_acquire());
  s->acquire();
  EXPECT_FALSE(s->try_acquire());
  EXPECT_EQ(s->get_value(), 0u);
  s->release(3);  // a plain Semaphore may exceed its initial value
  EXPECT_EQ(s->get_value(), 3u);
  EXPECT_THROW(s->release(0), ValueError);
  EXPECT_THROW(s->release(Semaphore::kMaxValue), ValueError);
  EXPECT_EQ(s->get_value(), 3u);
  DestroyShared(s);
  EXPECT_THROW(Semaphore(Semaphore::kMaxValue + 1), ValueError);
}

TEST(SemaphoreTest, MaxConcurrencyEqualsPermits) {
  CheckMaxConcurrency<Semaphore>(2, 4);
}

TEST(SemaphoreTest, MaxConcurrencyEqualsPermitsWithoutSpinning) {
  auto* g = NewShared<Gate<Semaphore>>(1);
  g->sem.set_max_spin(0ns);
  std::vector<pid_t> pids;
  for (int p = 0; p < 3; ++p) {
    pids.push_back(ForkChild([g] {
      for (int i = 0; i < 300; ++i) {
        CHILD_CHECK(g->sem.acquire(25s));
        CHILD_CHECK(g->inside.fetch_add(1) == 0);
        usleep(50);
        g->inside.fetch_sub(1);
        g->sem.release();
      }
    }));
  }
  for (pid_t pid : pids) EXPECT_CHILD_OK(WaitChild(pid));
  EXPECT_EQ(g->sem.get_value(), 1u);
  DestroyShared(g);
}

TEST(BoundedSemaphoreTest, MaxConcurrencyEqualsPermits) {
  CheckMaxConcurrency<BoundedSemaphore>(3, 5);
}

TEST(BoundedSemaphoreTest, OverReleaseIsValueErrorAndChangesNothing) {
  BoundedSemaphore* s = NewShared<BoundedSemaphore>(2);
  EXPECT_EQ(s->bound(), 2u);
  EXPECT_THROW(s->release(), ValueError);
  EXPECT_EQ(s->get_value(), 2u);
  ASSERT_TRUE(s->try_acquire());
  EXPECT_EQ(s->get_value(), 1u);
  EXPECT_THROW(s->release(2), ValueError);  // 1 + 2 > 2
  EXPECT_EQ(s->get_value(), 1u);
  EXPECT_THROW(s->release(0), ValueError);
  EXPECT_EQ(s->get_value(), 1u);
  s->release();
  EXPECT_EQ(s->get_value(), 2u);

  // Over-release from another process is refused the same way.
  pid_t pid = ForkChild([s] {
    bool threw = false;
    try {
      s->release();
    } catch (const ValueError&) {
      threw = true;
    }
    CHILD_CHECK(threw);
  });
  EXPECT_CHILD_OK(WaitChild(pid));
  EXPECT_EQ(s->get_value(), 2u);
  DestroyShared(s);
}

TEST(SemaphoreTest, ReleaseWakesSleepersInOtherProcesses) {
  auto* g = NewShared<Gate<Semaphore>>(0);
  std::vector<pid_t> pids;
  for (int p = 0; p < 3; ++p) {
    // A 30 s timeout, far above the bound below: a missed wake-up shows
    // as a late return, however loaded the machine.
    pids.push_back(ForkChild([g] {
      g->ready.fetch_add(1);
      CHILD_CHECK(g->sem.acquire(30s));
      g->acquired.fetch_add(1);
    }, 60));
  }
  ASSERT_TRUE(WaitUntil([&] { return g->ready.load() == 3; }, 30s));
  usleep(100 * 1000);  // let them fall asleep in the kernel
  const auto start = Clock::now();
  g->sem.release(3);
  for (pid_t pid : pids) EXPECT_CHILD_OK(WaitChild(pid, 60s));
  EXPECT_LT(ElapsedMs(start), 3 * testing::kSlackMs);  // not the 30 s timeout
  EXPECT_EQ(g->acquired.load(), 3);
  EXPECT_EQ(g->sem.get_value(), 0u);
  DestroyShared(g);
}

TEST(SemaphoreTest, ReleaseNWakesExactlyN) {
  auto* g = NewShared<Gate<Semaphore>>(0);
  std::vector<pid_t> pids;
  for (int p = 0; p < 3; ++p) {
    // No child gives up on its own: the third is let in by a second
    // release once the first two are counted, so a slow parent cannot
    // turn "not woken" into "timed out".
    pids.push_back(ForkChild([g] {
      g->ready.fetch_add(1);
      if (g->sem.acquire(30s)) {
        g->acquired.fetch_add(1);
      } else {
        g->timed_out.fetch_add(1);
      }
    }, 60));
  }
  ASSERT_TRUE(WaitUntil([&] { return g->ready.load() == 3; }, 30s));
  usleep(100 * 1000);
  g->sem.release(2);
  ASSERT_TRUE(WaitUntil([&] { return g->acquired.load() >= 2; }, 30s));
  usleep(200 * 1000);  // a third wake-up would show now (too late: no permit)
  EXPECT_EQ(g->acquired.load(), 2);
  EXPECT_EQ(g->sem.get_value(), 0u);
  g->sem.release(1);
  for (pid_t pid : pids) EXPECT_CHILD_OK(WaitChild(pid, 60s));
  EXPECT_EQ(g->acquired.load(), 3);
  EXPECT_EQ(g->timed_out.load(), 0);
  EXPECT_EQ(g->sem.get_value(), 0u);
  DestroyShared(g);
}

TEST(SemaphoreTest, TimedAcquireReturnsWithinItsBound) {
  Semaphore* s = NewShared<Semaphore>(0);
  auto start = Clock::now();
  EXPECT_FALSE(s->acquire(100ms));
  double ms = ElapsedMs(start);
  EXPECT_GE(ms, 99.0);
  EXPECT_LE(ms, 100.0 + testing::kSlackMs);
  start = Clock::now();
  EXPECT_FALSE(s->try_lock_for(100ms));
  ms = ElapsedMs(start);
  EXPECT_GE(ms, 99.0);
  EXPECT_LE(ms, 100.0 + testing::kSlackMs);
  start = Clock::now();
  EXPECT_FALSE(s->try_lock_until(std::chrono::system_clock::now() + 100ms));
  ms = ElapsedMs(start);
  EXPECT_GE(ms, 95.0);
  EXPECT_LE(ms, 100.0 + testing::kSlackMs);
  start = Clock::now();
  EXPECT_FALSE(s->acquire(0ms));
  EXPECT_FALSE(s->try_acquire());
  EXPECT_LE(ElapsedMs(start), testing::kSlackMs);

  BoundedSemaphore* b = NewShared<BoundedSemaphore>(1);
  ASSERT_TRUE(b->try_acquire());
  start = Clock::now();
  EXPECT_FALSE(b->acquire(absl::Milliseconds(100)));
  ms = ElapsedMs(start);
  EXPECT_GE(ms, 99.0);
  EXPECT_LE(ms, 100.0 + testing::kSlackMs);
  DestroyShared(s);
  DestroyShared(b);
}

// Python: sem.acquire(timeout=1e30) waits for another process's release().
TEST(SemaphoreTest, HugeTimeoutWaitsForARelease_LikePythonAcquireTimeout) {
  auto* sem = NewShared<Semaphore>(0);
  auto releaser = [sem] { return StartPeer([] {}, [sem] { sem->release(); }); };
  ForEachHugeDuration([&](const char* what, auto timeout) {
    ExpectWaitsForPeer(what, releaser(), [&] { return sem->acquire(timeout); });
    ExpectWaitsForPeer(what, releaser(),
                       [&] { return sem->try_lock_for(timeout); });
  });
  ForEachHugeAbslDuration([&](const char* what, absl::Duration timeout) {
    ExpectWaitsForPeer(what, releaser(), [&] { return sem->acquire(timeout); });
  });
  ForEachFarTimePoint([&](const char* what, auto when) {
    ExpectWaitsForPeer(what, releaser(),
                       [&] { return sem->try_lock_until(when); });
  });
  EXPECT_EQ(sem->get_value(), 0u);
  EXPECT_FALSE(sem->acquire(std::chrono::seconds::min()));
  DestroyShared(sem);
}

TEST(SemaphoreTest, StdAdaptersWork) {
  Semaphore* s = NewShared<Semaphore>(1);
  {
    std::lock_guard<Semaphore> g(*s);
    EXPECT_EQ(s->get_value(), 0u);
  }
  EXPECT_EQ(s->get_value(), 1u);
  {
    std::unique_lock<Semaphore> u(*s, std::defer_lock);
    EXPECT_TRUE(u.try_lock_for(10ms));
  }
  BoundedSemaphore* b = NewShared<BoundedSemaphore>(1);
  {
    std::scoped_lock both(*s, *b);
    EXPECT_EQ(s->get_value(), 0u);
    EXPECT_EQ(b->get_value(), 0u);
  }
  EXPECT_EQ(b->get_value(), 1u);
  DestroyShared(s);
  DestroyShared(b);
}

TEST(SemaphoreTest, SleeperKilledInsideAcquireDoesNotBreakIt) {
  auto* g = NewShared<Gate<Semaphore>>(0);
  pid_t doomed = ForkChild([g] {
    g->ready.fetch_add(1);
    g->sem.acquire(20s);
  });
  ASSERT_TRUE(WaitUntil([&] { return g->ready.load() == 1; }));
  usleep(100 * 1000);  // asleep in the kernel, registered as a sleeper
  kill(doomed, SIGKILL);
  WaitChild(doomed);
  g->sem.release(2);  // a stale sleeper registration costs a wake-up, no more
  EXPECT_EQ(g->sem.get_value(), 2u);
  pid_t pid = ForkChild([g] {
    CHILD_CHECK(g->sem.acquire(1s));
    CHILD_CHECK(g->sem.acquire(1s));
    CHILD_CHECK(!g->sem.acquire(50ms));
  });
  EXPECT_CHILD_OK(WaitChild(pid));
  EXPECT_EQ(g->sem.get_value(), 0u);
  DestroyShared(g);
}

}  // namespace
}  // namespace shoal
