// Copyright 2026 The shoal Authors.
//
// engine.h: the parent side of a pool. Pool, ProcessPoolExecutor and
// ThreadPool are typed fronts over one Engine.
//
// What the engine does
//   * Owns the pool's region (pool_shared.h) and the free list of task
//     slots. Submit() takes a free slot (waiting for one: backpressure),
//     writes the invoker and payload into it (inline or a heap block), marks
//     it QUEUED and pushes its reference into the task ring. No thread hop:
//     the caller's thread writes the task, an idle worker takes it.
//   * WaitDone()/Collect(): the caller sleeps on the slot's own futex word
//     (worker -> caller is one hop), then decodes the outcome into its Job
//     and recycles the slot.
//   * The handler thread collects the tasks somebody asked to be told about
//     (NOTIFY: callbacks, done-callbacks, imap_unordered, abandoned results)
//     and runs callbacks, in the parent, like CPython's result handler.
//   * The monitor thread starts workers (fork method: through the fork
//     server it forks first, fork_server.h; spawn: posix_spawn), watches
//     every worker (pidfd + poll; threads post on an eventfd) and, when one
//     exits: fails exactly the task it had started
//     (WorkerLost naming pid and signal or exit code; TimeoutError when the
//     monitor killed it for a per-task timeout; CancelledError for a
//     cancelled running task), requeues a task it had taken but not started,
//     and starts a replacement. A failing initializer breaks the pool
//     (BrokenPool with the initializer's error) instead of respawning
//     forever.
//
// Thread safety: every public method may be called from any thread of the
// parent. Jobs' OnResult/OnError run in whichever thread collects (a caller
// or the handler), outside the engine's locks.
#ifndef SHOAL_POOL_INTERNAL_ENGINE_H_
#define SHOAL_POOL_INTERNAL_ENGINE_H_

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "absl/functional/function_ref.h"
#include "shoal/base/deadline.h"
#include "shoal/ipc/region.h"
#include "shoal/pool/context.h"
#include "shoal/pool/internal/code_ref.h"
#include "shoal/pool/internal/fork_server.h"
#include "shoal/pool/internal/pool_view.h"
#include "shoal/pool/internal/remote_error.h"

namespace shoal::internal {

struct TaskRef {
  uint32_t slot = 0;
  uint32_t gen = 0;
};

// The parent-local receiver of task outcomes (an AsyncResult's state, a map
// job, an imap iterator, a Future).
class Job : public std::enable_shared_from_this<Job> {
 public:
  virtual ~Job() = default;
  // Exactly once per submitted task, with its encoded result (valid during
  // the call). An exception thrown here is passed to OnError instead.
  virtual void OnResult(uint32_t index, std::span<const std::byte> bytes) = 0;
  // `cancelled`: the task was cancelled (error is a CancelledError).
  virtual void OnError(uint32_t index, std::exception_ptr error,
                       bool cancelled) = 0;
  // In the handler thread, for jobs handed to Engine::ScheduleCallbacks.
  // `run_user_code` is false once the pool was terminated (Python never
  // calls callbacks then): only mark the job ready.
  virtual void RunCallbacks(bool run_user_code) {}
};

struct EngineOptions {
  uint32_t workers = 1;
  bool threads = false;  // ThreadPool: workers are threads of this process
  StartMethod method = StartMethod::kFork;
  uint64_t max_tasks_per_child = 0;
  uint64_t max_memory_per_child = 0;
  std::chrono::nanoseconds default_timeout{0};
  uint32_t slots = 0;         // 0: default
  uint32_t inline_bytes = 0;  // payload and result bytes kept in a slot
  uint64_t heap_bytes = 0;    // 0: default
  bool break_on_worker_death = false;  // ProcessPoolExecutor's Python mode
  std::string worker_name = "PoolWorker";
  bool has_initializer = false;
  CodeRef init_invoker;
  std::string init_payload;
};

struct SubmitSpec {
  CodeRef invoker;
  std::size_t size = 0;
  absl::FunctionRef<void(std::span<std::byte>)> write;
  std::shared_ptr<Job> job;
  uint32_t index = 0;
  // < 0: the pool's default; 0: none.
  std::chrono::nanoseconds timeout{-1};
  bool notify = false;  // the handler collects it (callbacks)
};

class Engine : public std::enable_shared_from_this<Engine> {
 public:
  static constexpr uint32_t kDefaultSlots = 1024;
  static constexpr uint32_t kDefaultInline = 192;
  static constexpr uint64_t kDefaultHeapBytes = uint64_t{256} << 20;

  // Creates the region and the threads and starts the workers.
  static std::shared_ptr<Engine> Start(const EngineOptions& options);
  ~Engine();

  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Queues one task. nullopt when no slot (or heap space) came free before
  // `deadline`. Throws BrokenPool (broken), ValueError (closed/terminated),
  // and whatever spec.write throws (SerializationError...).
  std::optional<TaskRef> Submit(const SubmitSpec& spec,
                                const Deadline& deadline);

  // True once the task has an outcome (or was already collected).
  bool WaitDone(TaskRef ref, const Deadline& deadline);
  bool IsDone(TaskRef ref) const;
  bool IsRunning(TaskRef ref) const;
  // Delivers the outcome to the task's Job and frees the slot. The first
  // call after the task is done does it; later calls are no-ops.
  void Collect(TaskRef ref);
  // Collects `ref` now if it is done, else has the handler collect it.
  void Watch(TaskRef ref);
  // A queued task: cancelled at once (true). A running one: only if
  // `kill_running` (process workers): its worker is killed and the task
  // ends as cancelled (true when that happened before it finished).
  bool Cancel(TaskRef ref, bool kill_running);
  // Runs job->RunCallbacks in the handler thread (or here if stopped).
  void ScheduleCallbacks(std::shared_ptr<Job> job);
  bool InHandlerThread() const;

  // No new tasks; workers leave once the queue is drained.
  void Close();
  // Kills the workers now; every unfinished task fails with CancelledError.
  void Terminate();
  // After Close or Terminate: waits for the workers to leave and the
  // threads to finish (callbacks of finished tasks have run). False on
  // timeout.
  bool Join(const Deadline& deadline);
  // Fails every task still queued (not started) with CancelledError.
  void CancelPending();
  // Has the handler collect every task in flight as soon as it finishes
  // (moving results out of shared memory into their jobs), and sweep the
  // finished ones now. Used when shared memory runs short.
  void CollectEverything();

  bool accepting() const;
  bool broken() const { return broken_.load(std::memory_order_acquire); }
  // The BrokenPool error to throw.
  std::exception_ptr BrokenError() const;
  uint32_t workers() const { return options_.workers; }
  std::vector<pid_t> WorkerPids() const;
  std::size_t LiveWorkers() const;
  uint32_t slot_count() const { return view_.slots(); }
  bool is_thread_pool() const { return options_.threads; }
  uint64_t heap_capacity() { return view_.heap().capacity(); }

 private:
  struct SlotMeta {
    std::shared_ptr<Job> job;
    uint32_t index = 0;
    uint32_t gen = 1;
    bool collecting = false;
    bool timed = false;
  };
  struct WorkerSlot {
    bool live = false;
    pid_t pid = 0;
    int pidfd = -1;
    std::thread thread;
    std::unique_ptr<std::atomic<bool>> stop;
    int64_t spawned_ns = 0;
    bool via_server = false;  // a child of the fork server, not ours
    uint32_t kill_reason = 0;  // kKill*
    uint64_t kill_ref = 0;
  };
  enum class Cmd { kWake, kThreadExited, kKill, kTerminate };
  struct Command {
    Cmd cmd;
    uint32_t worker = 0;
    uint64_t ref = 0;
  };

  explicit Engine(const EngineOptions& options);
  void Init();
  void Post(Command c);

  // Monitor thread.
  void MonitorMain();
  void SpawnWorker(uint32_t w);
  [[noreturn]] void ForkedChild(uint32_t w, pid_t parent);
  void OnWorkerExit(uint32_t w);
  // Reaps worker `w` (dead) and tells how it ended.
  void ReapWorker(uint32_t w, int* signal, int* exit_code);
  void HandleOrphan(uint64_t ref, uint32_t w, pid_t pid, int signal,
                    int exit_code, uint32_t life);
  void Maintain();
  void CheckTimeouts();
  void KillWorker(uint32_t w, uint32_t reason, uint64_t ref);
  void Break(const std::string& reason, std::optional<ErrorRecord> cause);
  void FailAllQueued(uint32_t to);
  bool MonitorShouldExit();
  void RetryRequeues();

  // Handler thread.
  void HandlerMain();
  bool HandlerPass(bool run_callbacks);
  void CollectNotified(uint32_t slot);

  void Deliver(const std::shared_ptr<Job>& job, uint32_t index, TaskRef ref,
               uint32_t phase);
  void Recycle(uint32_t slot, uint32_t gen);

  EngineOptions options_;
  Region region_;
  PoolView view_;
  pid_t parent_pid_ = 0;

  mutable std::mutex mu_;  // free_, meta_
  std::condition_variable free_cv_;
  std::vector<uint32_t> free_;
  std::vector<SlotMeta> meta_;
  std::mutex push_mu_;  // serializes ring writers
  std::atomic<int> timed_tasks_{0};

  enum State { kRunning = 0, kClosed = 1, kTerminating = 2 };
  std::atomic<int> state_{kRunning};
  std::atomic<bool> broken_{false};
  mutable std::mutex broken_mu_;
  std::string broken_reason_;
  std::optional<ErrorRecord> broken_cause_;

  // Monitor.
  std::thread monitor_;
  ForkServer fork_server_;
  std::mutex server_mu_;
  std::condition_variable server_cv_;
  bool server_started_ = false;
  int cmd_fd_ = -1;
  std::mutex cmd_mu_;
  std::deque<Command> cmds_;
  mutable std::mutex workers_mu_;  // workers_ (pid/live as read by others)
  std::vector<WorkerSlot> workers_;
  std::vector<uint64_t> requeue_;  // monitor-only
  int startup_failures_ = 0;
  int startup_kills_ = 0;  // see kMaxStartupKills
  std::mutex done_mu_;
  std::condition_variable done_cv_;
  bool monitor_done_ = false;
  bool joined_ = false;
  std::mutex join_mu_;

  // Handler.
  std::thread handler_;
  std::thread::id handler_id_;
  std::mutex cb_mu_;
  std::deque<std::shared_ptr<Job>> callbacks_;
  std::atomic<bool> handler_stop_{false};
  std::atomic<bool> handler_stopped_{false};
};

// The layout a pool region carries.
RegionLayout PoolRegionLayout();

}  // namespace shoal::internal

#endif  // SHOAL_POOL_INTERNAL_ENGINE_H_
