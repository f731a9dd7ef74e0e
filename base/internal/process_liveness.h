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
// the pid with what they know (a start time) when that matters. Only proof
// counts: when /proc/<pid>/stat cannot be read for another reason than the
// process being gone (out of file descriptors, memory, ...), it is not gone.
// Cost: one kill(2), plus one read of /proc/<pid>/stat when the pid exists.
bool IsProcessGone(pid_t pid);

// The start time of `pid` in clock ticks since boot (field 22 of
// /proc/<pid>/stat), or 0 if it cannot be read. With the pid it names a
// process uniquely across pid reuse.
uint64_t ProcessStartTime(pid_t pid);

// ProcessStartTime(CachedPid()), computed once per process (and again in a
// fork()ed child).
uint64_t CachedStartTime();

// Who a process is, beyond its pid. A pid alone is reused once its process
// is reaped, and in another pid namespace (a container) the same number is
// another process. pid + start time names one process across reuse; the
// pid namespace's inode says which numbering the pid is in.
struct ProcessIdentity {
  int32_t pid = 0;          // in the namespace `pid_ns`
  uint64_t start_time = 0;  // /proc/<pid>/stat field 22; 0 = unknown
  uint64_t pid_ns = 0;      // inode of /proc/<pid>/ns/pid; 0 = unknown
};

// This process (start time and namespace read from /proc/self, which is
// right even where /proc belongs to another pid namespace); cached, and
// recomputed in a fork()ed child.
ProcessIdentity SelfIdentity();

enum class Liveness {
  kAlive,    // it runs (or may: see kUnknown)
  kDead,     // proven gone: no such process, a zombie, or its pid reused
  kUnknown,  // cannot be told from here (a pid namespace we cannot see)
};

// Whether `who` still runs. Never kDead without proof: callers that remove
// or repair what a process left behind act on kDead only.
//   Same pid namespace (or pid_ns unknown): gone, a zombie, or a different
//   start time (the pid was reused) is kDead.
//   Another pid namespace: the /proc tasks of that namespace are searched
//   for the pid (NSpid); found is kAlive; a namespace that is visible here
//   without that pid, or that has no task left at all seen from the initial
//   pid namespace (which sees every task), is kDead; otherwise kUnknown.
// Cost: same namespace, one kill(2) and one or two reads of /proc; another
// namespace, a walk of /proc (meant for sweeps, not hot paths).
Liveness CheckLiveness(const ProcessIdentity& who);

}  // namespace shoal::internal

#endif  // SHOAL_BASE_INTERNAL_PROCESS_LIVENESS_H_
