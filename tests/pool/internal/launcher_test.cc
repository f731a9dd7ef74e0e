// Tests for pool/internal/launcher.h: each real launcher starts a worker
// that attaches to a pool region, stops it, and reaps it with the right
// status. Its own main(): spawned workers re-enter through shoal::init.
#include "shoal/pool/internal/launcher.h"

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "shoal/ipc/region.h"
#include "shoal/pool/context.h"
#include "shoal/pool/internal/pool_view.h"

namespace {

using namespace std::chrono_literals;
using shoal::internal::ExitStatus;
using shoal::internal::Launched;
using shoal::internal::LaunchKind;
using shoal::internal::PoolView;

struct RealPool {
  explicit RealPool(LaunchKind kind, uint32_t workers = 1) {
    shoal::internal::PoolGeometry g;
    g.workers = workers;
    g.slots = 8;
    g.heap_bytes = 1 << 20;
    shoal::RegionOptions ro;
    ro.kind = shoal::internal::RegionKindFor(kind);
    ro.name = "shoal-pool-test";
    region = shoal::Region::Create(PoolView::BytesFor(g),
                                   shoal::internal::PoolRegionLayout(), ro);
    view = PoolView::Create(region.payload(), region.payload_size(), g);
    view.shared()->parent_pid = static_cast<uint32_t>(getpid());
    region.PublishReady();
    shoal::internal::LaunchContext lc;
    lc.view = &view;
    lc.region = &region;
    lc.parent_pid = getpid();
    lc.worker_name = "T";
    lc.workers = workers;
    launcher = shoal::internal::MakeLauncher(kind, lc);
    launcher->Prepare();
  }
  ~RealPool() {
    view.ring().Close();
    launcher.reset();
  }
  bool WaitLife(uint32_t w, uint32_t life) {
    for (int i = 0; i < 10000; ++i) {
      if (view.status(w).life.load() == life) return true;
      std::this_thread::sleep_for(1ms);
    }
    return false;
  }

  shoal::Region region;
  PoolView view;
  std::unique_ptr<shoal::internal::Launcher> launcher;
};

bool Readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, 20000) == 1;
}

class LauncherTest : public ::testing::TestWithParam<LaunchKind> {};

TEST_P(LauncherTest, AWorkerAttachesAndLeavesWhenTheQueueCloses) {
  RealPool pool(GetParam());
  const bool processes = GetParam() != LaunchKind::kThreads;
  EXPECT_EQ(pool.launcher->processes(), processes);
  EXPECT_EQ(pool.launcher->attach_limit() > 0s,
            GetParam() == LaunchKind::kSpawn);
  pool.view.status(0).incarnation.store(1);
  const Launched l = pool.launcher->Launch(0, "T-1");
  ASSERT_TRUE(pool.WaitLife(0, shoal::internal::kWorkerReady));
  if (processes) {
    EXPECT_NE(l.pid, getpid());
    EXPECT_EQ(kill(l.pid, 0), 0);
  } else {
    EXPECT_EQ(l.pid, getpid());
  }
  pool.view.ring().Close();
  ASSERT_TRUE(Readable(l.exit_fd));
  const ExitStatus e = pool.launcher->Reap(0);
  EXPECT_EQ(e.signal, 0);
  EXPECT_EQ(e.exit_code, 0);
  EXPECT_EQ(pool.view.status(0).exit_reason.load(),
            shoal::internal::kExitClosed);
}

TEST_P(LauncherTest, StopEndsAWorkerAndAPositionCanBeRefilled) {
  RealPool pool(GetParam());
  for (uint32_t incarnation = 1; incarnation <= 2; ++incarnation) {
    pool.view.status(0).life.store(shoal::internal::kWorkerEmpty);
    pool.view.status(0).incarnation.store(incarnation);
    const Launched l = pool.launcher->Launch(0, "T-1");
    ASSERT_TRUE(pool.WaitLife(0, shoal::internal::kWorkerReady));
    pool.launcher->Stop(0);
    ASSERT_TRUE(Readable(l.exit_fd));
    const ExitStatus e = pool.launcher->Reap(0);
    if (GetParam() == LaunchKind::kThreads) {
      EXPECT_EQ(e.exit_code, 0);  // a thread leaves after its task
    } else {
      EXPECT_EQ(e.signal, SIGKILL);
      EXPECT_EQ(kill(l.pid, 0), -1);  // reaped: gone
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Kinds, LauncherTest,
    ::testing::Values(LaunchKind::kForkServer, LaunchKind::kSpawn,
                      LaunchKind::kThreads),
    [](const ::testing::TestParamInfo<LaunchKind>& i) -> std::string {
      switch (i.param) {
        case LaunchKind::kForkServer:
          return "ForkServer";
        case LaunchKind::kSpawn:
          return "Spawn";
        case LaunchKind::kForkserver:
          return "Forkserver";
        case LaunchKind::kThreads:
          break;
      }
      return "Threads";
    });

TEST(LauncherTest, WorkerNames) {
  EXPECT_EQ(shoal::internal::WorkerName("ForkPoolWorker", 0, 1),
            "ForkPoolWorker-1");
  EXPECT_EQ(shoal::internal::WorkerName("ForkPoolWorker", 1, 3),
            "ForkPoolWorker-2.3");
}

TEST(LauncherTest, ThreadPoolsCannotKill) {
  EXPECT_THROW(shoal::internal::CheckCanLaunch(LaunchKind::kThreads, true),
               shoal::ValueError);
  shoal::internal::CheckCanLaunch(LaunchKind::kThreads, false);
  shoal::internal::CheckCanLaunch(LaunchKind::kForkServer, true);
}

}  // namespace

int main(int argc, char** argv) {
  shoal::init(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
