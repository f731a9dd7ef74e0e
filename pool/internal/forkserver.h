// Copyright 2026 The shoal Authors.
//
// forkserver.h: the server behind the "forkserver" start method (Python's
// multiprocessing.forkserver). Not to be confused with fork_server.h, the
// per-pool helper of the "fork" method.
//
// Why: fork() of a process that runs threads is safe only for the forking
// thread; a lock another thread held at that instant stays held forever in
// the child. spawn avoids that but pays an exec and the program's start-up
// for every child. The forkserver pays it once: on first use, this process
// posix_spawns its own binary (spawn.h) as the server; shoal::init turns it
// into ForkserverMain, a single-threaded loop that never runs the program's
// main(). Every child is then fork()ed from that server: a copy of a fresh,
// single-threaded process (the program's static state, as with spawn), never
// of the caller, whatever threads the caller runs.
//
// A child runs a spawn entry point (spawn.h: "pool" for a pool worker,
// "process" for a Process) with its descriptors at 3, 4, ..., exactly as a
// spawned child, so both methods share the child side.
//
// Protocol. The caller holds one end of a SOCK_SEQPACKET socketpair (the
// server got the other as fd 3). The server first sends {kReady, pid}. A
// request is one datagram (a bounded, validated header + strings: kind,
// args) with SCM_RIGHTS descriptors: a status socket first, then the
// child's. On the status socket the server answers {kStarted, pid or
// -errno} with a pidfd for the child, and later {kExited, wait status}
// when it has reaped the child (SIGCHLD through a signalfd). The caller
// polls the status socket to learn the end (the child is not its child:
// waitpid cannot), and signals the child through the pidfd (no pid reuse).
//
// Lifetimes. The server belongs to the process that started it (after a
// fork, the child starts its own on first use). It leaves when that process
// has exited (a pidfd of it in the server's poll), when asked, or when its
// socket closes. Pool workers and daemonic processes die with the server
// (PR_SET_PDEATHSIG), so with their owner; other children outlive it, as
// with Python. If the server is killed, the next start spawns a new one.
// The server ignores SIGINT (as Python's): Ctrl-C goes to the program.
//
// Thread safety: all functions may be called from any thread.
#ifndef SHOAL_POOL_INTERNAL_FORKSERVER_H_
#define SHOAL_POOL_INTERNAL_FORKSERVER_H_

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

namespace shoal::internal {

// A child of the forkserver. The caller owns both descriptors.
struct ServedChild {
  pid_t pid = 0;
  int pidfd = -1;      // the child, for signals
  int status_fd = -1;  // polls readable once the child has ended
};

// Forks a child of `kind` (a spawn entry) from this process's forkserver,
// starting the server first if needed; `fds` land at 3, 4, ... in the child
// (the caller keeps its own). Throws ValueError when the server does not
// come up within 30 s (a main() that does not call shoal::init first) and
// SystemError when it cannot fork.
ServedChild ForkserverStart(std::string_view kind,
                            const std::vector<std::string>& args,
                            const std::vector<int>& fds);

// Once `status_fd` polled readable: the child's wait status, or -1 if the
// server died before it could report. Blocks until then otherwise.
int ForkserverReadStatus(int status_fd);

// In a process forked by a forkserver: the server's pid (its OS parent);
// else 0. Spawn entries use it to tell who their parent must be.
pid_t ForkserverParent();
// `shoal_parent` unless forked by a forkserver, in which case the server.
pid_t ExpectedOsParent(pid_t shoal_parent);

// This process's running server, 0 if none (tests, benchmarks).
pid_t ForkserverPid();
// Stops this process's server and waits for it (tests, benchmarks). Its
// pool workers and daemonic children die with it.
void StopForkserver();

}  // namespace shoal::internal

#endif  // SHOAL_POOL_INTERNAL_FORKSERVER_H_
