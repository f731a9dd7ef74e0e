// shoal: the command-line tool for shoal's named shared-memory regions.
//
//   shoal ls          list /dev/shm/shoal.* with creator pid, alive or dead,
//                     size, type and ready state (invalid files: why)
//   shoal gc          remove what this user's dead shoal processes left: the
//                     regions whose creator is proven dead, and the files
//                     creators killed half-way through creating a region
//                     left (shoal.~new.*); never a file that is not shoal's,
//                     nor a region whose creator may be alive in a pid
//                     namespace out of sight (a container)
//   shoal gc --dry-run  say what gc would remove
//   shoal --version   print the library version (shoal 0.2.0)
//
// Regions whose creator was SIGKILLed (or OOM-killed) stay in /dev/shm until
// somebody removes them; shoal's named queues, channels and pools sweep those
// of their own kind when they start, and `shoal gc` sweeps them all.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "shoal/ipc/region.h"
#include "shoal/version.h"

namespace {

int Usage(FILE* out) {
  std::fprintf(out,
               "usage: shoal ls | shoal gc [--dry-run] | shoal --version | "
               "shoal --help\n"
               "  ls   list shoal's named regions (/dev/shm/shoal.*)\n"
               "  gc   remove what this user's dead shoal processes left\n");
  return out == stdout ? 0 : 2;
}

std::string HumanSize(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

int List() {
  std::vector<shoal::RegionInfo> regions = shoal::ListRegions();
  std::printf("%-44s %8s %-6s %10s  %s\n", "NAME", "PID", "STATE", "SIZE",
              "TYPE");
  for (const auto& r : regions) {
    // new: being created; unseen: its creator is in a pid namespace this
    // process cannot see (kept: it may be alive).
    const char* state = r.half_made      ? (r.alive ? "new" : "dead")
                        : !r.valid       ? "bad"
                        : !r.alive       ? "dead"
                        : r.creator_unseen ? "unseen"
                        : r.ready        ? "alive"
                                         : "init";
    std::string type = r.valid ? r.type_name : "(" + r.problem + ")";
    std::printf("%-44s %8d %-6s %10s  %s\n", r.name.c_str(), r.creator_pid,
                state, HumanSize(r.size).c_str(), type.c_str());
  }
  std::printf("%zu region(s)\n", regions.size());
  return 0;
}

int Gc(bool dry_run) {
  if (dry_run) {
    int n = 0;
    for (const auto& r : shoal::ListRegions()) {
      if (r.stale) {
        std::printf("would remove %s (creator %d, %s)\n", r.name.c_str(),
                    r.creator_pid,
                    r.half_made ? "half-made" : r.type_name.c_str());
        ++n;
      }
    }
    std::printf("%d stale region(s)\n", n);
    return 0;
  }
  std::vector<std::string> removed = shoal::SweepStale();
  for (const auto& name : removed) std::printf("removed %s\n", name.c_str());
  std::printf("%zu stale region(s) removed\n", removed.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Usage(stderr);
  const std::string cmd = argv[1];
  try {
    if (cmd == "ls" && argc == 2) return List();
    if (cmd == "gc" && argc == 2) return Gc(false);
    if (cmd == "gc" && argc == 3 && std::strcmp(argv[2], "--dry-run") == 0) {
      return Gc(true);
    }
    if (cmd == "--help" || cmd == "-h" || cmd == "help") return Usage(stdout);
    if ((cmd == "--version" || cmd == "version") && argc == 2) {
      std::printf("shoal %s\n", SHOAL_VERSION_STRING);
      return 0;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "shoal: %s\n", e.what());
    return 1;
  }
  return Usage(stderr);
}
