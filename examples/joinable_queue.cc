// joinable_queue: producer/consumer with shoal::JoinableQueue.
//
// Shows a daemon consumer process that calls task_done() after each item,
// and a producer (the main process) that put()s items and join()s the queue:
// join() returns once every item put has been marked done. Then the same
// with 10 consumers sharing one queue. The Python it mirrors:
//
//   def consumer(input_q):
//       while True:
//           item = input_q.get()
//           print(item)
//           input_q.task_done()
//
//   q = multiprocessing.JoinableQueue()
//   cons_p = multiprocessing.Process(target=consumer, args=(q,))
//   cons_p.daemon = True
//   cons_p.start()
//   producer([1, 2, 3, 4], q)
//   q.join()
//
// The consumers never return: they are daemons, killed when main() ends.
//
//   bazel run //examples:joinable_queue
//   bazel run //examples:joinable_queue -- --consumers=4 --items=1000
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "shoal/ipc/queue.h"
#include "shoal/ipc/value.h"
#include "shoal/pool/context.h"
#include "shoal/pool/process.h"

ABSL_FLAG(int, consumers, 10, "consumer processes in the second part");
ABSL_FLAG(int, items, 100, "items produced in the second part");
ABSL_FLAG(std::string, start_method, "fork",
          "fork or spawn (Python's set_start_method)");

namespace {

// Prints each item; runs until its process is killed.
void consumer(shoal::JoinableQueue<int> input_q) {
  for (;;) {
    const int item = input_q.get();
    std::printf("%s got %d\n", shoal::current_process().name.c_str(), item);
    std::fflush(stdout);
    input_q.task_done();
  }
}

// The same, also adding each item to a shared total (so the parent can check
// that every item was handled exactly once).
void counting_consumer(shoal::JoinableQueue<int> input_q,
                       shoal::Value<long> total) {
  for (;;) {
    const int item = input_q.get();
    total.add(item);
    std::printf("%s got %d\n", shoal::current_process().name.c_str(), item);
    std::fflush(stdout);
    input_q.task_done();
  }
}

void producer(const std::vector<int>& sequence,
              shoal::JoinableQueue<int>& output_q) {
  for (int item : sequence) output_q.put(item);
}

}  // namespace

int main(int argc, char** argv) {
  shoal::init(argc, argv);
  absl::ParseCommandLine(argc, argv);
  shoal::set_start_method(absl::GetFlag(FLAGS_start_method));

  // --- One daemon consumer --------------------------------------------------
  shoal::JoinableQueue<int> q;
  shoal::Process cons_p(shoal::ProcessOptions{.daemon = true}, consumer, q);
  cons_p.start();
  producer({1, 2, 3, 4}, q);
  q.join();  // every item has had its task_done()
  std::printf("one consumer: all 4 items done (unfinished: %llu)\n",
              static_cast<unsigned long long>(q.unfinished_tasks()));

  // --- Ten consumers --------------------------------------------------------
  const int n_consumers = absl::GetFlag(FLAGS_consumers);
  const int n_items = absl::GetFlag(FLAGS_items);
  shoal::JoinableQueue<int> key_list;
  shoal::Value<long> total(0);
  std::vector<shoal::Process> processes;
  for (int i = 0; i < n_consumers; ++i) {
    processes.emplace_back(shoal::ProcessOptions{.daemon = true},
                           counting_consumer, key_list, total);
  }
  for (auto& p : processes) p.start();
  std::vector<int> sequence(n_items);
  std::iota(sequence.begin(), sequence.end(), 1);
  producer(sequence, key_list);
  key_list.join();
  const long expected = static_cast<long>(n_items) * (n_items + 1) / 2;
  std::printf("%d consumers: all %d items done, sum %ld (expected %ld)\n",
              n_consumers, n_items, total.load(), expected);
  // Leaving main() terminates the daemon consumers.
  return total.load() == expected ? 0 : 1;
}
