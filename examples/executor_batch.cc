// executor_batch: concurrent.futures with processes: submit a batch of uneven
// tasks, take the results as they complete, and stop early on a failure.
//
//   with ProcessPoolExecutor(max_workers=2) as ex:
//       futures = [ex.submit(work, i) for i in range(n)]
//       for f in as_completed(futures):
//           print(f.result())
//       ...
//       done, not_done = wait(futures, return_when=FIRST_EXCEPTION)
//       for f in not_done:
//           f.cancel()
//
// Part 1 prints the tasks in the order they finish (not the order they were
// submitted: their lengths differ). Part 2 submits a batch in which one task
// throws; wait(FIRST_EXCEPTION) returns as soon as it has, and the tasks that
// have not started are cancelled (cancel() is false for those already
// running: they finish). The failed task's exception reaches the parent as
// the type it was thrown as (std::runtime_error).
//
//   bazel run //examples:executor_batch
//   bazel run //examples:executor_batch -- --tasks=20 --unit_ms=20
#include <chrono>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "shoal/base/errors.h"
#include "shoal/pool/context.h"
#include "shoal/pool/executor.h"

ABSL_FLAG(int, tasks, 10, "tasks per batch");
ABSL_FLAG(int, unit_ms, 100, "a task sleeps 1 to 5 units");
ABSL_FLAG(int, fail_at, 2, "the task of the second batch that throws");
ABSL_FLAG(std::string, start_method, "fork",
          "fork or spawn (Python's set_start_method)");

namespace {

using Clock = std::chrono::steady_clock;

// Uneven work: task i sleeps 1 to 5 units, then returns (i, i * i). Task
// `fail_at` throws after 1 unit.
std::pair<int, int> work(int i, int unit_ms, int fail_at) {
  if (i == fail_at) {
    std::this_thread::sleep_for(std::chrono::milliseconds(unit_ms));
    throw std::runtime_error("task " + std::to_string(i) + " failed");
  }
  const int units = (i * 7) % 5 + 1;
  std::this_thread::sleep_for(std::chrono::milliseconds(units * unit_ms));
  return {i, i * i};
}

using F = shoal::Future<std::pair<int, int>>;

int index_of(const std::vector<F>& futures, const F& f) {
  for (std::size_t i = 0; i < futures.size(); ++i) {
    if (futures[i] == f) return static_cast<int>(i);
  }
  return -1;
}

std::string what(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::runtime_error& x) {
    return std::string("std::runtime_error: ") + x.what();
  } catch (const std::exception& x) {
    return x.what();
  }
}

}  // namespace

int main(int argc, char** argv) {
  shoal::init(argc, argv);
  absl::ParseCommandLine(argc, argv);
  shoal::set_start_method(absl::GetFlag(FLAGS_start_method));
  const int n = absl::GetFlag(FLAGS_tasks);
  const int unit = absl::GetFlag(FLAGS_unit_ms);
  shoal::ProcessPoolExecutor ex(shoal::ExecutorOptions{.max_workers = 2});

  // --- 1. as_completed -------------------------------------------------------
  {
    const auto start = Clock::now();
    std::vector<F> futures;
    for (int i = 0; i < n; ++i) futures.push_back(ex.submit(work, i, unit, -1));
    int k = 0;
    for (F& f : shoal::as_completed(futures)) {
      const auto& [i, square] = f.result();
      std::printf("completed #%d: task %d -> %d (after %lld ms)\n", ++k, i,
                  square,
                  static_cast<long long>(
                      std::chrono::duration_cast<std::chrono::milliseconds>(
                          Clock::now() - start).count()));
    }
    std::printf("as_completed: %d of %d tasks\n", k, n);
    std::fflush(stdout);
  }

  // --- 2. wait(FIRST_EXCEPTION), then cancel the rest ------------------------
  {
    std::vector<F> futures;
    for (int i = 0; i < n; ++i) {
      futures.push_back(ex.submit(work, i, unit, absl::GetFlag(FLAGS_fail_at)));
    }
    auto [done, not_done] =
        shoal::wait(futures, shoal::Deadline::Infinite(), shoal::FIRST_EXCEPTION);
    std::printf("wait(FIRST_EXCEPTION) returned: %zu done, %zu not done\n",
                done.size(), not_done.size());
    for (F& f : done) {
      if (std::exception_ptr e = f.exception()) {
        std::printf("first exception: task %d: %s\n", index_of(futures, f),
                    what(e).c_str());
      }
    }
    int cancelled = 0;
    for (F& f : not_done) cancelled += f.cancel();  // false once running
    std::printf("cancelled %d of the %zu not done\n", cancelled, not_done.size());

    // Every future ends one of three ways.
    int ok = 0, failed = 0, was_cancelled = 0;
    for (std::size_t i = 0; i < futures.size(); ++i) {
      F& f = futures[i];
      try {
        const auto& [idx, square] = f.result();
        std::printf("task %zu: %d\n", i, square);
        ++ok;
      } catch (const shoal::CancelledError&) {
        std::printf("task %zu: cancelled\n", i);
        ++was_cancelled;
      } catch (const std::runtime_error& e) {
        std::printf("task %zu: failed: %s\n", i, e.what());
        ++failed;
      }
    }
    std::printf("second batch: %d completed, %d failed, %d cancelled\n", ok,
                failed, was_cancelled);
  }
  ex.shutdown();
  return 0;
}
