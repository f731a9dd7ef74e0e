// channel_peer: the C++ ends of bench/python/shoal_vs_mp.py's "C++ producer
// -> Python consumer vs C++ -> C++" rows. Both open a FloatChannel that the
// Python driver created by name, so every row uses the same channel.
//
//   channel_peer produce NAME BLOCKS ELEMS stamp|fill
//       loans BLOCKS blocks of ELEMS doubles; `stamp` writes block b's number
//       into its first and last element only (the hand-over alone), `fill`
//       writes b * 1e6 + k into every element k
//   channel_peer consume NAME BLOCKS stamp|sum
//       receives BLOCKS blocks and checks each (`stamp`: first and last
//       element; `sum`: the sum of every element), then prints
//       "rate <blocks per second, first to last block> bad <count>"
//
// Bounded: every wait times out after 60 s, and alarm(300) ends a stuck run.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "shoal/ipc/channel.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kWait = std::chrono::seconds(60);

int Produce(shoal::FloatChannel& ch, long blocks, std::size_t n, bool fill) {
  for (long b = 0; b < blocks; ++b) {
    auto w = ch.loan(n, kWait);
    const double base = static_cast<double>(b) * 1e6;
    if (fill) {
      for (std::size_t k = 0; k < n; ++k) w[k] = base + static_cast<double>(k);
    } else {
      w[0] = static_cast<double>(b);
      w[n - 1] = static_cast<double>(b);
    }
    w.publish();
  }
  return 0;
}

int Consume(shoal::FloatChannel& ch, long blocks, bool sum) {
  long bad = 0;
  Clock::time_point first;
  for (long b = 0; b < blocks; ++b) {
    auto v = ch.receive(kWait);
    if (b == 0) first = Clock::now();
    const std::size_t n = v.size();
    if (sum) {
      double s = 0;
      for (double x : v) s += x;
      const double dn = static_cast<double>(n);
      bad += s != static_cast<double>(b) * 1e6 * dn + dn * (dn - 1) / 2;
    } else {
      bad += v[0] != static_cast<double>(b) || v[n - 1] != static_cast<double>(b);
    }
  }
  const double secs =
      std::chrono::duration<double>(Clock::now() - first).count();
  std::printf("rate %.6g bad %ld\n",
              secs > 0 ? static_cast<double>(blocks - 1) / secs : 0.0, bad);
  return bad == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  alarm(300);
  if (argc != 6 && argc != 5) {
    std::fprintf(stderr, "usage: see the comment at the top of channel_peer.cc\n");
    return 2;
  }
  const std::string mode = argv[1];
  try {
    auto ch = shoal::FloatChannel::Open(argv[2]);
    const long blocks = std::atol(argv[3]);
    if (mode == "produce" && argc == 6) {
      return Produce(ch, blocks, std::strtoul(argv[4], nullptr, 10),
                     std::string(argv[5]) == "fill");
    }
    if (mode == "consume" && argc == 5) {
      return Consume(ch, blocks, std::string(argv[4]) == "sum");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "channel_peer %s: %s\n", mode.c_str(), e.what());
    return 1;
  }
  std::fprintf(stderr, "channel_peer: bad arguments\n");
  return 2;
}
