// Fault injection for queues and channels: in each trial a process working
// on the structure is SIGKILLed at a random instant (inside put/get,
// loan/publish, receive/release, or between them). The survivor then
// checks: nothing blocks for more than 1 s because of the death; every item
// is accounted for except at most the victim's one in-flight item; nothing
// is delivered twice; lost() counts what was lost.
//
// Prints its figures (trials, kills, items lost, longest wait) for
// RELIABILITY.md.
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>
#include <set>
#include <vector>

#include "gtest/gtest.h"
#include "shoal/base/errors.h"
#include "shoal/ipc/channel.h"
#include "shoal/ipc/queue.h"

namespace shoal {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int kTrials = 300;       // per structure role; 4 roles => 1200
constexpr int kItemsPerTrial = 64;
// Writers get more work than the random kill delay can let them finish.
constexpr int kWriterItems = 4000;

struct Progress {
  std::atomic<int64_t> done;      // the victim's last completed operation
  std::atomic<int64_t> got[kItemsPerTrial];
};

Progress* NewProgress() {
  void* p = mmap(nullptr, sizeof(Progress), PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  return new (p) Progress();
}

void SleepMicros(int us) {
  timespec ts{0, us * 1000L};
  nanosleep(&ts, nullptr);
}

struct Figures {
  int trials = 0;
  int killed_mid_run = 0;
  uint64_t lost = 0;
  double max_wait_ms = 0;
};

void Report(const char* what, const Figures& f) {
  std::printf(
      "[figures] %s: %d trials, %d victims killed mid-run, %llu items lost "
      "(at most 1 per kill), longest survivor wait %.1f ms\n",
      what, f.trials, f.killed_mid_run,
      static_cast<unsigned long long>(f.lost), f.max_wait_ms);
}

// Kills `pid` after `delay_us`; returns true if it was still running.
bool KillAfter(pid_t pid, int delay_us) {
  SleepMicros(delay_us);
  bool running = waitpid(pid, nullptr, WNOHANG) == 0;
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return running;
}

TEST(FaultInjection, QueueProducerKilledAtRandomInstants) {
  std::mt19937 rng(1);
  Figures fig;
  Progress* prog = NewProgress();
  for (int t = 0; t < kTrials; ++t) {
    // Small slots so that half the items go through the heap.
    Queue<std::vector<int64_t>> q(
        QueueOptions{.maxsize = 16, .inline_bytes = 64, .heap_bytes = 1 << 16});
    prog->done.store(-1);
    pid_t victim = fork();
    if (victim == 0) {
      for (int64_t i = 0; i < kWriterItems; ++i) {
        q.put(std::vector<int64_t>(i % 2 ? 40 : 2, i));
        prog->done.store(i);
      }
      _exit(0);
    }
    // Drain concurrently so the victim also dies while blocked on a full
    // queue, then kill it at a random instant.
    std::vector<int64_t> seen;
    int delay = static_cast<int>(rng() % 1500);
    auto kill_at = Clock::now() + std::chrono::microseconds(delay);
    bool killed = false;
    while (Clock::now() < kill_at) {
      if (auto v = q.try_get()) seen.push_back(v->front());
    }
    killed = KillAfter(victim, 0);
    fig.killed_mid_run += killed;
    const int64_t done = prog->done.load();
    // What the victim published is there at once.
    while (auto v = q.try_get()) seen.push_back(v->front());
    // The survivor goes on: a fresh item gets through within 1 s, even when
    // the victim died holding the slot in front of it (repaired after
    // ~50 ms, counted in lost()).
    auto t0 = Clock::now();
    q.put({-7}, 1s);
    for (;;) {
      std::vector<int64_t> v = q.get(1s);
      if (v.front() == -7) break;
      ASSERT_EQ(v.size(), v.front() % 2 ? 40u : 2u);
      seen.push_back(v.front());
    }
    fig.max_wait_ms = std::max(
        fig.max_wait_ms,
        std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    // Everything the victim finished arrived, once; the in-flight one may.
    std::set<int64_t> unique(seen.begin(), seen.end());
    ASSERT_EQ(unique.size(), seen.size()) << "an item was delivered twice";
    for (int64_t i = 0; i <= done; ++i) {
      ASSERT_TRUE(unique.count(i)) << "trial " << t << ": item " << i
                                   << " completed by the victim was lost";
    }
    ASSERT_LE(static_cast<int64_t>(unique.size()), done + 2);
    ASSERT_LE(q.lost(), 1u);
    fig.lost += q.lost();
    ++fig.trials;
  }
  Report("Queue, producer killed", fig);
  EXPECT_LT(fig.max_wait_ms, 1000);
  EXPECT_GT(fig.killed_mid_run, kTrials / 2);
}

TEST(FaultInjection, QueueConsumerKilledAtRandomInstants) {
  std::mt19937 rng(2);
  Figures fig;
  Progress* prog = NewProgress();
  for (int t = 0; t < kTrials; ++t) {
    Queue<std::vector<int64_t>> q(
        QueueOptions{.maxsize = 128, .inline_bytes = 64, .heap_bytes = 1 << 16});
    for (int64_t i = 0; i < kItemsPerTrial; ++i) {
      q.put(std::vector<int64_t>(i % 2 ? 40 : 2, i));
      prog->got[i].store(0);
    }
    pid_t victim = fork();
    if (victim == 0) {
      for (;;) {
        std::vector<int64_t> v = q.get();
        prog->got[v.front()].fetch_add(1);
      }
    }
    fig.killed_mid_run += KillAfter(victim, static_cast<int>(rng() % 400));
    std::vector<int> count(kItemsPerTrial, 0);
    for (int64_t i = 0; i < kItemsPerTrial; ++i) count[i] = prog->got[i].load();
    while (q.qsize() > 0) {
      auto t0 = Clock::now();
      std::optional<std::vector<int64_t>> v = q.try_get(1s);
      fig.max_wait_ms = std::max(
          fig.max_wait_ms,
          std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      if (!v) break;
      ++count[v->front()];
    }
    int missing = 0;
    for (int c : count) {
      ASSERT_LE(c, 1) << "an item was delivered twice";
      missing += c == 0;
    }
    // The victim's in-flight item: taken from a slot it never released, or
    // returned by get() just before the victim could record it.
    ASSERT_LE(missing, 1) << "trial " << t;
    // A slot the victim died holding is repaired (and counted) when a writer
    // needs it again: go round the ring once and check the count.
    for (int k = 0; k < 128; ++k) {
      q.put({-1}, 1s);
      q.get(1s);
    }
    ASSERT_LE(q.lost(), static_cast<uint64_t>(missing)) << "trial " << t;
    fig.lost += q.lost();
    ++fig.trials;
  }
  Report("Queue, consumer killed", fig);
  EXPECT_LT(fig.max_wait_ms, 1000);
}

TEST(FaultInjection, ChannelWriterKilledInsideLoan) {
  std::mt19937 rng(3);
  Figures fig;
  Progress* prog = NewProgress();
  for (int t = 0; t < kTrials; ++t) {
    Channel<int64_t> ch(256, 3);
    prog->done.store(-1);
    pid_t victim = fork();
    if (victim == 0) {
      for (int64_t i = 0; i < kWriterItems; ++i) {
        auto w = ch.loan(256);
        for (auto& x : w) x = i;
        w.publish();
        prog->done.store(i);
      }
      _exit(0);
    }
    std::vector<int64_t> seen;
    auto kill_at = Clock::now() + std::chrono::microseconds(rng() % 1500);
    while (Clock::now() < kill_at) {
      if (auto r = ch.try_receive()) {
        ASSERT_TRUE(std::all_of(r->begin(), r->end(),
                                [&](int64_t x) { return x == (*r)[0]; }));
        seen.push_back((*r)[0]);
      }
    }
    fig.killed_mid_run += KillAfter(victim, 0);
    const int64_t done = prog->done.load();
    while (auto r = ch.try_receive()) seen.push_back((*r)[0]);
    // A fresh block gets through within 1 s, past a slot the victim died
    // holding as a loan.
    auto t0 = Clock::now();
    ch.send(std::vector<int64_t>(256, -9), 1s);
    for (;;) {
      auto r = ch.receive(1s);
      if (r[0] == -9) break;
      ASSERT_EQ(r.size(), 256u);
      seen.push_back(r[0]);
    }
    fig.max_wait_ms = std::max(
        fig.max_wait_ms,
        std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    std::set<int64_t> unique(seen.begin(), seen.end());
    ASSERT_EQ(unique.size(), seen.size());
    for (int64_t i = 0; i <= done; ++i) ASSERT_TRUE(unique.count(i));
    ASSERT_LE(ch.lost(), 1u);
    fig.lost += ch.lost();
    ++fig.trials;
  }
  Report("Channel, writer killed", fig);
  EXPECT_LT(fig.max_wait_ms, 1000);
}

TEST(FaultInjection, ChannelReaderKilledHoldingView) {
  std::mt19937 rng(4);
  Figures fig;
  for (int t = 0; t < kTrials; ++t) {
    Channel<int64_t> ch(64, 2);
    pid_t victim = fork();
    if (victim == 0) {
      for (;;) {
        auto r = ch.receive();
        int64_t sum = 0;
        for (int64_t x : r) sum += x;
        asm volatile("" : : "r"(sum));  // keep the reads
      }
    }
    // Keep sending while the victim reads; kill it at a random instant.
    auto kill_at = Clock::now() + std::chrono::microseconds(rng() % 1500);
    int64_t i = 0;
    while (Clock::now() < kill_at) {
      ch.try_send(std::vector<int64_t>(64, i), Deadline::Now()) && ++i;
    }
    fig.killed_mid_run += KillAfter(victim, 0);
    while (ch.try_receive()) {
    }
    // The writer is never stuck behind the dead reader's view.
    auto t0 = Clock::now();
    for (int k = 0; k < 4; ++k) {
      ch.send(std::vector<int64_t>(64, -1), 1s);
      ch.recv(1s);
    }
    fig.max_wait_ms = std::max(
        fig.max_wait_ms,
        std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    ASSERT_LE(ch.lost(), 1u);
    fig.lost += ch.lost();
    ++fig.trials;
  }
  Report("Channel, reader killed", fig);
  EXPECT_LT(fig.max_wait_ms, 1000);
}

}  // namespace
}  // namespace shoal
