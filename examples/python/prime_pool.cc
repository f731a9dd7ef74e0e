// prime_pool: the C++ end of examples/python/python_to_cpp_pool.py -- a
// shoal::Pool of C++ workers fed by a Python producer over a named queue.
//
//   prime_pool --jobs=NAME --results=NAME [--processes=N]
//
// Both queues are shoal.Queue(..., raw=True, ctype="string") in Python, that
// is shoal::Queue<std::string> here. Each job is the text "LO HI"; a worker
// counts the primes in [LO, HI) and the result "LO HI COUNT" goes back as
// soon as it is done (imap_unordered: results in completion order). The
// jobs are read lazily: imap_unordered pulls the next one from the queue
// only when a worker can take it, so a long stream never piles up here.
// When the producer closes the jobs queue and it is drained, the pool
// finishes the last jobs and this program closes the results queue.
#include <cstdio>
#include <exception>
#include <optional>
#include <sstream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "shoal/base/errors.h"
#include "shoal/ipc/queue.h"
#include "shoal/pool/context.h"
#include "shoal/pool/pool.h"

ABSL_FLAG(std::string, jobs, "", "name of the jobs queue (Python created it)");
ABSL_FLAG(std::string, results, "", "name of the results queue");
ABSL_FLAG(int, processes, 3, "worker processes");

namespace {

bool is_prime(long n) {
  if (n < 2) return false;
  for (long d = 2; d * d <= n; ++d) {
    if (n % d == 0) return false;
  }
  return true;
}

// Runs in a worker: "LO HI" -> "LO HI COUNT".
std::string count_primes(std::string job) {
  long lo = 0, hi = 0;
  std::istringstream in(job);
  if (!(in >> lo >> hi)) throw std::invalid_argument("bad job '" + job + "'");
  long count = 0;
  for (long n = lo; n < hi; ++n) count += is_prime(n);
  return job + " " + std::to_string(count);
}

}  // namespace

int main(int argc, char** argv) {
  shoal::init(argc, argv);
  absl::ParseCommandLine(argc, argv);
  if (absl::GetFlag(FLAGS_jobs).empty() || absl::GetFlag(FLAGS_results).empty()) {
    std::fprintf(stderr, "prime_pool: --jobs=NAME and --results=NAME are required\n");
    return 2;
  }
  try {
    auto jobs = shoal::Queue<std::string>::Open(absl::GetFlag(FLAGS_jobs));
    auto results = shoal::Queue<std::string>::Open(absl::GetFlag(FLAGS_results));
    shoal::Pool pool(static_cast<std::size_t>(absl::GetFlag(FLAGS_processes)));
    // The input: the next job, or nullopt once Python closed the queue and
    // it is drained.
    auto next_job = [&jobs]() -> std::optional<std::string> {
      try {
        return jobs.get();
      } catch (const shoal::Closed&) {
        return std::nullopt;
      }
    };
    for (const std::string& r : pool.imap_unordered(count_primes, next_job)) {
      results.put(r);
    }
    pool.close();
    pool.join();
    results.close();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "prime_pool: %s\n", e.what());
    return 1;
  }
  return 0;
}
