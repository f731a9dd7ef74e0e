// sentinel_queue: shutting consumers down cleanly, two ways.
//
// 1. Sentinels: the producer puts one "no more items" value per consumer
//    (Python puts None; here the queue carries std::optional<int> and the
//    sentinel is std::nullopt). Each consumer stops at its sentinel:
//
//      def consumer(input_q):
//          while True:
//              item = input_q.get()
//              if item is None:
//                  break
//              print(item)
//          print("Consumer done")
//      ...
//      for i in range(n_consumers): q.put(None)
//
// 2. close(): the producer closes the queue when it is done. Consumers drain
//    what is left, then get() throws shoal::Closed instead of blocking; no
//    sentinel to count. (shoal's close() is queue-wide; Python's only stops
//    the calling process from putting.)
//
// Each consumer reports (name, items, sum) on a results queue, and the parent
// checks that every item was consumed exactly once.
//
//   bazel run //examples:sentinel_queue
//   bazel run //examples:sentinel_queue -- --consumers=4 --items=10000
#include <cstdio>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "shoal/base/errors.h"
#include "shoal/ipc/queue.h"
#include "shoal/pool/context.h"
#include "shoal/pool/process.h"

ABSL_FLAG(int, consumers, 3, "consumer processes");
ABSL_FLAG(int, items, 20, "items produced");
ABSL_FLAG(std::string, start_method, "fork",
          "fork or spawn (Python's set_start_method)");

namespace {

using Report = std::tuple<std::string, int, long>;  // name, items, sum

// Stops at the first std::nullopt.
void sentinel_consumer(shoal::Queue<std::optional<int>> input_q,
                       shoal::Queue<Report> results) {
  const std::string me = shoal::current_process().name;
  int n = 0;
  long sum = 0;
  for (;;) {
    std::optional<int> item = input_q.get();
    if (!item) break;  // the sentinel
    ++n;
    sum += *item;
  }
  std::printf("%s: Consumer done after %d items\n", me.c_str(), n);
  std::fflush(stdout);
  results.put({me, n, sum});
}

// Stops when the queue is closed and drained.
void draining_consumer(shoal::Queue<int> input_q,
                       shoal::Queue<Report> results) {
  const std::string me = shoal::current_process().name;
  int n = 0;
  long sum = 0;
  try {
    for (;;) {
      sum += input_q.get();
      ++n;
    }
  } catch (const shoal::Closed&) {
    // Closed and nothing left: done.
  }
  std::printf("%s: queue closed and drained after %d items\n", me.c_str(), n);
  std::fflush(stdout);
  results.put({me, n, sum});
}

// Collects one report per consumer; true when they add up.
bool check(const char* how, shoal::Queue<Report>& results, int consumers,
           int items) {
  int n = 0;
  long sum = 0;
  for (int i = 0; i < consumers; ++i) {
    const auto [name, k, s] = results.get();
    n += k;
    sum += s;
  }
  const long expected = static_cast<long>(items) * (items + 1) / 2;
  std::printf("%s: %d consumers got %d items, sum %ld (expected %d, %ld)\n",
              how, consumers, n, sum, items, expected);
  return n == items && sum == expected;
}

}  // namespace

int main(int argc, char** argv) {
  shoal::init(argc, argv);
  absl::ParseCommandLine(argc, argv);
  shoal::set_start_method(absl::GetFlag(FLAGS_start_method));
  const int consumers = absl::GetFlag(FLAGS_consumers);
  const int items = absl::GetFlag(FLAGS_items);
  bool ok = true;

  // --- 1. One sentinel per consumer ----------------------------------------
  {
    shoal::Queue<std::optional<int>> q;
    shoal::Queue<Report> results;
    std::vector<shoal::Process> procs;
    for (int i = 0; i < consumers; ++i) {
      procs.emplace_back(sentinel_consumer, q, results);
      procs.back().start();
    }
    for (int item = 1; item <= items; ++item) q.put(item);
    for (int i = 0; i < consumers; ++i) q.put(std::nullopt);  // q.put(None)
    for (auto& p : procs) p.join();
    ok &= check("sentinels", results, consumers, items);
  }

  // --- 2. close() and drain ------------------------------------------------
  {
    shoal::Queue<int> q;
    shoal::Queue<Report> results;
    std::vector<shoal::Process> procs;
    for (int i = 0; i < consumers; ++i) {
      procs.emplace_back(draining_consumer, q, results);
      procs.back().start();
    }
    for (int item = 1; item <= items; ++item) q.put(item);
    q.close();  // later puts throw shoal::Closed; readers drain, then stop
    for (auto& p : procs) p.join();
    ok &= check("close", results, consumers, items);
  }
  return ok ? 0 : 1;
}
