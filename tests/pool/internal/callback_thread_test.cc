// Tests for pool/internal/callback_thread.h.
#include "shoal/pool/internal/callback_thread.h"

#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/pool/internal/pool_fixture.h"

namespace {

using namespace std::chrono_literals;
using shoal::Deadline;
using shoal::internal::CallbackThread;
using shoal::internal::PoolState;
using shoal::internal::TaskRef;
using shoal::internal::TaskTable;
using shoal::testing::Finish;
using shoal::testing::PoolMemory;
using shoal::testing::Recorder;
using shoal::testing::SubmitBytes;
using shoal::testing::TakeAndStart;

struct Rig {
  Rig() : table(mem.view, state, {}), cb(mem.view, table, state) {
    cb.Start();
  }
  PoolMemory mem;
  PoolState state;
  TaskTable table;
  CallbackThread cb;
};

bool WaitFor(const std::function<bool()>& f) {
  for (int i = 0; i < 5000 && !f(); ++i) std::this_thread::sleep_for(1ms);
  return f();
}

TEST(CallbackThreadTest, ScheduledJobsRunThereOneAtATimeInOrder) {
  Rig rig;
  std::vector<std::shared_ptr<Recorder>> jobs;
  for (int i = 0; i < 3; ++i) {
    jobs.push_back(std::make_shared<Recorder>());
    rig.cb.Schedule(jobs.back());
  }
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard<std::mutex> lock(jobs[2]->mu);
    return !jobs[2]->callbacks.empty();
  }));
  std::thread::id there;
  for (auto& j : jobs) {
    std::lock_guard<std::mutex> lock(j->mu);
    ASSERT_EQ(j->callbacks, std::vector<bool>{true});
    ASSERT_EQ(j->threads.size(), 1u);
    EXPECT_NE(j->threads[0], std::this_thread::get_id());
    if (there == std::thread::id()) there = j->threads[0];
    EXPECT_EQ(j->threads[0], there);
  }
  EXPECT_FALSE(rig.cb.InThread());
}

TEST(CallbackThreadTest, NotifiedTasksAreCollectedInTheThread) {
  Rig rig;
  auto job = std::make_shared<Recorder>();
  const TaskRef ref = *SubmitBytes(rig.table, job, "x", 3, /*notify=*/true);
  Finish(rig.mem.view, TakeAndStart(rig.mem.view), "done");
  ASSERT_TRUE(WaitFor([&] { return job->outcomes() == 1; }));
  std::lock_guard<std::mutex> lock(job->mu);
  EXPECT_EQ(job->results[0].second, "done");
  EXPECT_NE(job->threads[0], std::this_thread::get_id());
  EXPECT_TRUE(rig.table.IsDone(ref));
}

TEST(CallbackThreadTest, AfterTerminateCallbacksAreNotRun) {
  Rig rig;
  rig.state.Terminate();
  auto job = std::make_shared<Recorder>();
  rig.cb.Schedule(job);
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard<std::mutex> lock(job->mu);
    return !job->callbacks.empty();
  }));
  EXPECT_EQ(job->callbacks, std::vector<bool>{false});
}

TEST(CallbackThreadTest, StopRunsWhatIsPendingThenSchedulingRunsInline) {
  Rig rig;
  auto first = std::make_shared<Recorder>();
  rig.cb.Schedule(first);
  rig.cb.Stop();
  EXPECT_EQ(first->callbacks.size(), 1u);
  auto late = std::make_shared<Recorder>();
  rig.cb.Schedule(late);
  ASSERT_EQ(late->threads.size(), 1u);
  EXPECT_EQ(late->threads[0], std::this_thread::get_id());
}

// A job whose callback stops the thread it runs in (a callback that joins
// the pool): no deadlock, the thread ends after it.
class StopsItsThread : public Recorder {
 public:
  explicit StopsItsThread(CallbackThread* cb) : cb_(cb) {}
  void RunCallbacks(bool run) override {
    in_thread = cb_->InThread();
    cb_->Stop();
    Recorder::RunCallbacks(run);
  }
  bool in_thread = false;

 private:
  CallbackThread* cb_;
};

TEST(CallbackThreadTest, StopFromTheThreadItselfDoesNotWaitForItself) {
  auto rig = std::make_unique<Rig>();
  auto job = std::make_shared<StopsItsThread>(&rig->cb);
  rig->cb.Schedule(job);
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard<std::mutex> lock(job->mu);
    return !job->callbacks.empty();
  }));
  EXPECT_TRUE(job->in_thread);
  rig.reset();  // joins the thread
}

}  // namespace
