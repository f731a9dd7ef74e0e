// block_producer: the C++ end of examples/python/cpp_to_python.py -- a C++
// producer writing blocks of doubles straight into a FloatChannel that a
// Python process created and reads as numpy arrays, without a copy.
//
//   block_producer --channel=NAME --blocks=1000 --elements=100000
//
// Opens the named channel (shoal.FloatChannel(..., name=NAME) in Python, the
// same region as shoal::FloatChannel here), loans each block, fills it in
// place (block b holds b * 1e6 + k at index k, so the reader can check every
// sum exactly), publishes it, and closes the channel at the end: the Python
// reader drains what is left, then gets shoal.Closed.
#include <chrono>
#include <cstdio>
#include <exception>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "shoal/ipc/channel.h"

ABSL_FLAG(std::string, channel, "", "name of the FloatChannel to open");
ABSL_FLAG(int, blocks, 1000, "blocks to publish");
ABSL_FLAG(int, elements, 100000, "doubles per block (at most the channel's)");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string name = absl::GetFlag(FLAGS_channel);
  if (name.empty()) {
    std::fprintf(stderr, "block_producer: --channel=NAME is required\n");
    return 2;
  }
  try {
    shoal::FloatChannel ch = shoal::FloatChannel::Open(name);
    const auto n = static_cast<std::size_t>(absl::GetFlag(FLAGS_elements));
    for (int b = 0; b < absl::GetFlag(FLAGS_blocks); ++b) {
      // Bounded: a reader that went away must not hang us.
      auto block = ch.loan(n, std::chrono::seconds(60));
      const double base = b * 1e6;
      for (std::size_t k = 0; k < n; ++k) block[k] = base + static_cast<double>(k);
      block.publish();
    }
    ch.close();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "block_producer: %s\n", e.what());
    return 1;
  }
  return 0;
}
