// Copyright 2026 The shoal Authors.
//
// pool_state.h: the lifecycle of one pool as every part of its parent side
// sees it (the task table, the supervisor, the callback thread, the engine):
//
//   running --close()--> closing --(no lazy map still reading its
//      |                   |          input)--> closed
//      |                   |                      |
//      +--terminate()------+----------------------+--> terminating
//
//   closing: no new calls, but a lazy map (imap, Executor.map) opened
//   before close() may still submit its input, as in Python, where such a
//   map's whole input was queued at once. closed: the task queue is closed;
//   workers leave once it is drained.
//
//   and, orthogonally, broken: the pool cannot run tasks any more (an
//   initializer failed, workers cannot be started, a worker died under
//   break_on_worker_death). The first reason wins and stays.
//
// Also how a worker ended (ExitStatus) and its description in errors.
//
// Thread safety: every method may be called from any thread.
#ifndef SHOAL_POOL_INTERNAL_POOL_STATE_H_
#define SHOAL_POOL_INTERNAL_POOL_STATE_H_

#include <sys/types.h>

#include <atomic>
#include <exception>
#include <mutex>
#include <optional>
#include <string>

#include "shoal/pool/internal/remote_error.h"

namespace shoal::internal {

class PoolState {
 public:
  enum Phase { kRunning = 0, kClosing = 1, kClosed = 2, kTerminating = 3 };

  Phase phase() const {
    return static_cast<Phase>(phase_.load(std::memory_order_seq_cst));
  }
  bool running() const { return phase() == kRunning; }
  bool terminating() const { return phase() == kTerminating; }
  // Takes new work: new calls when running; the chunks of a lazy map that
  // was opened before close() (`continuation`) also when closing.
  bool accepts(bool continuation) const {
    const Phase p = phase();
    return !broken() &&
           (p == kRunning || (continuation && p == kClosing));
  }
  // running -> closing. True when this call changed it.
  bool Close();
  // closing -> closed (the queue closes). True when this call changed it.
  bool FinishClosing();
  // -> terminating. True when this call changed it.
  bool Terminate();

  bool broken() const { return broken_.load(std::memory_order_acquire); }
  // Records the reason (and the error that caused it, e.g. the
  // initializer's). True when this call broke the pool.
  bool Break(const std::string& reason, std::optional<ErrorRecord> cause);
  // The BrokenPool to throw: nested exception = the cause, if any
  // (std::rethrow_if_nested rethrows the original type).
  std::exception_ptr BrokenError() const;
  // Throws BrokenError() when broken, ValueError("Pool not running") when
  // it does not accept the work (see accepts()).
  void CheckAccepting(bool continuation = false) const;

 private:
  std::atomic<int> phase_{kRunning};
  std::atomic<bool> broken_{false};
  mutable std::mutex mu_;  // reason_, cause_
  std::string reason_;
  std::optional<ErrorRecord> cause_;
};

// How a worker ended: killed by `signal` (> 0), or exited with `exit_code`
// (>= 0), or unknown (both unset).
struct ExitStatus {
  int signal = 0;
  int exit_code = -1;
};

// "worker pid 123 was killed by SIGKILL" / "... exited with code 3".
std::string DescribeExit(pid_t pid, const ExitStatus& status);

}  // namespace shoal::internal

#endif  // SHOAL_POOL_INTERNAL_POOL_STATE_H_
