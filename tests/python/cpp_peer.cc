// Copyright 2026 The shoal Authors.
//
// cpp_peer: the C++ side of the Python interop tests. Each mode opens (or
// creates) a named shoal object with the public C++ API and does one thing;
// the pytest files check what the other language sees.
//
//   cpp_peer queue-put NAME string|bytes N        puts "cpp-0".."cpp-N-1"
//   cpp_peer queue-get NAME string|bytes N        prints N items, one a line
//   cpp_peer queue-serve NAME string|bytes N      creates NAME and NAME.back,
//       prints "ready", puts "served-0".. into NAME, prints the N items it
//       gets from NAME.back, waits for stdin EOF
//   cpp_peer channel-produce NAME N ELEMS         N blocks of ELEMS doubles,
//       block b element k = b * 1000000 + k
//   cpp_peer channel-consume NAME N               prints "block <b> <n> <sum>"
//   cpp_peer channel-serve NAME ELEMS N           creates the FloatChannel,
//       prints "ready", produces N blocks, waits for stdin EOF
//   cpp_peer lock-hold NAME                       acquires, prints "held",
//       sleeps until killed
//   cpp_peer lock-acquire NAME                    prints "owner died" if so,
//       then "acquired"
//   cpp_peer value-add NAME K                     Value<long> += K, prints it
//   cpp_peer array-sum NAME                       prints the Array<double> sum
//   cpp_peer event-set NAME                       sets a Shared<Event>
//   cpp_peer service-serve NAME                   creates the named
//       Service<std::string, std::string>, prints "ready", replies
//       "cpp:<request>" ("boom" throws std::invalid_argument("boom"),
//       "oops" throws an int), until the service is closed
//   cpp_peer service-call NAME N                  calls "req-0".."req-N-1",
//       prints each reply, then calls "boom" and prints "error <what>"
//
//   cpp_peer latest-read NAME                     prints Latest<double>'s
//       "<value> <version>"
//   cpp_peer latest-publish NAME X                publishes X to Latest<double>
//   cpp_peer latest3-serve NAME                   creates the named
//       Latest<std::array<double, 3>> holding {1.5, 2.5, 3.5}, publishes
//       {4, 5, 6} (version 1), prints "ready", waits for stdin EOF
//   cpp_peer latest-struct-serve NAME             creates the named
//       Latest<Limits> (struct Limits {double lo, hi;}) holding {-1, 1},
//       prints "ready", waits for stdin EOF
//   cpp_peer board-update NAME                    opens a Blackboard with keys
//       log_level (int32_t), rate (double), gains (std::array<double, 3>),
//       prints "<log_level> <rate> <g0> <g1> <g2>", then publishes
//       rate = 7.25 and gains = {0.5, 0.25, 0.125}
//   cpp_peer board-serve NAME                     creates the named Blackboard
//       {level: int32_t 3, limits: struct Limits {double lo, hi;} {-1, 1},
//       gains: std::array<float, 2> {1, 2}}, prints "ready", waits for
//       stdin EOF, prints "<level> <g0> <g1>"
//
// Every mode is bounded by alarm(60).
#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include <array>

#include "shoal/ipc/array.h"
#include "shoal/ipc/blackboard.h"
#include "shoal/ipc/latest.h"
#include "shoal/ipc/channel.h"
#include "shoal/ipc/queue.h"
#include "shoal/ipc/shared.h"
#include "shoal/ipc/value.h"
#include "shoal/pool/service.h"
#include "shoal/sync/event.h"
#include "shoal/sync/lock.h"

namespace {

using namespace std::chrono_literals;

struct Limits {
  double lo;
  double hi;
};

std::vector<std::byte> ToBytes(const std::string& s) {
  std::vector<std::byte> v(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) v[i] = std::byte(s[i]);
  return v;
}

std::string ToString(const std::vector<std::byte>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size());
}
std::string ToString(const std::string& s) { return s; }

template <class T>
T Item(const std::string& s) {
  if constexpr (std::is_same_v<T, std::string>) {
    return s;
  } else {
    return ToBytes(s);
  }
}

void WaitForStdinEof() {
  std::string line;
  while (std::getline(std::cin, line)) {
  }
}

template <class T>
int QueueMode(const std::string& mode, const std::string& name, int n) {
  if (mode == "queue-put") {
    auto q = shoal::Queue<T>::Open(name);
    for (int i = 0; i < n; ++i) q.put(Item<T>("cpp-" + std::to_string(i)), 30s);
    return 0;
  }
  if (mode == "queue-get") {
    auto q = shoal::Queue<T>::Open(name);
    for (int i = 0; i < n; ++i) {
      const std::string s = ToString(q.get(30s));  // may hold NUL bytes
      std::fwrite(s.data(), 1, s.size(), stdout);
      std::fputc('\n', stdout);
    }
    return 0;
  }
  if (mode == "queue-serve") {
    shoal::QueueOptions o;
    o.maxsize = 16;
    o.region.kind = shoal::RegionKind::kNamed;
    o.region.name = name;
    shoal::Queue<T> out(o);
    o.region.name = name + ".back";
    shoal::Queue<T> back(o);
    std::printf("ready\n");
    std::fflush(stdout);
    for (int i = 0; i < n; ++i) out.put(Item<T>("served-" + std::to_string(i)), 30s);
    for (int i = 0; i < n; ++i) std::printf("%s\n", ToString(back.get(30s)).c_str());
    std::fflush(stdout);
    WaitForStdinEof();
    return 0;
  }
  return 2;
}

void Produce(shoal::FloatChannel& ch, int n, std::size_t elems) {
  for (int b = 0; b < n; ++b) {
    auto w = ch.loan(elems, 30s);
    for (std::size_t k = 0; k < elems; ++k) w[k] = b * 1e6 + static_cast<double>(k);
    w.publish();
  }
}

}  // namespace

int main(int argc, char** argv) {
  alarm(60);
  if (argc < 3) {
    std::fprintf(stderr, "usage: see the file comment\n");
    return 2;
  }
  const std::string mode = argv[1], name = argv[2];
  try {
    if (mode.rfind("queue-", 0) == 0) {
      const std::string ctype = argv[3];
      const int n = std::atoi(argv[4]);
      return ctype == "string" ? QueueMode<std::string>(mode, name, n)
                               : QueueMode<std::vector<std::byte>>(mode, name, n);
    }
    if (mode == "channel-produce") {
      auto ch = shoal::FloatChannel::Open(name);
      Produce(ch, std::atoi(argv[3]), std::strtoul(argv[4], nullptr, 10));
      return 0;
    }
    if (mode == "channel-consume") {
      auto ch = shoal::FloatChannel::Open(name);
      const int n = std::atoi(argv[3]);
      for (int b = 0; b < n; ++b) {
        auto r = ch.receive(30s);
        double sum = 0;
        for (double x : r) sum += x;
        std::printf("block %d %zu %.17g\n", b, r.size(), sum);
      }
      return 0;
    }
    if (mode == "channel-serve") {
      shoal::ChannelOptions o;
      o.region.kind = shoal::RegionKind::kNamed;
      o.region.name = name;
      shoal::FloatChannel ch(std::strtoul(argv[3], nullptr, 10), o);
      std::printf("ready\n");
      std::fflush(stdout);
      Produce(ch, std::atoi(argv[4]), ch.max_elements());
      WaitForStdinEof();
      return 0;
    }
    if (mode == "lock-hold") {
      auto lock = shoal::Shared<shoal::Lock>::Open(name);
      lock->acquire();
      std::printf("held\n");
      std::fflush(stdout);
      for (;;) pause();
    }
    if (mode == "lock-acquire") {
      auto lock = shoal::Shared<shoal::Lock>::Open(name);
      try {
        lock->acquire();
      } catch (const shoal::OwnerDied&) {
        std::printf("owner died\n");
        lock->make_consistent();
      }
      std::printf("acquired\n");
      lock->release();
      return 0;
    }
    if (mode == "value-add") {
      auto v = shoal::Value<long>::Open(name);
      std::printf("%ld\n", v.add(std::atol(argv[3])));
      return 0;
    }
    if (mode == "array-sum") {
      auto a = shoal::Array<double>::Open(name);
      double s = 0;
      for (double x : a.to_vector()) s += x;
      std::printf("%.17g\n", s);
      return 0;
    }
    if (mode == "service-serve") {
      shoal::ServiceOptions o;
      o.region.kind = shoal::RegionKind::kNamed;
      o.region.name = name;
      shoal::Service<std::string, std::string> svc(o);
      std::printf("ready\n");
      std::fflush(stdout);
      svc.serve([](const std::string& req) -> std::string {
        if (req == "boom") throw std::invalid_argument("boom");
        if (req == "oops") throw 7;
        return "cpp:" + req;
      });
      return 0;
    }
    if (mode == "service-call") {
      auto client = shoal::ServiceClient<std::string, std::string>::Open(name);
      const int n = std::atoi(argv[3]);
      for (int i = 0; i < n; ++i) {
        std::printf("%s\n", client.call("req-" + std::to_string(i), 30s).c_str());
      }
      try {
        client.call("boom", 30s);
        std::printf("no error\n");
      } catch (const std::exception& e) {
        std::printf("error %s\n", e.what());
      }
      return 0;
    }
    if (mode == "latest-read") {
      auto l = shoal::Latest<double>::Open(name);
      auto [v, version] = l.read_versioned();
      std::printf("%.17g %llu\n", v, static_cast<unsigned long long>(version));
      return 0;
    }
    if (mode == "latest-publish") {
      auto l = shoal::Latest<double>::Open(name);
      l.publish(std::atof(argv[3]));
      return 0;
    }
    if (mode == "latest3-serve") {
      shoal::RegionOptions o;
      o.kind = shoal::RegionKind::kNamed;
      o.name = name;
      shoal::Latest<std::array<double, 3>> l({1.5, 2.5, 3.5}, o);
      l.publish({4.0, 5.0, 6.0});
      std::printf("ready\n");
      std::fflush(stdout);
      WaitForStdinEof();
      return 0;
    }
    if (mode == "latest-struct-serve") {
      shoal::RegionOptions o;
      o.kind = shoal::RegionKind::kNamed;
      o.name = name;
      shoal::Latest<Limits> l(Limits{-1.0, 1.0}, o);
      std::printf("ready\n");
      std::fflush(stdout);
      WaitForStdinEof();
      return 0;
    }
    if (mode == "board-update") {
      auto board = shoal::Blackboard::Open(name);
      auto gains = board.entry<std::array<double, 3>>("gains");
      const std::array<double, 3> g = gains.read();
      std::printf("%d %.17g %.17g %.17g %.17g\n",
                  board.read<int32_t>("log_level"), board.read<double>("rate"),
                  g[0], g[1], g[2]);
      board.publish("rate", 7.25);
      gains.publish({0.5, 0.25, 0.125});
      return 0;
    }
    if (mode == "board-serve") {
      shoal::RegionOptions o;
      o.kind = shoal::RegionKind::kNamed;
      o.name = name;
      shoal::Blackboard board(
          {shoal::Blackboard::Key<int32_t>("level", 3),
           shoal::Blackboard::Key<Limits>("limits", Limits{-1.0, 1.0}),
           shoal::Blackboard::Key<std::array<float, 2>>("gains", {1.0f, 2.0f})},
          o);
      std::printf("ready\n");
      std::fflush(stdout);
      WaitForStdinEof();
      const std::array<float, 2> g = board.read<std::array<float, 2>>("gains");
      std::printf("%d %g %g\n", board.read<int32_t>("level"), g[0], g[1]);
      return 0;
    }
    if (mode == "event-set") {
      shoal::Shared<shoal::Event>::Open(name)->set();
      return 0;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cpp_peer %s: %s\n", mode.c_str(), e.what());
    return 1;
  }
  std::fprintf(stderr, "cpp_peer: unknown mode %s\n", mode.c_str());
  return 2;
}
