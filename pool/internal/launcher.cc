#include "shoal/pool/internal/launcher.h"

#include <errno.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "shoal/base/errors.h"
#include "shoal/pool/internal/fork_server.h"
#include "shoal/pool/internal/forkserver.h"
#include "shoal/pool/internal/identity.h"
#include "shoal/pool/internal/spawn.h"
#include "shoal/pool/internal/worker.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace shoal::internal {
namespace {

constexpr auto kSpawnAttachLimit = std::chrono::seconds(30);

int PidfdOpen(pid_t pid) {
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
}

int PidfdSignal(int pidfd, int sig) {
  return static_cast<int>(
      syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

ExitStatus FromWaitStatus(int status) {
  ExitStatus e;
  if (status < 0) return e;
  if (WIFEXITED(status)) e.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) e.signal = WTERMSIG(status);
  return e;
}

// Workers that are processes: watched through pidfds, stopped by SIGKILL.
class ProcessLauncher : public Launcher {
 public:
  explicit ProcessLauncher(const LaunchContext& c)
      : c_(c), procs_(c.workers) {}

  Launched Launch(uint32_t w, const std::string& name) override {
    const pid_t pid = StartProcess(w, name);
    const int pidfd = PidfdOpen(pid);
    if (pidfd < 0) {
      const int err = errno;
      kill(pid, SIGKILL);
      WaitProcess(pid, -1);
      ThrowSystemError("pidfd_open", err);
    }
    procs_[w] = Proc{pid, pidfd};
    return Launched{pid, pidfd};
  }
  void Stop(uint32_t w) override {
    if (procs_[w].pidfd >= 0) PidfdSignal(procs_[w].pidfd, SIGKILL);
  }
  ExitStatus Reap(uint32_t w) override {
    Proc& p = procs_[w];
    const ExitStatus e = WaitProcess(p.pid, p.pidfd);
    if (p.pidfd >= 0) close(p.pidfd);
    p = Proc{};
    return e;
  }
  bool processes() const override { return true; }

 protected:
  virtual pid_t StartProcess(uint32_t w, const std::string& name) = 0;
  // Waits for `pid` (dead, or killed just now); pidfd may be -1.
  virtual ExitStatus WaitProcess(pid_t pid, int pidfd) = 0;

  const LaunchContext c_;

 private:
  struct Proc {
    pid_t pid = 0;
    int pidfd = -1;
  };
  std::vector<Proc> procs_;
};

class ForkServerLauncher final : public ProcessLauncher {
 public:
  using ProcessLauncher::ProcessLauncher;

  void Prepare() override { StartServer(); }
  void Shutdown() override { server_.Stop(); }

 protected:
  pid_t StartProcess(uint32_t w, const std::string&) override {
    // The server died (the OOM killer?): start another one.
    if (!server_.running()) StartServer();
    return server_.Spawn(w);
  }
  ExitStatus WaitProcess(pid_t pid, int) override {
    // Our workers are the server's children: it reaps them.
    return FromWaitStatus(server_.Reap(pid));
  }

 private:
  void StartServer() {
    server_.Start([this](uint32_t w, pid_t server) { ChildMain(w, server); });
  }

  // In the forked worker (a child of the single-threaded server): touch
  // nothing of the parent's but the shared region and the worker code.
  [[noreturn]] void ChildMain(uint32_t w, pid_t server) {
    sigset_t none;
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, nullptr);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != server) _exit(0);
    PoolView& view = *c_.view;
    BecomeChild(WorkerName(c_.worker_name, w, view.status(w).incarnation.load()),
                /*daemon=*/true, {}, c_.parent_pid, CurrentIdentity().name);
    int rc = 70;
    try {
      WorkerContext ctx;
      ctx.index = w;
      ctx.parent_pid = server;
      rc = RunWorker(view, ctx);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "shoal: pool worker failed: %s\n", e.what());
    } catch (...) {
    }
    std::fflush(nullptr);
    _exit(rc);
  }

  ForkServer server_;
};

class SpawnLauncher final : public ProcessLauncher {
 public:
  using ProcessLauncher::ProcessLauncher;

  std::chrono::nanoseconds attach_limit() const override {
    return kSpawnAttachLimit;
  }

 protected:
  pid_t StartProcess(uint32_t w, const std::string& name) override {
    return SpawnSelf("pool",
                     {std::to_string(w), std::to_string(c_.parent_pid), name},
                     {c_.region->fd()});
  }
  ExitStatus WaitProcess(pid_t pid, int pidfd) override {
    if (pidfd < 0) {
      int status = -1;
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      return FromWaitStatus(status);
    }
    ExitStatus e;
    siginfo_t si{};
    int rc;
    do {
      rc = waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &si,
                  WEXITED);
    } while (rc != 0 && errno == EINTR);
    if (rc == 0 && si.si_pid != 0) {
      if (si.si_code == CLD_EXITED) {
        e.exit_code = si.si_status;
      } else {
        e.signal = si.si_status;
      }
    }
    return e;
  }
};

// Start method forkserver: every worker is forked from the process's
// forkserver (forkserver.h) and runs the spawned worker's code. It is not
// our child: its end comes through the server's status socket, and it is
// stopped through its pidfd.
class ForkserverLauncher final : public Launcher {
 public:
  explicit ForkserverLauncher(const LaunchContext& c)
      : c_(c), procs_(c.workers) {}
  ~ForkserverLauncher() override {
    for (ServedChild& p : procs_) CloseChild(p);
  }

  Launched Launch(uint32_t w, const std::string& name) override {
    CloseChild(procs_[w]);
    procs_[w] = ForkserverStart(
        "pool", {std::to_string(w), std::to_string(c_.parent_pid), name},
        {c_.region->fd()});
    return Launched{procs_[w].pid, procs_[w].status_fd};
  }
  void Stop(uint32_t w) override {
    if (procs_[w].pidfd >= 0) PidfdSignal(procs_[w].pidfd, SIGKILL);
  }
  ExitStatus Reap(uint32_t w) override {
    ServedChild& p = procs_[w];
    ExitStatus e;
    if (p.status_fd >= 0) e = FromWaitStatus(ForkserverReadStatus(p.status_fd));
    CloseChild(p);
    return e;
  }
  bool processes() const override { return true; }
  std::chrono::nanoseconds attach_limit() const override {
    return kSpawnAttachLimit;
  }

 private:
  static void CloseChild(ServedChild& p) {
    if (p.pidfd >= 0) close(p.pidfd);
    if (p.status_fd >= 0) close(p.status_fd);
    p = ServedChild{};
  }

  const LaunchContext c_;
  std::vector<ServedChild> procs_;
};

class ThreadLauncher final : public Launcher {
 public:
  explicit ThreadLauncher(const LaunchContext& c) : c_(c), threads_(c.workers) {}
  ~ThreadLauncher() override {
    for (Worker& t : threads_) {
      if (t.stop) t.stop->store(true);
      if (t.thread.joinable()) t.thread.join();
      if (t.done_fd >= 0) close(t.done_fd);
    }
  }

  Launched Launch(uint32_t w, const std::string&) override {
    Worker& t = threads_[w];
    if (t.thread.joinable()) t.thread.join();
    const int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0) ThrowSystemError("eventfd", errno);
    t.done_fd = fd;
    t.stop = std::make_unique<std::atomic<bool>>(false);
    const std::atomic<bool>* stop = t.stop.get();
    PoolView* view = c_.view;
    t.thread = std::thread([view, w, stop, fd] {
      WorkerContext ctx;
      ctx.index = w;
      ctx.is_thread = true;
      ctx.stop = stop;
      try {
        RunWorker(*view, ctx);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "shoal: thread worker failed: %s\n", e.what());
      }
      const uint64_t one = 1;
      ssize_t n = write(fd, &one, sizeof(one));
      (void)n;
    });
    return Launched{getpid(), fd};
  }
  void Stop(uint32_t w) override {
    if (threads_[w].stop) threads_[w].stop->store(true);
  }
  ExitStatus Reap(uint32_t w) override {
    Worker& t = threads_[w];
    if (t.thread.joinable()) t.thread.join();
    if (t.done_fd >= 0) close(t.done_fd);
    t.done_fd = -1;
    return ExitStatus{0, 0};
  }
  bool processes() const override { return false; }

 private:
  struct Worker {
    std::thread thread;
    std::unique_ptr<std::atomic<bool>> stop;
    int done_fd = -1;
  };
  const LaunchContext c_;
  std::vector<Worker> threads_;
};

// The spawned pool worker (also forked by the forkserver): args = [worker
// index, parent pid, name].
int SpawnedPoolWorker(const std::vector<std::string>& args) {
  if (args.size() < 3) {
    std::fprintf(stderr, "shoal: pool worker: bad arguments\n");
    return 72;
  }
  const uint32_t index = static_cast<uint32_t>(ParseLong(args[0]));
  const pid_t parent = static_cast<pid_t>(ParseLong(args[1]));
  // Our OS parent: the pool's process, or the forkserver (which leaves when
  // the pool's process does).
  const pid_t os_parent = ExpectedOsParent(parent);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != os_parent) return 0;  // it died before we got here
  Region region = Region::FromFd(kFirstPassedFd, PoolRegionLayout());
  close(kFirstPassedFd);
  PoolView view = PoolView::Attach(region.payload(), region.payload_size());
  if (view.shared()->parent_pid != static_cast<uint32_t>(parent)) {
    throw InvalidRegion("pool region: parent pid mismatch");
  }
  BecomeChild(args[2], /*daemon=*/true, {}, parent, "MainProcess");
  WorkerContext ctx;
  ctx.index = index;
  ctx.parent_pid = os_parent;
  return RunWorker(view, ctx);
}

const bool kRegistered = RegisterSpawnEntry("pool", &SpawnedPoolWorker);

}  // namespace

void CheckCanLaunch(LaunchKind kind, bool needs_kill) {
  (void)kRegistered;
  if (kind == LaunchKind::kThreads) {
    if (needs_kill) {
      throw ValueError(
          "a ThreadPool cannot enforce task timeouts or max_memory_per_child "
          "(threads cannot be killed)");
    }
    return;
  }
  CheckNotUninitializedSpawnChild();
  if (CurrentIdentity().daemon) {
    throw ValueError("daemonic processes are not allowed to have children");
  }
}

RegionKind RegionKindFor(LaunchKind kind) {
  return kind == LaunchKind::kThreads ? RegionKind::kAnonymous
                                      : RegionKind::kMemfd;
}

std::unique_ptr<Launcher> MakeLauncher(LaunchKind kind,
                                       const LaunchContext& context) {
  switch (kind) {
    case LaunchKind::kForkServer:
      return std::make_unique<ForkServerLauncher>(context);
    case LaunchKind::kSpawn:
      return std::make_unique<SpawnLauncher>(context);
    case LaunchKind::kForkserver:
      return std::make_unique<ForkserverLauncher>(context);
    case LaunchKind::kThreads:
      break;
  }
  return std::make_unique<ThreadLauncher>(context);
}

std::string WorkerName(const std::string& base, uint32_t w,
                       uint32_t incarnation) {
  return base + "-" + std::to_string(w + 1) +
         (incarnation > 1 ? "." + std::to_string(incarnation) : std::string());
}

RegionLayout PoolRegionLayout() {
  return LayoutOf<PoolShared>("shoal::pool", kPoolLayoutVersion);
}

}  // namespace shoal::internal
