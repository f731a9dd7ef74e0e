// The program every consumer project builds (CMake, pkg-config, Bazel): a
// Pool, a Queue and a FloatChannel, each checked. It includes only the
// umbrella header, as a user starting out would, and prints one line per
// check; tests/consumers/run.sh compares the output with expected.txt.
//
//   app [fork|spawn]      the start method of the Pool and the Process
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include <shoal/shoal.h>

namespace {

int square(int x) { return x * x; }

// Runs in a child process: sends 100 numbers through the queue, then
// 10 blocks of 1,000 doubles through the channel without copying them.
void produce(shoal::Queue<int> numbers, shoal::FloatChannel blocks) {
  for (int i = 1; i <= 100; ++i) numbers.put(i);
  for (int b = 0; b < 10; ++b) {
    shoal::FloatChannel::Loan w = blocks.loan(1000);
    std::iota(w.begin(), w.end(), static_cast<double>(b));
    w.publish();
  }
}

}  // namespace

int main(int argc, char** argv) {
  shoal::init(argc, argv);  // runs the worker when this is a spawned child
  const std::string method = argc > 1 ? argv[1] : "fork";
  shoal::set_start_method(method);
  std::printf("shoal %s (%d.%d.%d) %s\n", SHOAL_VERSION_STRING,
              SHOAL_VERSION_MAJOR, SHOAL_VERSION_MINOR, SHOAL_VERSION_PATCH,
              SHOAL_VERSION == 10000 * SHOAL_VERSION_MAJOR +
                                   100 * SHOAL_VERSION_MINOR +
                                   SHOAL_VERSION_PATCH
                  ? "ok"
                  : "bad");

  // Pool: squares of 1..10 in 2 worker processes.
  shoal::Pool pool(shoal::PoolOptions{.processes = 2});
  std::vector<int> squares =
      pool.map(square, std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  std::printf("pool: sum of squares %d\n",
              std::accumulate(squares.begin(), squares.end(), 0));
  std::printf("pool: apply_async(square, 12) = %d\n",
              pool.apply_async(square, 12).get(std::chrono::seconds(60)));
  pool.close();
  pool.join();

  // Queue and FloatChannel: one producer process.
  shoal::Queue<int> numbers(/*maxsize=*/16);
  shoal::FloatChannel blocks(/*max_elements=*/1000);
  shoal::Process producer(produce, numbers, blocks);
  producer.start();
  long sum = 0;
  for (int i = 0; i < 100; ++i) sum += numbers.get(std::chrono::seconds(60));
  std::printf("queue: 100 items, sum %ld\n", sum);
  double total = 0;
  bool in_order = true;
  for (int b = 0; b < 10; ++b) {
    shoal::FloatChannel::View r = blocks.receive(std::chrono::seconds(60));
    in_order = in_order && r.size() == 1000 && r[0] == b && r[999] == b + 999;
    total += std::accumulate(r.begin(), r.end(), 0.0);
  }
  std::printf("channel: 10 blocks of 1000 doubles, sum %.0f, %s\n", total,
              in_order ? "in order" : "OUT OF ORDER");
  producer.join(std::chrono::seconds(60));
  std::printf("producer exit code %d\n", producer.exitcode().value_or(-1));
  return 0;
}
