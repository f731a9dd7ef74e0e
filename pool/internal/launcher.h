// Copyright 2026 The shoal Authors.
//
// launcher.h: how a pool's workers are started, stopped and reaped: one
// strategy per kind of worker, so the supervisor (supervisor.h) is the same
// code for all of them.
//
//   ForkServerLauncher  start method fork: every worker is forked from the
//                       pool's fork server (fork_server.h), a
//                       single-threaded copy of the parent made in
//                       Prepare(), before the pool's other threads exist.
//   SpawnLauncher       start method spawn: posix_spawn of the program's
//                       own binary (spawn.h), which attaches to the pool's
//                       region through a passed memfd.
//   ForkserverLauncher  start method forkserver: forked by the process's
//                       forkserver (forkserver.h), then as spawn.
//   ThreadLauncher      ThreadPool: workers are threads of this process.
//
// Every started worker comes with a descriptor that polls readable once it
// has ended (a pidfd for a process, the server's status socket for a
// forkserver child, an eventfd written by a thread as it leaves), so the supervisor waits for all of them in one poll().
//
// Thread safety: the supervisor thread is the only caller.
#ifndef SHOAL_POOL_INTERNAL_LAUNCHER_H_
#define SHOAL_POOL_INTERNAL_LAUNCHER_H_

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "shoal/ipc/layout.h"
#include "shoal/ipc/region.h"
#include "shoal/pool/internal/pool_state.h"
#include "shoal/pool/internal/pool_view.h"

namespace shoal::internal {

// A started worker: its pid (this process's own pid for a thread) and the
// descriptor that becomes readable when it ends (owned by the launcher).
struct Launched {
  pid_t pid = 0;
  int exit_fd = -1;
};

class Launcher {
 public:
  virtual ~Launcher() = default;

  // Once, in the supervisor thread, before the pool's other threads exist.
  // Throws (the pool then breaks).
  virtual void Prepare() {}
  // Once, when the supervisor leaves (every worker has been reaped).
  virtual void Shutdown() {}
  // Starts the worker for position `w` (its WorkerStatus is reset; `name`
  // is its process name). Throws SystemError.
  virtual Launched Launch(uint32_t w, const std::string& name) = 0;
  // Ends worker `w` as soon as it can: a process is killed (SIGKILL) now;
  // a thread leaves after its current task.
  virtual void Stop(uint32_t w) = 0;
  // After its exit_fd fired: collects worker `w`, says how it ended, closes
  // the descriptor.
  virtual ExitStatus Reap(uint32_t w) = 0;
  // Workers are processes: each holds ring entries under its own pid, can
  // be killed mid-task (timeouts, cancel), and can die on its own.
  virtual bool processes() const = 0;
  // A started worker that has not attached to the region after this long
  // is stopped (spawn: a main() that does not call shoal::init). Zero: no
  // limit.
  virtual std::chrono::nanoseconds attach_limit() const { return {}; }
};

// kForkServer: the fork method's per-pool fork server; kForkserver: the
// forkserver start method.
enum class LaunchKind { kForkServer, kSpawn, kForkserver, kThreads };

struct LaunchContext {
  PoolView* view = nullptr;
  const Region* region = nullptr;  // spawn passes its descriptor
  pid_t parent_pid = 0;            // the pool's process
  std::string worker_name;         // "ForkPoolWorker", ...
  uint32_t workers = 1;
};

// Throws ValueError when a pool of `kind` cannot start here: a process pool
// in a spawned child that skipped shoal::init or in a daemonic process; a
// thread pool asked to kill tasks (timeouts, max_memory_per_child).
void CheckCanLaunch(LaunchKind kind, bool needs_kill);
// The region kind the workers of `kind` can reach.
RegionKind RegionKindFor(LaunchKind kind);
std::unique_ptr<Launcher> MakeLauncher(LaunchKind kind,
                                       const LaunchContext& context);

// "ForkPoolWorker-2", then "ForkPoolWorker-2.3" for its third incarnation.
std::string WorkerName(const std::string& base, uint32_t w,
                       uint32_t incarnation);

// The layout a pool region carries.
RegionLayout PoolRegionLayout();

}  // namespace shoal::internal

#endif  // SHOAL_POOL_INTERNAL_LAUNCHER_H_
