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
  ASSERT_TRUE(Exists("shoal." + name));
}

TEST(ShoalTool, VersionIsTheLibraryVersion) {
  EXPECT_EQ(RunTool("--version"), "shoal " SHOAL_VERSION_STRING "\n");
}

TEST(ShoalTool, LsShowsDeadCreatorAndGcRemovesOnlyIt) {
  const std::string dead = "cli_test_dead_" + std::to_string(getpid());
  const std::string live = "cli_test_live_" + std::to_string(getpid());
  Queue<int> q(Named(live));
  CreateAndDie(dead);

  std::string ls = RunTool("ls");
  EXPECT_NE(ls.find("shoal." + dead), std::string::npos) << ls;
  EXPECT_NE(ls.find("dead"), std::string::npos) << ls;
  EXPECT_NE(ls.find("shoal::Queue<int>"), std::string::npos) << ls;

  std::string dry = RunTool("gc --dry-run");
  EXPECT_NE(dry.find("would remove shoal." + dead), std::string::npos) << dry;
  EXPECT_TRUE(Exists("shoal." + dead));

  std::string gc = RunTool("gc");
  EXPECT_NE(gc.find("removed shoal." + dead), std::string::npos) << gc;
  EXPECT_FALSE(Exists("shoal." + dead));
  EXPECT_TRUE(Exists("shoal." + live));
  EXPECT_EQ(RunTool("frobnicate").find("usage"), 0u);
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
