// Copyright 2026 The shoal Authors.
//
// README.md "Beyond one machine": the example, verbatim between the markers,
// run by //tests/mpi:readme_example_test under `mpirun -np 3`.
// readme:begin
#include <cstdio>
#include <ranges>

#include "shoal/mpi/executor.h"
#include "shoal/mpi/init.h"

int square(int x) { return x * x; }

int main(int argc, char** argv) {
  shoal::mpi::init(argc, argv);  // ranks 1..N-1 serve tasks here and exit
  shoal::mpi::Executor ex;       // rank 0: ProcessPoolExecutor's interface
  long sum = 0;
  for (int y : ex.map(square, std::views::iota(0, 1000))) sum += y;
  shoal::Future<int> f = ex.submit(square, 12);  // the same shoal::Future
  std::printf("sum %ld, 12^2 = %d, %d worker ranks\n", sum, f.result(),
              shoal::mpi::size() - 1);
}
// readme:end
