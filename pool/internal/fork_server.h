// Copyright 2026 The shoal Authors.
//
// fork_server.h: where a fork-method pool's workers are forked from.
//
// Why: forking a multi-threaded process is only safe for the thread that
// forks; any lock another thread held at that instant (a user mutex, the
// allocator's, a sanitizer's, the callback thread running a callback) stays
// held forever in the child. A pool respawns workers all the time
// (maxtasksperchild, after a crash, after a timeout kill), from a parent
// whose threads are busy. So the supervisor thread forks ONE helper when the
// pool starts, before the pool's other threads exist: the fork server. It
// is single-threaded for its whole life, and every worker is forked from
// it, so no worker is ever forked from a process with threads other than
// the ones the user had running when the pool was created (Python's fork
// hazard reduced to that one instant). Workers see the parent's memory as
// it was when the pool started (as Python's workers, which are forked then).
//
// Protocol (a SOCK_SEQPACKET socketpair, one request, one reply):
//   kSpawn(w) -> the server forks; the child runs `body(w)` and _exit()s;
//                reply: the child's pid (or -errno).
//   kReap(pid) -> the server waits for that child (which the caller saw
//                 exit through its pidfd); reply: the wait status.
//   EOF -> the server exits. It dies with its parent (PR_SET_PDEATHSIG),
//   and its workers die with it.
//
// The caller (the supervisor thread) is the only user; calls block for the
// duration of a fork.
#ifndef SHOAL_POOL_INTERNAL_FORK_SERVER_H_
#define SHOAL_POOL_INTERNAL_FORK_SERVER_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>

namespace shoal::internal {

class ForkServer {
 public:
  ForkServer() = default;
  ~ForkServer();
  ForkServer(const ForkServer&) = delete;
  ForkServer& operator=(const ForkServer&) = delete;

  // Forks the server. `body(w, server_pid)` runs in each worker it forks
  // and must not return (it _exit()s). Throws SystemError.
  void Start(std::function<void(uint32_t, pid_t)> body);
  bool running() const { return fd_ >= 0; }
  pid_t pid() const { return pid_; }

  // A new worker for position `w`: its pid. Throws SystemError (and stops
  // the server) when the server is gone or cannot fork.
  pid_t Spawn(uint32_t w);
  // Reaps worker `pid`; returns its wait status, or -1 if unknown.
  int Reap(pid_t pid);
  // Closes the connection and waits for the server to leave.
  void Stop();

 private:
  int64_t Call(int64_t op, int64_t arg);

  int fd_ = -1;
  pid_t pid_ = 0;
};

}  // namespace shoal::internal

#endif  // SHOAL_POOL_INTERNAL_FORK_SERVER_H_
