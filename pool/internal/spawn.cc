// Spawned children: the registry of entry points shoal::init dispatches
// through, and SpawnSelf (posix_spawn of /proc/self/exe). See spawn.h.
#include "shoal/pool/internal/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "shoal/base/errors.h"

extern char** environ;

namespace shoal {
namespace {

constexpr const char kSpawnFlag[] = "--shoal-spawn";
constexpr const char kSpawnEnv[] = "SHOAL_SPAWNED";

struct Registry {
  std::mutex mu;
  std::vector<std::pair<std::string, internal::SpawnEntry>> entries;
};
Registry& GetRegistry() {
  static Registry* r = new Registry;
  return *r;
}

}  // namespace

void init(int argc, char** argv) {
  if (argc < 3 || argv == nullptr || argv[1] == nullptr ||
      std::strcmp(argv[1], kSpawnFlag) != 0) {
    return;
  }
  unsetenv(kSpawnEnv);
  const std::string kind = argv[2];
  std::vector<std::string> args;
  for (int i = 3; i < argc; ++i) args.emplace_back(argv[i]);
  _exit(internal::RunSpawnEntry(kind, args));
}

namespace internal {

int RunSpawnEntry(std::string_view kind, const std::vector<std::string>& args) {
  SpawnEntry entry = nullptr;
  {
    Registry& r = GetRegistry();
    std::lock_guard<std::mutex> lock(r.mu);
    for (auto& [k, e] : r.entries) {
      if (k == kind) entry = e;
    }
  }
  int rc = 70;
  const std::string name(kind);
  if (entry == nullptr) {
    std::fprintf(stderr,
                 "shoal: spawned as a '%s' child, but this binary has no such "
                 "entry point\n",
                 name.c_str());
  } else {
    try {
      rc = entry(args);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "shoal: spawned %s child failed: %s\n", name.c_str(),
                   e.what());
      rc = 71;
    }
  }
  std::fflush(stdout);
  std::fflush(stderr);
  return rc;
}

bool RegisterSpawnEntry(const char* kind, SpawnEntry entry) {
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.entries.emplace_back(kind, entry);
  return true;
}

void CheckNotUninitializedSpawnChild() {
  const char* v = getenv(kSpawnEnv);
  if (v != nullptr &&
      (std::strcmp(v, "pool") == 0 || std::strcmp(v, "forkserver") == 0)) {
    // A pool worker or a forkserver: leave quietly (nothing flushed: this is
    // a second run of the user's main); the pool reports the exit code once
    // (supervisor.cc), the forkserver's client its early exit (forkserver.cc).
    _exit(kSpawnedWithoutInitExitCode);
  }
  if (v != nullptr && v[0] != '\0') {
    throw ValueError(
        "this process was spawned by shoal (start method 'spawn') but main() "
        "did not call shoal::init(argc, argv) first: refusing to start "
        "processes of its own");
  }
}

StartMethod EffectiveMethod(const Context* ctx) {
  return ctx != nullptr ? ctx->method() : Context().method();
}

long ParseLong(std::string_view s) {
  if (s.empty() || s.size() > 20) throw ValueError("bad number in spawn args");
  long v = 0;
  bool neg = false;
  size_t i = 0;
  if (s[0] == '-') {
    neg = true;
    i = 1;
  }
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') throw ValueError("bad number in spawn args");
    v = v * 10 + (s[i] - '0');
  }
  return neg ? -v : v;
}

pid_t SpawnSelf(std::string_view kind, const std::vector<std::string>& args,
                const std::vector<int>& fds) {
  const int n = static_cast<int>(fds.size());
  // Move the descriptors above the range they will occupy in the child, so
  // that no dup2 there clobbers a source still to be moved.
  std::vector<int> temps;
  auto close_temps = [&] {
    for (int t : temps) close(t);
  };
  for (int fd : fds) {
    int t = fcntl(fd, F_DUPFD_CLOEXEC, kFirstPassedFd + n);
    if (t < 0) {
      const int err = errno;
      close_temps();
      ThrowSystemError("spawn: fcntl(F_DUPFD_CLOEXEC)", err);
    }
    temps.push_back(t);
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  for (int i = 0; i < n; ++i) {
    posix_spawn_file_actions_adddup2(&fa, temps[i], kFirstPassedFd + i);
  }
  posix_spawn_file_actions_addclosefrom_np(&fa, kFirstPassedFd + n);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t empty;
  sigemptyset(&empty);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);

  std::vector<std::string> argv_s;
  argv_s.emplace_back(program_invocation_name != nullptr
                          ? program_invocation_name
                          : "shoal-child");
  argv_s.emplace_back(kSpawnFlag);
  argv_s.emplace_back(kind);
  for (const auto& a : args) argv_s.push_back(a);
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);

  std::string flag = std::string(kSpawnEnv) + "=" + std::string(kind);
  std::vector<char*> envp;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    if (std::strncmp(*e, kSpawnEnv, sizeof(kSpawnEnv) - 1) == 0 &&
        (*e)[sizeof(kSpawnEnv) - 1] == '=') {
      continue;
    }
    envp.push_back(*e);
  }
  envp.push_back(flag.data());
  envp.push_back(nullptr);

  pid_t pid = -1;
  const int rc = posix_spawn(&pid, "/proc/self/exe", &fa, &attr, argv.data(),
                             envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close_temps();
  if (rc != 0) ThrowSystemError("posix_spawn(/proc/self/exe)", rc);
  return pid;
}

}  // namespace internal
}  // namespace shoal
