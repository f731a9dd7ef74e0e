// Copyright 2026 The shoal Authors.
//
// engine.h: the parent side of a pool. Pool, ProcessPoolExecutor and
// ThreadPool are typed fronts over one Engine, which puts four parts
// together (each in its own header, each with its own tests):
//
//   PoolState       (pool_state.h)      running / closed / terminating, broken
//   TaskTable       (task_table.h)      submit, wait, collect, recycle slots
//   Supervisor      (supervisor.h)      the thread that starts, watches and
//                                       replaces workers and settles the
//                                       tasks of those that die
//     + Launcher    (launcher.h)        fork server, spawn or threads
//   CallbackThread  (callback_thread.h) collects unwatched tasks, runs
//                                       callbacks
//
// over the pool's shared region (pool_shared.h, pool_view.h). This header
// is all the typed fronts see: no threads, no locks.
//
// Thread safety: every method may be called from any thread of the parent.
// Jobs' OnResult/OnError run in whichever thread collects (a caller or the
// callback thread), outside the engine's locks.
#ifndef SHOAL_POOL_INTERNAL_ENGINE_H_
#define SHOAL_POOL_INTERNAL_ENGINE_H_

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "shoal/base/deadline.h"
#include "shoal/pool/context.h"
#include "shoal/pool/internal/code_ref.h"
#include "shoal/pool/internal/job.h"

namespace shoal::internal {

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

class Engine {
 public:
  static constexpr uint32_t kDefaultSlots = 1024;
  static constexpr uint32_t kDefaultInline = 192;
  static constexpr uint64_t kDefaultHeapBytes = uint64_t{256} << 20;

  // Creates the region and the threads and starts the workers.
  static std::shared_ptr<Engine> Start(const EngineOptions& options);
  // Terminates and joins unless joined. When the last reference goes in the
  // callback thread (from a callback), that happens in a thread of its own.
  ~Engine();

  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Tasks: as TaskTable (task_table.h) says.
  std::optional<TaskRef> Submit(const SubmitSpec& spec,
                                const Deadline& deadline);
  bool WaitDone(TaskRef ref, const Deadline& deadline);
  bool IsDone(TaskRef ref) const;
  bool IsRunning(TaskRef ref) const;
  void Collect(TaskRef ref);
  void Watch(TaskRef ref);
  bool Cancel(TaskRef ref, bool kill_running);
  // Runs job->RunCallbacks in the callback thread (or here if stopped).
  void ScheduleCallbacks(std::shared_ptr<Job> job);
  bool InHandlerThread() const;
  // In the callback thread only (which cannot wait for itself): collects
  // the tasks it is told about until ready() or the deadline.
  void WaitAsCollector(const Deadline& deadline,
                       absl::FunctionRef<bool()> ready);

  // Lazy maps: a stream is open from OpenStream (which throws like Submit
  // when the pool takes no new calls) until it calls StreamEnded (its input
  // ended, failed, or it was abandoned). Its chunks are submitted with
  // SubmitSpec::continuation.
  void OpenStream(const std::shared_ptr<Stream>& stream);
  void StreamEnded();
  bool HasOpenStreams() const;
  // Open streams read no more of their input.
  void StopStreams();

  // No new calls; lazy maps opened before keep submitting their input.
  // Once none is open the queue closes and workers leave when it is
  // drained.
  void Close();
  // Kills the workers now; every unfinished task fails with CancelledError.
  void Terminate();
  // After Close or Terminate: has open lazy maps read the rest of their
  // input (after Close), waits for the workers to leave and the threads to
  // finish (callbacks of finished tasks have run). False on timeout.
  bool Join(const Deadline& deadline);
  // Waits until every task submitted so far has finished. False on timeout.
  bool WaitIdle(const Deadline& deadline);
  // Join() has completed.
  bool joined() const;
  // Fails every task still queued (not started) with CancelledError.
  void CancelPending();
  // Has the callback thread collect every task in flight as soon as it
  // finishes (moving results out of shared memory into their jobs), and
  // sweeps the finished ones now. Used when shared memory runs short.
  void CollectEverything();

  // Takes new calls (continuation: a lazy map's chunks, see Close()).
  bool accepting(bool continuation = false) const;
  bool broken() const;
  // The BrokenPool error to throw.
  std::exception_ptr BrokenError() const;
  uint32_t workers() const { return workers_; }
  std::vector<pid_t> WorkerPids() const;

 private:
  struct Parts;  // engine.cc
  explicit Engine(std::unique_ptr<Parts> parts, uint32_t workers);
  static void Shutdown(Parts& p);

  std::unique_ptr<Parts> p_;
  uint32_t workers_;
};

}  // namespace shoal::internal

#endif  // SHOAL_POOL_INTERNAL_ENGINE_H_
