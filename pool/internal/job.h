// Copyright 2026 The shoal Authors.
//
// job.h: the vocabulary between a pool's parent-side engine and the typed
// fronts (AsyncResult, map results, imap streams, Futures): a task
// reference, the receiver of task outcomes (Job), and what a submission
// carries (SubmitSpec). No threads, no locks: pool.h sees only this.
#ifndef SHOAL_POOL_INTERNAL_JOB_H_
#define SHOAL_POOL_INTERNAL_JOB_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <span>

#include "absl/functional/function_ref.h"
#include "shoal/base/deadline.h"
#include "shoal/pool/internal/code_ref.h"

namespace shoal::internal {

// One submitted task: its slot and the slot's generation at submission (a
// recycled slot has a new generation, so a stale reference is recognised).
struct TaskRef {
  uint32_t slot = 0;
  uint32_t gen = 0;
};

// The parent-local receiver of task outcomes (an AsyncResult's state, a map
// job, an imap stream, a Future).
class Job : public std::enable_shared_from_this<Job> {
 public:
  virtual ~Job() = default;
  // Exactly once per submitted task, with its encoded result (valid during
  // the call). An exception thrown here is passed to OnError instead.
  virtual void OnResult(uint32_t index, std::span<const std::byte> bytes) = 0;
  // `cancelled`: the task was cancelled (error is a CancelledError).
  virtual void OnError(uint32_t index, std::exception_ptr error,
                       bool cancelled) = 0;
  // In the callback thread, for jobs handed to Engine::ScheduleCallbacks.
  // `run_user_code` is false once the pool was terminated (Python never
  // calls callbacks then): only mark the job ready.
  virtual void RunCallbacks(bool run_user_code) {}
};

struct SubmitSpec {
  CodeRef invoker;
  std::size_t size = 0;
  absl::FunctionRef<void(std::span<std::byte>)> write;
  std::shared_ptr<Job> job;
  uint32_t index = 0;
  // < 0: the pool's default; 0: none.
  std::chrono::nanoseconds timeout{-1};
  bool notify = false;  // the callback thread collects it (callbacks)
  // A chunk of a lazy map opened before close(): still accepted while the
  // pool is closing.
  bool continuation = false;
};

// A lazy map (imap, Executor.map with buffersize) as the engine sees it:
// open from its creation until its input ended (or it was abandoned).
// close() keeps the task queue open while any is open; join() has them read
// the rest of their input.
class Stream {
 public:
  virtual ~Stream() = default;
  // Reads the rest of the input and submits it; its results go to the
  // stream as they finish. False when `deadline` passed first.
  virtual bool Drain(const Deadline& deadline) = 0;
  // Reads no more of the input (shutdown(cancel_futures=true)).
  virtual void StopInput() = 0;
};

}  // namespace shoal::internal

#endif  // SHOAL_POOL_INTERNAL_JOB_H_
