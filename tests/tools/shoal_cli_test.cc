// The `shoal` tool: ls shows a dead creator's region; gc removes it and
// leaves a live one.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "gtest/gtest.h"
#include "shoal/ipc/queue.h"
#include "shoal/base/internal/process_liveness.h"
#include "shoal/ipc/region.h"
#include "shoal/version.h"

namespace shoal {
namespace {

std::string Tool() {
  return std::string(std::getenv("TEST_SRCDIR")) + "/shoal/tools/shoal";
}

std::string RunTool(const std::string& args) {
  std::string out;
  FILE* p = popen((Tool() + " " + args + " 2>&1").c_str(), "r");
  if (p == nullptr) return out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  pclose(p);
  return out;
}

bool Exists(const std::string& name) {
  struct stat st;
  return stat(("/dev/shm/" + name).c_str(), &st) == 0;
}

QueueOptions Named(const std::string& name) {
  QueueOptions o;
  o.maxsize = 4;
  o.heap_bytes = 0;
  o.region.kind = RegionKind::kNamed;
  o.region.name = name;
  return o;
}

// Forks a child that creates the named queue and is SIGKILLed holding it.
void CreateAndDie(const std::string& name) {
  pid_t child = fork();
  if (child == 0) {
    Queue<int> q(Named(name));
    raise(SIGKILL);  // dies without unlinking
  }
  int status;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
}

// Other processes sweep /dev/shm too: a test running at the same time may
// call the machine-wide SweepStale() (region_test, region_fault_test), and
// every named queue, channel or pool sweeps the dead ones of its kind as it
// starts. One of them can remove a test's dead region before `shoal gc`
// sees it; the test then tries again with a new one. Only the last attempt
// asserts, so a gc that never reports what it removes still fails.
constexpr int kAttempts = 50;

bool Has(const std::string& out, const std::string& what) {
  return out.find(what) != std::string::npos;
}

TEST(ShoalTool, VersionIsTheLibraryVersion) {
  EXPECT_EQ(RunTool("--version"), "shoal " SHOAL_VERSION_STRING "\n");
}

TEST(ShoalTool, LsShowsDeadCreatorAndGcRemovesOnlyIt) {
  const std::string live = "cli_test_live_" + std::to_string(getpid());
  Queue<int> q(Named(live));
  for (int attempt = 1;; ++attempt) {
    const std::string dead = "shoal.cli_test_dead_" + std::to_string(getpid()) +
                             "_" + std::to_string(attempt);
    ASSERT_NO_FATAL_FAILURE(CreateAndDie(dead.substr(6)));
    const std::string ls = RunTool("ls");
    const std::string dry = RunTool("gc --dry-run");
    const bool kept_for_dry = Exists(dead);
    const std::string gc = RunTool("gc");
    if (attempt < kAttempts &&
        !(Has(ls, dead) && Has(dry, "would remove " + dead) && kept_for_dry &&
          Has(gc, "removed " + dead))) {
      continue;  // swept by another process first (see kAttempts)
    }
    EXPECT_TRUE(Has(ls, dead)) << ls;
    EXPECT_TRUE(Has(ls, "dead")) << ls;
    EXPECT_TRUE(Has(ls, "shoal::Queue<int>")) << ls;
    EXPECT_TRUE(Has(dry, "would remove " + dead)) << dry;
    EXPECT_TRUE(kept_for_dry);
    EXPECT_TRUE(Has(gc, "removed " + dead)) << gc;
    EXPECT_FALSE(Exists(dead));
    break;
  }
  EXPECT_TRUE(Exists("shoal." + live));
  EXPECT_EQ(RunTool("frobnicate").find("usage"), 0u);
}

// What a creator killed half-way through Region::Create leaves (a
// "shoal.~new.<pid>.<start>.<pid ns>.<random>" file): `shoal ls` shows it,
// `shoal gc` removes it once its creator is dead, and leaves alone files
// that are not shoal's and one whose creator still runs.
TEST(ShoalTool, GcRemovesHalfMadeFilesOfDeadCreatorsOnly) {
  const internal::ProcessIdentity self = internal::SelfIdentity();
  auto half_made = [&](pid_t pid) {
    return "shoal.~new." + std::to_string(pid) + "." +
           std::to_string(self.start_time) + "." + std::to_string(self.pid_ns) +
           ".0123456789abcdef";
  };
  auto make = [](const std::string& n) {
    FILE* f = std::fopen(("/dev/shm/" + n).c_str(), "w");
    if (f == nullptr) return false;
    std::fputs("not a header yet", f);
    std::fclose(f);
    return true;
  };
  const std::string of_live = half_made(getpid());
  const std::string foreign =
      "shoal.cli_test_foreign_" + std::to_string(getpid());
  ASSERT_TRUE(make(of_live));
  ASSERT_TRUE(make(foreign));
  for (int attempt = 1;; ++attempt) {
    pid_t dead = fork();
    if (dead == 0) _exit(0);
    ASSERT_GT(dead, 0);
    ASSERT_EQ(waitpid(dead, nullptr, 0), dead);
    const std::string of_dead = half_made(dead);
    ASSERT_TRUE(make(of_dead)) << of_dead;
    const std::string ls = RunTool("ls");
    const std::string dry = RunTool("gc --dry-run");
    const bool kept_for_dry = Exists(of_dead);
    const std::string gc = RunTool("gc");
    if (attempt < kAttempts &&
        !(Has(ls, of_dead) && Has(dry, "would remove " + of_dead) &&
          kept_for_dry && Has(gc, "removed " + of_dead))) {
      unlink(("/dev/shm/" + of_dead).c_str());
      continue;  // swept by another process first (see kAttempts)
    }
    EXPECT_TRUE(Has(ls, of_dead)) << ls;
    EXPECT_TRUE(Has(dry, "would remove " + of_dead)) << dry;
    EXPECT_TRUE(kept_for_dry);
    EXPECT_TRUE(Has(gc, "removed " + of_dead)) << gc;
    EXPECT_FALSE(Exists(of_dead));
    EXPECT_FALSE(Has(dry, "would remove " + of_live)) << dry;
    break;
  }
  EXPECT_TRUE(Exists(of_live));
  EXPECT_TRUE(Exists(foreign));
  unlink(("/dev/shm/" + of_live).c_str());
  unlink(("/dev/shm/" + foreign).c_str());
}

// A named queue sweeps dead queues when it starts.
TEST(ShoalTool, NamedQueueSweepsStaleQueuesAtStart) {
  const std::string dead = "cli_test_sweep_" + std::to_string(getpid());
  CreateAndDie(dead);
  Queue<double> fresh(Named("cli_test_fresh_" + std::to_string(getpid())));
  EXPECT_FALSE(Exists("shoal." + dead));
}

}  // namespace
}  // namespace shoal
