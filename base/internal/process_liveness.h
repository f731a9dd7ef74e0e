// Copyright 2026 The shoal Authors.
//
// process_liveness.h: cheap answers to "who am I" and "is that process gone".
//
// Shared structures record the pid of the process that is half-way through an
// operation (a queue slot being written, a channel slot being read). A peer
// that has waited on such a slot for a while asks IsProcessGone(pid); if the
// process is gone, the peer repairs the slot instead of waiting forever.
//
// Why not kill(pid, 0) alone: a killed child stays a zombie until its parent
// reaps it, and kill() succeeds on zombies. The parent is often the very
// process waiting on the dead child's slot, so zombies must count as gone.
#ifndef SHOAL_BASE_INTERNAL_PROCESS_LIVENESS_H_
#define SHOAL_BASE_INTERNAL_PROCESS_LIVENESS_H_

#include <sys/types.h>

#include <cstdint>

namespace shoal::internal {

// getpid(), cached and refreshed in fork()ed children (pthread_atfork), so hot
// paths can stamp their pid into shared memory without a system call.
pid_t CachedPid();

// True when `pid` no longer runs: no such process, or a zombie / dead task.
// A pid that was reused by an unrelated process reads as alive: callers pair
// the pid with what they know (a start time) when that matters.
// Cost: one kill(2), plus one read of /proc/<pid>/stat when the pid exists.
bool IsProcessGone(pid_t pid);

// The start time of `pid` in clock ticks since boot (field 22 of
// /proc/<pid>/stat), or 0 if it cannot be read. With the pid it names a
// process uniquely across pid reuse.
uint64_t ProcessStartTime(pid_t pid);

// ProcessStartTime(CachedPid()), computed once per process (and again in a
// fork()ed child).
uint64_t CachedStartTime();

}  // namespace shoal::internal

#endif  // SHOAL_BASE_INTERNAL_PROCESS_LIVENESS_H_
