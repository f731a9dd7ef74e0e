// A program that uses the spawn start method but forgot shoal::init: each
// spawned worker runs this main() again. tests/pool/forgot_init_test.sh
// checks that the mistake is explained once (the pool's BrokenPool), not by
// every worker.
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <vector>

#include "shoal/pool/context.h"
#include "shoal/pool/pool.h"

int square(int x) { return x * x; }

int main() {
  // shoal::init(argc, argv) is missing here.
  std::printf("main started\n");
  std::fflush(stdout);
  try {
    shoal::Pool pool(shoal::PoolOptions{
        .processes = 3, .context = shoal::get_context("spawn")});
    std::vector<int> v = pool.map(square, std::vector<int>{1, 2, 3});
    std::printf("unexpected: the map returned %zu results\n", v.size());
    return 1;
  } catch (const std::exception& e) {
    std::printf("caught: %s\n", e.what());
  }
  return 0;
}
