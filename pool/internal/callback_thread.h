// Copyright 2026 The shoal Authors.
//
// callback_thread.h: the parent thread that collects the tasks nobody waits
// for and runs callbacks, as CPython's result-handler thread.
//
//   * Tasks flagged NOTIFY (callbacks, done-callbacks, imap_unordered,
//     dropped results) set their slot's bit in the pool's notify bitmap
//     when they finish and wake this thread (a futex on notify_seq, woken
//     only when the thread sleeps); it collects them (TaskTable::
//     CollectNotified), moving their outcomes into their Jobs.
//   * Jobs handed to Schedule() have their callbacks run here, one at a
//     time, in the order scheduled; after terminate() they are only marked
//     ready (Python never calls callbacks then).
//
// A callback may use the pool (submit, wait, even join or drop the last
// reference to it): when it waits for a slot the table collects in this
// thread instead of waiting for itself, and Stop() called from this thread
// does not wait for itself.
//
// Thread safety: Schedule/InThread/Stop from any thread.
#ifndef SHOAL_POOL_INTERNAL_CALLBACK_THREAD_H_
#define SHOAL_POOL_INTERNAL_CALLBACK_THREAD_H_

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "shoal/pool/internal/job.h"
#include "shoal/pool/internal/pool_state.h"
#include "shoal/pool/internal/pool_view.h"
#include "shoal/pool/internal/task_table.h"

namespace shoal::internal {

class CallbackThread {
 public:
  CallbackThread(PoolView& view, TaskTable& table, PoolState& state);
  // Stops and joins the thread. Not from the thread itself.
  ~CallbackThread();
  CallbackThread(const CallbackThread&) = delete;
  CallbackThread& operator=(const CallbackThread&) = delete;

  void Start();
  // Runs job->RunCallbacks in the thread (here and now once it stopped).
  void Schedule(std::shared_ptr<Job> job);
  bool InThread() const;
  // Collects and runs what is pending, then ends the thread and waits for
  // it; from the thread itself, it only asks it to end.
  void Stop();

 private:
  void Main();
  bool Pass(bool run_callbacks);

  PoolView& view_;
  TaskTable& table_;
  PoolState& state_;
  std::thread thread_;
  std::atomic<std::thread::id> id_{};
  std::atomic<bool> stop_{false};
  std::mutex mu_;  // pending_, stopped_
  std::deque<std::shared_ptr<Job>> pending_;
  bool stopped_ = false;
};

}  // namespace shoal::internal

#endif  // SHOAL_POOL_INTERNAL_CALLBACK_THREAD_H_
