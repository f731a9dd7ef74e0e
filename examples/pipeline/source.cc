// pipeline/source: stage 1 of examples/pipeline (see launcher.cc).
//
// Opens the named queue --out (created by the launcher) and puts the numbers
// 1..--count into it, then one sentinel (std::nullopt) per consumer of the
// next stage (--sentinels), so that each of them stops.
//
//   source --out=NAME --count=N --sentinels=K
#include <unistd.h>

#include <cstdio>
#include <optional>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "shoal/base/errors.h"
#include "shoal/ipc/queue.h"

ABSL_FLAG(std::string, out, "", "the named queue to put into");
ABSL_FLAG(long, count, 1000, "numbers to produce");
ABSL_FLAG(int, sentinels, 1, "consumers of the next stage");

// Every stage uses the same item type: a number, or std::nullopt for "no
// more". Opening a queue as another type fails with a clear error.
using Item = std::optional<long>;

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  try {
    auto out = shoal::Queue<Item>::Open(absl::GetFlag(FLAGS_out));
    const long count = absl::GetFlag(FLAGS_count);
    for (long i = 1; i <= count; ++i) out.put(i);
    for (int k = 0; k < absl::GetFlag(FLAGS_sentinels); ++k) out.put(std::nullopt);
    std::printf("source (pid %d): put %ld numbers and %d sentinels\n",
                static_cast<int>(getpid()), count, absl::GetFlag(FLAGS_sentinels));
    return 0;
  } catch (const shoal::Closed&) {
    std::printf("source (pid %d): the queue was closed, stopping\n",
                static_cast<int>(getpid()));
    return 3;
  } catch (const shoal::Error& e) {
    std::fprintf(stderr, "source: %s\n", e.what());
    return 1;
  }
}
