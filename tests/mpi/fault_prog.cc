// Fault scenarios for mpi/, one per run (tests/mpi/BUILD.bazel runs each
// under mpirun through mpirun_test.sh, which checks the status, the output
// and the time it took):
//   kill_rank         a task SIGKILLs its own rank after 20 tasks completed;
//                     under Open MPI's default the job is aborted (mpirun
//                     names the rank and signal, status != 0).
//   kill_rank_survive the same under `mpirun --enable-recovery` with a 2 s
//                     rank_timeout: the task fails with WorkerLost within
//                     the bound, the other ranks carry on, ranks() shows
//                     the lost one, and the program ends.
//   handshake         run as `-np 1 fault_prog : -np 2 fault_prog_variant`:
//                     a second build of this file (another build id) is
//                     refused by the start-up handshake, naming both sides.
//   no_workers        -np 1: an executor says there are no worker ranks.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "shoal/base/errors.h"
#include "shoal/mpi/executor.h"
#include "shoal/mpi/init.h"

#ifdef SHOAL_MPI_TEST_VARIANT
// Only here so that the two builds differ (and so their build ids).
extern "C" const char kShoalMpiTestVariant[] = "variant";
#endif

namespace {

using namespace std::chrono_literals;

int Square(int x) { return x * x; }
int KillMyRank(int) {
  raise(SIGKILL);  // the whole rank process: inline mode runs tasks here
  return 0;
}

int Fail(const char* what) {
  std::printf("FAILED: %s\n", what);
  std::fflush(stdout);
  return 1;
}

int KillRank(bool survive) {
  shoal::mpi::Executor ex;
  const int workers = shoal::mpi::size() - 1;
  for (int i = 0; i < 20; ++i) {
    if (ex.submit(Square, i).result(30s) != i * i) return Fail("square");
  }
  std::printf("20 tasks done; killing a rank\n");
  std::fflush(stdout);
  const auto t0 = std::chrono::steady_clock::now();
  auto doomed = ex.submit(KillMyRank, 0);
  try {
    doomed.result(60s);
    return Fail("the task that killed its rank returned");
  } catch (const shoal::WorkerLost& e) {
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
            .count();
    std::printf("WorkerLost after %.2f s: %s\n", s, e.what());
    if (!survive) return Fail("survived without --enable-recovery");
    if (s > 10) return Fail("too late");
  } catch (const std::exception& e) {
    std::printf("unexpected: %s\n", e.what());
    return Fail("wrong exception");
  }
  int lost = 0;
  for (const auto& r : shoal::mpi::ranks()) lost += r.rank > 0 && !r.live;
  if (lost != 1) return Fail("ranks() should show one lost rank");
  if (ex.max_workers() != static_cast<std::size_t>(workers - 1)) {
    return Fail("max_workers should count live ranks");
  }
  std::vector<shoal::Future<int>> fs;
  for (int i = 0; i < 100; ++i) fs.push_back(ex.submit(Square, i));
  for (int i = 0; i < 100; ++i) {
    if (fs[i].result(30s) != i * i) return Fail("after the loss");
  }
  std::printf("RECOVERY_OK: 100 more tasks on the %d live ranks\n",
              workers - 1);
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  alarm(120);
  const std::string scenario = argc > 1 ? argv[argc - 1] : "";
  try {
    shoal::mpi::InitOptions options;
    if (scenario == "kill_rank_survive") options.rank_timeout = 2s;
    shoal::mpi::init(argc, argv, options);
  } catch (const shoal::mpi::HandshakeError& e) {
    std::printf("HANDSHAKE_REFUSED: %s\n", e.what());
    std::fflush(stdout);
    return 3;
  }
  if (scenario == "handshake") return Fail("the handshake accepted a mismatch");
  if (scenario == "kill_rank") return KillRank(false);
  if (scenario == "kill_rank_survive") return KillRank(true);
  if (scenario == "no_workers") {
    try {
      shoal::mpi::Executor ex;
      return Fail("an executor without worker ranks");
    } catch (const shoal::ValueError& e) {
      std::printf("NO_WORKERS_OK: %s\n", e.what());
      return 0;
    }
  }
  return Fail(("unknown scenario " + scenario).c_str());
}
