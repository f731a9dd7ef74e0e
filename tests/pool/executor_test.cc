// Tests for pool/executor.h.
#include "shoal/pool/executor.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
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
#include "shoal/ipc/shared.h"

namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

constexpr auto kWait = std::chrono::seconds(30);

int Square(int x) { return x * x; }
int Add(int a, int b) { return a + b; }
int SleepMs(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}
int Fail(int x) {
  if (x < 0) throw std::invalid_argument("negative");
  return x;
}
int DieWith(int sig) {
  kill(getpid(), sig);
  std::this_thread::sleep_for(10s);
  return 0;
}

struct Flag {
  std::atomic<int32_t> started;
  std::atomic<int32_t> release;
};
int Block(shoal::Shared<Flag> flag, int ms) {
  flag->started.store(1);
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}
// Kills its own worker with `sig` once the test releases it (or after 20 s).
int DieWhenReleased(shoal::Shared<Flag> flag, int sig) {
  flag->started.store(1);
  for (int i = 0; i < 20000 && flag->release.load() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return DieWith(sig);
}
// Runs until the test releases it (at most 20 s) and returns `ret`: "it is
// still running" then holds however late a loaded machine lets the test look.
int HoldUntilReleased(shoal::Shared<Flag> flag, int ret) {
  flag->started.store(1);
  for (int i = 0; i < 20000 && flag->release.load() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return ret;
}

TEST(ExecutorTest, SubmitResultException) {
  shoal::ProcessPoolExecutor ex(2);
  EXPECT_EQ(ex.max_workers(), 2u);
  auto f = ex.submit(Square, 8);
  EXPECT_EQ(f.result(kWait), 64);
  EXPECT_TRUE(f.done());
  EXPECT_FALSE(f.running());
  EXPECT_FALSE(f.cancelled());
  EXPECT_EQ(f.exception(kWait), nullptr);

  auto bad = ex.submit(Fail, -1);
  EXPECT_THROW(bad.result(kWait), std::invalid_argument);
  std::exception_ptr e = bad.exception(kWait);
  ASSERT_TRUE(e);
  EXPECT_THROW(std::rethrow_exception(e), std::invalid_argument);

  // Held until released: "not done yet" holds however late this thread
  // gets the CPU back after submit().
  auto flag = shoal::Shared<Flag>::Create();
  auto slow = ex.submit(HoldUntilReleased, flag, 300);
  EXPECT_THROW(slow.result(10ms), shoal::TimeoutError);
  EXPECT_THROW(slow.exception(10ms), shoal::TimeoutError);
  flag->release.store(1);
  EXPECT_EQ(slow.result(kWait), 300);
}

TEST(ExecutorTest, RunningAndDoneCallbacks) {
  auto flag = shoal::Shared<Flag>::Create();
  shoal::ProcessPoolExecutor ex(1);
  auto f = ex.submit(HoldUntilReleased, flag, 300);
  for (int i = 0; i < 6000 && !flag->started.load(); ++i) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_TRUE(f.running());
  std::atomic<int> calls{0};
  std::atomic<pid_t> pid{0};
  f.add_done_callback([&](const shoal::Future<int>& g) {
    EXPECT_EQ(g.result(), 300);
    pid = getpid();
    ++calls;
  });
  EXPECT_EQ(calls.load(), 0);  // added while it runs: not called yet
  flag->release.store(1);
  EXPECT_EQ(f.result(kWait), 300);
  for (int i = 0; i < 1000 && calls.load() == 0; ++i) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(pid.load(), getpid());
  // Already done: runs at once, here.
  f.add_done_callback([&](const shoal::Future<int>&) { ++calls; });
  EXPECT_EQ(calls.load(), 2);
}

TEST(ExecutorTest, CancelPendingAndRunning) {
  auto flag = shoal::Shared<Flag>::Create();
  shoal::ProcessPoolExecutor ex(1);
  auto running = ex.submit(Block, flag, 20000);
  auto pending = ex.submit(Square, 3);
  for (int i = 0; i < 6000 && !flag->started.load(); ++i) {
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_TRUE(running.running());
  EXPECT_TRUE(pending.cancel());
  EXPECT_TRUE(pending.cancelled());
  EXPECT_TRUE(pending.done());
  EXPECT_THROW(pending.result(kWait), shoal::CancelledError);
  EXPECT_THROW(pending.exception(kWait), shoal::CancelledError);

  EXPECT_FALSE(running.cancel());  // running: not without kill_running
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(running.cancel(/*kill_running=*/true));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  EXPECT_TRUE(running.cancelled());
  EXPECT_THROW(running.result(kWait), shoal::CancelledError);
  // The worker was replaced.
  EXPECT_EQ(ex.submit(Square, 5).result(kWait), 25);
  auto done = ex.submit(Square, 2);
  done.result(kWait);
  EXPECT_FALSE(done.cancel());
}

TEST(ExecutorTest, ShutdownCancelFutures) {
  auto flag = shoal::Shared<Flag>::Create();
  shoal::ProcessPoolExecutor ex(1);
  auto first = ex.submit(HoldUntilReleased, flag, 200);
  std::vector<shoal::Future<int>> rest;
  for (int i = 0; i < 10; ++i) rest.push_back(ex.submit(Square, i));
  for (int i = 0; i < 6000 && !flag->started.load(); ++i) {
    std::this_thread::sleep_for(5ms);
  }
  // The running task ends only once shutdown has cancelled the pending ones,
  // so none of them can have started however slow the machine.
  std::thread releaser([&] {
    for (int i = 0; i < 20000 && !rest.back().cancelled(); ++i) {
      std::this_thread::sleep_for(1ms);
    }
    flag->release.store(1);
  });
  ex.shutdown(/*wait=*/true, /*cancel_futures=*/true);
  releaser.join();
  EXPECT_EQ(first.result(kWait), 200);  // running ones finish
  for (auto& f : rest) {
    EXPECT_TRUE(f.cancelled());
    EXPECT_THROW(f.result(kWait), shoal::CancelledError);
  }
  EXPECT_THROW(ex.submit(Square, 1), shoal::RuntimeError);
}

TEST(ExecutorTest, ShutdownWaitsForEverything) {
  std::vector<shoal::Future<int>> fs;
  {
    shoal::ProcessPoolExecutor ex(2);
    for (int i = 0; i < 20; ++i) fs.push_back(ex.submit(SleepMs, 5));
    ex.shutdown();
    for (auto& f : fs) EXPECT_TRUE(f.done());
  }
  for (auto& f : fs) EXPECT_EQ(f.result(kWait), 5);
}

// A task that returns `value` once the test has opened the gate to `turn`
// (or -1 after 60 s): the test, not the scheduler, decides the order in
// which tasks finish, so a busy machine cannot reorder them.
struct Gate {
  std::atomic<int32_t> open;
};
int Gated(shoal::Shared<Gate> gate, int turn, int value) {
  const auto until = std::chrono::steady_clock::now() + 60s;
  while (gate->open.load() < turn) {
    if (std::chrono::steady_clock::now() > until) return -1;
    std::this_thread::sleep_for(1ms);
  }
  return value;
}

TEST(ExecutorTest, Map) {
  shoal::ProcessPoolExecutor ex(2);
  std::vector<int> in(200);
  std::iota(in.begin(), in.end(), 0);
  std::vector<int> out;
  for (int v : ex.map(Square, in)) out.push_back(v);
  ASSERT_EQ(out.size(), in.size());
  for (int i = 0; i < 200; ++i) EXPECT_EQ(out[i], i * i);

  // Several iterables: zipped, the shortest ends it.
  std::vector<int> a{1, 2, 3, 4};
  std::vector<int> b{10, 20, 30};
  std::vector<int> sums;
  for (int v : ex.map(shoal::MapOptions{.chunksize = 2}, Add, a, b)) {
    sums.push_back(v);
  }
  EXPECT_EQ(sums, (std::vector<int>{11, 22, 33}));

  // Timeout from the call. The calls are held until the test opens their
  // gate, so none can be done when next() looks, however late that is.
  auto gate = shoal::Shared<Gate>::Create();
  auto it = ex.map(shoal::MapOptions{.timeout = 100ms}, Gated,
                   std::vector<shoal::Shared<Gate>>{gate, gate},
                   std::vector<int>{1, 1}, std::vector<int>{7, 7});
  EXPECT_THROW(it.next(), shoal::TimeoutError);
  gate->open.store(1);  // let the executor's shutdown finish them
}

TEST(ExecutorTest, AsCompletedAndWait) {
  shoal::ProcessPoolExecutor ex(2);
  auto gate = shoal::Shared<Gate>::Create();
  std::vector<shoal::Future<int>> fs;
  fs.push_back(ex.submit(Gated, gate, 3, 300));
  fs.push_back(ex.submit(Gated, gate, 1, 10));
  fs.push_back(ex.submit(Gated, gate, 2, 150));  // queued behind the two
  auto ac = shoal::as_completed(fs, kWait);
  std::vector<int> order;
  for (int turn = 1; turn <= 3; ++turn) {
    gate->open.store(turn);
    auto f = ac.next();
    ASSERT_TRUE(f.has_value());
    order.push_back(f->result());
  }
  EXPECT_FALSE(ac.next().has_value());
  EXPECT_EQ(order, (std::vector<int>{10, 150, 300}));

  auto held = shoal::Shared<Gate>::Create();  // opened at the end
  std::vector<shoal::Future<int>> gs;
  gs.push_back(ex.submit(Gated, held, 1, 800));
  gs.push_back(ex.submit(SleepMs, 1));
  auto r = shoal::wait(gs, kWait, shoal::FIRST_COMPLETED);
  ASSERT_EQ(r.done.size(), 1u);
  EXPECT_EQ(r.done[0].result(), 1);
  EXPECT_EQ(r.not_done.size(), 1u);

  auto t = shoal::wait(gs, 10ms, shoal::ALL_COMPLETED);
  EXPECT_EQ(t.not_done.size(), 1u);

  held->open.store(1);
  auto all = shoal::wait(gs, kWait);
  EXPECT_EQ(all.done.size(), 2u);
  EXPECT_EQ(gs[0].result(), 800);

  // Both workers idle now: the failing call runs at once, beside the held one.
  auto held2 = shoal::Shared<Gate>::Create();
  std::vector<shoal::Future<int>> hs;
  hs.push_back(ex.submit(Gated, held2, 1, 800));
  hs.push_back(ex.submit(Fail, -1));
  auto x = shoal::wait(hs, kWait, shoal::FIRST_EXCEPTION);
  ASSERT_EQ(x.done.size(), 1u);
  EXPECT_THROW(x.done[0].result(), std::invalid_argument);

  std::vector<shoal::Future<int>> never;
  never.push_back(ex.submit(Gated, held2, 1, 800));
  auto nac = shoal::as_completed(never, 20ms);
  EXPECT_THROW(nac.next(), shoal::TimeoutError);
  held2->open.store(1);  // let the executor's shutdown finish them
}

TEST(ExecutorTest, DeadWorkerFailsOnlyItsFuture) {
  shoal::ProcessPoolExecutor ex(2);
  auto dead = ex.submit(DieWith, SIGKILL);
  std::vector<shoal::Future<int>> fs;
  for (int i = 0; i < 50; ++i) fs.push_back(ex.submit(Square, i));
  try {
    dead.result(kWait);
    ADD_FAILURE();
  } catch (const shoal::WorkerLost& e) {
    EXPECT_EQ(e.signal(), SIGKILL);
    EXPECT_GT(e.pid(), 0);
  }
  for (int i = 0; i < 50; ++i) EXPECT_EQ(fs[i].result(kWait), i * i);
  EXPECT_FALSE(ex.broken());
  auto exited = ex.submit([] {
    _exit(3);
    return 0;
  });
  try {
    exited.result(kWait);
    ADD_FAILURE();
  } catch (const shoal::WorkerLost& e) {
    EXPECT_EQ(e.signal(), 0);
    EXPECT_EQ(e.exit_code(), 3);
    EXPECT_THAT(e.what(), HasSubstr("exited with code 3"));
  }
}

TEST(ExecutorTest, BreakOnWorkerDeathLikePython) {
  shoal::ProcessPoolExecutor ex(shoal::ExecutorOptions{
      .max_workers = 1, .break_on_worker_death = true});
  // The worker dies only once both futures exist: a task that died at once
  // could break the pool before the second submit(), which then (rightly,
  // as in Python) raises instead of returning a future.
  auto flag = shoal::Shared<Flag>::Create();
  auto dead = ex.submit(DieWhenReleased, flag, SIGKILL);
  auto pending = ex.submit(Square, 3);
  flag->release.store(1);
  EXPECT_THROW(dead.result(kWait), shoal::BrokenPool);
  EXPECT_THROW(pending.result(kWait), shoal::BrokenPool);
  for (int i = 0; i < 6000 && !ex.broken(); ++i) std::this_thread::sleep_for(5ms);
  EXPECT_TRUE(ex.broken());
  EXPECT_THROW(ex.submit(Square, 1), shoal::BrokenPool);
}

void BadInit() { throw std::logic_error("no init"); }

TEST(ExecutorTest, FailingInitializer) {
  shoal::ProcessPoolExecutor ex(2, BadInit);
  // As in Python: submit() itself raises once the pool knows it is broken,
  // else the future fails.
  EXPECT_THROW(ex.submit(Square, 2).result(kWait), shoal::BrokenPool);
}


// --- Python parity ---------------------------------------------------------

// Python: as_completed({f, f, g}) yields f and g once each; wait() too.
TEST(ExecutorTest, AsCompletedAndWaitSeeEachDistinctFutureOnce) {
  shoal::ProcessPoolExecutor ex(2);
  auto f = ex.submit(SleepMs, 20);
  auto g = ex.submit(Square, 3);
  std::vector<shoal::Future<int>> fs{f, f, g, f};
  int n = 0;
  for (auto& done : shoal::as_completed(fs, kWait)) {
    EXPECT_TRUE(done == f || done == g);
    ++n;
  }
  EXPECT_EQ(n, 2);
  auto r = shoal::wait(fs, kWait);
  EXPECT_EQ(r.done.size(), 2u);
  EXPECT_TRUE(r.not_done.empty());
}

// Python: `v = ex.submit(f, x).result()` is a value.
TEST(ExecutorTest, ResultOnATemporaryFutureIsAValue) {
  shoal::ProcessPoolExecutor ex(1);
  const auto& v = ex.submit(Square, 12).result();
  EXPECT_EQ(v, 144);
  auto f = ex.submit(Square, 5);
  const int& a = f.result();
  EXPECT_EQ(&a, &f.result());
}

// Python: ProcessPoolExecutor(max_workers=0) raises ValueError.
TEST(ExecutorTest, ZeroMaxWorkersRaisesValueErrorAsPython) {
  EXPECT_THROW(shoal::ProcessPoolExecutor(0), shoal::ValueError);
  EXPECT_THROW(
      shoal::ProcessPoolExecutor(shoal::ExecutorOptions{.max_workers = 0}),
      shoal::ValueError);
}

std::vector<int> Iota(int n) {
  std::vector<int> v(n);
  std::iota(v.begin(), v.end(), 0);
  return v;
}

// Python: list(ex.map(f, xs)) after ex.shutdown() still has every result.
TEST(ExecutorTest, MapResultsSurviveShutdownAsPython) {
  shoal::ProcessPoolExecutor ex(2);
  auto it = ex.map(Square, Iota(300));
  ex.shutdown();
  int n = 0;
  while (auto v = it.next(kWait)) {
    ASSERT_EQ(*v, n * n);
    ++n;
  }
  EXPECT_EQ(n, 300);
}

// Python: the map's results outlive the `with ProcessPoolExecutor()` block.
TEST(ExecutorTest, MapResultsSurviveTheExecutorAsPython) {
  for (bool buffered : {false, true}) {
    shoal::IMapResult<int> it;
    {
      shoal::ProcessPoolExecutor ex(2);
      it = buffered ? ex.map(shoal::MapOptions{.buffersize = 3}, Square,
                             Iota(200))
                    : ex.map(Square, Iota(200));
    }
    int n = 0;
    while (auto v = it.next(kWait)) {
      ASSERT_EQ(*v, n * n) << buffered;
      ++n;
    }
    EXPECT_EQ(n, 200) << buffered;
  }
}

struct Calls {
  std::atomic<int32_t> n;
};
int Count(int x, shoal::Shared<Calls> calls) {
  calls->n.fetch_add(1);
  return x;
}

// Python: ex.map(f, xs) that is never iterated still runs every call.
TEST(ExecutorTest, AMapNeverIteratedRunsEveryCallAsPython) {
  auto calls = shoal::Shared<Calls>::Create();
  calls->n = 0;
  const std::vector<int> xs = Iota(2000);  // more than the 1024 task slots
  const std::vector<shoal::Shared<Calls>> cs(xs.size(), calls);
  {
    shoal::ProcessPoolExecutor ex(2);
    auto it = ex.map(Count, xs, cs);
    ex.shutdown();
    EXPECT_EQ(calls->n.load(), 2000);
  }
}

// Python 3.14: map(..., buffersize=n) reads at most n calls ahead of what
// was consumed, so an endless input works; shutdown() does not wait for
// the rest of an endless input.
TEST(ExecutorTest, BuffersizeBoundsReadAheadAsPython314) {
  std::atomic<int> pulled{0};
  auto endless = std::views::iota(0) | std::views::transform([&](int i) {
                   pulled.fetch_add(1);
                   return i;
                 });
  shoal::ProcessPoolExecutor ex(2);
  auto it = ex.map(shoal::MapOptions{.buffersize = 4}, Square, endless);
  EXPECT_LE(pulled.load(), 4 + 1);
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(*it.next(kWait), i * i);
    ASSERT_LE(pulled.load(), i + 1 + 4 + 1);
  }
  ex.shutdown();  // returns: waits for the calls submitted so far
  EXPECT_EQ(*it.next(kWait), 50 * 50);  // and the map goes on
  EXPECT_THROW(ex.map(shoal::MapOptions{.buffersize = 0}, Square, Iota(3)),
               shoal::RuntimeError);  // shut down first
  shoal::ProcessPoolExecutor other(1);
  EXPECT_THROW(other.map(shoal::MapOptions{.buffersize = 0}, Square, Iota(3)),
               shoal::ValueError);
}

// An input that throws: the results before it, then its exception there.
TEST(ExecutorTest, MapOfAnInputThatThrowsDeliversWhatCameBefore) {
  auto failing = std::views::iota(0, 10) | std::views::transform([](int i) {
                   if (i == 5) throw std::runtime_error("input broke");
                   return i;
                 });
  shoal::ProcessPoolExecutor ex(2);
  for (bool buffered : {false, true}) {
    auto it = buffered ? ex.map(shoal::MapOptions{.buffersize = 2}, Square,
                                failing)
                       : ex.map(Square, failing);
    for (int i = 0; i < 5; ++i) ASSERT_EQ(*it.next(kWait), i * i);
    EXPECT_THROW(it.next(kWait), std::runtime_error);
    EXPECT_FALSE(it.next(kWait).has_value());
  }
}

// The last reference to a pool may go in its callback thread (a buffered
// map dropped with calls in flight after its executor is gone): the pool
// still shuts down, its workers leave.
TEST(ExecutorTest, APoolWhoseLastReferenceGoesInItsCallbackThreadShutsDown) {
  std::vector<pid_t> pids;
  {
    shoal::IMapResult<int> it;
    {
      shoal::ProcessPoolExecutor ex(2);
      pids = ex.worker_pids();
      it = ex.map(shoal::MapOptions{.buffersize = 4}, SleepMs,
                  std::vector<int>(20, 30));
    }
    EXPECT_EQ(*it.next(kWait), 30);
  }  // dropped with calls in flight
  ASSERT_EQ(pids.size(), 2u);
  for (pid_t p : pids) {
    bool gone = false;
    for (int i = 0; i < 3000 && !gone; ++i) {
      gone = kill(p, 0) != 0;
      if (!gone) std::this_thread::sleep_for(10ms);
    }
    EXPECT_TRUE(gone) << p;
  }
}

}  // namespace
