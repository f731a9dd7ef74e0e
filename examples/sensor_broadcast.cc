// sensor_broadcast: one sensor process publishes blocks of samples; several
// consumer processes each see every block, read in place, none copying.
//
//   * --loggers consumers that must see every block: they subscribe with
//     WhenBehind::kBlockWriter, so the sensor waits for them when they lag;
//   * a dashboard that only wants to keep up: kOverwrite; it is slow on
//     purpose and is told how many blocks it missed (never silently);
//   * a late joiner that subscribes half-way with a history of 4 blocks.
//
// Each block holds --samples doubles and a checksum; every consumer checks
// every block it reads, and the counts add up: received + missed = what
// was published since it joined.
//
//   # Python has no broadcast; the nearest is one multiprocessing.Queue per
//   # consumer, each block pickled and copied once per consumer:
//   #   queues = [mp.Queue() for _ in consumers]
//   #   for q in queues: q.put(block)          # sensor
//   #   block = my_queue.get()                 # consumer
//
//   bazel run //examples:sensor_broadcast -- --loggers=2 --blocks=400
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "shoal/ipc/broadcast.h"
#include "shoal/pool/context.h"
#include "shoal/pool/process.h"

ABSL_FLAG(int, loggers, 2, "consumers that must see every block");
ABSL_FLAG(int, blocks, 400, "blocks the sensor publishes");
ABSL_FLAG(int, samples, 1024, "samples per block");
ABSL_FLAG(std::string, start_method, "fork",
          "fork or spawn (Python's set_start_method)");

namespace {

using Bus = shoal::Broadcast<double>;
using std::chrono::seconds;

// Sample i of block n, and the checksum that ends each block.
double SampleOf(uint64_t n, std::size_t i) {
  return std::sin(0.001 * static_cast<double>(n * 7919 + i));
}

bool Valid(const Bus::View& v) {
  if (v.size() < 2) return false;
  double sum = 0;
  for (std::size_t i = 0; i + 1 < v.size(); ++i) {
    if (v[i] != SampleOf(v.seq(), i)) return false;
    sum += v[i];
  }
  return sum == v[v.size() - 1];
}

// Reads until the sensor closes the bus; prints what it got.
int consume(Bus bus, std::string name, int policy, int history, int delay_us) {
  auto sub = bus.subscribe(
      {.when_behind = policy == 0 ? shoal::WhenBehind::kBlockWriter
                                  : shoal::WhenBehind::kOverwrite,
       .history = static_cast<uint32_t>(history)});
  const uint64_t first = sub.cursor();
  uint64_t bad = 0;
  for (;;) {
    try {
      auto block = sub.receive(seconds(30));
      if (!Valid(block)) ++bad;
      if (delay_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(delay_us));
    } catch (const shoal::Closed&) {
      break;
    }
  }
  const uint64_t owed = bus.published() - first;
  std::printf("%s: received %llu blocks, missed %llu, lost %llu, bad %llu, "
              "accounted for every block: %s\n",
              name.c_str(), static_cast<unsigned long long>(sub.delivered()),
              static_cast<unsigned long long>(sub.missed()),
              static_cast<unsigned long long>(sub.lost()),
              static_cast<unsigned long long>(bad),
              sub.delivered() + sub.missed() + sub.lost() == owed ? "yes" : "no");
  if (history > 0) {
    std::printf("%s: joined at block %llu (%d blocks of history)\n",
                name.c_str(), static_cast<unsigned long long>(first), history);
  }
  std::fflush(stdout);
  return bad == 0 ? 0 : 1;
}

// Waits (bounded) until `n` subscribers have joined.
bool AwaitSubscribers(const Bus& bus, uint32_t n) {
  const auto end = std::chrono::steady_clock::now() + seconds(30);
  while (bus.subscribers() < n) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  shoal::init(argc, argv);
  absl::ParseCommandLine(argc, argv);
  shoal::set_start_method(absl::GetFlag(FLAGS_start_method));
  const int nloggers = absl::GetFlag(FLAGS_loggers);
  const int nblocks = absl::GetFlag(FLAGS_blocks);
  const int nsamples = absl::GetFlag(FLAGS_samples);

  Bus bus(nsamples + 1, shoal::BroadcastOptions{.slots = 8, .history = 4});

  std::vector<shoal::Process> consumers;
  for (int i = 0; i < nloggers; ++i) {
    consumers.emplace_back(consume, bus, "logger " + std::to_string(i), 0, 0, 0);
  }
  consumers.emplace_back(consume, bus, std::string("dashboard"), 1, 0, 2000);
  for (auto& c : consumers) c.start();
  if (!AwaitSubscribers(bus, consumers.size())) return 2;

  auto publish = [&](uint64_t n) {
    auto block = bus.loan(nsamples + 1, seconds(30));
    double sum = 0;
    for (int i = 0; i < nsamples; ++i) sum += block[i] = SampleOf(n, i);
    block[nsamples] = sum;
    block.publish();
  };
  uint64_t n = 0;
  for (; n < static_cast<uint64_t>(nblocks / 2); ++n) publish(n);
  // Half-way: a late joiner asks for the last 4 blocks.
  consumers.emplace_back(consume, bus, std::string("late joiner"), 0, 4, 0);
  consumers.back().start();
  if (!AwaitSubscribers(bus, consumers.size())) return 2;
  for (; n < static_cast<uint64_t>(nblocks); ++n) publish(n);
  bus.close();
  std::printf("sensor: published %d blocks of %d samples to %zu consumers\n",
              nblocks, nsamples, consumers.size());
  std::fflush(stdout);

  int failed = 0;
  for (auto& c : consumers) {
    c.join();
    if (c.exitcode() != 0) ++failed;
  }
  std::printf("consumers exited cleanly: %s\n", failed == 0 ? "yes" : "no");
  return failed == 0 ? 0 : 1;
}
