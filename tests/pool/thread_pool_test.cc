// Tests for pool/thread_pool.h: the Pool interface on threads.
#include "shoal/pool/thread_pool.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <numeric>
#include <ranges>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "shoal/base/errors.h"

namespace {

using namespace std::chrono_literals;
constexpr auto kWait = std::chrono::seconds(30);

int Square(int x) { return x * x; }
pid_t MyPid() { return getpid(); }
std::string Name() { return shoal::current_process().name; }
int Throw(int) { throw std::invalid_argument("thread task"); }
int SleepMs(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}
// Runs until the test sets g_release (at most 30 s) and returns `ret`.
std::atomic<bool> g_started{false};
std::atomic<bool> g_release{false};
int HoldUntilReleased(int ret) {
  g_started = true;
  for (int i = 0; i < 30000 && !g_release; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return ret;
}
thread_local int t_init = 0;
thread_local int t_tasks = 0;
std::atomic<int> g_inits{0};     // threads started (initializer runs)
std::atomic<int> g_retiring{0};  // threads that ran their 2nd task
void Init(int v) {
  t_init = v;
  g_inits.fetch_add(1);
}
int GetInit() {
  if (++t_tasks == 2) g_retiring.fetch_add(1);  // before the result is out
  return t_init;
}

TEST(ThreadPoolTest, SameInterfaceAsPool) {
  shoal::ThreadPool pool(3);
  EXPECT_EQ(pool.processes(), 3u);
  EXPECT_EQ(pool.apply(Square, 5), 25);
  EXPECT_EQ(pool.apply(MyPid), getpid());  // threads of this process
  EXPECT_EQ(pool.apply(Name), "MainProcess");
  EXPECT_THROW(pool.apply(Throw, 1), std::invalid_argument);
  std::atomic<int> cb{0};
  auto r = pool.apply_async(shoal::Async{.callback = [&](int v) { cb = v; }},
                            Square, 6);
  EXPECT_EQ(r.get(kWait), 36);
  EXPECT_EQ(cb.load(), 36);

  std::vector<int> in(500);
  std::iota(in.begin(), in.end(), 0);
  auto out = pool.map(Square, in);
  for (int i = 0; i < 500; ++i) ASSERT_EQ(out[i], i * i);
  int n = 0;
  for (int v : pool.imap(Square, std::views::iota(0), 5)) {
    ASSERT_EQ(v, n * n);
    if (++n == 1000) break;
  }
  std::vector<int> un;
  for (int v : pool.imap_unordered(Square, in)) un.push_back(v);
  EXPECT_EQ(un.size(), in.size());
  pool.close();
  pool.join();
  EXPECT_THROW(pool.apply(Square, 1), shoal::ValueError);
}

TEST(ThreadPoolTest, InitializerAndMaxTasks) {
  shoal::ThreadPool pool(shoal::PoolOptions{
      .processes = 2,
      .initializer = shoal::Initializer(Init, 9),
      .maxtasksperchild = 2});
  for (int i = 0; i < 20; ++i) ASSERT_EQ(pool.apply(GetInit), 9);
  // A thread that retires after its second task drops out of worker_pids()
  // before its replacement comes in, and the last one may retire after
  // apply() has returned. Settled: every retired thread has a replacement
  // that ran the initializer (so it was dropped before). Bounded wait.
  const auto settled = [&] {
    return g_inits.load() == 2 + g_retiring.load() &&
           pool.worker_pids().size() == 2;
  };
  for (int i = 0; i < 3000 && !settled(); ++i) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_GE(g_retiring.load(), 9);  // 20 tasks, at most 2 threads unretired
  EXPECT_EQ(g_inits.load(), 2 + g_retiring.load());
  EXPECT_EQ(pool.worker_pids().size(), 2u);
}

// Python: ThreadPool(0) raises ValueError; the cpu count only when not given.
TEST(ThreadPoolTest, ZeroThreadsRaisesValueErrorAsPython) {
  EXPECT_THROW(shoal::ThreadPool(0), shoal::ValueError);
  shoal::ThreadPool dflt;
  EXPECT_EQ(dflt.processes(),
            static_cast<std::size_t>(shoal::process_cpu_count()));
  EXPECT_EQ(dflt.worker_pids().size(), dflt.processes());
}

TEST(ThreadPoolTest, TimeoutsAreRefused) {
  EXPECT_THROW(shoal::ThreadPool(shoal::PoolOptions{.processes = 1,
                                                    .task_timeout = 1s}),
               shoal::ValueError);
  shoal::ThreadPool pool(1);
  EXPECT_THROW(pool.apply_async(shoal::Async{.timeout = 1s}, Square, 1),
               shoal::ValueError);
}

TEST(ThreadPoolTest, TerminateCancelsQueuedTasks) {
  // The first task runs until the queued one was cancelled, so "running"
  // and "queued" hold however the threads get the CPU.
  shoal::ThreadPool pool(1);
  auto running = pool.apply_async(HoldUntilReleased, 200);
  auto queued = pool.apply_async(SleepMs, 1);
  for (int i = 0; i < 30000 && !g_started; ++i) {
    std::this_thread::sleep_for(1ms);
  }
  ASSERT_TRUE(g_started.load());
  std::thread releaser([&] {
    for (int i = 0; i < 30000 && !queued.ready(); ++i) {
      std::this_thread::sleep_for(1ms);
    }
    g_release = true;
  });
  pool.terminate();
  pool.join();
  releaser.join();
  EXPECT_EQ(running.get(kWait), 200);  // a thread cannot be killed
  EXPECT_THROW(queued.get(kWait), shoal::CancelledError);
}

}  // namespace
