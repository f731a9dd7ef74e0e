// Tests for pool/internal/task_table.h: slots, backpressure, outcomes,
// cancel, notify, requeue. Workers are played by hand (pool_fixture.h).
#include "shoal/pool/internal/task_table.h"

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "shoal/base/errors.h"
#include "tests/pool/internal/pool_fixture.h"

namespace {

using namespace std::chrono_literals;
using shoal::Deadline;
using shoal::internal::kPhaseBroken;
using shoal::internal::kPhaseCancelled;
using shoal::internal::kPhaseError;
using shoal::internal::kPhaseLost;
using shoal::internal::kPhaseQueued;
using shoal::internal::kPhaseTimeout;
using shoal::internal::MakeTaskRef;
using shoal::internal::PoolState;
using shoal::internal::TaskRef;
using shoal::internal::TaskTable;
using shoal::internal::TaskTableOptions;
using shoal::testing::Finish;
using shoal::testing::Input;
using shoal::testing::PoolMemory;
using shoal::testing::Recorder;
using shoal::testing::SubmitBytes;
using shoal::testing::TakeAndStart;

class KillLog : public shoal::internal::WorkerControl {
 public:
  void KillRunning(uint64_t ref) override { killed.push_back(ref); }
  void WatchTimeouts() override { ++watch; }
  std::vector<uint64_t> killed;
  int watch = 0;
};

struct Table {
  explicit Table(uint32_t slots = 8, TaskTableOptions o = {})
      : mem(slots), table(mem.view, state, o) {}
  PoolMemory mem;
  PoolState state;
  TaskTable table;
};

TEST(TaskTableTest, SubmitRunCollectDeliversExactlyOnce) {
  Table t;
  auto job = std::make_shared<Recorder>();
  const TaskRef ref = *SubmitBytes(t.table, job, "payload", 7);
  EXPECT_FALSE(t.table.IsDone(ref));
  const uint64_t taken = TakeAndStart(t.mem.view);
  ASSERT_EQ(taken, MakeTaskRef(ref.slot, ref.gen));
  EXPECT_EQ(Input(t.mem.view, taken), "payload");
  EXPECT_TRUE(t.table.IsRunning(ref));
  Finish(t.mem.view, taken, "result");
  ASSERT_TRUE(t.table.WaitDone(ref, Deadline(5s)));
  t.table.Collect(ref);
  t.table.Collect(ref);  // a second collect, or a stale ref: nothing
  ASSERT_EQ(job->results.size(), 1u);
  EXPECT_EQ(job->results[0].first, 7u);
  EXPECT_EQ(job->results[0].second, "result");
  EXPECT_TRUE(job->errors.empty());
  // The slot is free again, under a new generation: the old ref is done.
  EXPECT_TRUE(t.table.IsDone(ref));
  const TaskRef again = *SubmitBytes(t.table, job, "x");
  EXPECT_EQ(again.slot, ref.slot);  // LIFO: the cache-hot slot
  EXPECT_NE(again.gen, ref.gen);
}

TEST(TaskTableTest, LargePayloadsGoThroughTheHeapAndAreFreed) {
  Table t;
  auto job = std::make_shared<Recorder>();
  const std::string big(100000, 'b');
  for (int round = 0; round < 30; ++round) {  // 3 MB through a 1 MiB heap
    const TaskRef ref = *SubmitBytes(t.table, job, big);
    const uint64_t taken = TakeAndStart(t.mem.view);
    ASSERT_EQ(Input(t.mem.view, taken), big);
    Finish(t.mem.view, taken, "ok");
    t.table.Collect(ref);
  }
  EXPECT_EQ(job->results.size(), 30u);
  // Larger than the whole heap: refused with a clear error, slot returned.
  EXPECT_THROW(SubmitBytes(t.table, job, std::string(2 << 20, 'x')),
               shoal::SerializationError);
}

TEST(TaskTableTest, BackpressureWhenEverySlotIsInUse) {
  Table t(2);
  auto job = std::make_shared<Recorder>();
  const TaskRef a = *SubmitBytes(t.table, job, "a");
  ASSERT_TRUE(SubmitBytes(t.table, job, "b").has_value());
  EXPECT_FALSE(SubmitBytes(t.table, job, "c", 0, false, Deadline(20ms)));
  // A finished task frees its slot only when collected. A blocked submitter
  // flags every task in flight NOTIFY, so the callback thread (played here)
  // collects them as they finish.
  EXPECT_EQ(t.mem.view.slot(a.slot).state.load() & shoal::internal::kFlagNotify,
            shoal::internal::kFlagNotify);
  std::thread later([&] {
    std::this_thread::sleep_for(20ms);
    const uint64_t ta = TakeAndStart(t.mem.view);
    EXPECT_EQ(ta, MakeTaskRef(a.slot, a.gen));
    Finish(t.mem.view, ta, "A");
    t.table.CollectNotified();
  });
  ASSERT_TRUE(SubmitBytes(t.table, job, "c", 0, false, Deadline(5s)));
  later.join();
  EXPECT_EQ(job->results.size(), 1u);
}

TEST(TaskTableTest, ABlockedSubmitterLearnsThatThePoolClosedOrBroke) {
  for (int how = 0; how < 2; ++how) {
    Table t(1);
    auto job = std::make_shared<Recorder>();
    ASSERT_TRUE(SubmitBytes(t.table, job, "hold"));
    std::thread changer([&] {
      std::this_thread::sleep_for(20ms);
      if (how == 0) {
        t.state.Close();
      } else {
        t.state.Break("test", std::nullopt);
      }
      t.table.WakeSubmitters();
    });
    if (how == 0) {
      EXPECT_THROW(SubmitBytes(t.table, job, "x"), shoal::ValueError);
    } else {
      EXPECT_THROW(SubmitBytes(t.table, job, "x"), shoal::BrokenPool);
    }
    changer.join();
  }
}

TEST(TaskTableTest, OutcomesBecomeTheirErrors) {
  Table t;
  auto job = std::make_shared<Recorder>();
  std::vector<TaskRef> refs;
  for (uint32_t i = 0; i < 4; ++i) refs.push_back(*SubmitBytes(t.table, job, "x", i));
  std::vector<uint64_t> taken;
  for (int i = 0; i < 4; ++i) taken.push_back(TakeAndStart(t.mem.view));
  auto& view = t.mem.view;
  auto lose = [&](uint64_t ref, uint32_t phase) {
    auto& slot = view.slot(shoal::internal::SlotOfRef(ref));
    slot.lost_pid = 4242;
    slot.lost_signal = 9;
    slot.lost_exit_code = -1;
    view.Complete(shoal::internal::SlotOfRef(ref),
                  shoal::internal::GenOfRef(ref),
                  shoal::internal::kPhaseRunning, phase);
  };
  lose(taken[0], kPhaseLost);
  lose(taken[1], kPhaseTimeout);
  lose(taken[2], kPhaseCancelled);
  t.state.Break("test says so", std::nullopt);
  lose(taken[3], kPhaseBroken);
  for (const TaskRef& r : refs) t.table.Collect(r);
  ASSERT_EQ(job->errors.size(), 4u);
  auto rethrow = [&](uint32_t index) {
    for (auto& e : job->errors) {
      if (e.index == index) std::rethrow_exception(e.error);
    }
  };
  try {
    rethrow(0);
    ADD_FAILURE();
  } catch (const shoal::WorkerLost& e) {
    EXPECT_EQ(e.pid(), 4242);
    EXPECT_EQ(e.signal(), 9);
    EXPECT_NE(std::string(e.what()).find("SIGKILL"), std::string::npos);
  }
  EXPECT_THROW(rethrow(1), shoal::TimeoutError);
  EXPECT_THROW(rethrow(2), shoal::CancelledError);
  EXPECT_THROW(rethrow(3), shoal::BrokenPool);
  for (auto& e : job->errors) EXPECT_EQ(e.cancelled, e.index == 2);
}

TEST(TaskTableTest, AnUndecodableErrorRecordIsStillAnError) {
  Table t;
  auto job = std::make_shared<Recorder>();
  const TaskRef ref = *SubmitBytes(t.table, job, "x");
  Finish(t.mem.view, TakeAndStart(t.mem.view), "garbage", kPhaseError);
  t.table.Collect(ref);
  ASSERT_EQ(job->errors.size(), 1u);
  EXPECT_THROW(std::rethrow_exception(job->errors[0].error), shoal::CodecError);
}

TEST(TaskTableTest, CancelQueuedAtOnceRunningOnlyByKilling) {
  KillLog control;
  Table t;
  t.table.set_control(&control);
  auto job = std::make_shared<Recorder>();
  const TaskRef running = *SubmitBytes(t.table, job, "r", 0);
  const TaskRef queued = *SubmitBytes(t.table, job, "q", 1);
  const uint64_t taken = TakeAndStart(t.mem.view);
  EXPECT_TRUE(t.table.Cancel(queued, false));
  ASSERT_EQ(job->errors.size(), 1u);
  EXPECT_TRUE(job->errors[0].cancelled);
  EXPECT_THROW(std::rethrow_exception(job->errors[0].error),
               shoal::CancelledError);
  EXPECT_FALSE(t.table.Cancel(running, false));
  EXPECT_TRUE(control.killed.empty());
  // kill_running: the supervisor is asked; the task ends as the worker's
  // death settles it (played here by a thread).
  std::thread death([&] {
    std::this_thread::sleep_for(20ms);
    t.mem.view.Complete(running.slot, running.gen,
                        shoal::internal::kPhaseRunning, kPhaseCancelled);
  });
  EXPECT_TRUE(t.table.Cancel(running, true));
  death.join();
  ASSERT_EQ(control.killed.size(), 1u);
  EXPECT_EQ(control.killed[0], taken);
  EXPECT_FALSE(t.table.Cancel(running, true));  // done: false
}

TEST(TaskTableTest, WithoutKillingTimeoutsAndRunningCancelsAreRefused) {
  Table t(8, TaskTableOptions{.can_kill = false});
  auto job = std::make_shared<Recorder>();
  EXPECT_THROW(SubmitBytes(t.table, job, "x", 0, false, Deadline::Infinite(),
                           std::chrono::seconds(1)),
               shoal::ValueError);
  const TaskRef ref = *SubmitBytes(t.table, job, "x");
  TakeAndStart(t.mem.view);
  EXPECT_FALSE(t.table.Cancel(ref, true));
  // The refused submission gave its slot back.
  for (int i = 0; i < 7; ++i) ASSERT_TRUE(SubmitBytes(t.table, job, "y"));
}

TEST(TaskTableTest, TimedTasksAreCountedAndReported) {
  KillLog control;
  Table t;
  t.table.set_control(&control);
  auto job = std::make_shared<Recorder>();
  const TaskRef ref = *SubmitBytes(t.table, job, "x", 0, false,
                                   Deadline::Infinite(), 50ms);
  EXPECT_EQ(t.table.timed_tasks(), 1);
  EXPECT_EQ(control.watch, 1);
  EXPECT_EQ(t.mem.view.slot(ref.slot).timeout_ns, 50'000'000);
  Finish(t.mem.view, TakeAndStart(t.mem.view), "r");
  t.table.Collect(ref);
  EXPECT_EQ(t.table.timed_tasks(), 0);
}

TEST(TaskTableTest, NotClosedBrokenOrTerminatedRefusesWork) {
  Table t;
  auto job = std::make_shared<Recorder>();
  t.state.Close();
  EXPECT_THROW(SubmitBytes(t.table, job, "x"), shoal::ValueError);
  Table b;
  b.state.Break("gone", std::nullopt);
  EXPECT_THROW(SubmitBytes(b.table, job, "x"), shoal::BrokenPool);
}

TEST(TaskTableTest, WatchedTasksAreCollectedThroughTheNotifyBitmap) {
  Table t;
  auto job = std::make_shared<Recorder>();
  const TaskRef a = *SubmitBytes(t.table, job, "a", 0);
  const TaskRef b = *SubmitBytes(t.table, job, "b", 1, /*notify=*/true);
  t.table.Watch(a);
  EXPECT_FALSE(t.table.CollectNotified());
  Finish(t.mem.view, TakeAndStart(t.mem.view), "A");
  Finish(t.mem.view, TakeAndStart(t.mem.view), "B");
  EXPECT_TRUE(t.table.CollectNotified());
  EXPECT_EQ(job->results.size(), 2u);
  EXPECT_TRUE(t.table.IsDone(a));
  EXPECT_TRUE(t.table.IsDone(b));
  // Watching a finished task collects it at once.
  const TaskRef c = *SubmitBytes(t.table, job, "c", 2);
  Finish(t.mem.view, TakeAndStart(t.mem.view), "C");
  t.table.Watch(c);
  EXPECT_EQ(job->results.size(), 3u);
}

TEST(TaskTableTest, FailAllQueuedAndRequeue) {
  Table t;
  auto job = std::make_shared<Recorder>();
  const TaskRef a = *SubmitBytes(t.table, job, "a", 0);
  const TaskRef b = *SubmitBytes(t.table, job, "b", 1);
  // A dead worker had taken `a` but not started it: requeued, it runs once.
  uint64_t value = 0, pos = 0;
  ASSERT_EQ(t.mem.view.ring().Take(&value, &pos, Deadline::Now()),
            shoal::internal::TaskRing::Status::kOk);
  t.mem.view.ring().Release(pos);
  EXPECT_EQ(value, MakeTaskRef(a.slot, a.gen));
  EXPECT_TRUE(t.table.Requeue(value));
  EXPECT_EQ(t.mem.view.ring().size(), 2u);  // b, then a again
  // A stale or finished ref is not requeued (true: nothing to retry).
  EXPECT_TRUE(t.table.Requeue(MakeTaskRef(a.slot, a.gen + 5)));
  EXPECT_EQ(t.mem.view.ring().size(), 2u);
  t.table.FailAllQueued(kPhaseCancelled);
  t.table.CollectFinished();
  EXPECT_EQ(job->errors.size(), 2u);
  EXPECT_TRUE(t.table.IsDone(a));
  EXPECT_TRUE(t.table.IsDone(b));
  EXPECT_EQ(t.mem.view.slot(a.slot).state.load() & 0xf,
            shoal::internal::kPhaseFree);
  (void)kPhaseQueued;
}

TEST(TaskTableTest, TheCollectorThreadCollectsInsteadOfWaitingForItself) {
  Table t(2);
  t.table.set_collector(std::this_thread::get_id());
  auto job = std::make_shared<Recorder>();
  ASSERT_TRUE(SubmitBytes(t.table, job, "a", 0, /*notify=*/true));
  ASSERT_TRUE(SubmitBytes(t.table, job, "b", 1, /*notify=*/true));
  std::thread worker([&] {
    std::this_thread::sleep_for(20ms);
    Finish(t.mem.view, TakeAndStart(t.mem.view), "A");
  });
  // Full: only this thread would collect the notified task.
  ASSERT_TRUE(SubmitBytes(t.table, job, "c", 2, false, Deadline(5s)));
  worker.join();
  EXPECT_EQ(job->results.size(), 1u);
}

}  // namespace
