// Tests for pool/context.h: start methods, and everything again with spawn.
// This binary has its own main(): shoal::init must run first, so that the
// children it spawns run their worker or target instead of the tests.
#include "shoal/pool/context.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "shoal/base/errors.h"
#include "shoal/ipc/connection.h"
#include "shoal/ipc/queue.h"
#include "shoal/ipc/shared.h"
#include "shoal/pool/executor.h"
#include "shoal/pool/pool.h"
#include "shoal/pool/process.h"
#include "tests/pool/child_tasks.h"
#include "shoal/sync/lock.h"

namespace {

using namespace std::chrono_literals;
using shoal_test::Init;
using shoal_test::Name;
using shoal_test::ShoalParent;
using shoal_test::Square;
using shoal_test::Suicide;
using shoal_test::Throw;
using shoal_test::Value;
using ::testing::HasSubstr;

constexpr auto kWait = std::chrono::seconds(60);


// Held by busy threads in the parent almost all the time. A fork()ed child
// would inherit it locked; a spawned one has its own.
std::mutex g_mu;
long g_counter = 0;
int UsesTheLock(int x) {
  std::lock_guard<std::mutex> l(g_mu);
  ++g_counter;
  std::vector<int> garbage(1000, x);  // malloc too
  return x + static_cast<int>(garbage.size()) - 1000;
}

void PutFromChild(shoal::Queue<std::string> q, std::string s) {
  q.put(s + " from " + shoal::current_process().name);
}

void EchoChild(shoal::Connection c) { c.send(c.recv<int>() + 1); }

struct Counter {
  shoal::Lock lock;
  long value = 0;
};
void Bump(shoal::Shared<Counter> c, int n) {
  for (int i = 0; i < n; ++i) {
    std::lock_guard<shoal::Lock> g(c->lock);
    ++c->value;
  }
}

TEST(ContextTest, MethodsAndDefaults) {
  EXPECT_EQ(shoal::get_start_method(), "fork");
  EXPECT_EQ(shoal::get_all_start_methods(),
            (std::vector<std::string>{"fork", "spawn", "forkserver"}));
  EXPECT_EQ(shoal::get_context("spawn").method(), shoal::StartMethod::kSpawn);
  EXPECT_EQ(shoal::get_context("fork").get_start_method(), "fork");
  EXPECT_EQ(shoal::get_context("forkserver").method(),
            shoal::StartMethod::kForkServer);
  EXPECT_THROW(shoal::get_context("vfork"), shoal::ValueError);
  shoal::Context dflt = shoal::get_context();
  shoal::set_start_method("spawn");
  EXPECT_EQ(dflt.method(), shoal::StartMethod::kSpawn);  // follows the default
  // Python: RuntimeError('context has already been set').
  EXPECT_THROW(shoal::set_start_method("fork"), shoal::RuntimeError);
  shoal::set_start_method("fork", /*force=*/true);
  EXPECT_EQ(shoal::get_start_method(), "fork");
}

TEST(ContextTest, SpawnPool) {
  shoal::Pool pool(shoal::PoolOptions{
      .processes = 2,
      .initializer = shoal::Initializer(Init, 11),
      .context = shoal::get_context("spawn")});
  EXPECT_EQ(pool.worker_pids().size(), 2u);  // started in the constructor
  EXPECT_EQ(pool.apply(Square, 9), 81);
  EXPECT_THAT(pool.apply(Name), HasSubstr("SpawnPoolWorker-"));
  EXPECT_EQ(pool.apply(ShoalParent), getpid());
  EXPECT_EQ(pool.apply(Value), 11);
  EXPECT_THROW(pool.apply(Throw, 1), std::out_of_range);
  std::vector<int> in(1000);
  std::iota(in.begin(), in.end(), 0);
  auto out = pool.map(Square, in);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(out[i], i * i);
  int n = 0;
  for (int v : pool.imap(Square, std::views::iota(0), 7)) {
    ASSERT_EQ(v, n * n);
    if (++n == 200) break;
  }
  EXPECT_EQ(pool.apply(
                [](shoal::Queue<std::string> q) {
                  q.put("queued");
                  return 1;
                },
                shoal::Queue<std::string>(4)),
            1);
  try {
    pool.apply(Suicide);
    ADD_FAILURE();
  } catch (const shoal::WorkerLost& e) {
    EXPECT_EQ(e.signal(), SIGKILL);
  }
  EXPECT_EQ(pool.apply(Square, 3), 9);
  pool.close();
  pool.join();
}

TEST(ContextTest, SpawnProcessWithHandles) {
  shoal::Context ctx = shoal::get_context("spawn");
  shoal::Queue<std::string> q(8);
  shoal::Process p = ctx.Process(PutFromChild, q, "hi");
  p.start();
  EXPECT_THAT(q.get(kWait), HasSubstr("hi from Process-"));
  EXPECT_TRUE(p.join(kWait));
  EXPECT_EQ(p.exitcode(), 0);

  auto [mine, theirs] = shoal::Pipe();
  shoal::Process e = ctx.Process(EchoChild, theirs);
  e.start();
  theirs.close();
  mine.send(41);
  EXPECT_EQ(mine.recv<int>(kWait), 42);
  e.join();
  EXPECT_EQ(e.exitcode(), 0);

  auto c = shoal::Shared<Counter>::Create();
  std::vector<shoal::Process> ps;
  for (int i = 0; i < 3; ++i) ps.push_back(ctx.Process(Bump, c, 300));
  for (auto& x : ps) x.start();
  for (auto& x : ps) {
    EXPECT_TRUE(x.join(kWait));
    EXPECT_EQ(x.exitcode(), 0);
  }
  EXPECT_EQ(c->value, 900);

  shoal::Process t = ctx.Process(Throw, 1);
  t.start();
  t.join();
  EXPECT_EQ(t.exitcode(), 1);
}

TEST(ContextTest, SpawnFromAParentWithBusyThreadsHoldingLocks) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> busy;
  for (int i = 0; i < 4; ++i) {
    busy.emplace_back([&] {
      while (!stop.load()) {
        std::lock_guard<std::mutex> l(g_mu);
        std::vector<char> junk(4096);  // and malloc's locks
        for (int k = 0; k < 1000; ++k) junk[k % 4096] = static_cast<char>(k);
      }
    });
  }
  {
    shoal::Pool pool(shoal::PoolOptions{
        .processes = 2, .context = shoal::get_context("spawn")});
    std::vector<shoal::AsyncResult<int>> rs;
    for (int i = 0; i < 200; ++i) rs.push_back(pool.apply_async(UsesTheLock, i));
    for (int i = 0; i < 200; ++i) ASSERT_EQ(rs[i].get(kWait), i);
    shoal::ProcessPoolExecutor ex(shoal::ExecutorOptions{
        .max_workers = 1, .mp_context = shoal::get_context("spawn")});
    EXPECT_EQ(ex.submit(UsesTheLock, 5).result(kWait), 5);
  }
  stop = true;
  for (auto& t : busy) t.join();
}

}  // namespace

int main(int argc, char** argv) {
  shoal::init(argc, argv);  // spawned children never return from here
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
