// Fault injection for Lock and RLock: in every trial a process working with
// the lock is SIGKILLed at a random point of its loop — inside its critical
// section, or in the middle of acquire()/release() — and the survivor must
// get the lock: OwnerDied when the victim died holding it, plain success
// otherwise; never a timeout (bounded at 10 s, to tell a deadlock from a
// loaded machine; the figures give the longest acquire), never a deadlock. The kills are driven
// by progress, not by the clock: the victim is killed once it has gone round
// its loop a random number of times (plus a random number of the survivor's
// polls), and every other trial it is parked inside the critical section
// first, so a slow or busy machine sees the same kills. Prints the figures
// for RELIABILITY.md.
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <new>
#include <random>

#include "gtest/gtest.h"
#include "shoal/sync/lock.h"
#include "shoal/sync/rlock.h"

namespace shoal {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int kTrials = 250;

template <class L>
struct Arena {
  L lock;
  std::atomic<int> in_cs;
  std::atomic<int64_t> a, b;  // invariant a == b outside critical sections
  std::atomic<int64_t> park_at;  // the victim stops holding the lock there
  std::atomic<int> parked;
};

template <class L>
void RunTrials(const char* name, bool recursive) {
  void* mem = mmap(nullptr, sizeof(Arena<L>), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  std::mt19937 rng(7);
  int died_holding = 0, died_outside = 0;
  double worst_ms = 0;
  for (int t = 0; t < kTrials; ++t) {
    auto* arena = new (mem) Arena<L>();
    const int64_t k = 1 + static_cast<int64_t>(rng() % 2000);
    const bool park = t % 2 == 1;
    arena->park_at.store(park ? k : -1);
    pid_t victim = fork();
    if (victim == 0) {
      alarm(30);
      // Tight acquire / update / release loop: a kill lands in any of the
      // three.
      for (int64_t i = 1;; ++i) {
        arena->lock.acquire();
        if (recursive) arena->lock.acquire();
        arena->in_cs.store(1);
        arena->a.store(i);
        if (i == arena->park_at.load()) {
          arena->parked.store(1);  // between the two stores, holding it
          for (;;) pause();
        }
        arena->b.store(i);
        arena->in_cs.store(0);
        if (recursive) arena->lock.release();
        arena->lock.release();
      }
    }
    // Progress, not time: round the loop k times (bounded wait).
    const auto until = Clock::now() + 30s;
    while (arena->b.load() < k && arena->parked.load() == 0 &&
           Clock::now() < until) {
      sched_yield();
    }
    ASSERT_TRUE(arena->b.load() >= k || arena->parked.load() != 0)
        << name << " trial " << t << ": the victim made no progress";
    if (park) {
      while (arena->parked.load() == 0 && Clock::now() < until) sched_yield();
      ASSERT_EQ(arena->parked.load(), 1) << name << " trial " << t;
    } else {
      for (int n = static_cast<int>(rng() % 256); n > 0; --n) {
        (void)arena->in_cs.load();
      }
    }
    kill(victim, SIGKILL);
    waitpid(victim, nullptr, 0);

    auto t0 = Clock::now();
    LockStatus s = arena->lock.acquire_status(Deadline(10s));
    double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    worst_ms = std::max(worst_ms, ms);
    ASSERT_NE(s, LockStatus::kTimedOut) << name << " trial " << t;
    if (park) {
      ASSERT_EQ(s, LockStatus::kOwnerDied) << name << " trial " << t;
    }
    if (s == LockStatus::kOwnerDied) {
      ++died_holding;
      // Repair: the victim may have died between the two stores.
      arena->b.store(arena->a.load());
      arena->lock.make_consistent();
    } else {
      ++died_outside;
      ASSERT_EQ(arena->a.load(), arena->b.load()) << name << " trial " << t;
    }
    arena->lock.release();
    // Usable again, by anyone, with no news of a death.
    ASSERT_EQ(arena->lock.acquire_status(Deadline(10s)), LockStatus::kAcquired);
    arena->lock.release();
    arena->~Arena<L>();
  }
  std::printf(
      "[figures] %s: %d kills after a random number of rounds (every other "
      "one parked holding the lock): %d while holding (OwnerDied), %d "
      "outside; longest acquire after a kill %.2f ms; 0 timeouts\n",
      name, kTrials, died_holding, died_outside, worst_ms);
  EXPECT_LT(worst_ms, 5000);
  EXPECT_GT(died_holding, kTrials / 10);  // the kills did land inside
  munmap(mem, sizeof(Arena<L>));
}

TEST(OwnerDeathFault, LockHolderKilledAtRandomInstants) {
  RunTrials<Lock>("Lock", false);
}

TEST(OwnerDeathFault, RLockHolderKilledAtRandomInstants) {
  RunTrials<RLock>("RLock", true);
}

}  // namespace
}  // namespace shoal
