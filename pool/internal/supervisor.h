// Copyright 2026 The shoal Authors.
//
// supervisor.h: the thread that keeps a pool's workers alive and answers
// for them when they die.
//
//   * Starts `workers` workers through the launcher (launcher.h: fork
//     server, spawn or threads) and replaces each one that leaves
//     (maxtasksperchild, max_memory_per_child, a crash, a kill), until the
//     pool closes, terminates or breaks.
//   * Waits for all of them at once: poll() on one descriptor per worker
//     (pidfd or eventfd) plus its own command eventfd (kill a running task,
//     terminate, wake up).
//   * When a worker ends (before it is reaped, so its pid cannot be reused
//     yet): every task it had taken is found (ring entries held under its
//     pid, and its WorkerStatus::current) and settled exactly once:
//       taken, not started (QUEUED)  -> requeued: it runs on another worker
//       started (RUNNING)            -> LOST (WorkerLost naming pid and
//                                       signal or exit code), or TIMEOUT /
//                                       CANCELLED when the supervisor killed
//                                       it for that, CANCELLED on terminate,
//                                       BROKEN when the pool broke.
//     A failing initializer breaks the pool (BrokenPool carrying the
//     initializer's error) instead of respawning forever; so do workers
//     that keep dying before they start, and, with break_on_worker_death
//     (ProcessPoolExecutor's Python mode), any abrupt death.
//   * Per-task time limits: a worker whose task runs past its limit is
//     killed; the task ends TIMEOUT.
//
// Thread safety: Start/Wake/Terminate/WaitFinished/Join and the
// WorkerControl calls may come from any thread; everything else runs in
// the supervisor thread.
#ifndef SHOAL_POOL_INTERNAL_SUPERVISOR_H_
#define SHOAL_POOL_INTERNAL_SUPERVISOR_H_

#include <sys/types.h>

#include <condition_variable>
#include <climits>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "shoal/base/deadline.h"
#include "shoal/pool/internal/launcher.h"
#include "shoal/pool/internal/pool_state.h"
#include "shoal/pool/internal/pool_view.h"
#include "shoal/pool/internal/task_table.h"

namespace shoal::internal {

struct SupervisorOptions {
  uint32_t workers = 1;
  std::string worker_name = "PoolWorker";
  bool break_on_worker_death = false;
};

class Supervisor final : public WorkerControl {
 public:
  Supervisor(const SupervisorOptions& options, PoolView& view,
             PoolState& state, TaskTable& table, Launcher& launcher);
  // Joins the thread (the pool must be closed, terminated or broken and
  // the supervisor finished, or this waits until it is).
  ~Supervisor() override;
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Starts the thread, which prepares the launcher (the fork server is
  // forked there, while the pool has no other thread of its own) and then
  // starts the workers. Returns once they are started (WorkerPids() lists
  // them; they may still be running their initializer).
  void Start();
  // The pool's state changed (closed): look again.
  void Wake();
  // The pool is terminating: kill every worker, fail queued tasks
  // CANCELLED.
  void Terminate();
  // True once the supervisor left (after close: the queue drained and every
  // worker left; after terminate or a break: every worker reaped).
  bool WaitFinished(const Deadline& deadline);
  void Join();

  std::vector<pid_t> WorkerPids() const;
  std::size_t LiveWorkers() const;

  // WorkerControl.
  void KillRunning(uint64_t ref) override;
  void WatchTimeouts() override;

 private:
  static constexpr int64_t kNever = INT64_MAX;
  static constexpr int64_t kRequeueBackoffMin = 1'000'000;        // 1 ms
  static constexpr int64_t kRequeueBackoffMax = 64'000'000;       // 64 ms
  static constexpr int64_t kRestartBackoffMin = 100'000'000;      // 100 ms
  static constexpr int64_t kRestartBackoffMax = 2'000'000'000;    // 2 s

  enum class Cmd { kWake, kKill, kTerminate };
  struct Command {
    Cmd cmd;
    uint64_t ref = 0;
  };
  struct Worker {
    bool live = false;
    pid_t pid = 0;
    int exit_fd = -1;
    int64_t started_ns = 0;
    uint32_t kill_reason = 0;  // kKill* in supervisor.cc
    uint64_t kill_ref = 0;
  };

  void Post(Command c);
  void Main();
  void RunCommands(const std::deque<Command>& cmds);
  // Each returns the MonotonicNanos() at which it wants to run again
  // (kNever: only on an event).
  int64_t Maintain();
  void StartWorker(uint32_t w);
  void OnWorkerExit(uint32_t w);
  void Settle(uint64_t ref, uint32_t w, pid_t pid, const ExitStatus& exit);
  int64_t RetryRequeues();
  int64_t CheckTimeouts();
  void KillWorker(uint32_t w, uint32_t reason, uint64_t ref);
  void Break(const std::string& reason, std::optional<ErrorRecord> cause);
  bool ShouldLeave() const;

  const SupervisorOptions options_;
  PoolView& view_;
  PoolState& state_;
  TaskTable& table_;
  Launcher& launcher_;

  std::thread thread_;
  int cmd_fd_ = -1;
  std::mutex cmd_mu_;
  std::deque<Command> cmds_;

  mutable std::mutex workers_mu_;  // live/pid as read by other threads
  std::vector<Worker> workers_;
  // Supervisor thread only.
  std::vector<uint64_t> requeue_;
  int64_t requeue_backoff_ = kRequeueBackoffMin;
  int64_t restart_at_ = 0;
  int64_t restart_backoff_ = kRestartBackoffMin;
  int startup_failures_ = 0;
  int startup_kills_ = 0;

  std::mutex done_mu_;
  std::condition_variable done_cv_;
  bool prepared_ = false;
  bool finished_ = false;
};

}  // namespace shoal::internal

#endif  // SHOAL_POOL_INTERNAL_SUPERVISOR_H_
