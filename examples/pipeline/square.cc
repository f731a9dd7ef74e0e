// pipeline/square: stage 2 of examples/pipeline (see launcher.cc); the
// launcher may start several.
//
// Takes numbers from the named queue --in, puts their squares into --out.
// On a sentinel (std::nullopt) it passes one sentinel on and stops. If the
// launcher closes the queues (another stage failed), get()/put() throw
// shoal::Closed and it stops too.
//
//   square --in=NAME --out=NAME [--crash_after=N]
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <optional>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "shoal/base/errors.h"
#include "shoal/ipc/queue.h"

ABSL_FLAG(std::string, in, "", "the named queue to take numbers from");
ABSL_FLAG(std::string, out, "", "the named queue to put squares into");
ABSL_FLAG(long, crash_after, 0,
          "for the demo of a failing stage: SIGKILL itself after this many "
          "items (0: never)");

using Item = std::optional<long>;

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int pid = static_cast<int>(getpid());
  long n = 0;
  try {
    auto in = shoal::Queue<Item>::Open(absl::GetFlag(FLAGS_in));
    auto out = shoal::Queue<Item>::Open(absl::GetFlag(FLAGS_out));
    for (;;) {
      const Item x = in.get();
      if (!x) {
        out.put(std::nullopt);  // one sentinel in, one sentinel out
        break;
      }
      out.put(*x * *x);
      if (++n == absl::GetFlag(FLAGS_crash_after)) raise(SIGKILL);
    }
    std::printf("square (pid %d): squared %ld numbers\n", pid, n);
    return 0;
  } catch (const shoal::Closed&) {
    std::printf("square (pid %d): the queue was closed after %ld numbers, stopping\n",
                pid, n);
    return 3;
  } catch (const shoal::Error& e) {
    std::fprintf(stderr, "square: %s\n", e.what());
    return 1;
  }
}
