// A process stopped (SIGSTOP) while it holds a pool's heap lock: the parent's
// timed calls return within their bounds. Collecting a result frees the
// task's heap blocks without the lock; a submit that needs a heap block
// gives up at its deadline. The workers are played by hand (pool_fixture.h);
// the lock holder is a real forked process.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "gtest/gtest.h"
#include "shoal/base/deadline.h"
#include "shoal/ipc/internal/block_heap.h"
#include "shoal/pool/internal/pool_state.h"
#include "shoal/pool/internal/task_table.h"
#include "tests/pool/internal/pool_fixture.h"
#include "tests/support/fork_helpers.h"

namespace {

using namespace std::chrono_literals;
using shoal::Deadline;
using shoal::internal::BlockHeapShared;
using shoal::internal::PoolState;
using shoal::internal::TaskRef;
using shoal::internal::TaskTable;
using shoal::testing::ElapsedMs;
using shoal::testing::Finish;
using shoal::testing::ForkChild;
using shoal::testing::Input;
using shoal::testing::PoolMemory;
using shoal::testing::Reap;
using shoal::testing::Recorder;
using shoal::testing::SubmitBytes;
using shoal::testing::TakeAndStart;
using Clock = std::chrono::steady_clock;

constexpr double kHang = 3000;  // ms: tells a hang from a slow machine

TEST(StoppedPeerTest, HeapLockHolderDoesNotHoldUpCollectOrSubmit) {
  PoolMemory mem(8);
  PoolState state;
  TaskTable table(mem.view, state, {});
  auto job = std::make_shared<Recorder>();
  const std::string big(5000, 'b');  // larger than a slot: in the heap
  const TaskRef first = *SubmitBytes(table, job, big, 0);
  const uint64_t taken = TakeAndStart(mem.view);
  ASSERT_EQ(Input(mem.view, taken), big);

  auto* base = reinterpret_cast<std::byte*>(mem.view.shared());
  auto* heap = reinterpret_cast<BlockHeapShared*>(
      base + mem.view.shared()->heap_offset);
  const pid_t holder = ForkChild(
      [&] {
        heap->lock.acquire();
        raise(SIGSTOP);
      },
      60);
  ASSERT_TRUE(shoal::testing::WaitUntil([&] {
    int status = 0;
    return waitpid(holder, &status, WNOHANG | WUNTRACED) == holder &&
           WIFSTOPPED(status);
  }));

  // The task finishes; collecting it frees its payload block.
  Finish(mem.view, taken, "ok");
  auto t0 = Clock::now();
  ASSERT_TRUE(table.WaitDone(first, Deadline(300ms)));
  table.Collect(first);
  EXPECT_LT(ElapsedMs(t0), kHang);
  ASSERT_EQ(job->results.size(), 1u);
  EXPECT_EQ(job->results[0].second, "ok");

  // A submit that needs a heap block gives up at its deadline.
  t0 = Clock::now();
  EXPECT_FALSE(SubmitBytes(table, job, big, 1, false, Deadline(300ms)));
  const double submit_ms = ElapsedMs(t0);
  EXPECT_GE(submit_ms, 250);
  EXPECT_LT(submit_ms, kHang);
  // A payload that fits a slot does not need the heap.
  EXPECT_TRUE(SubmitBytes(table, job, "small", 2, false, Deadline(300ms)));

  kill(holder, SIGKILL);
  Reap(holder);
  // The holder is dead: the next heap submit repairs the lock.
  EXPECT_TRUE(SubmitBytes(table, job, big, 3, false, Deadline(10s)));
}

}  // namespace
