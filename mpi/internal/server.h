// Copyright 2026 The shoal Authors.
//
// server.h: what a worker rank (rank > 0) does after the handshake.
//
// Its MPI thread (the one that called MPI_Init_thread) polls rank 0 with
// MPI_Improbe and hands each task to its session's runner, which must not
// block the MPI thread:
//   inline        (SessionConfig::processes == 0) one task thread per
//                 session runs the tasks in order, in this process. A task
//                 that crashes takes the rank with it (see init.h).
//   hierarchical  (processes > 0) a local shoal::Pool of that many worker
//                 processes; the task goes into its shared-memory ring. A
//                 worker that dies fails only its task with WorkerLost
//                 (pid, signal), exactly as in a local pool; so does a task
//                 past its time limit (TimeoutError).
// Finished results come back through an outbox (a mutex-protected vector
// and a Doorbell); the MPI thread sends them with MPI_Isend. While it has
// tasks it sends a heartbeat whenever it has sent nothing for a quarter of
// rank_timeout, so rank 0 can tell a slow task from a dead rank; it leaves
// (status 1) when rank 0 has been silent for rank_timeout.
#ifndef SHOAL_MPI_INTERNAL_SERVER_H_
#define SHOAL_MPI_INTERNAL_SERVER_H_

#include "shoal/mpi/internal/world.h"

namespace shoal::mpi::internal {

struct ServeResult {
  int status = 0;         // the process's exit status
  bool finalize = true;   // MPI_Finalize may be called
  bool clean = true;      // every task thread and local pool was joined
};

// Serves until rank 0 says stop (or is gone).
ServeResult Serve(const MpiComm& comm, int rank, const Tuning& tuning);

}  // namespace shoal::mpi::internal

#endif  // SHOAL_MPI_INTERNAL_SERVER_H_
