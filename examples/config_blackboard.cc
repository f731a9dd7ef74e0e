// config_blackboard: one process updates a configuration, several reader
// processes follow it, none of them ever waiting for another.
//
// The configuration is a Blackboard with fixed keys (a log level, a struct
// of limits, a mode name, a stop flag). The main process publishes
// --updates changes, one key at a time; each reader sleeps in
// wait_changed() until something changes, then reads the keys it uses.
// Readers may skip intermediate values (latest value wins: a reader that
// wakes after three changes sees only the newest), but each ends with the
// final configuration, and every value it reads is a whole one.
//
//   # Python has no blackboard; the nearest is a Manager().dict(), where
//   # every read is a round trip to the manager process:
//   #   config = manager.dict(log_level=2, ...)
//   #   config['log_level'] = 3                 # writer
//   #   level = config['log_level']             # reader
//
//   bazel run //examples:config_blackboard -- --readers=3 --updates=200
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "shoal/ipc/blackboard.h"
#include "shoal/pool/context.h"
#include "shoal/pool/process.h"

ABSL_FLAG(int, readers, 3, "reader processes");
ABSL_FLAG(int, updates, 200, "configuration changes the writer publishes");
ABSL_FLAG(std::string, start_method, "fork",
          "fork or spawn (Python's set_start_method)");

namespace {

struct Limits {
  int max_connections;
  double rate_per_s;
  // Derived from the two above: a reader checks it, so a value mixed from
  // two publications would show.
  double check;
};

struct ModeName {
  char text[16];
};

Limits MakeLimits(int i) {
  Limits l{100 + i, 10.0 * i, 0};
  l.check = l.max_connections * 3.0 + l.rate_per_s;
  return l;
}

ModeName MakeMode(int i) {
  ModeName m{};
  std::snprintf(m.text, sizeof(m.text), "mode-%d", i);
  return m;
}

// A reader: follows the configuration until the stop flag is published.
void follow(shoal::Blackboard config, int id) {
  auto level = config.entry<int>("log_level");
  auto limits = config.entry<Limits>("limits");
  auto mode = config.entry<ModeName>("mode");
  auto stop = config.entry<bool>("stop");
  uint64_t seen = 0;
  int wakeups = 0;
  int torn = 0;
  for (;;) {
    if (!config.wait_changed(seen, std::chrono::seconds(30))) break;
    seen = config.generation();
    ++wakeups;
    const Limits l = limits.read();
    if (l.check != l.max_connections * 3.0 + l.rate_per_s) ++torn;
    if (stop.read()) break;
  }
  std::printf("reader %d: woke %d times, torn values %d, final config: "
              "log_level=%d max_connections=%d rate=%.1f mode=%s\n",
              id, wakeups, torn, level.read(), limits.read().max_connections,
              limits.read().rate_per_s, mode.read().text);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  shoal::init(argc, argv);
  absl::ParseCommandLine(argc, argv);
  shoal::set_start_method(absl::GetFlag(FLAGS_start_method));
  const int nreaders = absl::GetFlag(FLAGS_readers);
  const int updates = absl::GetFlag(FLAGS_updates);

  shoal::Blackboard config({
      shoal::Blackboard::Key<int>("log_level", 2),
      shoal::Blackboard::Key<Limits>("limits", MakeLimits(0)),
      shoal::Blackboard::Key<ModeName>("mode", MakeMode(0)),
      shoal::Blackboard::Key<bool>("stop", false),
  });

  std::vector<shoal::Process> readers;
  for (int i = 0; i < nreaders; ++i) {
    readers.emplace_back(follow, config, i);
    readers.back().start();
  }

  // The writer: one key per change, round robin.
  auto level = config.entry<int>("log_level");
  auto limits = config.entry<Limits>("limits");
  auto mode = config.entry<ModeName>("mode");
  for (int i = 1; i <= updates; ++i) {
    switch (i % 3) {
      case 0: level.publish(i % 5); break;
      case 1: limits.publish(MakeLimits(i)); break;
      default: mode.publish(MakeMode(i)); break;
    }
  }
  config.publish("stop", true);
  std::printf("writer: %d updates published (generation %llu)\n", updates,
              static_cast<unsigned long long>(config.generation()));
  std::fflush(stdout);

  int failed = 0;
  for (auto& r : readers) {
    r.join();
    if (r.exitcode() != 0) ++failed;
  }
  std::printf("final config: log_level=%d max_connections=%d rate=%.1f "
              "mode=%s\n",
              level.read(), limits.read().max_connections,
              limits.read().rate_per_s, mode.read().text);
  std::printf("readers exited cleanly: %s\n", failed == 0 ? "yes" : "no");
  return failed == 0 ? 0 : 1;
}
