// Tests for pool/reusable_executor.h: one executor per process whose
// workers stay up between uses, leave after an idle timeout, and are
// resized on demand (loky's get_reusable_executor).
#include "shoal/pool/reusable_executor.h"

#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <set>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "shoal/base/errors.h"
#include "tests/support/fork_helpers.h"

namespace {

using namespace std::chrono_literals;

constexpr auto kWait = std::chrono::seconds(60);

int Square(int x) { return x * x; }
pid_t Pid() { return getpid(); }
int SleepThenSquare(int ms, int x) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return x * x;
}

bool GoneWithin(pid_t pid, std::chrono::seconds limit) {
  const int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return errno == ESRCH;
  pollfd p{fd, POLLIN, 0};
  const int n = poll(&p, 1, static_cast<int>(limit.count() * 1000));
  close(fd);
  return n > 0;
}

// Waits (bounded) until the executor has no workers.
bool WorkersLeaveWithin(const shoal::ReusableExecutor& ex,
                        std::chrono::seconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!ex.worker_pids().empty()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

// Each test ends the executor, so the next starts from nothing.
class ReusableExecutorTest : public ::testing::Test {
 protected:
  void TearDown() override { shoal::get_reusable_executor(options_).shutdown(); }
  shoal::ReusableExecutorOptions options_{.max_workers = 2,
                                          .idle_timeout = 60s};
};

TEST_F(ReusableExecutorTest, TheSameWorkersServeEveryUse) {
  shoal::ReusableExecutor a = shoal::get_reusable_executor(options_);
  const std::vector<pid_t> pids = a.worker_pids();
  ASSERT_EQ(pids.size(), 2u);  // started by get_reusable_executor
  EXPECT_EQ(a.submit(Square, 7).result(kWait), 49);
  // Elsewhere, later: the same executor, nothing started again.
  shoal::ReusableExecutor b = shoal::get_reusable_executor(options_);
  EXPECT_EQ(b.worker_pids(), pids);
  std::set<pid_t> ran;
  for (int i = 0; i < 20; ++i) ran.insert(b.submit(Pid).result(kWait));
  for (pid_t p : ran) {
    EXPECT_NE(std::find(pids.begin(), pids.end(), p), pids.end());
  }
  int n = 0;
  for (int v : b.map(Square, std::vector<int>{0, 1, 2, 3})) {
    EXPECT_EQ(v, n * n);
    ++n;
  }
  EXPECT_EQ(n, 4);
  EXPECT_EQ(a.worker_pids(), pids);
  EXPECT_EQ(a.max_workers(), 2u);
}

TEST_F(ReusableExecutorTest, WorkersLeaveAfterTheIdleTimeoutAndComeBack) {
  options_.idle_timeout = 200ms;
  shoal::ReusableExecutor ex = shoal::get_reusable_executor(options_);
  EXPECT_EQ(ex.submit(Square, 3).result(kWait), 9);
  const std::vector<pid_t> first = ex.worker_pids();
  ASSERT_EQ(first.size(), 2u);
  ASSERT_TRUE(WorkersLeaveWithin(ex, 30s));
  for (pid_t p : first) EXPECT_TRUE(GoneWithin(p, 30s)) << p;
  // The retired executor's threads may still be exiting while this submit
  // forks a new pool (fork_helpers.h: ASan and fork).
  shoal::testing::SettleOtherThreads();
  // The handle still works: new workers.
  EXPECT_EQ(ex.submit(Square, 4).result(kWait), 16);
  const std::vector<pid_t> second = ex.worker_pids();
  ASSERT_EQ(second.size(), 2u);
  for (pid_t p : second) {
    EXPECT_EQ(std::find(first.begin(), first.end(), p), first.end());
  }
}

// A task running longer than the idle timeout is not idleness.
TEST_F(ReusableExecutorTest, ABusyExecutorIsNotRetired) {
  options_.idle_timeout = 50ms;
  shoal::ReusableExecutor ex = shoal::get_reusable_executor(options_);
  const std::vector<pid_t> pids = ex.worker_pids();
  auto slow = ex.submit(SleepThenSquare, 2000, 5);
  std::vector<shoal::Future<int>> quick;
  for (int i = 0; i < 20; ++i) {
    quick.push_back(ex.submit(SleepThenSquare, 20, i));
  }
  for (int i = 0; i < 20; ++i) EXPECT_EQ(quick[i].result(kWait), i * i);
  // While the slow one runs (many idle timeouts long), nothing retires.
  // Read first, then ask whether it still ran: a pause between the two
  // (longer than the idle timeout) cannot turn its end into a failure.
  const std::vector<pid_t> now = ex.worker_pids();
  if (!slow.done()) {
    EXPECT_EQ(now, pids);
  }
  EXPECT_EQ(slow.result(kWait), 25);
}

TEST_F(ReusableExecutorTest, ResizingFinishesWhatWasSubmitted) {
  shoal::ReusableExecutor two = shoal::get_reusable_executor(options_);
  ASSERT_EQ(two.worker_pids().size(), 2u);
  auto pending = two.submit(SleepThenSquare, 200, 6);
  options_.max_workers = 3;
  shoal::ReusableExecutor three = shoal::get_reusable_executor(options_);
  EXPECT_EQ(pending.result(kWait), 36);  // the old workers finished it
  EXPECT_EQ(three.worker_pids().size(), 3u);
  EXPECT_EQ(two.worker_pids().size(), 3u);  // the old handle sees the new size
  EXPECT_EQ(two.max_workers(), 3u);
  EXPECT_EQ(two.submit(Square, 8).result(kWait), 64);
}

TEST_F(ReusableExecutorTest, KillWorkersCancelsWhatRuns) {
  shoal::ReusableExecutor ex = shoal::get_reusable_executor(options_);
  auto stuck = ex.submit(SleepThenSquare, 60'000, 1);
  while (!stuck.running()) std::this_thread::sleep_for(1ms);
  options_.max_workers = 1;
  options_.kill_workers = true;
  const auto t0 = std::chrono::steady_clock::now();
  shoal::ReusableExecutor one = shoal::get_reusable_executor(options_);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 30s);  // not 60 s
  EXPECT_THROW(stuck.result(kWait), shoal::CancelledError);
  EXPECT_EQ(one.worker_pids().size(), 1u);
  EXPECT_EQ(one.submit(Square, 9).result(kWait), 81);
}

TEST_F(ReusableExecutorTest, ShutdownEndsItAndTheNextGetStartsAFreshOne) {
  shoal::ReusableExecutor ex = shoal::get_reusable_executor(options_);
  const std::vector<pid_t> pids = ex.worker_pids();
  auto f = ex.submit(SleepThenSquare, 100, 2);
  ex.shutdown();  // waits
  EXPECT_EQ(f.result(kWait), 4);
  EXPECT_TRUE(ex.worker_pids().empty());
  EXPECT_THROW(ex.submit(Square, 1), shoal::RuntimeError);
  for (pid_t p : pids) EXPECT_TRUE(GoneWithin(p, 30s));
  shoal::ReusableExecutor fresh = shoal::get_reusable_executor(options_);
  EXPECT_EQ(fresh.submit(Square, 5).result(kWait), 25);
  EXPECT_THROW(ex.submit(Square, 1), shoal::RuntimeError);  // still done
}

TEST_F(ReusableExecutorTest, BadOptions) {
  EXPECT_THROW(shoal::get_reusable_executor({.max_workers = 0}),
               shoal::ValueError);
  EXPECT_THROW(
      shoal::get_reusable_executor({.max_workers = 1, .idle_timeout = 0s}),
      shoal::ValueError);
  EXPECT_THROW(shoal::ReusableExecutor().submit(Square, 1), shoal::ValueError);
}

// Threads submitting while the executor keeps retiring for idleness: every
// call runs once and returns its value.
TEST_F(ReusableExecutorTest, ConcurrentUsersAcrossRetirements) {
  options_.idle_timeout = 5ms;
  shoal::ReusableExecutor ex = shoal::get_reusable_executor(options_);
  std::atomic<int> wrong{0};
  std::vector<std::thread> users;
  for (int t = 0; t < 4; ++t) {
    users.emplace_back([&, t] {
      for (int i = 0; i < 30; ++i) {
        if (ex.submit(Square, t * 100 + i).result(kWait) !=
            (t * 100 + i) * (t * 100 + i)) {
          ++wrong;
        }
        if (i % 10 == 9) std::this_thread::sleep_for(30ms);  // idle spells
      }
    });
  }
  for (auto& u : users) u.join();
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
