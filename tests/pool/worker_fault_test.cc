// Fault injection for pools: 10,000 short tasks while a killer thread
// SIGKILLs a random worker at a random instant, at least 100 times. Every
// task either returns its right result or fails with WorkerLost; no task
// runs twice; no call hangs; the pool ends with its full worker count.
// Prints the figures for RELIABILITY.md.
#include <signal.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "shoal/base/errors.h"
#include "shoal/pool/pool.h"

namespace {

using namespace std::chrono_literals;

constexpr int kTasks = 10000;
constexpr int kMinKills = 100;

// How many times each task body started, in memory shared with the (forked)
// workers: a task must never run twice.
std::atomic<uint8_t>* g_started = nullptr;

int64_t Work(int64_t x) {
  g_started[x].fetch_add(1);
  // ~0.2 ms of work, so kills land inside tasks as well as between them.
  auto until = std::chrono::steady_clock::now() + 200us;
  volatile int64_t spin = 0;
  while (std::chrono::steady_clock::now() < until) spin = spin + 1;
  return x * 3 + 1;
}

TEST(WorkerFault, TenThousandTasksWithRandomWorkerKills) {
  void* mem = mmap(nullptr, kTasks, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  g_started = new (mem) std::atomic<uint8_t>[kTasks]();

  constexpr std::size_t kWorkers = 3;
  shoal::Pool pool(shoal::PoolOptions{.processes = kWorkers});
  std::atomic<bool> stop{false};
  std::atomic<int> kills{0};
  std::mutex killed_mu;
  std::set<pid_t> killed;  // every pid the killer SIGKILLed
  std::thread killer_thread([&] {
    std::mt19937 rng(42);
    while (!stop.load()) {
      timespec ts{0, static_cast<long>(rng() % 4000) * 1000};
      nanosleep(&ts, nullptr);
      std::vector<pid_t> pids = pool.worker_pids();
      if (pids.empty()) continue;
      const pid_t victim = pids[rng() % pids.size()];
      if (kill(victim, SIGKILL) == 0) {
        kills.fetch_add(1);
        std::lock_guard<std::mutex> l(killed_mu);
        killed.insert(victim);
      }
    }
  });

  // Joins the killer on every way out of the test (an ASSERT returns early).
  struct Joiner {
    std::atomic<bool>& stop;
    std::thread& t;
    ~Joiner() {
      stop.store(true);
      if (t.joinable()) t.join();
    }
  } joiner{stop, killer_thread};
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<shoal::AsyncResult<int64_t>> results;
  results.reserve(kTasks);
  for (int64_t i = 0; i < kTasks; ++i) {
    results.push_back(pool.apply_async(Work, i));
  }
  int ok = 0, lost = 0;
  for (int64_t i = 0; i < kTasks; ++i) {
    try {
      ASSERT_EQ(results[i].get(30s), i * 3 + 1) << i;
      ++ok;
    } catch (const shoal::WorkerLost& e) {
      ++lost;
      EXPECT_EQ(e.signal(), SIGKILL);
      EXPECT_GT(e.pid(), 0);
    }
  }
  // Keep killing until the minimum is reached, with work in flight.
  while (kills.load() < kMinKills) {
    auto r = pool.apply_async(Work, int64_t{0});
    try {
      r.get(30s);
    } catch (const shoal::WorkerLost&) {
    }
  }
  stop.store(true);
  killer_thread.join();
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();

  for (int i = 1; i < kTasks; ++i) {
    ASSERT_LE(g_started[i].load(), 1) << "task " << i << " ran twice";
  }
  // Every task that succeeded ran exactly once; a lost one at most once.
  EXPECT_EQ(ok + lost, kTasks);
  EXPECT_LE(lost, kills.load());
  EXPECT_GE(kills.load(), kMinKills);
  // The pool ends with its full worker count, none of them a process the
  // killer shot (its last kill may land after the last task finished, so a
  // dead pid can still be listed for a moment before the pool notices).
  auto full_and_alive = [&] {
    const std::vector<pid_t> pids = pool.worker_pids();
    if (pids.size() != kWorkers) return false;
    std::lock_guard<std::mutex> l(killed_mu);
    for (pid_t p : pids) {
      if (killed.count(p) != 0) return false;
    }
    return true;
  };
  for (int i = 0; i < 500 && !full_and_alive(); ++i) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(full_and_alive());
  EXPECT_EQ(pool.worker_pids().size(), kWorkers);
  EXPECT_EQ(pool.apply(Work, int64_t{1}), 4);
  std::printf(
      "[figures] pool: %d tasks, %d workers, %d SIGKILLs of random workers at "
      "random instants in %.1f s: %d right results, %d WorkerLost, 0 run "
      "twice, 0 hangs, %zu workers at the end\n",
      kTasks, static_cast<int>(kWorkers), kills.load(), secs, ok, lost,
      pool.worker_pids().size());
  pool.close();
  pool.join();
}

}  // namespace
