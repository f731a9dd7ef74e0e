// Python's meaning of a huge `timeout=` for every timed call of pool/:
// AsyncResult.get/wait, IMapIterator.next, Future.result/exception,
// concurrent.futures.wait/as_completed, Process.join. A timeout too large
// for int64 nanoseconds (hours::max(), 1e30 s, absl::InfiniteDuration()) or
// finite but centuries away must wait for the work, never give up at once,
// and never trip UBSan on the way.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "shoal/base/deadline.h"
#include "shoal/base/errors.h"
#include "shoal/pool/executor.h"
#include "shoal/pool/pool.h"
#include "shoal/pool/process.h"
#include "tests/sync/huge_timeouts.h"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// How long each task takes: long enough that a call which gave up at once
// is told apart from one that waited, short enough for many calls.
constexpr int kTaskMs = 150;

int SleepThenSquare(int x) {
  std::this_thread::sleep_for(std::chrono::milliseconds(kTaskMs));
  return x * x;
}

int SleepThenThrow(int) {
  std::this_thread::sleep_for(std::chrono::milliseconds(kTaskMs));
  throw shoal::ValueError("late failure");
}

void SleepThenExit() {
  std::this_thread::sleep_for(std::chrono::milliseconds(kTaskMs));
}

// Every spelling of "huge": std::chrono and absl durations past int64
// nanoseconds, and a finite one ~228 years away (a far Deadline that is not
// Infinite(), so the conversions of a remaining time are exercised too).
template <class F>
void ForEachHugeTimeout(F&& f) {
  shoal::testing::ForEachHugeDuration(
      [&](const char* name, auto d) { f(name, shoal::Deadline(d)); });
  shoal::testing::ForEachHugeAbslDuration(
      [&](const char* name, absl::Duration d) { f(name, shoal::Deadline(d)); });
  const shoal::Deadline far(std::chrono::hours(2'000'000));
  EXPECT_FALSE(far.infinite());
  f("hours(2'000'000) (finite)", far);
}

// Runs call() under a 30 s alarm (a call that blocks forever kills the
// test instead of hanging it); expects it to return only after the work.
template <class Call>
void ExpectWaitedForTheWork(const std::string& what, Call call) {
  const auto start = Clock::now();
  alarm(30);
  call();
  alarm(0);
  EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(kTaskMs - 20))
      << what << ": returned before the task could have finished";
}

// Python: pool.apply_async(f).get(timeout=1e30) / .wait(timeout=1e30).
TEST(PoolHugeTimeouts, AsyncResultGetAndWaitWaitForTheTask_LikePythonGetTimeout) {
  shoal::Pool pool(shoal::PoolOptions{.processes = 2});
  ForEachHugeTimeout([&](const char* name, shoal::Deadline d) {
    ExpectWaitedForTheWork(std::string("get ") + name, [&] {
      EXPECT_EQ(pool.apply_async(SleepThenSquare, 7).get(d), 49) << name;
    });
    auto r = pool.apply_async(SleepThenSquare, 3);
    ExpectWaitedForTheWork(std::string("wait ") + name,
                           [&] { EXPECT_TRUE(r.wait(d)) << name; });
    EXPECT_TRUE(r.ready());
    auto failing = pool.apply_async(SleepThenThrow, 1);
    ExpectWaitedForTheWork(std::string("get of a failing task ") + name, [&] {
      EXPECT_THROW(failing.get(d), shoal::ValueError) << name;
    });
  });
}

// Python: it = pool.imap(f, xs); it.next(timeout=1e30).
TEST(PoolHugeTimeouts, IMapNextWaitsForTheTask_LikePythonNextTimeout) {
  shoal::Pool pool(shoal::PoolOptions{.processes = 1});
  ForEachHugeTimeout([&](const char* name, shoal::Deadline d) {
    auto it = pool.imap(SleepThenSquare, std::vector<int>{2, 3});
    ExpectWaitedForTheWork(std::string("imap next ") + name, [&] {
      EXPECT_EQ(it.next(d), std::optional<int>(4)) << name;
    });
    EXPECT_EQ(it.next(d), std::optional<int>(9)) << name;
    EXPECT_EQ(it.next(d), std::nullopt) << name;
  });
}

// Python: future.result(timeout=1e30), future.exception(timeout=1e30),
// concurrent.futures.wait(fs, timeout=1e30), as_completed(fs, timeout=1e30).
TEST(ExecutorHugeTimeouts, FutureCallsWaitForTheCall_LikePythonResultTimeout) {
  shoal::ProcessPoolExecutor ex(shoal::ExecutorOptions{.max_workers = 2});
  ForEachHugeTimeout([&](const char* name, shoal::Deadline d) {
    ExpectWaitedForTheWork(std::string("result ") + name, [&] {
      EXPECT_EQ(ex.submit(SleepThenSquare, 5).result(d), 25) << name;
    });
    auto f = ex.submit(SleepThenThrow, 0);
    ExpectWaitedForTheWork(std::string("exception ") + name,
                           [&] { EXPECT_NE(f.exception(d), nullptr) << name; });
    std::vector<shoal::Future<int>> fs{ex.submit(SleepThenSquare, 1),
                                       ex.submit(SleepThenSquare, 2)};
    ExpectWaitedForTheWork(std::string("wait ") + name, [&] {
      auto done = shoal::wait(fs, d);
      EXPECT_EQ(done.done.size(), 2u) << name;
      EXPECT_TRUE(done.not_done.empty()) << name;
    });
    std::vector<shoal::Future<int>> gs{ex.submit(SleepThenSquare, 3),
                                       ex.submit(SleepThenSquare, 4)};
    ExpectWaitedForTheWork(std::string("as_completed ") + name, [&] {
      int sum = 0, n = 0;
      for (auto& g : shoal::as_completed(gs, d)) {
        sum += g.result();
        ++n;
      }
      EXPECT_EQ(n, 2) << name;
      EXPECT_EQ(sum, 25) << name;
    });
  });
}

// Python: p.join(timeout=1e30) waits for the process to end.
TEST(ProcessHugeTimeouts, JoinWaitsForTheProcess_LikePythonJoinTimeout) {
  ForEachHugeTimeout([&](const char* name, shoal::Deadline d) {
    shoal::Process p(SleepThenExit);
    p.start();
    ExpectWaitedForTheWork(std::string("join ") + name,
                           [&] { EXPECT_TRUE(p.join(d)) << name; });
    EXPECT_EQ(p.exitcode(), std::optional<int>(0)) << name;
  });
}

// The time-limit options are shoal::Timeout: a huge duration compiles,
// does not overflow (UBSan) and means "no limit" -- the task runs to the
// end instead of being killed at once or at a wrapped-around time.
TEST(PoolHugeTimeouts, HugeTaskTimeoutsMeanNoLimit) {
  auto each_limit = [](auto f) {
    f("hours::max()", shoal::Timeout(std::chrono::hours::max()));
    f("seconds::max()", shoal::Timeout(std::chrono::seconds::max()));
    f("1e30 s", shoal::Timeout(std::chrono::duration<double>(1e30)));
    f("absl::InfiniteDuration()", shoal::Timeout(absl::InfiniteDuration()));
    f("hours(2'000'000)", shoal::Timeout(std::chrono::hours(2'000'000)));
    f("Timeout::Infinite()", shoal::Timeout::Infinite());
  };
  each_limit([](const char* name, shoal::Timeout limit) {
    shoal::Pool pool(shoal::PoolOptions{.processes = 1, .task_timeout = limit});
    EXPECT_EQ(pool.apply_async(SleepThenSquare, 6).get(30s), 36) << name;
    shoal::Pool no_default(shoal::PoolOptions{.processes = 1});
    EXPECT_EQ(no_default
                  .apply_async(shoal::Async{.timeout = limit}, SleepThenSquare, 2)
                  .get(30s),
              4)
        << name;
    // And a per-call huge limit overrides a short pool default.
    shoal::Pool short_default(
        shoal::PoolOptions{.processes = 1, .task_timeout = 10ms});
    EXPECT_EQ(short_default
                  .apply_async(shoal::Async{.timeout = limit}, SleepThenSquare, 3)
                  .get(30s),
              9)
        << name;
  });
  // A real limit still kills (the same field, a small value).
  shoal::Pool pool(shoal::PoolOptions{.processes = 1, .task_timeout = 10ms});
  EXPECT_THROW(pool.apply_async(SleepThenSquare, 1).get(30s),
               shoal::TimeoutError);
}

// Python: executor.map(f, xs, timeout=1e30): next() waits for each result.
TEST(ExecutorHugeTimeouts, MapTimeoutOptionWaits_LikePythonMapTimeout) {
  shoal::ProcessPoolExecutor ex(shoal::ExecutorOptions{
      .max_workers = 1, .task_timeout = std::chrono::hours::max()});
  for (shoal::Timeout t : {shoal::Timeout(std::chrono::hours::max()),
                           shoal::Timeout(absl::InfiniteDuration()),
                           shoal::Timeout(std::chrono::hours(2'000'000))}) {
    auto results = ex.map(shoal::MapOptions{.timeout = t}, SleepThenSquare,
                          std::vector<int>{1, 2});
    int sum = 0;
    for (int r : results) sum += r;
    EXPECT_EQ(sum, 5);
  }
}

}  // namespace
