// Tests for sync/barrier.h: arrival indices over many cycles with forked
// processes, abort/reset/timeout breaking, the per-call action, and a
// waiter that learns its own generation's outcome after the barrier moved on.
#include "shoal/sync/barrier.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
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
using testing::NewSharedArray;
using testing::WaitChild;
using testing::ExpectWaitsForPeer;
using testing::ForEachHugeAbslDuration;
using testing::ForEachHugeDuration;
using testing::Peer;
using testing::StartPeer;
using testing::WaitUntil;

constexpr int kCycles = 500;

struct Shared {
  explicit Shared(uint32_t parties) : barrier(parties) {}
  Barrier barrier;
  std::atomic<uint32_t> index_bits[kCycles] = {};  // bit i: index i seen
  std::atomic<int> actions{0};
  std::atomic<int> broken{0};
  std::atomic<int> passed{0};
};

TEST(BarrierTest, Layout) {
  EXPECT_EQ(sizeof(Barrier), 192u);
  EXPECT_TRUE(std::is_standard_layout_v<Barrier>);
  EXPECT_THROW(Barrier(0), ValueError);
}

TEST(BarrierTest, OnePartyNeverBlocks) {
  Barrier* b = NewShared<Barrier>(1);
  EXPECT_EQ(b->wait(), 0u);
  EXPECT_EQ(b->wait(0ms), 0u);
  DestroyShared(b);
}

TEST(BarrierTest, FourProcessesGetEachIndexOncePerCycle) {
  Shared* s = NewShared<Shared>(4);
  EXPECT_EQ(s->barrier.parties(), 4u);
  std::vector<pid_t> pids;
  for (int p = 0; p < 4; ++p) {
    pids.push_back(ForkChild([s] {
      for (int c = 0; c < kCycles; ++c) {
        const uint32_t i =
            s->barrier.wait(10s, [s] { s->actions.fetch_add(1); });
        CHILD_CHECK(i < 4);
        s->index_bits[c].fetch_or(1u << i);
        // Everyone sees every action of this cycle (the action runs before
        // anyone is released).
        CHILD_CHECK(s->actions.load() >= c + 1);
      }
    }));
  }
  for (pid_t pid : pids) EXPECT_CHILD_OK(WaitChild(pid, 60000ms));
  for (int c = 0; c < kCycles; ++c) {
    ASSERT_EQ(s->index_bits[c].load(), 0xfu) << "cycle " << c;
  }
  EXPECT_EQ(s->actions.load(), kCycles);  // exactly one action per cycle
  EXPECT_FALSE(s->barrier.broken());
  EXPECT_EQ(s->barrier.n_waiting(), 0u);
  DestroyShared(s);
}

// Starts `n` children that each wait once with a long deadline and count
// broken/passed; returns once all n wait.
std::vector<pid_t> StartWaiters(Shared* s, int n) {
  std::vector<pid_t> pids;
  for (int p = 0; p < n; ++p) {
    pids.push_back(ForkChild([s] {
      try {
        s->barrier.wait(30s);
        s->passed.fetch_add(1);
      } catch (const BrokenBarrierError&) {
        s->broken.fetch_add(1);
      }
    }));
  }
  EXPECT_TRUE(WaitUntil(
      [&] { return s->barrier.n_waiting() == static_cast<uint32_t>(n); }));
  return pids;
}

TEST(BarrierTest, AbortWakesEveryWaiterWithBrokenBarrierError) {
  Shared* s = NewShared<Shared>(4);
  auto pids = StartWaiters(s, 3);
  usleep(100 * 1000);
  const auto start = Clock::now();
  s->barrier.abort();
  for (pid_t pid : pids) EXPECT_CHILD_OK(WaitChild(pid));
  EXPECT_LT(ElapsedMs(start), 2 * testing::kSlackMs);  // not a 30 s timeout
  EXPECT_EQ(s->broken.load(), 3);
  EXPECT_EQ(s->passed.load(), 0);
  EXPECT_TRUE(s->barrier.broken());
  EXPECT_EQ(s->barrier.n_waiting(), 0u);
  // Broken until reset: wait() fails at once.
  EXPECT_THROW(s->barrier.wait(5s), BrokenBarrierError);

  s->barrier.reset();
  EXPECT_FALSE(s->barrier.broken());
  // Usable again with all four parties.
  std::vector<pid_t> again;
  for (int p = 0; p < 3; ++p) {
    again.push_back(ForkChild([s] { CHILD_CHECK(s->barrier.wait(30s) < 4); }));
  }
  EXPECT_LT(s->barrier.wait(30s), 4u);
  for (pid_t pid : again) EXPECT_CHILD_OK(WaitChild(pid));
  DestroyShared(s);
}

TEST(BarrierTest, ResetBreaksCurrentWaitersAndLeavesBarrierUsable) {
  Shared* s = NewShared<Shared>(3);
  auto pids = StartWaiters(s, 2);
  s->barrier.reset();
  for (pid_t pid : pids) EXPECT_CHILD_OK(WaitChild(pid));
  EXPECT_EQ(s->broken.load(), 2);
  EXPECT_FALSE(s->barrier.broken());  // reset, not abort
  EXPECT_EQ(s->barrier.n_waiting(), 0u);

  s->broken.store(0);
  pids = StartWaiters(s, 2);
  const uint32_t mine = s->barrier.wait(30s);
  EXPECT_EQ(mine, 2u);  // the last arrival
  for (pid_t pid : pids) EXPECT_CHILD_OK(WaitChild(pid));
  EXPECT_EQ(s->passed.load(), 2);
  EXPECT_EQ(s->broken.load(), 0);
  DestroyShared(s);
}

TEST(BarrierTest, TimeoutBreaksTheBarrier) {
  Shared* s = NewShared<Shared>(3);
  auto pids = StartWaiters(s, 1);
  const auto start = Clock::now();
  EXPECT_THROW(s->barrier.wait(100ms), BrokenBarrierError);
  const double ms = ElapsedMs(start);
  EXPECT_GE(ms, 99.0);
  EXPECT_LE(ms, 100.0 + testing::kSlackMs);
  EXPECT_TRUE(s->barrier.broken());
  for (pid_t pid : pids) EXPECT_CHILD_OK(WaitChild(pid));
  EXPECT_EQ(s->broken.load(), 1);  // the other waiter was released broken
  EXPECT_THROW(s->barrier.wait(100ms), BrokenBarrierError);
  s->barrier.reset();
  EXPECT_FALSE(s->barrier.broken());
  DestroyShared(s);
}

TEST(BarrierTest, FailingActionBreaksTheBarrier) {
  Shared* s = NewShared<Shared>(2);
  auto pids = StartWaiters(s, 1);
  EXPECT_THROW(s->barrier.wait(30s, [] { throw std::runtime_error("boom"); }),
               std::runtime_error);
  for (pid_t pid : pids) EXPECT_CHILD_OK(WaitChild(pid));
  EXPECT_EQ(s->broken.load(), 1);
  EXPECT_TRUE(s->barrier.broken());
  DestroyShared(s);
}

// A waiter stopped (SIGSTOP) after arriving learns the outcome of ITS
// generation even though the barrier cycled, broke and was reset before it
// got the CPU back.
TEST(BarrierTest, StaleWaiterLearnsItsOwnGenerationOutcome) {
  for (const bool break_it : {false, true}) {
    Shared* s = NewShared<Shared>(2);
    auto* result = NewSharedArray<std::atomic<int>>(1);  // 1 passed, 2 broken
    pid_t stale = ForkChild([s, result] {
      try {
        const uint32_t i = s->barrier.wait(20s);
        CHILD_CHECK(i == 0);
        result->store(1);
      } catch (const BrokenBarrierError&) {
        result->store(2);
      }
    });
    ASSERT_TRUE(WaitUntil([&] { return s->barrier.n_waiting() == 1; }));
    usleep(100 * 1000);  // past the internal critical section
    ASSERT_EQ(kill(stale, SIGSTOP), 0);
    if (break_it) {
      s->barrier.abort();  // its generation ends broken
      s->barrier.reset();
    } else {
      EXPECT_EQ(s->barrier.wait(30s), 1u);  // its generation is released
    }
    // Now cycle on without it: a helper process and this one.
    pid_t helper = ForkChild([s] {
      for (int c = 0; c < 20; ++c) CHILD_CHECK(s->barrier.wait(30s) < 2);
      try {
        s->barrier.wait(30s);  // broken below
        CHILD_CHECK(false);
      } catch (const BrokenBarrierError&) {
      }
    });
    for (int c = 0; c < 20; ++c) EXPECT_LT(s->barrier.wait(30s), 2u);
    ASSERT_TRUE(WaitUntil([&] { return s->barrier.n_waiting() == 1; }));
    s->barrier.abort();
    EXPECT_CHILD_OK(WaitChild(helper));
    s->barrier.reset();

    ASSERT_EQ(kill(stale, SIGCONT), 0);
    EXPECT_CHILD_OK(WaitChild(stale));
    EXPECT_EQ(result->load(), break_it ? 2 : 1) << "break_it=" << break_it;
    DestroyShared(s);
  }
}

TEST(BarrierTest, ProcessDyingWhileWaitingCountsAsArrived) {
  Shared* s = NewShared<Shared>(3);
  pid_t doomed = ForkChild([s] { s->barrier.wait(20s); });
  ASSERT_TRUE(WaitUntil([&] { return s->barrier.n_waiting() == 1; }));
  usleep(50 * 1000);
  kill(doomed, SIGKILL);
  WaitChild(doomed);
  pid_t other = ForkChild([s] { CHILD_CHECK(s->barrier.wait(30s) < 3); });
  ASSERT_TRUE(WaitUntil([&] { return s->barrier.n_waiting() == 2; }));
  EXPECT_EQ(s->barrier.wait(30s), 2u);
  EXPECT_CHILD_OK(WaitChild(other));
  DestroyShared(s);
}

TEST(BarrierTest, ProcessDyingInsideTheBarrierBreaksIt) {
  // The action runs with the barrier's internal lock held; a process that
  // dies there leaves the internal state unknown. The next process to touch
  // the barrier repairs it by breaking it, which releases the waiter.
  Shared* s = NewShared<Shared>(2);
  auto pids = StartWaiters(s, 1);
  pid_t dying = ForkChild([s] { s->barrier.wait(10s, [] { raise(SIGKILL); }); });
  int status = WaitChild(dying);
  ASSERT_TRUE(WIFSIGNALED(status)) << testing::DescribeStatus(status);
  const auto start = Clock::now();
  EXPECT_THROW(s->barrier.wait(30s), BrokenBarrierError);
  for (pid_t pid : pids) EXPECT_CHILD_OK(WaitChild(pid));
  EXPECT_LT(ElapsedMs(start), 2 * testing::kSlackMs);  // not a 30 s timeout
  EXPECT_EQ(s->broken.load(), 1);
  EXPECT_TRUE(s->barrier.broken());
  s->barrier.reset();
  EXPECT_FALSE(s->barrier.broken());
  pid_t other = ForkChild([s] { CHILD_CHECK(s->barrier.wait(30s) < 2); });
  EXPECT_LT(s->barrier.wait(30s), 2u);
  EXPECT_CHILD_OK(WaitChild(other));
  DestroyShared(s);
}

// Python: barrier.wait(timeout=1e30) waits for the other party; a huge
// timeout must not break the barrier at once.
TEST(BarrierTest, HugeTimeoutWaitsForTheOtherParty_LikePythonWaitTimeout) {
  auto* b = NewShared<Barrier>(2);
  auto party = [b] {
    return StartPeer([] {}, [b] { CHILD_CHECK(b->wait(std::chrono::seconds(20)) <= 1); });
  };
  ForEachHugeDuration([&](const char* what, auto timeout) {
    ExpectWaitsForPeer(what, party(), [&] { return b->wait(timeout) == 0; });
  });
  ForEachHugeAbslDuration([&](const char* what, absl::Duration timeout) {
    ExpectWaitsForPeer(what, party(), [&] { return b->wait(timeout) == 0; });
  });
  EXPECT_FALSE(b->broken());
  DestroyShared(b);
}

// --- Python's Barrier(parties, action, timeout) -----------------------------

// What the constructor's action sees: a global pointer into shared memory,
// set before fork() (or, in an exec'd process, after mapping it).
struct ActionLog {
  int parties = 0;
  std::atomic<int> actions{0};
  std::atomic<int> released{0};  // waits that returned, all cycles
  std::atomic<int> early{0};     // an action found its cycle already released
  std::atomic<int> ran_in_pid{0};
};
ActionLog* g_log = nullptr;

void CountAction() {
  // Before cycle k's release (k = actions so far), exactly parties * k
  // waits have returned.
  if (g_log->released.load() != g_log->parties * g_log->actions.load()) {
    g_log->early.fetch_add(1);
  }
  g_log->actions.fetch_add(1);
  g_log->ran_in_pid.store(getpid());
}

void ThrowingAction() { throw std::runtime_error("action failed"); }

struct ActionBarrier {
  ActionBarrier(uint32_t parties, void (*action)()) : barrier(parties, action) {}
  Barrier barrier;
  ActionLog log;
};

// Python: Barrier(parties, action): the last arrival runs action() once per
// cycle, before anyone is released.
TEST(BarrierTest, ConstructorActionRunsOncePerCycleBeforeRelease_LikePythonBarrierAction) {
  constexpr int kParties = 3;
  constexpr int kRounds = 50;
  auto* s = NewShared<ActionBarrier>(kParties, &CountAction);
  s->log.parties = kParties;
  g_log = &s->log;
  std::vector<pid_t> pids;
  for (int p = 0; p < kParties; ++p) {
    pids.push_back(ForkChild([s] {
      for (int r = 0; r < kRounds; ++r) {
        const uint32_t i = s->barrier.wait(30s);
        CHILD_CHECK(i < kParties);
        s->log.released.fetch_add(1);
        // Everybody has left this cycle before anyone arrives at the next,
        // so the next action can check that nobody was released early.
        CHILD_CHECK(WaitUntil([&] {
          return s->log.released.load() >= kParties * (r + 1);
        }));
      }
    }));
  }
  for (pid_t pid : pids) EXPECT_CHILD_OK(WaitChild(pid));
  EXPECT_EQ(s->log.actions.load(), kRounds);
  EXPECT_EQ(s->log.early.load(), 0);
  EXPECT_FALSE(s->barrier.broken());
  DestroyShared(s);
}

// Python: an action that raises breaks the barrier; the last arrival gets
// the action's exception, the others BrokenBarrierError.
TEST(BarrierTest, FailingConstructorActionBreaksTheBarrier_LikePython) {
  auto* b = NewShared<Barrier>(2, &ThrowingAction);
  auto* broken = NewSharedArray<std::atomic<int>>(1);
  pid_t pid = ForkChild([b, broken] {
    try {
      b->wait(30s);
    } catch (const BrokenBarrierError&) {
      broken[0].store(1);
    }
  });
  EXPECT_TRUE(WaitUntil([&] { return b->n_waiting() == 1; }));
  EXPECT_THROW(b->wait(30s), std::runtime_error);
  EXPECT_CHILD_OK(WaitChild(pid));
  EXPECT_EQ(broken[0].load(), 1);
  EXPECT_TRUE(b->broken());
  DestroyShared(b);
}

// The action is named by (module, offset), so a process that exec'd the
// same binary (a spawn worker) can run it too, not only fork()ed children.
TEST(BarrierTest, ConstructorActionRunsInAnExecdProcess) {
  if (const char* fd_text = std::getenv("BARRIER_EXEC_CHILD")) {
    const int fd = std::atoi(fd_text);
    void* p = mmap(nullptr, sizeof(ActionBarrier), PROT_READ | PROT_WRITE,
                   MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) _exit(10);
    auto* s = static_cast<ActionBarrier*>(p);
    g_log = &s->log;
    alarm(20);
    try {
      // The parent is already waiting: this process arrives last and runs
      // the action, whose address differs here (ASLR).
      if (s->barrier.wait(30s) != 1) _exit(11);
    } catch (...) {
      _exit(12);
    }
    _exit(s->log.ran_in_pid.load() == getpid() ? 0 : 13);
  }
  const int fd = memfd_create("barrier_exec_test", 0);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, sizeof(ActionBarrier)), 0);
  void* p = mmap(nullptr, sizeof(ActionBarrier), PROT_READ | PROT_WRITE,
                 MAP_SHARED, fd, 0);
  ASSERT_NE(p, MAP_FAILED);
  auto* s = new (p) ActionBarrier(2, &CountAction);
  g_log = &s->log;
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    const std::string fd_text = std::to_string(fd);
    setenv("BARRIER_EXEC_CHILD", fd_text.c_str(), 1);
    char arg0[] = "barrier_test";
    char arg1[] = "--gtest_filter=BarrierTest.ConstructorActionRunsInAnExecdProcess";
    char* argv[] = {arg0, arg1, nullptr};
    execv("/proc/self/exe", argv);
    _exit(2);
  }
  EXPECT_EQ(s->barrier.wait(20s), 0u);  // first arrival: the child is last
  EXPECT_CHILD_OK(WaitChild(pid));
  EXPECT_EQ(s->log.actions.load(), 1);
  EXPECT_EQ(s->log.ran_in_pid.load(), pid);
  s->~ActionBarrier();
  munmap(p, sizeof(ActionBarrier));
  close(fd);
}

// Python: Barrier(parties, timeout=t): wait() without a timeout uses t (and
// breaks the barrier when it passes); an explicit deadline overrides it.
TEST(BarrierTest, ConstructorTimeoutIsTheDefaultForWait_LikePython) {
  auto* b = NewShared<Barrier>(2, nullptr, 100ms);
  auto start = Clock::now();
  EXPECT_THROW(b->wait(), BrokenBarrierError);
  EXPECT_GE(ElapsedMs(start), 99.0);
  EXPECT_LE(ElapsedMs(start), 5000.0);
  EXPECT_TRUE(b->broken());
  b->reset();
  // An explicit deadline wins over the default.
  Peer peer = StartPeer([] {}, [b] { CHILD_CHECK(b->wait(30s) == 1); });
  ExpectWaitsForPeer("explicit 30 s", peer, [&] { return b->wait(30s) == 0; });
  DestroyShared(b);
  // A huge default timeout waits.
  auto* h = NewShared<Barrier>(2, nullptr, std::chrono::hours::max());
  Peer late = StartPeer([] {}, [h] { CHILD_CHECK(h->wait(30s) == 1); });
  ExpectWaitsForPeer("hours::max() default", late, [&] { return h->wait() == 0; });
  DestroyShared(h);
}

// The action and the default timeout are read from shared memory: a stray
// write there is reported (InvalidRegion, the barrier breaks), never a jump
// to a garbage address.
TEST(BarrierTest, CorruptActionIsInvalidRegionNotAJump) {
  auto* b = NewShared<Barrier>(1, &CountAction);
  ActionLog log;
  g_log = &log;
  EXPECT_EQ(b->wait(1s), 0u);
  EXPECT_EQ(log.actions.load(), 1);
  // Flip bits in the hot line after the spin policy: the action fields.
  auto* bytes = reinterpret_cast<unsigned char*>(b);
  for (int i = 64 + 32; i < 64 + 48; ++i) bytes[i] ^= 0x5a;
  EXPECT_THROW(b->wait(1s), InvalidRegion);
  EXPECT_EQ(log.actions.load(), 1);
  DestroyShared(b);
}

TEST(BarrierTest, ZeroTimeoutBreaksUnlessLast) {
  Barrier* b = NewShared<Barrier>(2);
  const auto start = Clock::now();
  EXPECT_THROW(b->wait(0ms), BrokenBarrierError);
  EXPECT_LT(ElapsedMs(start), testing::kSlackMs);
  EXPECT_TRUE(b->broken());
  b->reset();
  pid_t pid = ForkChild([b] { CHILD_CHECK(b->wait(30s) == 0); });
  ASSERT_TRUE(WaitUntil([&] { return b->n_waiting() == 1; }));
  EXPECT_EQ(b->wait(0ms), 1u);  // the last arrival never waits
  EXPECT_CHILD_OK(WaitChild(pid));
  DestroyShared(b);
}

}  // namespace
}  // namespace shoal
