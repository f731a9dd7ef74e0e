// Tests for sync/event.h: set/clear/wait across forked processes, Python's
// "set then clear still releases the waiters", timeouts.
#include "shoal/sync/event.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <vector>

#include "gtest/gtest.h"
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
using testing::StartPeer;
using testing::WaitUntil;

struct Shared {
  Event event;
  std::atomic<int> ready{0};
  std::atomic<int> woken{0};
  std::atomic<int> timed_out{0};
};

TEST(EventTest, LayoutIsOneCacheLine) {
  EXPECT_EQ(sizeof(Event), 64u);
  EXPECT_TRUE(std::is_standard_layout_v<Event>);
}

TEST(EventTest, SetClearIsSet) {
  Event* e = NewShared<Event>();
  EXPECT_FALSE(e->is_set());
  EXPECT_FALSE(e->wait(0ms));
  e->set();
  EXPECT_TRUE(e->is_set());
  e->set();  // idempotent
  EXPECT_TRUE(e->is_set());
  EXPECT_TRUE(e->wait());
  EXPECT_TRUE(e->wait(0ms));
  e->clear();
  EXPECT_FALSE(e->is_set());
  e->clear();
  EXPECT_FALSE(e->is_set());
  DestroyShared(e);
}

TEST(EventTest, SetWakesEveryWaiterInOtherProcesses) {
  Shared* s = NewShared<Shared>();
  std::vector<pid_t> pids;
  for (int p = 0; p < 3; ++p) {
    pids.push_back(ForkChild([s] {
      s->ready.fetch_add(1);
      CHILD_CHECK(s->event.wait(30s));
      s->woken.fetch_add(1);
    }));
  }
  ASSERT_TRUE(WaitUntil([&] { return s->ready.load() == 3; }));
  usleep(100 * 1000);
  EXPECT_EQ(s->woken.load(), 0);
  const auto start = Clock::now();
  s->event.set();
  for (pid_t pid : pids) EXPECT_CHILD_OK(WaitChild(pid));
  EXPECT_LT(ElapsedMs(start), 3 * testing::kSlackMs);  // not the 30 s timeout
  EXPECT_EQ(s->woken.load(), 3);
  DestroyShared(s);
}

TEST(EventTest, SetThenClearStillReleasesThoseWaiting) {
  Shared* s = NewShared<Shared>();
  std::vector<pid_t> pids;
  for (int p = 0; p < 3; ++p) {
    pids.push_back(ForkChild([s] {
      s->ready.fetch_add(1);
      if (s->event.wait(30s)) {
        s->woken.fetch_add(1);
      } else {
        s->timed_out.fetch_add(1);
      }
    }));
  }
  ASSERT_TRUE(WaitUntil([&] { return s->ready.load() == 3; }));
  // Only those already waiting are released: wait until each sleeps in
  // the kernel (where the kernel does not show it, a nap has to do).
  for (pid_t pid : pids) {
    ASSERT_TRUE(WaitUntil([&] {
      const std::optional<bool> blocked = testing::BlockedInFutex(pid);
      return !blocked.has_value() || *blocked;
    })) << "child " << pid << " never went to sleep in wait()";
  }
  usleep(300 * 1000);
  s->event.set();
  s->event.clear();  // before any of them could run
  for (pid_t pid : pids) EXPECT_CHILD_OK(WaitChild(pid));
  EXPECT_EQ(s->woken.load(), 3);
  EXPECT_EQ(s->timed_out.load(), 0);
  EXPECT_FALSE(s->event.is_set());
  DestroyShared(s);
}

TEST(EventTest, WaitReturnsWithinItsBound) {
  Event* e = NewShared<Event>();
  auto start = Clock::now();
  EXPECT_FALSE(e->wait(100ms));
  double ms = ElapsedMs(start);
  EXPECT_GE(ms, 99.0);
  EXPECT_LE(ms, 100.0 + testing::kSlackMs);
  start = Clock::now();
  EXPECT_FALSE(e->wait(absl::Milliseconds(100)));
  ms = ElapsedMs(start);
  EXPECT_GE(ms, 99.0);
  EXPECT_LE(ms, 100.0 + testing::kSlackMs);
  start = Clock::now();
  EXPECT_FALSE(e->wait(-1ms));
  EXPECT_LE(ElapsedMs(start), testing::kSlackMs);
  DestroyShared(e);
}

// Python: event.wait(timeout=1e30) waits for another process's set().
TEST(EventTest, HugeTimeoutWaitsForSet_LikePythonWaitTimeout) {
  auto* ev = NewShared<Event>();
  auto setter = [ev] {
    ev->clear();
    return StartPeer([] {}, [ev] { ev->set(); });
  };
  ForEachHugeDuration([&](const char* what, auto timeout) {
    ExpectWaitsForPeer(what, setter(), [&] { return ev->wait(timeout); });
  });
  ForEachHugeAbslDuration([&](const char* what, absl::Duration timeout) {
    ExpectWaitsForPeer(what, setter(), [&] { return ev->wait(timeout); });
  });
  ev->clear();
  EXPECT_FALSE(ev->wait(std::chrono::hours::min()));
  DestroyShared(ev);
}

TEST(EventTest, ManyRoundsAcrossProcesses) {
  // Ping-pong through two events: each round the child waits for `go`,
  // clears it and sets `back`.
  struct Two {
    Event go;
    Event back;
  };
  Two* t = NewShared<Two>();
  constexpr int kRounds = 2000;
  pid_t pid = ForkChild([t] {
    for (int i = 0; i < kRounds; ++i) {
      CHILD_CHECK(t->go.wait(30s));
      t->go.clear();
      t->back.set();
    }
  });
  for (int i = 0; i < kRounds; ++i) {
    t->go.set();
    ASSERT_TRUE(t->back.wait(30s)) << "round " << i;
    t->back.clear();
  }
  EXPECT_CHILD_OK(WaitChild(pid));
  DestroyShared(t);
}

TEST(EventTest, WaiterKilledInsideWaitDoesNotBreakIt) {
  Shared* s = NewShared<Shared>();
  pid_t doomed = ForkChild([s] {
    s->ready.fetch_add(1);
    s->event.wait(20s);
  });
  ASSERT_TRUE(WaitUntil([&] { return s->ready.load() == 1; }));
  usleep(100 * 1000);
  kill(doomed, SIGKILL);
  WaitChild(doomed);
  pid_t pid = ForkChild([s] { CHILD_CHECK(s->event.wait(30s)); });
  usleep(50 * 1000);
  s->event.set();
  EXPECT_CHILD_OK(WaitChild(pid));
  EXPECT_TRUE(s->event.is_set());
  DestroyShared(s);
}

}  // namespace
}  // namespace shoal
