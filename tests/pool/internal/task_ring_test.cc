// Tests for pool/internal/task_ring.h.
#include "shoal/pool/internal/task_ring.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "shoal/base/errors.h"
#include "tests/support/fork_helpers.h"

namespace {

using shoal::internal::TaskRing;
using shoal::testing::SharedMapping;

TEST(TaskRingTest, FifoAndClose) {
  const std::size_t n = TaskRing::BytesFor(8);
  SharedMapping mapping(n);
  void* mem = mapping.ptr();
  TaskRing ring = TaskRing::Create(mem, n, 8);
  for (int lap = 0; lap < 5; ++lap) {
    for (uint64_t v = 1; v <= 8; ++v) ASSERT_TRUE(ring.Push(v + lap * 100));
    EXPECT_EQ(ring.size(), 8u);
    for (uint64_t v = 1; v <= 8; ++v) {
      uint64_t got = 0, pos = 0;
      ASSERT_EQ(ring.Take(&got, &pos, shoal::Deadline::Now()),
                TaskRing::Status::kOk);
      EXPECT_EQ(got, v + lap * 100);
      ring.Release(pos);
    }
  }
  uint64_t got, pos;
  EXPECT_EQ(ring.Take(&got, &pos, std::chrono::milliseconds(5)),
            TaskRing::Status::kTimedOut);
  ring.Push(7);
  ring.Close();
  ASSERT_EQ(ring.Take(&got, &pos, shoal::Deadline::Now()), TaskRing::Status::kOk);
  ring.Release(pos);
  EXPECT_EQ(ring.Take(&got, &pos, shoal::Deadline::Now()),
            TaskRing::Status::kClosed);
}

TEST(TaskRingTest, DeadReaderEntriesAreRecoveredWithTheirValue) {
  const std::size_t n = TaskRing::BytesFor(4);
  SharedMapping mapping(n);
  void* mem = mapping.ptr();
  TaskRing ring = TaskRing::Create(mem, n, 4);
  ring.Push(11);
  ring.Push(22);
  pid_t pid = fork();
  if (pid == 0) {
    uint64_t v, pos;
    // Take one and die holding it.
    if (ring.Take(&v, &pos, std::chrono::seconds(5)) != TaskRing::Status::kOk) {
      _exit(1);
    }
    _exit(v == 11 ? 0 : 2);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  std::vector<uint64_t> lost;
  ring.TakeFromDead(pid, &lost);
  ASSERT_EQ(lost, std::vector<uint64_t>{11});
  ring.TakeFromDead(pid, &lost);  // idempotent
  EXPECT_EQ(lost.size(), 1u);
  uint64_t v, pos;
  ASSERT_EQ(ring.Take(&v, &pos, shoal::Deadline::Now()), TaskRing::Status::kOk);
  EXPECT_EQ(v, 22u);
  ring.Release(pos);
  // The recovered entry is reusable: a whole lap goes through.
  for (uint64_t k = 0; k < 4; ++k) ASSERT_TRUE(ring.Push(100 + k));
  for (uint64_t k = 0; k < 4; ++k) {
    ASSERT_EQ(ring.Take(&v, &pos, shoal::Deadline::Now()), TaskRing::Status::kOk);
    EXPECT_EQ(v, 100 + k);
    ring.Release(pos);
  }
}

TEST(TaskRingTest, PushWaitsForAHeldEntryAndTimesOut) {
  const std::size_t n = TaskRing::BytesFor(2);
  SharedMapping mapping(n);
  void* mem = mapping.ptr();
  TaskRing ring = TaskRing::Create(mem, n, 2);
  uint64_t v, pos;
  ring.Push(1);
  ASSERT_EQ(ring.Take(&v, &pos, shoal::Deadline::Now()), TaskRing::Status::kOk);
  ring.Push(2);
  // Entry 0 is still held (READING): the next lap's writer cannot use it.
  EXPECT_FALSE(ring.Push(3, std::chrono::milliseconds(20)));
  ring.Release(pos);
  EXPECT_TRUE(ring.Push(3, std::chrono::milliseconds(20)));
}

// The writer sleeps on an entry a dead worker holds (nobody but the monitor
// may repair it) and wakes when the monitor takes the entry back.
TEST(TaskRingTest, PushBlockedByADeadWorkerWakesWhenTheMonitorRepairs) {
  const std::size_t n = TaskRing::BytesFor(1);
  SharedMapping mapping(n);
  void* mem = mapping.ptr();
  TaskRing ring = TaskRing::Create(mem, n, 1);
  ring.Push(5);
  pid_t pid = fork();
  if (pid == 0) {
    uint64_t v, pos;
    if (ring.Take(&v, &pos, std::chrono::seconds(5)) != TaskRing::Status::kOk) {
      _exit(1);
    }
    raise(SIGKILL);
  }
  siginfo_t info;
  ASSERT_EQ(waitid(P_PID, pid, &info, WEXITED | WNOWAIT), 0);  // not reaped
  // Past the liveness interval: still held, never silently dropped.
  EXPECT_FALSE(ring.Push(6, std::chrono::milliseconds(200)));
  std::vector<uint64_t> taken;
  std::thread monitor([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ring.TakeFromDead(pid, &taken);
  });
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(ring.Push(6, std::chrono::seconds(5)));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, shoal::testing::kSchedulingSlack);
  monitor.join();
  EXPECT_EQ(taken, std::vector<uint64_t>{5});
  uint64_t v, pos;
  ASSERT_EQ(ring.Take(&v, &pos, shoal::Deadline::Now()), TaskRing::Status::kOk);
  EXPECT_EQ(v, 6u);
  ring.Release(pos);
  waitpid(pid, nullptr, 0);
}

TEST(TaskRingTest, AttachRejectsGarbage) {
  const std::size_t n = TaskRing::BytesFor(8);
  SharedMapping mapping(n);
  void* mem = mapping.ptr();
  std::memset(mem, 0xab, n);
  EXPECT_THROW(TaskRing::Attach(mem, n), shoal::InvalidRegion);
  EXPECT_THROW(TaskRing::BytesFor(3), shoal::ValueError);
}

}  // namespace
