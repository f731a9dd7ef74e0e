// Copyright 2026 The shoal Authors.
//
// task_table.h: the parent's side of a pool's task slots (pool_shared.h):
// submit, wait, collect, recycle.
//
//   Submit   takes a free slot (LIFO: the most recently used, cache-hot one
//            first; waiting for one is the pool's backpressure), writes the
//            invoker and payload into it (inline, or a shared-heap block),
//            marks it QUEUED and pushes its reference into the task ring.
//            No thread hop: the caller's thread writes the task, an idle
//            worker takes it.
//   WaitDone the caller sleeps on the slot's own state word (a futex the
//            worker wakes when it finishes: worker -> caller is one hop),
//            after a short adaptive spin.
//   Collect  decodes the outcome into the task's Job (OnResult/OnError),
//            frees heap blocks and puts the slot back on the free list with
//            the next generation. The first call after the task finished
//            does it; later calls, or calls with a stale TaskRef, do nothing.
//   Watch    a task nobody waits for (callbacks, imap_unordered, a dropped
//            AsyncResult) gets the NOTIFY flag: on completion its slot's bit
//            is set in the notify bitmap and CollectNotified() (run by the
//            callback thread) collects it.
//
// Who else moves slots: workers (QUEUED -> RUNNING -> OK/ERROR), the
// supervisor (a dead worker's task -> LOST/TIMEOUT/CANCELLED/BROKEN, or
// back into the ring through Requeue). Every transition is a CAS on the
// state word, so exactly one side wins.
//
// Thread safety: every method may be called from any parent thread. A Job's
// OnResult/OnError run in whichever thread collects, outside the table's
// locks.
#ifndef SHOAL_POOL_INTERNAL_TASK_TABLE_H_
#define SHOAL_POOL_INTERNAL_TASK_TABLE_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "absl/functional/function_ref.h"
#include "shoal/base/deadline.h"
#include "shoal/pool/internal/job.h"
#include "shoal/pool/internal/pool_state.h"
#include "shoal/pool/internal/pool_view.h"

namespace shoal::internal {

// What the task table asks of whoever supervises the workers.
class WorkerControl {
 public:
  virtual ~WorkerControl() = default;
  // Kill the worker running task `ref` (a MakeTaskRef value); its death
  // ends the task CANCELLED.
  virtual void KillRunning(uint64_t ref) = 0;
  // A task with a time limit was queued.
  virtual void WatchTimeouts() = 0;
};

struct TaskTableOptions {
  // A running task can be ended by killing its worker (processes: yes;
  // threads: no). Without it, timeouts and cancel(kill_running) are
  // refused.
  bool can_kill = true;
  std::chrono::nanoseconds default_timeout{0};
};

class TaskTable {
 public:
  TaskTable(PoolView& view, PoolState& state, const TaskTableOptions& options);
  TaskTable(const TaskTable&) = delete;
  TaskTable& operator=(const TaskTable&) = delete;

  void set_control(WorkerControl* control) { control_ = control; }
  // The thread that collects notified tasks (the callback thread): when it
  // waits for a slot itself, it collects instead of waiting for itself.
  void set_collector(std::thread::id id) { collector_.store(id); }
  bool InCollector() const {
    return collector_.load(std::memory_order_relaxed) ==
           std::this_thread::get_id();
  }

  // Queues one task. nullopt when no slot (or heap space) came free before
  // `deadline`. Throws BrokenPool (broken), ValueError (closed, terminated,
  // a timeout that cannot be enforced), and whatever spec.write throws
  // (SerializationError...).
  std::optional<TaskRef> Submit(const SubmitSpec& spec,
                                const Deadline& deadline);

  // True once the task has an outcome (or was already collected).
  bool WaitDone(TaskRef ref, const Deadline& deadline);
  bool IsDone(TaskRef ref) const;
  bool IsRunning(TaskRef ref) const;
  void Collect(TaskRef ref);
  // Collects `ref` now if it is done, else flags it NOTIFY.
  void Watch(TaskRef ref);
  // A queued task: cancelled at once (true). A running one: only if
  // `kill_running` and workers can be killed: its worker is killed and the
  // task ends cancelled (true when that happened before it finished).
  bool Cancel(TaskRef ref, bool kill_running);

  // Flags every task in flight NOTIFY and collects the finished ones now
  // (moves results out of shared memory). Used when slots or heap run short.
  void CollectEverything();
  // The callback thread's share: collects every task in the notify bitmap
  // (and everything, when a worker asked for heap space). True if any.
  bool CollectNotified();
  // Collects every finished task (after the workers left: nothing waits
  // forever for a result nobody collected).
  void CollectFinished();
  // Every task queued or running now.
  std::vector<TaskRef> InFlight() const;
  // Fails every task still queued (not started) with phase `to`.
  void FailAllQueued(uint32_t to);
  // The supervisor puts back a task a dead worker took but never started.
  // Never waits: false when the ring entry is still held (try again later).
  bool Requeue(uint64_t ref);
  // Wakes submitters waiting for a slot (the pool broke or closed).
  void WakeSubmitters();
  // For the collector thread, which cannot wait for itself: collects
  // notified tasks until ready() or the deadline. Sleeps on the word the
  // callback thread sleeps on between passes; it moves on every completion
  // it is told about, on every Recycle while a collector waits here, and on
  // WakeSubmitters.
  void WaitAsCollector(const Deadline& deadline,
                       absl::FunctionRef<bool()> ready);

  // Tasks with a time limit not yet collected (the supervisor watches them
  // while this is non-zero).
  int timed_tasks() const {
    return timed_tasks_.load(std::memory_order_relaxed);
  }
  uint32_t slots() const { return view_.slots(); }

 private:
  struct SlotMeta {
    std::shared_ptr<Job> job;
    uint32_t index = 0;
    uint32_t gen = 1;
    bool collecting = false;
    bool timed = false;
  };

  void Deliver(const std::shared_ptr<Job>& job, uint32_t index, TaskRef ref,
               uint32_t phase);

  void Recycle(uint32_t slot, uint32_t gen);

  PoolView& view_;
  PoolState& state_;
  const TaskTableOptions options_;
  WorkerControl* control_ = nullptr;
  std::atomic<std::thread::id> collector_{};
  std::atomic<int> collector_waiting_{0};

  mutable std::mutex mu_;  // free_, meta_
  std::condition_variable free_cv_;
  std::vector<uint32_t> free_;
  std::vector<SlotMeta> meta_;
  std::mutex push_mu_;  // serializes ring writers
  std::atomic<int> timed_tasks_{0};
};

}  // namespace shoal::internal

#endif  // SHOAL_POOL_INTERNAL_TASK_TABLE_H_
