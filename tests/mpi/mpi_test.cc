// Tests for mpi/: shoal::mpi::Executor and shoal::mpi::Pool on real ranks.
// Run under mpirun (tests/mpi/mpirun_test.sh runs it with -np 4): rank 0 runs
// the tests, ranks 1-3 serve tasks. Every wait is bounded.
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <numeric>
#include <optional>
#include <ranges>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "shoal/base/errors.h"
#include "shoal/mpi/executor.h"
#include "shoal/mpi/init.h"
#include "shoal/mpi/pool.h"
#include "shoal/pool/context.h"
#include "shoal/pool/executor.h"
#include "shoal/pool/process.h"
#include "shoal/pool/promise.h"

namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

constexpr auto kWait = std::chrono::seconds(60);

// --- tasks (they run on the other ranks) -------------------------------------

int Square(int x) { return x * x; }
int64_t Square64(int64_t x) { return x * x; }
int Add(int a, int b) { return a + b; }
std::string Hello(std::string who) { return "hello " + who; }
void Nothing(int) {}
int64_t Pid(int) { return getpid(); }
std::vector<double> Scale(std::vector<double> v, double k) {
  for (double& x : v) x *= k;
  return v;
}

struct UserError {
  int code;
};

int Throw(int kind) {
  switch (kind) {
    case 0:
      throw std::invalid_argument("bad argument 0");
    case 1:
      throw std::out_of_range("index 1 out of range");
    case 2:
      throw std::runtime_error("runtime 2");
    case 3:
      throw shoal::ValueError("shoal value error 3");
    case 4:
      throw UserError{4};
    case 5:
      throw 5;
  }
  return kind;
}

// Blocks until `path` exists (bounded: 60 s), then returns x. Lets a test
// hold a rank's credit for as long as it needs, without sleeping.
int HoldUntil(std::string path, int x) {
  for (int i = 0; i < 60000; ++i) {
    struct stat st;
    if (stat(path.c_str(), &st) == 0) return x;
    std::this_thread::sleep_for(1ms);
  }
  throw std::runtime_error("HoldUntil: " + path + " never appeared");
}

// Writes its pid to dir/pid.<x>, then holds until dir/go exists.
int ReportPidThenHold(std::string dir, int x) {
  {
    std::ofstream(dir + "/pid." + std::to_string(x) + ".tmp") << getpid();
  }
  std::rename((dir + "/pid." + std::to_string(x) + ".tmp").c_str(),
              (dir + "/pid." + std::to_string(x)).c_str());
  return HoldUntil(dir + "/go", x);
}

int DieIfSeven(int x) {
  if (x == 7) raise(SIGKILL);
  return x + 1000;
}

// (pid, CPU time of the whole process in ns).
std::pair<int64_t, int64_t> CpuNs(int) {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return {getpid(),
          (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1'000'000'000LL +
              (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1'000LL};
}

// --- helpers ----------------------------------------------------------------

std::string TempDir() {
  const char* base = getenv("TEST_TMPDIR");
  std::string t = std::string(base ? base : "/tmp") + "/shoal-mpi-XXXXXX";
  if (mkdtemp(t.data()) == nullptr) throw std::runtime_error("mkdtemp");
  return t;
}

void Touch(const std::string& path) { std::ofstream(path) << "1"; }

std::optional<pid_t> ReadPid(const std::string& path) {
  std::ifstream in(path);
  long v = 0;
  if (in >> v) return static_cast<pid_t>(v);
  return std::nullopt;
}

std::string WorkerName(int) { return shoal::current_process().name; }

std::set<pid_t> RankPids() {
  std::set<pid_t> pids;
  for (const auto& r : shoal::mpi::ranks()) pids.insert(r.pid);
  return pids;
}

// --- tests ------------------------------------------------------------------

TEST(MpiInit, RanksAndHandshakeInfo) {
  ASSERT_TRUE(shoal::mpi::initialized());
  EXPECT_EQ(shoal::mpi::rank(), 0);
  ASSERT_GE(shoal::mpi::size(), 3) << "run with mpirun -np 4";
  auto ranks = shoal::mpi::ranks();
  ASSERT_EQ(static_cast<int>(ranks.size()), shoal::mpi::size());
  EXPECT_EQ(ranks[0].pid, getpid());
  for (const auto& r : ranks) {
    EXPECT_FALSE(r.host.empty());
    EXPECT_GT(r.pid, 0);
    if (r.rank > 0) {
      EXPECT_TRUE(r.live);
    }
  }
}

TEST(MpiExecutor, SubmitReturnsTheLocalFutureType) {
  shoal::mpi::Executor ex;
  EXPECT_EQ(ex.max_workers(), static_cast<std::size_t>(shoal::mpi::size() - 1));
  shoal::Future<int> f = ex.submit(Square, 7);
  EXPECT_EQ(f.result(kWait), 49);
  EXPECT_TRUE(f.done());
  EXPECT_FALSE(f.running());
  EXPECT_FALSE(f.cancelled());
  EXPECT_EQ(f.exception(kWait), nullptr);
  EXPECT_EQ(ex.submit(Add, 40, 2).result(kWait), 42);
  EXPECT_EQ(ex.submit(Hello, "mpi").result(kWait), "hello mpi");  // converted
  ex.submit(Nothing, 1).result(kWait);                               // void
  auto lambda = ex.submit([](int a, int b) { return a * b; }, 6, 7);
  EXPECT_EQ(lambda.result(kWait), 42);
  // A task runs in a rank's process, not here.
  const int64_t pid = ex.submit(Pid, 0).result(kWait);
  EXPECT_NE(pid, getpid());
  EXPECT_EQ(RankPids().count(static_cast<pid_t>(pid)), 1u);
}

TEST(MpiExecutor, LargeArgumentsAndResults) {
  shoal::mpi::Executor ex;
  std::vector<double> big(1 << 20);  // 8 MiB each way
  std::iota(big.begin(), big.end(), 0.0);
  std::vector<double> out = ex.submit(Scale, big, 2.0).result(kWait);
  ASSERT_EQ(out.size(), big.size());
  EXPECT_EQ(out[12345], 24690.0);
  EXPECT_EQ(out.back(), 2.0 * (big.size() - 1));
}

std::string Echo(const std::string& s) { return s; }

// Messages on both sides of Open MPI's shared-memory eager limit (4 KiB by
// default) and of its largest fragment (32 KiB) arrive whole.
TEST(MpiExecutor, PayloadsAroundTheEagerLimitsArriveWhole) {
  shoal::mpi::Executor ex;
  for (std::size_t n : {4000u, 4095u, 4096u, 4097u, 8192u, 32700u, 32767u,
                        32768u, 32769u, 65536u, 1000000u}) {
    std::string s(n, 'a');
    for (std::size_t i = 0; i < n; i += 97) s[i] = static_cast<char>('a' + i % 26);
    EXPECT_EQ(ex.submit(Echo, s).result(kWait), s) << n;
  }
}

TEST(MpiExecutor, MapOfAHundredThousandItemsInOrder) {
  shoal::mpi::Executor ex;
  std::vector<int64_t> in(100000);
  std::iota(in.begin(), in.end(), 0);
  std::vector<int64_t> out;
  out.reserve(in.size());
  for (int64_t v : ex.map(shoal::MapOptions{.chunksize = 1000}, Square64, in)) {
    out.push_back(v);
  }
  ASSERT_EQ(out.size(), in.size());
  for (int64_t i = 0; i < 100000; ++i) ASSERT_EQ(out[i], i * i) << i;
  // chunksize 1 (Python's default): one message per item.
  std::vector<int> small(3000);
  std::iota(small.begin(), small.end(), -1500);
  int k = 0;
  for (int v : ex.map(Square, small)) {
    ASSERT_EQ(v, small[k] * small[k]);
    ++k;
  }
  EXPECT_EQ(k, 3000);
  // Several iterables are zipped; the shortest ends it.
  std::vector<int> a{1, 2, 3, 4}, b{10, 20, 30};
  std::vector<int> sums;
  for (int v : ex.map(Add, a, b)) sums.push_back(v);
  EXPECT_EQ(sums, (std::vector<int>{11, 22, 33}));
}

TEST(MpiExecutor, MapRethrowsAtThePositionAndTimesOut) {
  shoal::mpi::Executor ex;
  std::vector<int> kinds{9, 8, 2, 7};  // Throw(2) -> runtime_error
  auto it = ex.map(Throw, kinds);
  EXPECT_EQ(*it.next(kWait), 9);
  EXPECT_EQ(*it.next(kWait), 8);
  EXPECT_THROW(it.next(kWait), std::runtime_error);
  EXPECT_EQ(*it.next(kWait), 7);
  EXPECT_FALSE(it.next(kWait).has_value());

  const std::string dir = TempDir();
  auto held = ex.map(shoal::MapOptions{.timeout = 200ms}, HoldUntil,
                     std::vector<std::string>{dir + "/go"},
                     std::vector<int>{1});
  EXPECT_THROW(held.next(), shoal::TimeoutError);
  Touch(dir + "/go");
}

TEST(MpiExecutor, AsCompletedOverAThousandFutures) {
  shoal::mpi::Executor ex;
  std::vector<shoal::Future<int>> fs;
  for (int i = 0; i < 1000; ++i) fs.push_back(ex.submit(Square, i));
  std::multiset<int> seen;
  std::set<int> expected;
  for (int i = 0; i < 1000; ++i) expected.insert(i * i);
  for (auto& f : shoal::as_completed(fs, shoal::Deadline(kWait))) {
    EXPECT_TRUE(f.done());
    seen.insert(f.result());
  }
  EXPECT_EQ(seen.size(), 1000u);
  EXPECT_EQ(std::set<int>(seen.begin(), seen.end()), expected);
}

TEST(MpiExecutor, WaitFirstCompletedFirstExceptionAllCompleted) {
  const std::string dir = TempDir();
  shoal::mpi::Executor ex;
  std::vector<shoal::Future<int>> fs{ex.submit(HoldUntil, dir + "/go", 1),
                                     ex.submit(Square, 3)};
  auto r = shoal::wait(fs, shoal::Deadline(kWait), shoal::FIRST_COMPLETED);
  ASSERT_EQ(r.done.size(), 1u);
  EXPECT_EQ(r.done[0].result(), 9);
  EXPECT_EQ(r.not_done.size(), 1u);

  fs.push_back(ex.submit(Throw, 1));
  r = shoal::wait(fs, shoal::Deadline(kWait), shoal::FIRST_EXCEPTION);
  EXPECT_EQ(r.done.size(), 2u);
  ASSERT_EQ(r.not_done.size(), 1u);
  EXPECT_TRUE(r.not_done[0] == fs[0]);

  r = shoal::wait(fs, shoal::Deadline(50ms), shoal::ALL_COMPLETED);
  EXPECT_EQ(r.not_done.size(), 1u);  // timed out: tells, never throws
  Touch(dir + "/go");
  r = shoal::wait(fs, shoal::Deadline(kWait), shoal::ALL_COMPLETED);
  EXPECT_EQ(r.done.size(), 3u);
  EXPECT_EQ(fs[0].result(), 1);
}

TEST(MpiExecutor, MixesWithLocalAndPromiseFutures) {
  shoal::mpi::Executor ex;
  shoal::Promise<int> local;
  std::vector<shoal::Future<int>> fs{ex.submit(Square, 5), local.future()};
  local.set_result(-1);
  int total = 0;
  for (auto& f : shoal::as_completed(fs, shoal::Deadline(kWait))) {
    total += f.result();
  }
  EXPECT_EQ(total, 24);
}

TEST(MpiExecutor, ExceptionsKeepTheirTypeAndMessage) {
  shoal::mpi::Executor ex;
  std::vector<shoal::Future<int>> fs;
  for (int k = 0; k < 6; ++k) fs.push_back(ex.submit(Throw, k));
  try {
    fs[0].result(kWait);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "bad argument 0");
  }
  try {
    fs[1].result(kWait);
    FAIL();
  } catch (const std::out_of_range& e) {
    EXPECT_STREQ(e.what(), "index 1 out of range");
  }
  try {
    fs[2].result(kWait);
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "runtime 2");
    EXPECT_EQ(dynamic_cast<const shoal::Error*>(&e), nullptr);
  }
  try {
    fs[3].result(kWait);
    FAIL();
  } catch (const shoal::ValueError& e) {
    EXPECT_STREQ(e.what(), "shoal value error 3");
  }
  try {
    fs[4].result(kWait);
    FAIL();
  } catch (const shoal::RemoteError& e) {
    EXPECT_THAT(e.type_name(), HasSubstr("UserError"));
  }
  try {
    fs[5].result(kWait);
    FAIL();
  } catch (const shoal::RemoteError& e) {
    EXPECT_EQ(e.type_name(), "int");
    EXPECT_EQ(e.message(), "5");
  }
  // exception() hands it over without throwing.
  EXPECT_THROW(std::rethrow_exception(fs[1].exception(kWait)),
               std::out_of_range);
  // The executor is fine afterwards.
  EXPECT_EQ(ex.submit(Square, 2).result(kWait), 4);
}

TEST(MpiExecutor, DoneCallbacksRunOnceOffTheMpiThread) {
  shoal::mpi::Executor ex;
  std::atomic<int> calls{0};
  std::atomic<int> sum{0};
  std::vector<shoal::Future<int>> fs;
  for (int i = 0; i < 50; ++i) {
    auto f = ex.submit(Square, i);
    f.add_done_callback([&](shoal::Future<int> g) {
      sum += g.result();
      ++calls;
    });
    fs.push_back(f);
  }
  shoal::wait(fs, shoal::Deadline(kWait));
  for (int i = 0; i < 6000 && calls.load() < 50; ++i) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(calls.load(), 50);
  EXPECT_EQ(sum.load(), 40425);  // sum of i^2, i < 50
}

TEST(MpiExecutor, CancelPendingFutures) {
  const std::string dir = TempDir();
  // One credit per rank: the holders take every credit, so the rest stay
  // on rank 0, pending, until the file appears.
  shoal::mpi::Executor ex(shoal::mpi::ExecutorOptions{.max_inflight_per_rank = 1});
  const int workers = shoal::mpi::size() - 1;
  std::vector<shoal::Future<int>> holders;
  for (int i = 0; i < workers; ++i) {
    holders.push_back(ex.submit(HoldUntil, dir + "/go", i));
  }
  std::vector<shoal::Future<int>> pending;
  for (int i = 0; i < 50; ++i) pending.push_back(ex.submit(Square, i));
  // The holders are sent (running) as soon as the MPI thread sees them.
  for (auto& h : holders) {
    for (int i = 0; i < 60000 && !h.running(); ++i) std::this_thread::sleep_for(1ms);
    EXPECT_TRUE(h.running());
    EXPECT_FALSE(h.cancel());  // sent: runs to the end
  }
  for (auto& f : pending) EXPECT_TRUE(f.cancel());
  for (auto& f : pending) {
    EXPECT_TRUE(f.done());
    EXPECT_TRUE(f.cancelled());
    EXPECT_THROW(f.result(kWait), shoal::CancelledError);
  }
  Touch(dir + "/go");
  for (int i = 0; i < workers; ++i) EXPECT_EQ(holders[i].result(kWait), i);
  // Cancelled tasks never ran; the executor goes on.
  EXPECT_EQ(ex.submit(Square, 9).result(kWait), 81);
}

TEST(MpiExecutor, ShutdownCancelFutures) {
  const std::string dir = TempDir();
  shoal::mpi::Executor ex(shoal::mpi::ExecutorOptions{.max_inflight_per_rank = 1});
  const int workers = shoal::mpi::size() - 1;
  std::vector<shoal::Future<int>> holders;
  for (int i = 0; i < workers; ++i) {
    holders.push_back(ex.submit(HoldUntil, dir + "/go", i));
  }
  for (auto& h : holders) {
    for (int i = 0; i < 60000 && !h.running(); ++i) std::this_thread::sleep_for(1ms);
  }
  std::vector<shoal::Future<int>> pending;
  for (int i = 0; i < 100; ++i) pending.push_back(ex.submit(Square, i));
  ex.shutdown(/*wait=*/false, /*cancel_futures=*/true);
  for (auto& f : pending) {
    EXPECT_TRUE(f.cancelled());
    EXPECT_THROW(f.result(kWait), shoal::CancelledError);
  }
  EXPECT_THROW(ex.submit(Square, 1), shoal::ValueError);
  EXPECT_THROW(ex.map(Square, std::vector<int>{1}), shoal::ValueError);
  Touch(dir + "/go");
  ex.shutdown(/*wait=*/true);
  for (int i = 0; i < workers; ++i) {
    EXPECT_TRUE(holders[i].done());
    EXPECT_EQ(holders[i].result(), i);
  }
}

TEST(MpiExecutor, ShutdownWaitsForEverything) {
  shoal::mpi::Executor ex;
  std::vector<shoal::Future<int>> fs;
  for (int i = 0; i < 200; ++i) fs.push_back(ex.submit(Square, i));
  ex.shutdown(/*wait=*/true);
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(fs[i].done());
    EXPECT_EQ(fs[i].result(), i * i);
  }
}

TEST(MpiHierarchical, TasksRunInLocalPoolsAndAKilledWorkerFailsOnlyItsTask) {
  shoal::mpi::Executor ex(shoal::mpi::ExecutorOptions{.processes_per_rank = 2});
  EXPECT_EQ(ex.max_workers(), 2u * (shoal::mpi::size() - 1));
  // Tasks run in the ranks' local worker processes, not in the ranks.
  const std::set<pid_t> rank_pids = RankPids();
  for (int i = 0; i < 20; ++i) {
    const pid_t p = static_cast<pid_t>(ex.submit(Pid, i).result(kWait));
    EXPECT_EQ(rank_pids.count(p), 0u) << p;
  }
  // A worker that SIGKILLs itself fails its task alone.
  std::vector<shoal::Future<int>> fs;
  for (int i = 0; i < 30; ++i) fs.push_back(ex.submit(DieIfSeven, i));
  for (int i = 0; i < 30; ++i) {
    if (i == 7) {
      try {
        fs[i].result(kWait);
        FAIL() << "task 7 should have failed";
      } catch (const shoal::WorkerLost& e) {
        EXPECT_EQ(e.signal(), SIGKILL);
        EXPECT_GT(e.pid(), 0);
        EXPECT_EQ(rank_pids.count(e.pid()), 0u);
      }
    } else {
      EXPECT_EQ(fs[i].result(kWait), i + 1000);
    }
  }
  // The local pool replaced the worker: everything runs again.
  std::vector<int> in(2000);
  std::iota(in.begin(), in.end(), 0);
  int k = 0;
  for (int v : ex.map(shoal::MapOptions{.chunksize = 50}, Square, in)) {
    ASSERT_EQ(v, k * k);
    ++k;
  }
  EXPECT_EQ(k, 2000);
}

// The context's start method reaches the ranks' local pools: each names
// its workers as Python does for that method.
TEST(MpiHierarchical, LocalPoolsUseTheContextsStartMethod) {
  for (const auto& [method, prefix] :
       {std::pair<std::string, std::string>{"fork", "ForkPoolWorker-"},
        {"spawn", "SpawnPoolWorker-"},
        {"forkserver", "ForkServerPoolWorker-"}}) {
    shoal::mpi::Executor ex(shoal::mpi::ExecutorOptions{
        .processes_per_rank = 1, .mp_context = shoal::get_context(method)});
    for (int i = 0; i < 4; ++i) {
      EXPECT_THAT(ex.submit(WorkerName, i).result(kWait),
                  ::testing::StartsWith(prefix))
          << method;
    }
  }
}

TEST(MpiHierarchical, AWorkerKilledFromOutsideFailsOnlyItsTask) {
  const std::string dir = TempDir();
  shoal::mpi::Executor ex(shoal::mpi::ExecutorOptions{.processes_per_rank = 2});
  constexpr int kTasks = 4;
  std::vector<shoal::Future<int>> fs;
  for (int i = 0; i < kTasks; ++i) fs.push_back(ex.submit(ReportPidThenHold, dir, i));
  // Wait (progress-driven) until task 2 runs and says where.
  std::optional<pid_t> victim;
  for (int i = 0; i < 60000 && !victim; ++i) {
    victim = ReadPid(dir + "/pid.2");
    if (!victim) std::this_thread::sleep_for(1ms);
  }
  ASSERT_TRUE(victim.has_value());
  ASSERT_EQ(kill(*victim, SIGKILL), 0);
  try {
    fs[2].result(kWait);
    FAIL() << "the killed task should fail";
  } catch (const shoal::WorkerLost& e) {
    EXPECT_EQ(e.pid(), *victim);
    EXPECT_EQ(e.signal(), SIGKILL);
  }
  Touch(dir + "/go");
  for (int i = 0; i < kTasks; ++i) {
    if (i != 2) {
      EXPECT_EQ(fs[i].result(kWait), i);
    }
  }
  EXPECT_EQ(ex.submit(Square, 12).result(kWait), 144);
}

TEST(MpiHierarchical, TaskTimeoutKillsTheLocalWorker) {
  const std::string dir = TempDir();
  shoal::mpi::Executor ex(shoal::mpi::ExecutorOptions{
      .processes_per_rank = 1, .task_timeout = std::chrono::milliseconds(300)});
  auto f = ex.submit(HoldUntil, dir + "/never", 1);
  EXPECT_THROW(f.result(kWait), shoal::TimeoutError);
  EXPECT_EQ(ex.submit(Square, 3).result(kWait), 9);
}

TEST(MpiPool, TheCallsOfPool) {
  shoal::mpi::Pool pool;
  EXPECT_EQ(pool.processes(), static_cast<std::size_t>(shoal::mpi::size() - 1));
  EXPECT_EQ(pool.apply(Square, 6), 36);
  shoal::AsyncResult<int> r = pool.apply_async(Add, 1, 2);
  EXPECT_EQ(r.get(kWait), 3);
  EXPECT_TRUE(r.successful());

  std::vector<int64_t> in(100000);
  std::iota(in.begin(), in.end(), 0);
  std::vector<int64_t> out = pool.map(Square64, in);
  ASSERT_EQ(out.size(), in.size());
  for (int64_t i = 0; i < 100000; ++i) ASSERT_EQ(out[i], i * i);

  std::vector<std::tuple<int, int>> pairs{{1, 2}, {3, 4}, {5, 6}};
  EXPECT_EQ(pool.starmap(Add, pairs), (std::vector<int>{3, 7, 11}));

  std::vector<int> ordered;
  for (int v : pool.imap(Square, std::vector<int>{3, 1, 2}, 1)) ordered.push_back(v);
  EXPECT_EQ(ordered, (std::vector<int>{9, 1, 4}));

  std::multiset<int> unordered;
  for (int v : pool.imap_unordered(Square, std::views::iota(0, 500), 7)) {
    unordered.insert(v);
  }
  EXPECT_EQ(unordered.size(), 500u);
  EXPECT_EQ(*unordered.rbegin(), 499 * 499);

  // Lazy: an endless generator, stopped by the consumer.
  int next = 0;
  auto gen = [&next]() -> std::optional<int> { return next++; };
  int count = 0;
  for (int v : pool.imap(Square, gen, 4)) {
    ASSERT_EQ(v, count * count);
    if (++count == 300) break;
  }
  EXPECT_LT(next, 300 + 64 * 4);  // it did not read ahead without bound

  pool.close();
  EXPECT_THROW(pool.apply_async(Square, 1), shoal::ValueError);
  pool.join();
}

TEST(MpiPool, CallbacksAndErrorCallbacksRunBeforeGetReturns) {
  shoal::mpi::Pool pool;
  std::atomic<int> got{0};
  auto r = pool.apply_async(
      shoal::Async{.callback = [&](int v) { got = v; }}, Square, 11);
  EXPECT_EQ(r.get(kWait), 121);
  EXPECT_EQ(got.load(), 121);
  std::string error;
  auto bad = pool.map_async(
      shoal::Async{.error_callback =
                       [&](const std::exception& e) { error = e.what(); }},
      Throw, std::vector<int>{9, 0, 8});
  EXPECT_THROW(bad.get(kWait), std::invalid_argument);
  EXPECT_EQ(error, "bad argument 0");
  EXPECT_FALSE(bad.successful());
}

TEST(MpiPool, TerminateFailsWhatIsLeft) {
  const std::string dir = TempDir();
  shoal::mpi::Pool pool(shoal::mpi::PoolOptions{.max_inflight_per_rank = 1});
  const int workers = shoal::mpi::size() - 1;
  std::vector<shoal::AsyncResult<int>> held;
  for (int i = 0; i < workers + 5; ++i) {
    held.push_back(pool.apply_async(HoldUntil, dir + "/go", i));
  }
  pool.terminate();
  for (auto& r : held) EXPECT_THROW(r.get(kWait), shoal::CancelledError);
  EXPECT_TRUE(pool.join(shoal::Deadline(kWait)));
  Touch(dir + "/go");  // the ranks finish their held tasks; results dropped
}

// Idle ranks poll at most ~1,000 times a second; none spins a core.
TEST(MpiIdle, IdleRanksUseLittleCpu) {
  shoal::mpi::Executor ex;
  const int workers = shoal::mpi::size() - 1;
  // CPU time of every rank process, by pid.
  auto sample = [&] {
    std::map<int64_t, int64_t> cpu;
    for (int round = 0; round < 100 && static_cast<int>(cpu.size()) < workers;
         ++round) {
      std::vector<shoal::Future<std::pair<int64_t, int64_t>>> fs;
      for (int i = 0; i < workers; ++i) fs.push_back(ex.submit(CpuNs, i));
      for (auto& f : fs) {
        auto [pid, ns] = f.result(kWait);
        cpu.emplace(pid, ns);  // the first reading of each rank
      }
    }
    cpu[getpid()] = CpuNs(0).second;  // rank 0: its MPI and callback threads
    return cpu;
  };
  // Warm up, let the spin windows pass.
  sample();
  std::this_thread::sleep_for(300ms);
  const auto t0 = std::chrono::steady_clock::now();
  const auto before = sample();
  std::this_thread::sleep_for(2s);
  const auto after = sample();
  const double wall = std::chrono::duration<double>(
                          std::chrono::steady_clock::now() - t0)
                          .count();
  if (wall > 6) GTEST_SKIP() << "machine too busy to sample (" << wall << " s)";
  ASSERT_EQ(before.size(), after.size());
  double total_cpu = 0;
  for (const auto& [pid, ns] : after) total_cpu += (ns - before.at(pid)) / 1e9;
  const double per_rank = total_cpu / wall / (workers + 1);
  std::printf("idle: %.2f%% of a core per rank (%d ranks, %.2f s)\n",
              100 * per_rank, workers + 1, wall);
  EXPECT_LT(per_rank, 0.10);
}

}  // namespace

int main(int argc, char** argv) {
  shoal::mpi::init(argc, argv);  // ranks > 0 serve and exit here
  alarm(600);                    // a bound on the whole run
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
