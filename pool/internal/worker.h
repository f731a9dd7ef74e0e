// Copyright 2026 The shoal Authors.
//
// worker.h: the loop every pool worker runs (a forked child, a spawned
// re-exec of the program, or a thread of the parent for ThreadPool).
//
//   1. status.pid = me, life = STARTING; run the initializer if any. If it
//      throws: record the error in the region (first failure wins), life =
//      INIT_FAILED, exit with kInitFailedExitCode. The supervisor then breaks
//      the pool (no respawn loop).
//   2. life = READY. Loop: take a task reference from the ring (entry held
//      READING under my pid), write it into status.current, release the
//      entry, CAS the slot QUEUED -> RUNNING (a cancelled task fails the CAS
//      and is skipped), resolve the invoker, run it, write the result or the
//      encoded exception, CAS RUNNING -> OK/ERROR (wake / notify).
//   3. Leave (normal exit, the supervisor respawns as needed) when the ring is
//      closed and drained, after maxtasksperchild tasks, when the resident
//      set exceeds max_memory_per_child, or when the parent is gone.
//
// Nothing here takes a lock that another thread of the parent could hold at
// fork() time, except through malloc (fork-safe in glibc) and user code.
#ifndef SHOAL_POOL_INTERNAL_WORKER_H_
#define SHOAL_POOL_INTERNAL_WORKER_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>

#include "shoal/pool/internal/pool_view.h"

namespace shoal::internal {

struct WorkerContext {
  uint32_t index = 0;
  bool is_thread = false;
  // The process that must stay our parent (the pool's process, or its fork
  // server); 0: the pool's process. A worker whose parent is gone leaves.
  pid_t parent_pid = 0;
  // Threads: set by the parent to make the worker leave after its task.
  const std::atomic<bool>* stop = nullptr;
};

// Runs the worker until it leaves. Returns the process exit code (0, or
// kInitFailedExitCode).
int RunWorker(PoolView& view, const WorkerContext& ctx);

}  // namespace shoal::internal

#endif  // SHOAL_POOL_INTERNAL_WORKER_H_
