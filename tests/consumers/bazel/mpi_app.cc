// The MPI consumer program (tests/consumers/bazel, target app_mpi, built on
// @shoal//:shoal_mpi): tasks sent to the other MPI ranks through
// shoal::mpi::Executor, with the same futures as a local executor.
// tests/consumers/run.sh runs it with `mpirun -np 3` and compares its output
// with mpi_expected.txt.
#include <cstdio>
#include <numeric>
#include <vector>

#include <shoal/mpi/executor.h>
#include <shoal/mpi/init.h>

namespace {

int square(int x) { return x * x; }

}  // namespace

int main(int argc, char** argv) {
  shoal::mpi::init(argc, argv);  // ranks 1.. serve tasks and exit here
  shoal::mpi::Executor ex;
  std::printf("mpi: %d ranks\n", shoal::mpi::size());
  std::printf("mpi: submit(square, 12) = %d\n",
              ex.submit(square, 12).result(std::chrono::seconds(60)));
  int sum = 0;
  for (int v : ex.map(square, std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10})) {
    sum += v;
  }
  std::printf("mpi: sum of squares %d\n", sum);
  return 0;
}
