// Tests for pool/internal/supervisor.h: starting and replacing workers and
// settling the tasks of those that die, with a launcher whose "workers" the
// test kills at will (the real launchers are in launcher_test.cc).
#include "shoal/pool/internal/supervisor.h"

#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "shoal/base/errors.h"
#include "shoal/base/internal/clock.h"
#include "shoal/pool/internal/remote_error.h"
#include "tests/pool/internal/pool_fixture.h"

namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using shoal::Deadline;
using shoal::internal::ExitStatus;
using shoal::internal::Launched;
using shoal::internal::MakeTaskRef;
using shoal::internal::PoolState;
using shoal::internal::Supervisor;
using shoal::internal::SupervisorOptions;
using shoal::internal::TaskRef;
using shoal::internal::TaskTable;
using shoal::testing::Finish;
using shoal::testing::PoolMemory;
using shoal::testing::Recorder;
using shoal::testing::SubmitBytes;
using shoal::testing::TakeAndStart;

constexpr auto kWait = 10s;

// Workers that are eventfds: Die() makes one "exit" with a chosen status;
// Stop() (the supervisor's kill) makes it die of SIGKILL.
class FakeLauncher : public shoal::internal::Launcher {
 public:
  explicit FakeLauncher(uint32_t workers,
                        std::chrono::nanoseconds attach_limit = {})
      : procs_(workers), attach_limit_(attach_limit) {}
  ~FakeLauncher() override {
    for (Proc& p : procs_) {
      if (p.fd >= 0) close(p.fd);
    }
  }

  Launched Launch(uint32_t w, const std::string& name) override {
    std::lock_guard<std::mutex> lock(mu_);
    Proc& p = procs_[w];
    p.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    p.pid = next_pid_++;
    p.exit = ExitStatus{};
    names_.push_back(name);
    cv_.notify_all();
    return Launched{p.pid, p.fd};
  }
  void Stop(uint32_t w) override {
    std::lock_guard<std::mutex> lock(mu_);
    stops_.push_back(w);
    DieLocked(w, ExitStatus{SIGKILL, -1});
  }
  ExitStatus Reap(uint32_t w) override {
    std::lock_guard<std::mutex> lock(mu_);
    Proc& p = procs_[w];
    close(p.fd);
    p.fd = -1;
    ++reaped_;
    cv_.notify_all();
    return p.exit;
  }
  bool processes() const override { return true; }
  std::chrono::nanoseconds attach_limit() const override {
    return attach_limit_;
  }

  // --- the test's side ---
  void Die(uint32_t w, ExitStatus e) {
    std::lock_guard<std::mutex> lock(mu_);
    DieLocked(w, e);
  }
  bool WaitLaunches(std::size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, kWait, [&] { return names_.size() >= n; });
  }
  bool WaitReaped(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, kWait, [&] { return reaped_ >= n; });
  }
  pid_t pid(uint32_t w) {
    std::lock_guard<std::mutex> lock(mu_);
    return procs_[w].pid;
  }
  std::vector<std::string> names() {
    std::lock_guard<std::mutex> lock(mu_);
    return names_;
  }
  std::vector<uint32_t> stops() {
    std::lock_guard<std::mutex> lock(mu_);
    return stops_;
  }

 private:
  struct Proc {
    pid_t pid = 0;
    int fd = -1;
    ExitStatus exit;
    bool dead = false;
  };
  void DieLocked(uint32_t w, ExitStatus e) {
    Proc& p = procs_[w];
    if (p.fd < 0) return;
    p.exit = e;
    const uint64_t one = 1;
    (void)!write(p.fd, &one, sizeof(one));
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Proc> procs_;
  std::vector<std::string> names_;
  std::vector<uint32_t> stops_;
  int reaped_ = 0;
  pid_t next_pid_ = 3'000'001;  // never a real process here
  std::chrono::nanoseconds attach_limit_;
};

struct Rig {
  const uint32_t workers;
  explicit Rig(uint32_t workers, SupervisorOptions o = {},
               std::chrono::nanoseconds attach_limit = {})
      : workers(workers),
        mem(8, workers),
        table(mem.view, state, {}),
        launcher(workers, attach_limit),
        sup((o.workers = workers, o.worker_name = "W", o), mem.view, state,
            table, launcher) {
    table.set_control(&sup);
    sup.Start();
  }
  ~Rig() {
    if (state.Terminate()) {
      mem.view.ring().Close();
      sup.Terminate();
    }
    EXPECT_TRUE(sup.WaitFinished(Deadline(kWait)));
    sup.Join();
  }
  void Ready(uint32_t w) {
    mem.view.status(w).life.store(shoal::internal::kWorkerReady);
  }
  // Every first worker launched and ready (the usual start of a test).
  bool LaunchAndReadyAll() {
    if (!launcher.WaitLaunches(workers)) return false;
    for (uint32_t w = 0; w < workers; ++w) Ready(w);
    return true;
  }
  // The worker in position w leaves on its own, as after maxtasksperchild.
  void Leave(uint32_t w) {
    mem.view.status(w).exit_reason.store(shoal::internal::kExitMaxTasks);
    mem.view.status(w).life.store(shoal::internal::kWorkerExiting);
    launcher.Die(w, ExitStatus{0, 0});
  }
  // Launched workers count once the supervisor has recorded them.
  bool WaitPids(std::size_t n) {
    for (int i = 0; i < 10000 && sup.WorkerPids().size() != n; ++i) {
      std::this_thread::sleep_for(1ms);
    }
    return sup.WorkerPids().size() == n;
  }
  bool WaitBroken() {
    for (int i = 0; i < 1000 && !state.broken(); ++i) {
      std::this_thread::sleep_for(10ms);
    }
    return state.broken();
  }

  PoolMemory mem;
  PoolState state;
  TaskTable table;
  FakeLauncher launcher;
  Supervisor sup;
};

std::exception_ptr OutcomeOf(Rig& rig, TaskRef ref,
                             const std::shared_ptr<Recorder>& job) {
  EXPECT_TRUE(rig.table.WaitDone(ref, Deadline(kWait)));
  rig.table.Collect(ref);
  std::lock_guard<std::mutex> lock(job->mu);
  return job->errors.empty() ? nullptr : job->errors.back().error;
}

TEST(SupervisorTest, StartsEveryWorkerAndReplacesOneThatLeaves) {
  Rig rig(2);
  ASSERT_TRUE(rig.launcher.WaitLaunches(2));
  ASSERT_TRUE(rig.WaitPids(2));
  const pid_t first = rig.launcher.pid(0);
  EXPECT_THAT(rig.sup.WorkerPids(),
              ::testing::UnorderedElementsAre(first, rig.launcher.pid(1)));
  rig.Ready(0);
  rig.Ready(1);
  rig.Leave(0);
  ASSERT_TRUE(rig.launcher.WaitLaunches(3));
  EXPECT_EQ(rig.launcher.names(),
            (std::vector<std::string>{"W-1", "W-2", "W-1.2"}));
  ASSERT_TRUE(rig.WaitPids(2));
  EXPECT_THAT(rig.sup.WorkerPids(), ::testing::Not(::testing::Contains(first)));
  EXPECT_EQ(rig.sup.WorkerPids().size(), 2u);
  EXPECT_FALSE(rig.state.broken());
}

TEST(SupervisorTest, ADeadWorkersRunningTaskIsLostItsUnstartedOneRequeued) {
  Rig rig(2);
  ASSERT_TRUE(rig.LaunchAndReadyAll());
  auto job = std::make_shared<Recorder>();
  const TaskRef running = *SubmitBytes(rig.table, job, "r", 0);
  const TaskRef taken = *SubmitBytes(rig.table, job, "t", 1);
  // Worker 0 started `running`; worker 1 took `taken` but never started it.
  const uint64_t r = TakeAndStart(rig.mem.view);
  ASSERT_EQ(r, MakeTaskRef(running.slot, running.gen));
  rig.mem.view.status(0).current.store(r);
  uint64_t t = 0, pos = 0;
  ASSERT_EQ(rig.mem.view.ring().Take(&t, &pos, Deadline(kWait)),
            shoal::internal::TaskRing::Status::kOk);
  rig.mem.view.ring().Release(pos);
  rig.mem.view.status(1).current.store(t);
  const pid_t dead0 = rig.launcher.pid(0);
  rig.launcher.Die(0, ExitStatus{SIGKILL, -1});
  rig.launcher.Die(1, ExitStatus{0, 3});
  try {
    std::rethrow_exception(OutcomeOf(rig, running, job));
  } catch (const shoal::WorkerLost& e) {
    EXPECT_EQ(e.pid(), dead0);
    EXPECT_EQ(e.signal(), SIGKILL);
    EXPECT_THAT(e.what(), HasSubstr("killed by SIGKILL while running"));
  } catch (...) {
    ADD_FAILURE() << "not WorkerLost";
  }
  // Exactly once more in the ring: a new worker would run it.
  EXPECT_EQ(TakeAndStart(rig.mem.view), t);
  EXPECT_FALSE(rig.table.IsDone(taken));
  Finish(rig.mem.view, t, "T");
  rig.table.Collect(taken);
  EXPECT_EQ(job->results.size(), 1u);
  EXPECT_EQ(rig.mem.view.ring().size(), 0u);
  ASSERT_TRUE(rig.launcher.WaitLaunches(4));  // both replaced
}

TEST(SupervisorTest, ATaskPastItsTimeLimitKillsItsWorker) {
  Rig rig(1);
  ASSERT_TRUE(rig.LaunchAndReadyAll());
  auto job = std::make_shared<Recorder>();
  const TaskRef ref = *SubmitBytes(rig.table, job, "slow", 0, false,
                                   Deadline::Infinite(), 30ms);
  const uint64_t r = TakeAndStart(rig.mem.view);
  rig.mem.view.status(0).started_ns.store(shoal::internal::MonotonicNanos());
  rig.mem.view.status(0).current.store(r);
  EXPECT_THROW(std::rethrow_exception(OutcomeOf(rig, ref, job)),
               shoal::TimeoutError);
  EXPECT_EQ(rig.launcher.stops(), (std::vector<uint32_t>{0}));
  ASSERT_TRUE(rig.launcher.WaitLaunches(2));
  EXPECT_FALSE(rig.state.broken());
}

TEST(SupervisorTest, KillRunningEndsThatTaskCancelled) {
  Rig rig(2);
  ASSERT_TRUE(rig.LaunchAndReadyAll());
  auto job = std::make_shared<Recorder>();
  const TaskRef ref = *SubmitBytes(rig.table, job, "x");
  const uint64_t r = TakeAndStart(rig.mem.view);
  rig.mem.view.status(1).current.store(r);
  rig.sup.KillRunning(r);
  EXPECT_THROW(std::rethrow_exception(OutcomeOf(rig, ref, job)),
               shoal::CancelledError);
  EXPECT_EQ(rig.launcher.stops(), (std::vector<uint32_t>{1}));
  EXPECT_TRUE(job->errors.back().cancelled);
}

TEST(SupervisorTest, AFailingInitializerBreaksThePoolWithItsError) {
  Rig rig(2);
  ASSERT_TRUE(rig.launcher.WaitLaunches(2));
  auto job = std::make_shared<Recorder>();
  const TaskRef queued = *SubmitBytes(rig.table, job, "q");
  shoal::internal::PoolShared* s = rig.mem.view.shared();
  shoal::internal::ErrorRecord rec;
  rec.kind = "std::invalid_argument";
  rec.type_name = "std::invalid_argument";
  rec.message = "init says no";
  const std::size_t n = shoal::internal::EncodedErrorSize(rec);
  shoal::internal::EncodeErrorRecordTo(rec, rig.mem.view.init_error_area(), n);
  s->init_error_size = static_cast<uint32_t>(n);
  s->init_error_state.store(2);
  rig.mem.view.status(0).life.store(shoal::internal::kWorkerInitFailed);
  rig.launcher.Die(0, ExitStatus{0, shoal::internal::kInitFailedExitCode});
  ASSERT_TRUE(rig.WaitBroken());
  try {
    std::rethrow_exception(rig.state.BrokenError());
  } catch (const shoal::BrokenPool& e) {
    EXPECT_THAT(e.what(), HasSubstr("initializer failed"));
    EXPECT_THAT(e.what(), HasSubstr("init says no"));
    EXPECT_THROW(std::rethrow_if_nested(e), std::invalid_argument);
  }
  // The other worker is stopped, queued work fails BROKEN, nobody respawns.
  EXPECT_THROW(std::rethrow_exception(OutcomeOf(rig, queued, job)),
               shoal::BrokenPool);
  EXPECT_TRUE(rig.sup.WaitFinished(Deadline(kWait)));
  EXPECT_EQ(rig.launcher.names().size(), 2u);
  EXPECT_TRUE(rig.sup.WorkerPids().empty());
}

TEST(SupervisorTest, WorkersThatKeepDyingBeforeTheyStartBreakThePool) {
  Rig rig(1);
  for (std::size_t i = 1; i <= 3; ++i) {
    ASSERT_TRUE(rig.launcher.WaitLaunches(i));
    rig.launcher.Die(0, ExitStatus{0, 1});
  }
  ASSERT_TRUE(rig.WaitBroken());
  try {
    std::rethrow_exception(rig.state.BrokenError());
  } catch (const shoal::BrokenPool& e) {
    EXPECT_THAT(e.what(), HasSubstr("keep dying before they start"));
  }
}

TEST(SupervisorTest, BreakOnWorkerDeathLikePython) {
  Rig rig(2, SupervisorOptions{.break_on_worker_death = true});
  ASSERT_TRUE(rig.LaunchAndReadyAll());
  rig.launcher.Die(1, ExitStatus{SIGSEGV, -1});
  ASSERT_TRUE(rig.WaitBroken());
  try {
    std::rethrow_exception(rig.state.BrokenError());
  } catch (const shoal::BrokenPool& e) {
    EXPECT_THAT(e.what(), HasSubstr("terminated abruptly"));
    EXPECT_THAT(e.what(), HasSubstr("SIGSEGV"));
  }
  // A worker leaving normally does not break a pool.
  Rig calm(1, SupervisorOptions{.break_on_worker_death = true});
  ASSERT_TRUE(calm.LaunchAndReadyAll());
  calm.Leave(0);
  ASSERT_TRUE(calm.launcher.WaitLaunches(2));
  EXPECT_FALSE(calm.state.broken());
}

TEST(SupervisorTest, TerminateStopsEveryWorkerAndCancelsQueuedTasks) {
  Rig rig(2);
  ASSERT_TRUE(rig.LaunchAndReadyAll());
  auto job = std::make_shared<Recorder>();
  const TaskRef queued = *SubmitBytes(rig.table, job, "q");
  ASSERT_TRUE(rig.state.Terminate());
  rig.mem.view.ring().Close();
  rig.sup.Terminate();
  EXPECT_TRUE(rig.sup.WaitFinished(Deadline(kWait)));
  EXPECT_EQ(rig.launcher.stops().size(), 2u);
  EXPECT_EQ(rig.launcher.names().size(), 2u);  // nobody replaced
  EXPECT_THROW(std::rethrow_exception(OutcomeOf(rig, queued, job)),
               shoal::CancelledError);
}

TEST(SupervisorTest, AfterCloseWorkersDrainTheQueueThenTheSupervisorLeaves) {
  Rig rig(2);
  ASSERT_TRUE(rig.LaunchAndReadyAll());
  ASSERT_TRUE(rig.state.Close());
  ASSERT_TRUE(rig.state.FinishClosing());  // no lazy map open: queue closes
  rig.mem.view.ring().Close();
  rig.sup.Wake();
  EXPECT_FALSE(rig.sup.WaitFinished(Deadline(20ms)));  // workers still there
  for (uint32_t w = 0; w < 2; ++w) {
    rig.mem.view.status(w).exit_reason.store(shoal::internal::kExitClosed);
    rig.mem.view.status(w).life.store(shoal::internal::kWorkerExiting);
    rig.launcher.Die(w, ExitStatus{0, 0});
  }
  EXPECT_TRUE(rig.sup.WaitFinished(Deadline(kWait)));
  EXPECT_EQ(rig.launcher.names().size(), 2u);
  EXPECT_TRUE(rig.launcher.stops().empty());
}

TEST(SupervisorTest, AWorkerThatNeverAttachesIsStopped) {
  Rig rig(1, {}, 30ms);
  ASSERT_TRUE(rig.launcher.WaitLaunches(2));  // stopped, then replaced
  EXPECT_FALSE(rig.launcher.stops().empty());
}

}  // namespace
