// Ctrl-C: SIGINT to the process group of a parent running a pool (what a
// terminal sends) leaves no orphan and no zombie worker, and the parent's
// own handling still happens: the default action kills it, a handler of its
// own runs and the parent exits the way the handler says.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "shoal/base/internal/process_liveness.h"
#include "shoal/pool/pool.h"

namespace {

using namespace std::chrono_literals;

int Slow(int x) {
  std::this_thread::sleep_for(5ms);
  return x;
}

volatile sig_atomic_t g_interrupted = 0;
void OnSigint(int) { g_interrupted = 1; }

// Runs in a forked child that leads its own process group: starts a pool,
// reports its worker pids through `fd`, and keeps it busy until interrupted.
[[noreturn]] void PoolParent(int fd, bool own_handler) {
  setpgid(0, 0);
  alarm(60);
  if (own_handler) {
    struct sigaction sa {};
    sa.sa_handler = OnSigint;
    sigaction(SIGINT, &sa, nullptr);
  }
  {
    shoal::Pool pool(shoal::PoolOptions{.processes = 3});
    pool.apply(Slow, 1);
    std::vector<pid_t> pids = pool.worker_pids();
    for (int i = 0; i < 15000 && pids.size() < 3; ++i) {  // all workers up
      std::this_thread::sleep_for(2ms);
      pids = pool.worker_pids();
    }
    int n = static_cast<int>(pids.size());
    (void)!write(fd, &n, sizeof(n));
    (void)!write(fd, pids.data(), sizeof(pid_t) * pids.size());
    close(fd);
    std::fprintf(stderr, "pool parent: %d workers reported\n", n);
    while (!g_interrupted) {
      try {
        pool.map(Slow, std::vector<int>(30, 1));
      } catch (const std::exception&) {
        // Workers hit by the same Ctrl-C fail their tasks: keep going.
      }
    }
    // The handler ran: shut the pool down the orderly way.
    std::fprintf(stderr, "pool parent: interrupted, terminating\n");
    pool.terminate();
    std::fprintf(stderr, "pool parent: terminated, joining\n");
    pool.join();
    std::fprintf(stderr, "pool parent: joined\n");
  }
  _exit(42);
}

void RunCase(bool own_handler, bool whole_group) {
  // Orphaned workers would be re-parented to us: we can see (and reap) them.
  ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  pid_t parent = fork();
  if (parent == 0) {
    close(fds[0]);
    PoolParent(fds[1], own_handler);
  }
  close(fds[1]);
  int n = 0;
  ASSERT_EQ(read(fds[0], &n, sizeof(n)), static_cast<ssize_t>(sizeof(n)));
  std::vector<pid_t> workers(n);
  ASSERT_EQ(read(fds[0], workers.data(), sizeof(pid_t) * n),
            static_cast<ssize_t>(sizeof(pid_t) * n));
  close(fds[0]);
  ASSERT_EQ(n, 3);
  std::this_thread::sleep_for(50ms);

  // The whole group, as a terminal's Ctrl-C; or the parent alone, as
  // `kill -INT <pid>` (then the workers must follow their parent).
  kill(whole_group ? -parent : parent, SIGINT);

  int status = 0;
  auto t0 = std::chrono::steady_clock::now();
  while (waitpid(parent, &status, WNOHANG) == 0) {
    ASSERT_LT(std::chrono::steady_clock::now() - t0, 30s) << "parent hangs";
    std::this_thread::sleep_for(5ms);
  }
  if (own_handler) {
    ASSERT_TRUE(WIFEXITED(status)) << status;
    EXPECT_EQ(WEXITSTATUS(status), 42);  // the handler's path ran
  } else {
    ASSERT_TRUE(WIFSIGNALED(status));
    EXPECT_EQ(WTERMSIG(status), SIGINT);  // the default action
  }
  // No orphan and no zombie: every worker the pool ever had is gone. A
  // worker that outlived the parent is re-parented to us, possibly only
  // after it is already a zombie (when its own parent, the fork server,
  // exits later: slow under ASan, whose exit runs the leak check), so reap
  // and look again until each pid is no longer there at all. 30 s bounds a
  // hang, not scheduling on a loaded machine.
  for (pid_t w : workers) {
    bool gone = false;
    for (int i = 0; i < 6000 && !gone; ++i) {
      while (waitpid(-1, nullptr, WNOHANG) > 0) {
      }
      gone = kill(w, 0) != 0;
      if (!gone) std::this_thread::sleep_for(5ms);
    }
    EXPECT_TRUE(gone) << "worker " << w << " outlived its parent"
                      << (shoal::internal::IsProcessGone(w) ? " (a zombie)" : "");
  }
}

TEST(Sigint, CtrlCDefaultActionLeavesNoWorkerBehind) { RunCase(false, true); }

TEST(Sigint, CtrlCParentHandlerRunsAndNoWorkerIsLeftBehind) {
  RunCase(true, true);
}

TEST(Sigint, SigintToParentAloneTakesTheWorkersWithIt) {
  RunCase(false, false);
}

TEST(Sigint, SigintToParentAloneWithHandler) { RunCase(true, false); }

}  // namespace
