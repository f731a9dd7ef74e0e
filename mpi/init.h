// Copyright 2026 The shoal Authors.
//
// init.h: shoal::mpi::init, the MPI counterpart of shoal::init, and what a
// program can ask about its ranks.
//
//   int main(int argc, char** argv) {
//     shoal::mpi::init(argc, argv);          // ranks 1..N-1 never return
//     shoal::mpi::Executor ex;               // rank 0: tasks go to the others
//     ...
//   }                                        // at exit: the workers stop
//
//   mpirun -np 4 ./prog                      // one machine: 1 + 3 workers
//   mpirun --hostfile hosts -np 8 ./prog     // several hosts (README)
//
// Contract
//   init(argc, argv, options) must be the first thing main() does (it also
//   runs shoal::init, so local pools with the spawn method work). It starts
//   MPI (MPI_Init_thread with MPI_THREAD_FUNNELED) on a thread of its own,
//   "the MPI thread", which makes every MPI call of the process: programs
//   must not call MPI themselves. Then every rank takes part in a handshake:
//   each rank's program (build id of the module that called init), shoal's
//   module, architecture, byte order and word size must equal rank 0's.
//     rank 0     returns. shoal::mpi::Executor and shoal::mpi::Pool send
//                their tasks to the other ranks.
//     rank r>0   serves tasks until rank 0 finishes, then finalizes MPI and
//                exits the process with status 0 (init never returns).
//   A mismatch is refused before any task runs: on rank 0 init throws
//   HandshakeError, whose message names both sides (rank, host, pid,
//   architecture, byte order, binary and build id); a mismatched worker
//   prints the same message to stderr; every rank finalizes MPI and the
//   workers exit with status 0 (rank 0's handling of the error decides the
//   job's status).
//   Rank 0 finalizes when finalize() is called or, failing that, at exit
//   (std::atexit): the workers are told to stop, then MPI_Finalize runs.
//
// What happens when a rank dies
//   Open MPI's default: mpirun sees a rank end without MPI_Finalize (killed,
//   crashed, exit() in a task) and aborts the whole job within about a
//   second, rank 0 included, naming the rank and signal ("mpirun noticed
//   that process rank 2 ... exited on signal 9"); its exit status is
//   non-zero. With `mpirun --enable-recovery` the job survives: a rank
//   that has tasks and sends nothing for rank_timeout (dead, stopped, its
//   host gone) is declared lost, each of its tasks fails with
//   shoal::WorkerLost naming the rank, host and pid, and later tasks go to
//   the other ranks (BrokenPool when none is left). Its results, should it
//   come back, are dropped. At the end MPI_Finalize is skipped (it would
//   wait for the lost rank forever), so the processes exit without it.
//   Workers likewise leave (status 1, a message on stderr) when rank 0 has
//   been silent for rank_timeout; rank 0 sends a keepalive every quarter of
//   it. rank_timeout = 0 turns both checks off.
//
// Thread safety: init once, from main(); the queries from any thread.
#ifndef SHOAL_MPI_INIT_H_
#define SHOAL_MPI_INIT_H_

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "shoal/base/errors.h"

namespace shoal::mpi {

struct InitOptions {
  // See "What happens when a rank dies". Rank 0's value is used by all.
  std::chrono::milliseconds rank_timeout{10'000};
  // How long an MPI thread keeps polling (yielding the CPU between polls)
  // after its last event before it starts sleeping between polls ...
  std::chrono::microseconds spin{200};
  // ... and how long while answers are due (rank 0 with tasks out; a worker
  // with a session open): a thread that slept may wait a whole time slice
  // to run again on a busy machine, so the pipeline keeps polling while
  // work flows, and sleeps only after this much silence.
  std::chrono::microseconds spin_while_working{5'000};
  // The longest sleep between two polls of an idle MPI thread: the delay of
  // the first message after an idle spell, against idle CPU use.
  std::chrono::microseconds max_poll_interval{1'000};
  // Not here: Open MPI's shared-memory eager limit (4 KiB). A message past
  // it waits for the receiver and then moves only while both ranks' MPI
  // threads run (rendezvous): one or two more scheduling delays per
  // message. `mpirun --mca btl_vader_eager_limit 16384` raises it (Open
  // MPI's most: btl_vader_max_send_size, 32 KiB); bench/RESULTS.md "## mpi"
  // measures both (it did not pay off by default: 1 MiB messages slowed).
};

// Ranks that differ in binary, architecture, byte order or word size.
class HandshakeError : public Error {
 public:
  explicit HandshakeError(const std::string& what) : Error(what) {}
  const char* kind() const noexcept override { return "HandshakeError"; }
};

void init(int argc, char** argv, const InitOptions& options = {});

// Rank 0: stops the workers and finalizes MPI (after this, executors and
// pools cannot be created; tasks still pending fail with BrokenPool). Runs
// at exit if not called. Idempotent.
void finalize();

// After init (rank 0; the workers never see main() run on).
bool initialized();
int rank();
// Ranks in MPI_COMM_WORLD, rank 0 included.
int size();

struct RankInfo {
  int rank = 0;
  std::string host;
  pid_t pid = 0;
  bool live = true;  // false once declared lost (--enable-recovery)
};
// Every rank as the handshake saw it.
std::vector<RankInfo> ranks();

}  // namespace shoal::mpi

#endif  // SHOAL_MPI_INIT_H_
