// Leftovers: SIGKILL a whole process tree that holds named queues and a
// pool, start again, and find 0 of its shoal files left in /dev/shm. The
// restart sweeps stale queues when it creates its own (named queues sweep
// their kind at start); pools keep their state in memfd regions, which the
// kernel frees with their last process.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "shoal/ipc/queue.h"
#include "shoal/ipc/region.h"
#include "shoal/pool/pool.h"

namespace {

using namespace std::chrono_literals;

int Twice(int x) { return 2 * x; }

std::vector<std::string> ShmFiles(const std::string& prefix) {
  std::vector<std::string> out;
  DIR* d = opendir("/dev/shm");
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name.rfind(prefix, 0) == 0) out.push_back(name);
  }
  closedir(d);
  return out;
}

shoal::QueueOptions Named(const std::string& name) {
  shoal::QueueOptions o;
  o.maxsize = 8;
  o.heap_bytes = 1 << 16;
  o.region.kind = shoal::RegionKind::kNamed;
  o.region.name = name;
  return o;
}

TEST(Leftovers, KilledTreeLeavesNothingAfterRestart) {
  const std::string tag = "leftover_" + std::to_string(getpid()) + "_";
  int ready[2];
  ASSERT_EQ(pipe2(ready, O_CLOEXEC), 0);
  pid_t root = fork();
  if (root == 0) {
    setpgid(0, 0);
    alarm(60);
    close(ready[0]);
    shoal::Queue<int> a(Named(tag + "a"));
    shoal::Queue<std::string> b(Named(tag + "b"));
    shoal::Pool pool(shoal::PoolOptions{.processes = 2});
    pool.apply(Twice, 1);
    pid_t child = fork();  // a grandchild with a queue of its own
    if (child == 0) {
      shoal::Queue<int> c(Named(tag + "c"));
      (void)!write(ready[1], "c", 1);
      pause();
      _exit(0);
    }
    (void)!write(ready[1], "r", 1);
    for (;;) pool.apply(Twice, 2);
  }
  close(ready[1]);
  char buf[2];
  ASSERT_EQ(read(ready[0], buf, 1), 1);
  ASSERT_EQ(read(ready[0], buf + 1, 1), 1);
  close(ready[0]);
  ASSERT_EQ(ShmFiles("shoal." + tag).size(), 3u);

  kill(-root, SIGKILL);  // the whole tree, at once
  int status;
  ASSERT_EQ(waitpid(root, &status, 0), root);
  // The grandchild dies with the group, but on a busy machine not
  // necessarily at once: wait (bounded) until no creator of ours is alive,
  // rather than for a fixed time.
  auto all_dead = [&] {
    for (const shoal::RegionInfo& info : shoal::ListRegions()) {
      if (info.name.rfind("shoal." + tag, 0) == 0 && info.alive) return false;
    }
    return true;
  };
  for (int i = 0; i < 2000 && !all_dead(); ++i) {
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_TRUE(all_dead()) << "a killed creator still runs after 10 s";

  // Start again: a new program creates its named queue (and a pool) and ends
  // normally.
  pid_t again = fork();
  if (again == 0) {
    alarm(60);
    {
      shoal::Queue<int> fresh(Named(tag + "fresh"));
      shoal::Pool pool(shoal::PoolOptions{.processes = 1});
      if (pool.apply(Twice, 21) != 42) _exit(1);
      fresh.put(1);
      pool.close();
      pool.join();
    }
    _exit(0);
  }
  ASSERT_EQ(waitpid(again, &status, 0), again);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  std::vector<std::string> left = ShmFiles("shoal." + tag);
  EXPECT_TRUE(left.empty()) << left.size() << " left, first: "
                            << (left.empty() ? "" : left[0]);
}

}  // namespace
