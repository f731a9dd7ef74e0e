// pipeline/sink: stage 3 of examples/pipeline (see launcher.cc).
//
// Sums what arrives on the named queue --in until it has seen one sentinel
// per producer (--producers), then checks the sum of squares against the
// formula for 1..--count.
//
//   sink --in=NAME --producers=K --count=N
#include <unistd.h>

#include <cstdio>
#include <optional>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "shoal/base/errors.h"
#include "shoal/ipc/queue.h"

ABSL_FLAG(std::string, in, "", "the named queue to take squares from");
ABSL_FLAG(int, producers, 1, "stage-2 processes (one sentinel each)");
ABSL_FLAG(long, count, 1000, "numbers the source produced");

using Item = std::optional<long>;

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int pid = static_cast<int>(getpid());
  long n = 0, sum = 0;
  try {
    auto in = shoal::Queue<Item>::Open(absl::GetFlag(FLAGS_in));
    for (int ended = 0; ended < absl::GetFlag(FLAGS_producers);) {
      const Item x = in.get();
      if (!x) {
        ++ended;
        continue;
      }
      ++n;
      sum += *x;
    }
  } catch (const shoal::Closed&) {
    std::printf("sink (pid %d): the queue was closed after %ld squares, stopping\n",
                pid, n);
    return 3;
  } catch (const shoal::Error& e) {
    std::fprintf(stderr, "sink: %s\n", e.what());
    return 1;
  }
  const long c = absl::GetFlag(FLAGS_count);
  const long expected = c * (c + 1) * (2 * c + 1) / 6;
  std::printf("sink (pid %d): %ld squares, sum %ld (expected %ld)\n", pid, n,
              sum, expected);
  return n == c && sum == expected ? 0 : 1;
}
