// float_channel: large blocks of doubles from one process to another through
// shared memory, with a copy and without.
//
// The multiprocessing tour builds a FloatChannel out of a RawArray and two
// semaphores, then times 1,000 sends of 100,000 doubles:
//
//   ch = FloatChannel(100000)
//   p = multiprocessing.Process(target=consume_test, args=(1000, ch))
//   p.start()
//   values = [float(x) for x in range(100000)]
//   produce_test(1000, values, ch)
//
// shoal::FloatChannel (= Channel<double>) is that channel, built in, with
// two ways to use it:
//   copy mode  ch.send(values) copies a block in; ch.recv(buffer) copies it
//              out (two memcpys, like the Python original);
//   loan mode  ch.loan(n) hands the producer a block of the shared memory
//              itself: it writes the values there and publish()es; the
//              consumer's ch.receive() is a read-only view of the same block,
//              released when the view goes. Nothing is copied.
// The producer computes the same values either way (block i holds i, 1, 2,
// 3, ...), so the difference is exactly the copies; the consumer checks every
// value of every block and reports how many were wrong. Prints GB/s for each
// mode.
//
//   bazel run -c opt //examples:float_channel
//   bazel run //examples:float_channel -- --blocks=100 --elements=10000
#include <chrono>
#include <cstdio>
#include <string>
#include <cstring>
#include <numeric>
#include <span>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "shoal/ipc/channel.h"
#include "shoal/ipc/queue.h"
#include "shoal/pool/context.h"
#include "shoal/pool/process.h"

ABSL_FLAG(int, blocks, 1000, "blocks sent in each mode");
ABSL_FLAG(int, elements, 100000, "doubles per block");
ABSL_FLAG(int, slots, 2, "blocks the channel holds at once");
ABSL_FLAG(std::string, start_method, "fork",
          "fork or spawn (Python's set_start_method)");

namespace {

// Block i holds i, 1, 2, 3, ...: true when `v` is block i of n values
// (`expected` holds 0, 1, 2, 3, ...).
bool check_block(std::span<const double> v, int i,
                 const std::vector<double>& expected) {
  return v.size() == expected.size() && v[0] == i &&
         std::memcmp(v.data() + 1, expected.data() + 1,
                     (v.size() - 1) * sizeof(double)) == 0;
}

// What the producer computes for block i, written straight to `out`.
void produce_block(std::span<double> out, int i) {
  out[0] = i;
  for (std::size_t k = 1; k < out.size(); ++k) out[k] = static_cast<double>(k);
}

// The consumer: receives `count` blocks, checks each, reports the bad ones.
void consume_test(int count, int n, bool loan, shoal::FloatChannel ch,
                  shoal::Queue<int> report) {
  std::vector<double> expected(n);
  std::iota(expected.begin(), expected.end(), 0.0);
  int bad = 0;
  if (loan) {
    for (int i = 0; i < count; ++i) {
      shoal::FloatChannel::View v = ch.receive();  // in place, no copy
      bad += !check_block(v.span(), i, expected);
    }  // each view hands its block back as it goes
  } else {
    std::vector<double> values(n);
    for (int i = 0; i < count; ++i) {
      const std::size_t got = ch.recv(std::span<double>(values));  // copy out
      bad += !check_block(std::span<const double>(values.data(), got), i,
                          expected);
    }
  }
  report.put(bad);
}

void run(bool loan, int count, int n, int slots) {
  shoal::FloatChannel ch(n, slots);
  shoal::Queue<int> report;
  shoal::Process p(consume_test, count, n, loan, ch, report);
  p.start();

  const auto start = std::chrono::steady_clock::now();
  if (loan) {
    for (int i = 0; i < count; ++i) {
      shoal::FloatChannel::Loan w = ch.loan(n);  // a block of shared memory
      produce_block(w.span(), i);                // computed in place
      w.publish();
    }
  } else {
    std::vector<double> values(n);
    for (int i = 0; i < count; ++i) {
      produce_block(values, i);  // computed in the producer's memory
      ch.send(values);           // then copied in
    }
  }
  const int bad = report.get();  // the consumer checked the last block
  const double s = std::chrono::duration<double>(
                       std::chrono::steady_clock::now() - start).count();
  p.join();
  const double gb = double(count) * n * sizeof(double) / 1e9;
  std::printf("%s: %d blocks of %d doubles (%.3f GB) in %.1f ms: %.2f GB/s; "
              "%d checked, %d bad\n",
              loan ? "loan" : "copy", count, n, gb, s * 1e3, gb / s, count, bad);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  shoal::init(argc, argv);
  absl::ParseCommandLine(argc, argv);
  shoal::set_start_method(absl::GetFlag(FLAGS_start_method));
  const int count = absl::GetFlag(FLAGS_blocks);
  const int n = absl::GetFlag(FLAGS_elements);
  const int slots = absl::GetFlag(FLAGS_slots);
  run(/*loan=*/false, count, n, slots);
  run(/*loan=*/true, count, n, slots);
  std::printf("Done\n");
  return 0;
}
