// Tests for base/internal/process_liveness.h: a process is judged gone only
// on proof (no such process, or a zombie), never because /proc could not be
// read for another reason.
#include "shoal/base/internal/process_liveness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <vector>

#include "gtest/gtest.h"
#include "tests/support/fork_helpers.h"

namespace shoal::internal {
namespace {

using shoal::testing::ForkChild;
using shoal::testing::RunInChild;
using shoal::testing::WaitExitCode;

TEST(ProcessLiveness, LiveZombieAndReapedChild) {
  const pid_t child = ForkChild([] { pause(); }, 60);
  EXPECT_FALSE(IsProcessGone(child));
  EXPECT_FALSE(IsProcessGone(CachedPid()));
  kill(child, SIGKILL);
  // Killed but not reaped: a zombie is gone (its parent may be the very
  // process waiting on it).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!IsProcessGone(child) && std::chrono::steady_clock::now() < deadline) {
    usleep(1000);
  }
  EXPECT_TRUE(IsProcessGone(child));
  EXPECT_EQ(WaitExitCode(child, std::chrono::seconds(10)), -SIGKILL);
  EXPECT_TRUE(IsProcessGone(child));  // reaped: no such process
}

// Out of file descriptors, /proc/<pid>/stat cannot be opened (EMFILE): that
// proves nothing, so a live process (here the parent, and the child itself)
// is not gone and CheckLiveness does not call it dead.
TEST(ProcessLiveness, OutOfFileDescriptorsIsNotGone) {
  const pid_t parent = CachedPid();
  const ProcessIdentity parent_id = SelfIdentity();
  const int code = RunInChild([parent, parent_id]() -> int {
    (void)SelfIdentity();  // cached before the descriptors run out
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return 10;
    lim.rlim_cur = 64;
    if (setrlimit(RLIMIT_NOFILE, &lim) != 0) return 11;
    std::vector<int> fds;
    for (int i = 0; i < 128; ++i) {
      const int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        if (errno != EMFILE) return 12;
        break;
      }
      fds.push_back(fd);
    }
    if (open("/proc/self/stat", O_RDONLY | O_CLOEXEC) >= 0 || errno != EMFILE) {
      return 13;  // not out of descriptors after all
    }
    if (IsProcessGone(parent)) return 20;
    if (IsProcessGone(getpid())) return 21;
    if (CheckLiveness(parent_id) == Liveness::kDead) return 22;
    for (int fd : fds) close(fd);
    // With descriptors again, the same answers.
    if (IsProcessGone(parent)) return 30;
    if (CheckLiveness(parent_id) != Liveness::kAlive) return 31;
    return 0;
  });
  EXPECT_EQ(code, 0);
  EXPECT_FALSE(IsProcessGone(parent));
}

}  // namespace
}  // namespace shoal::internal
