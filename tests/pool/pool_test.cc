// Tests for pool/pool.h (fork start method; spawn is in context_test.cc).
#include "shoal/pool/pool.h"

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <new>
#include <numeric>
#include <optional>
#include <ranges>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "shoal/base/errors.h"
#include "shoal/base/internal/process_liveness.h"
#include "shoal/ipc/queue.h"
#include "shoal/ipc/shared.h"
#include "shoal/pool/process.h"

namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

constexpr auto kWait = std::chrono::seconds(30);

int Square(int x) { return x * x; }
int Add(int a, int b) { return a + b; }
std::string Greet(std::string name) { return "hello " + name; }
pid_t MyPid() { return getpid(); }
std::pair<int, int> PidAndSquare(int x) {
  return {static_cast<int>(getpid()), x * x};
}
int SleepMs(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}
void Nothing() {}
// Runs until the test releases it (at most 20 s) and returns `ret`: "not
// ready yet" then holds however late a loaded machine lets the test look.
struct Hold {
  std::atomic<int32_t> release;
};
int HoldUntilReleased(shoal::Shared<Hold> hold, int ret) {
  for (int i = 0; i < 20000 && hold->release.load() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return ret;
}
std::vector<char> Blob(std::size_t n) { return std::vector<char>(n, 'x'); }
std::size_t SizeOf(const std::vector<int>& v) { return v.size(); }
std::string WorkerName() { return shoal::current_process().name; }
bool WorkerIsDaemon() { return shoal::current_process().daemon; }

int ThrowKind(int kind) {
  switch (kind) {
    case 0:
      throw std::invalid_argument("bad arg");
    case 1:
      throw std::out_of_range("out of range");
    case 2:
      throw std::runtime_error("runtime");
    case 3:
      throw std::logic_error("logic");
    case 4:
      throw std::bad_alloc();
    case 5:
      throw shoal::ValueError("shoal value");
    case 6:
      throw shoal::TimeoutError("shoal timeout");
    case 7:
      throw 42;
    default:
      break;
  }
  return kind;
}

struct MyError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
int ThrowMine(int) { throw MyError("mine"); }

// A result type whose encoder fails.
struct Unsendable {
  int x = 0;
};

}  // namespace

template <>
struct shoal::CodecTraits<Unsendable> {
  static size_t Size(const Unsendable&) { return 4; }
  static void Encode(const Unsendable&, CodecWriter&) {
    throw std::runtime_error("Unsendable refuses to be encoded");
  }
  static Unsendable Decode(CodecReader& r) { return Unsendable{r.ReadRaw<int>()}; }
};

namespace {

Unsendable MakeUnsendable(int x) { return Unsendable{x}; }

// A function object with state (cereal).
struct Scale {
  int factor = 1;
  int operator()(int x) const { return x * factor; }
  template <class A>
  void serialize(A& a) {
    a(factor);
  }
};

TEST(PoolTest, ApplyAndApplyAsync) {
  shoal::Pool pool(2);
  EXPECT_EQ(pool.processes(), 2u);
  EXPECT_EQ(pool.apply(Square, 7), 49);
  EXPECT_EQ(pool.apply(Add, 2, 3), 5);
  EXPECT_EQ(pool.apply(Greet, "world"), "hello world");  // const char* -> string
  EXPECT_EQ(pool.apply([](int a, int b) { return a * b; }, 6, 7), 42);
  EXPECT_EQ(pool.apply(Scale{3}, 5), 15);
  EXPECT_EQ(pool.apply(std::plus<>(), 2, 40), 42);
  pool.apply(Nothing);
  EXPECT_NE(pool.apply(MyPid), getpid());

  auto r = pool.apply_async(Square, 9);
  EXPECT_EQ(r.get(kWait), 81);
  EXPECT_TRUE(r.ready());
  EXPECT_TRUE(r.successful());
  EXPECT_EQ(r.get(), 81);  // again

  auto v = pool.apply_async(Nothing);
  v.get(kWait);
  EXPECT_TRUE(v.successful());
}

TEST(PoolTest, WorkersAreDaemonicAndNamed) {
  shoal::Pool pool(1);
  EXPECT_THAT(pool.apply(WorkerName), HasSubstr("ForkPoolWorker-1"));
  EXPECT_TRUE(pool.apply(WorkerIsDaemon));
}

TEST(PoolTest, LargeArgumentsAndResults) {
  shoal::Pool pool(2);
  std::vector<int> big(1 << 20, 3);  // 4 MiB: through the shared heap
  EXPECT_EQ(pool.apply(SizeOf, big), big.size());
  const std::vector<char> blob = pool.apply(Blob, std::size_t{3} << 20);
  ASSERT_EQ(blob.size(), std::size_t{3} << 20);
  EXPECT_EQ(blob.front(), 'x');
  EXPECT_EQ(blob.back(), 'x');
}

TEST(PoolTest, GetWithTimeoutAndSuccessfulBeforeReady) {
  shoal::Pool pool(1);
  auto hold = shoal::Shared<Hold>::Create();
  auto r = pool.apply_async(HoldUntilReleased, hold, 400);
  EXPECT_FALSE(r.ready());
  EXPECT_THROW(r.successful(), shoal::ValueError);
  EXPECT_THROW(r.get(20ms), shoal::TimeoutError);
  EXPECT_FALSE(r.wait(10ms));
  hold->release.store(1);
  EXPECT_EQ(r.get(kWait), 400);
  EXPECT_TRUE(r.successful());
}

TEST(PoolTest, CallbacksRunInTheParentHandlerThread) {
  shoal::Pool pool(2);
  std::atomic<int> got{0};
  std::atomic<pid_t> cb_pid{0};
  std::thread::id cb_thread;
  std::mutex mu;
  auto r = pool.apply_async(shoal::Async{.callback =
                                             [&](int v) {
                                               got = v;
                                               cb_pid = getpid();
                                               std::lock_guard<std::mutex> l(mu);
                                               cb_thread =
                                                   std::this_thread::get_id();
                                             }},
                            Square, 12);
  EXPECT_EQ(r.get(kWait), 144);
  // get() returns after the callback ran (as in Python).
  EXPECT_EQ(got.load(), 144);
  EXPECT_EQ(cb_pid.load(), getpid());
  std::lock_guard<std::mutex> l(mu);
  EXPECT_NE(cb_thread, std::this_thread::get_id());
}

TEST(PoolTest, ErrorCallback) {
  shoal::Pool pool(1);
  std::string what;
  bool called_ok = false;
  auto r = pool.apply_async(
      shoal::Async{.callback = [&](int) { called_ok = true; },
                   .error_callback =
                       [&](const std::exception& e) { what = e.what(); }},
      ThrowKind, 2);
  EXPECT_THROW(r.get(kWait), std::runtime_error);
  EXPECT_EQ(what, "runtime");
  EXPECT_FALSE(called_ok);
  EXPECT_FALSE(r.successful());

  std::exception_ptr seen;
  auto r2 = pool.apply_async(
      shoal::Async{.error_callback = [&](std::exception_ptr e) { seen = e; }},
      ThrowKind, 0);
  r2.wait(kWait);
  ASSERT_TRUE(seen);
  EXPECT_THROW(std::rethrow_exception(seen), std::invalid_argument);
}

TEST(PoolTest, ExceptionsOfEachKind) {
  shoal::Pool pool(2);
  EXPECT_THROW(pool.apply(ThrowKind, 0), std::invalid_argument);
  EXPECT_THROW(pool.apply(ThrowKind, 1), std::out_of_range);
  try {
    pool.apply(ThrowKind, 2);
    ADD_FAILURE();
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(typeid(e), typeid(std::runtime_error));
    EXPECT_STREQ(e.what(), "runtime");
  }
  try {
    pool.apply(ThrowKind, 3);
    ADD_FAILURE();
  } catch (const std::logic_error& e) {
    EXPECT_EQ(typeid(e), typeid(std::logic_error));
  }
  EXPECT_THROW(pool.apply(ThrowKind, 4), std::bad_alloc);
  try {
    pool.apply(ThrowKind, 5);
    ADD_FAILURE();
  } catch (const shoal::ValueError& e) {
    EXPECT_STREQ(e.what(), "shoal value");
  }
  EXPECT_THROW(pool.apply(ThrowKind, 6), shoal::TimeoutError);
  try {
    pool.apply(ThrowKind, 7);
    ADD_FAILURE();
  } catch (const shoal::RemoteError& e) {
    EXPECT_EQ(e.type_name(), "int");
    EXPECT_EQ(e.message(), "42");
  }
  try {
    pool.apply(ThrowMine, 0);
    ADD_FAILURE();
  } catch (const shoal::RemoteError& e) {
    EXPECT_THAT(e.type_name(), HasSubstr("MyError"));
    EXPECT_EQ(e.message(), "mine");
  }
  // The pool is fine afterwards.
  EXPECT_EQ(pool.apply(Square, 3), 9);
}

TEST(PoolTest, UnserializableResultFailsOnlyThatTask) {
  shoal::Pool pool(1);
  try {
    pool.apply(MakeUnsendable, 1);
    ADD_FAILURE();
  } catch (const shoal::SerializationError& e) {
    EXPECT_THAT(e.what(), HasSubstr("refuses to be encoded"));
  }
  EXPECT_EQ(pool.apply(Square, 4), 16);
  EXPECT_FALSE(pool.broken());
}

TEST(PoolTest, MapStarmapAndAsync) {
  shoal::Pool pool(2);
  std::vector<int> in(1000);
  std::iota(in.begin(), in.end(), 0);
  std::vector<int> out = pool.map(Square, in);
  ASSERT_EQ(out.size(), in.size());
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(out[i], i * i);
  EXPECT_EQ(pool.map(Square, in, 7), out);
  EXPECT_TRUE(pool.map(Square, std::vector<int>{}).empty());
  // A non-random-access input, converted elements, strings.
  std::set<int> s{1, 2, 3};
  EXPECT_EQ(pool.map(Square, s), (std::vector<int>{1, 4, 9}));
  std::vector<std::string> names{"a", "b"};
  EXPECT_EQ(pool.map(Greet, names),
            (std::vector<std::string>{"hello a", "hello b"}));
  // void -> monostate
  EXPECT_EQ(pool.map([](int) {}, in).size(), in.size());

  std::vector<std::tuple<int, int>> pairs{{1, 2}, {3, 4}, {5, 6}};
  EXPECT_EQ(pool.starmap(Add, pairs), (std::vector<int>{3, 7, 11}));
  auto sa = pool.starmap_async(Add, pairs, 1);
  EXPECT_EQ(sa.get(kWait), (std::vector<int>{3, 7, 11}));

  std::vector<int> cb_value;
  auto ma = pool.map_async(
      shoal::Async{.callback = [&](const std::vector<int>& v) { cb_value = v; }},
      Square, in, 50);
  EXPECT_EQ(ma.get(kWait), out);
  EXPECT_EQ(cb_value, out);

  // A failing item fails the whole map with its exception.
  EXPECT_THROW(pool.map(ThrowKind, std::vector<int>{9, 9, 1, 9}),
               std::out_of_range);
  bool err = false;
  auto mf = pool.map_async(
      shoal::Async{.error_callback = [&](std::exception_ptr) { err = true; }},
      ThrowKind, std::vector<int>{9, 0, 9});
  EXPECT_THROW(mf.get(kWait), std::invalid_argument);
  EXPECT_TRUE(err);
}

TEST(PoolTest, ImapOverAnEndlessInput) {
  shoal::Pool pool(2);
  auto it = pool.imap(Square, std::views::iota(0), 10);
  for (int i = 0; i < 1000; ++i) {
    std::optional<int> v = it.next(kWait);
    ASSERT_TRUE(v.has_value());
    ASSERT_EQ(*v, i * i);
  }
  // A generator: reads lazily too.
  int next = 0;
  int n = 0;
  for (int v : pool.imap(Square, [&]() -> std::optional<int> {
         if (next == 500) return std::nullopt;
         return next++;
       })) {
    ASSERT_EQ(v, n * n);
    ++n;
  }
  EXPECT_EQ(n, 500);
  EXPECT_EQ(pool.apply(Square, 2), 4);  // pool fine after abandoning `it`
}

TEST(PoolTest, ImapIsLazy) {
  shoal::Pool pool(2);
  std::atomic<int> pulled{0};
  auto it = pool.imap(
      Square,
      [&]() -> std::optional<int> { return pulled++; }, 1);
  for (int i = 0; i < 10; ++i) ASSERT_EQ(*it.next(kWait), i * i);
  // Only a bounded number of chunks ahead of the consumer.
  EXPECT_LE(pulled.load(), 10 + 2 * 2 + 2 + 1);
}

TEST(PoolTest, ImapUnorderedAndIterators) {
  shoal::Pool pool(2);
  std::vector<int> in(300);
  std::iota(in.begin(), in.end(), 0);
  std::vector<int> got;
  for (int v : pool.imap_unordered(Square, in, 4)) got.push_back(v);
  std::sort(got.begin(), got.end());
  std::vector<int> want;
  for (int x : in) want.push_back(x * x);
  EXPECT_EQ(got, want);

  std::vector<int> ordered;
  auto it = pool.imap(Square, in.begin(), in.end(), 3);
  while (auto v = it.next(kWait)) ordered.push_back(*v);
  EXPECT_EQ(ordered, want);
}

TEST(PoolTest, ImapRaisesAtTheFailingPosition) {
  shoal::Pool pool(2);
  auto it = pool.imap(ThrowKind, std::vector<int>{10, 11, 1, 12});
  EXPECT_EQ(*it.next(kWait), 10);
  EXPECT_EQ(*it.next(kWait), 11);
  EXPECT_THROW(it.next(kWait), std::out_of_range);
  EXPECT_EQ(*it.next(kWait), 12);
  EXPECT_FALSE(it.next(kWait).has_value());
}

TEST(PoolTest, MaxTasksPerChildReplacesWorkers) {
  shoal::Pool pool(shoal::PoolOptions{.processes = 2, .maxtasksperchild = 3});
  std::vector<shoal::AsyncResult<std::pair<int, int>>> results;
  for (int i = 0; i < 100; ++i) {
    results.push_back(pool.apply_async(PidAndSquare, i));
  }
  std::map<int, int> per_pid;
  for (int i = 0; i < 100; ++i) {
    const auto& [pid, sq] = results[i].get(kWait);
    ASSERT_EQ(sq, i * i);
    ++per_pid[pid];
  }
  for (const auto& [pid, n] : per_pid) {
    EXPECT_LE(n, 3) << "pid " << pid;
    EXPECT_NE(pid, getpid());
  }
  EXPECT_GE(per_pid.size(), 34u);
  // The pool keeps its size. A worker that ran its third task may retire
  // after its result is out, and drops out before its replacement comes in:
  // settled when no such worker is listed and the size is 2 (bounded wait).
  const auto settled = [&] {
    const std::vector<pid_t> pids = pool.worker_pids();
    for (pid_t p : pids) {
      auto it = per_pid.find(p);
      if (it != per_pid.end() && it->second >= 3) return false;
    }
    return pids.size() == 2;
  };
  for (int i = 0; i < 3000 && !settled(); ++i) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(settled());
  EXPECT_EQ(pool.worker_pids().size(), 2u);
}

// The killed-worker test: victim tasks publish their pid and wait to be
// killed; a thread of the test SIGKILLs them mid-task.
struct Board {
  static constexpr int kVictims = 20;
  std::atomic<int32_t> pid[kVictims];
  std::atomic<int32_t> done[kVictims];
};

int Task(int i, shoal::Shared<Board> board) {
  if (i % 100 == 50) {
    const int k = i / 100;
    board->pid[k].store(getpid());
    for (int t = 0; t < 3000; ++t) {  // killed long before 30 s
      std::this_thread::sleep_for(10ms);
    }
    board->done[k].store(1);
  }
  return 2 * i;
}

TEST(PoolTest, KilledWorkersFailExactlyTheirTasks) {
  auto board = shoal::Shared<Board>::Create();
  for (int k = 0; k < Board::kVictims; ++k) {
    board->pid[k] = 0;
    board->done[k] = 0;
  }
  shoal::Pool pool(2);
  std::vector<shoal::AsyncResult<int>> results;
  std::atomic<bool> stop{false};
  std::map<int, pid_t> killed;
  std::mutex killed_mu;
  std::thread killer([&] {
    int n = 0;
    // Bounded (a failed test must not hang), far beyond a slow run's length.
    auto until = std::chrono::steady_clock::now() + 240s;
    while (n < Board::kVictims && !stop &&
           std::chrono::steady_clock::now() < until) {
      for (int k = 0; k < Board::kVictims; ++k) {
        const pid_t p = board->pid[k].exchange(0);
        if (p != 0) {
          {
            std::lock_guard<std::mutex> l(killed_mu);
            killed[k * 100 + 50] = p;
          }
          ASSERT_EQ(kill(p, SIGKILL), 0);
          ++n;
        }
      }
      std::this_thread::sleep_for(1ms);
    }
  });
  for (int i = 0; i < 2000; ++i) results.push_back(pool.apply_async(Task, i, board));
  int lost = 0;
  for (int i = 0; i < 2000; ++i) {
    try {
      ASSERT_EQ(results[i].get(kWait), 2 * i) << i;
      ASSERT_NE(i % 100, 50) << "victim " << i << " was not killed";
    } catch (const shoal::WorkerLost& e) {
      ASSERT_EQ(i % 100, 50) << "task " << i << " lost: " << e.what();
      EXPECT_EQ(e.signal(), SIGKILL);
      std::lock_guard<std::mutex> l(killed_mu);
      EXPECT_EQ(e.pid(), killed[i]);
      EXPECT_THAT(e.what(), HasSubstr("SIGKILL"));
      ++lost;
    }
  }
  stop = true;
  killer.join();
  EXPECT_EQ(lost, Board::kVictims);
  for (int k = 0; k < Board::kVictims; ++k) EXPECT_EQ(board->done[k].load(), 0);
  for (int i = 0; i < 3000 && pool.worker_pids().size() != 2; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(pool.worker_pids().size(), 2u);
  EXPECT_EQ(pool.apply(Square, 5), 25);
}

void FailingInit(int code) {
  throw std::runtime_error("initializer says no " + std::to_string(code));
}

TEST(PoolTest, FailingInitializerBreaksThePoolFast) {
  const auto start = std::chrono::steady_clock::now();
  shoal::Pool pool(2, FailingInit, 7);
  try {
    pool.apply(Square, 2);
    ADD_FAILURE() << "apply on a broken pool returned";
  } catch (const shoal::BrokenPool& e) {
    EXPECT_THAT(e.what(), HasSubstr("initializer says no 7"));
    try {
      std::rethrow_if_nested(e);
      ADD_FAILURE() << "no nested exception";
    } catch (const std::runtime_error& inner) {
      EXPECT_STREQ(inner.what(), "initializer says no 7");
    }
  }
  EXPECT_TRUE(pool.broken());
  EXPECT_THROW(pool.apply(Square, 2), shoal::BrokenPool);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 20s);
  for (int i = 0; i < 3000 && !pool.worker_pids().empty(); ++i) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(pool.worker_pids().empty());  // no respawn loop
}

int g_init_value = 0;
void SetInit(int v) { g_init_value = v; }
int GetInit() { return g_init_value; }

TEST(PoolTest, InitializerRunsInEveryWorker) {
  shoal::Pool pool(2, SetInit, 17);
  EXPECT_EQ(pool.apply(GetInit), 17);
  EXPECT_EQ(g_init_value, 0);  // not in the parent
}

TEST(PoolTest, TaskTimeoutKillsAndReplacesTheWorker) {
  shoal::Pool pool(shoal::PoolOptions{.processes = 2});
  auto slow = pool.apply_async(shoal::Async{.timeout = 200ms}, SleepMs, 20000);
  const auto start = std::chrono::steady_clock::now();
  try {
    slow.get(kWait);
    ADD_FAILURE();
  } catch (const shoal::TimeoutError& e) {
    EXPECT_THAT(e.what(), HasSubstr("timeout"));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  EXPECT_EQ(pool.apply(Square, 6), 36);
  // A pool-wide default.
  // 5 s: far below the task's 20 s, and far above what a loaded machine
  // may keep the worker of the quick task off the CPU.
  shoal::Pool p2(shoal::PoolOptions{.processes = 1, .task_timeout = 5s});
  EXPECT_THROW(p2.apply(SleepMs, 20000), shoal::TimeoutError);
  EXPECT_EQ(p2.apply(SleepMs, 1), 1);
}

TEST(PoolTest, MaxMemoryPerChild) {
  shoal::Pool pool(shoal::PoolOptions{.processes = 1,
                                      .max_memory_per_child = 1});
  std::set<pid_t> pids;
  for (int i = 0; i < 5; ++i) pids.insert(pool.apply(MyPid));
  EXPECT_EQ(pids.size(), 5u);  // every worker is over 1 byte: replaced
}

TEST(PoolTest, CloseJoinTerminate) {
  shoal::Pool pool(2);
  EXPECT_THROW(pool.join(), shoal::ValueError);
  std::vector<shoal::AsyncResult<int>> rs;
  for (int i = 0; i < 20; ++i) rs.push_back(pool.apply_async(SleepMs, 5));
  pool.close();
  EXPECT_THROW(pool.apply(Square, 1), shoal::ValueError);
  pool.join();
  for (auto& r : rs) EXPECT_EQ(r.get(kWait), 5);  // close lets work finish
  EXPECT_TRUE(pool.worker_pids().empty());

  shoal::Pool p2(1);
  auto running = p2.apply_async(SleepMs, 20000);
  auto queued = p2.apply_async(SleepMs, 1);
  std::this_thread::sleep_for(100ms);
  p2.terminate();
  p2.join();
  EXPECT_THROW(running.get(kWait), shoal::CancelledError);
  EXPECT_THROW(queued.get(kWait), shoal::CancelledError);
}

TEST(PoolTest, DestructorTerminates) {
  shoal::AsyncResult<int> r;
  const auto start = std::chrono::steady_clock::now();
  {
    shoal::Pool pool(1);
    r = pool.apply_async(SleepMs, 20000);
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  EXPECT_THROW(r.get(kWait), shoal::CancelledError);
}

// Pools live side by side: destroying the older one while a younger one
// (whose fork server inherited the older one's socket) runs must not hang.
// In a child with an alarm, so a regression fails instead of hanging.
TEST(PoolTest, DestroyingAPoolWhileAnotherRuns) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    alarm(30);
    auto a = std::make_unique<shoal::Pool>(2);
    auto b = std::make_unique<shoal::Pool>(2);
    int ok = a->apply(Square, 3) == 9 && b->apply(Square, 4) == 16;
    a.reset();
    ok = ok && b->apply(Square, 5) == 25;
    b.reset();
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << "signal " << WTERMSIG(status)
                                 << " (14: SIGALRM, it hung)";
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(PoolTest, ManyOutstandingResultsDoNotDeadlock) {
  // More AsyncResults held than task slots: submitting moves finished
  // results out of shared memory instead of blocking forever.
  shoal::Pool pool(shoal::PoolOptions{.processes = 2, .max_pending = 16});
  std::vector<shoal::AsyncResult<int>> rs;
  for (int i = 0; i < 500; ++i) rs.push_back(pool.apply_async(Square, i));
  for (int i = 0; i < 500; ++i) ASSERT_EQ(rs[i].get(kWait), i * i);
  // Dropped results are collected in the background.
  for (int i = 0; i < 200; ++i) pool.apply_async(Square, i);
  EXPECT_EQ(pool.apply(Square, 3), 9);
}

TEST(PoolTest, TasksCanUseQueuesAndCannotStartProcesses) {
  shoal::Pool pool(2);
  shoal::Queue<int> q(16);
  pool.apply([](shoal::Queue<int> q, int v) { q.put(v); }, q, 5);
  EXPECT_EQ(q.get(kWait), 5);
  EXPECT_THROW(pool.apply([] {
                 shoal::Process p(Nothing);
                 p.start();
               }),
               shoal::ValueError);
}

TEST(PoolTest, WorkersDieWithTheirParent) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t parent = fork();
  if (parent == 0) {
    alarm(60);
    close(fds[0]);
    shoal::Pool pool(2);
    pool.apply(Square, 1);
    std::vector<pid_t> pids;
    for (int i = 0; i < 3000 && (pids = pool.worker_pids()).size() != 2; ++i) {
      std::this_thread::sleep_for(10ms);
    }
    for (pid_t p : pids) (void)!write(fds[1], &p, sizeof(p));
    close(fds[1]);
    for (;;) pool.apply(SleepMs, 10);
  }
  close(fds[1]);
  // Read exactly two (the workers hold the write end too: no EOF).
  std::vector<pid_t> workers;
  pid_t p;
  while (workers.size() < 2 && read(fds[0], &p, sizeof(p)) == sizeof(p)) {
    workers.push_back(p);
  }
  close(fds[0]);
  ASSERT_EQ(workers.size(), 2u);
  kill(parent, SIGKILL);
  int status;
  ASSERT_EQ(waitpid(parent, &status, 0), parent);
  for (pid_t w : workers) {
    bool gone = false;
    for (int i = 0; i < 3000 && !gone; ++i) {
      gone = shoal::internal::IsProcessGone(w);
      if (!gone) std::this_thread::sleep_for(10ms);
    }
    EXPECT_TRUE(gone) << "worker " << w << " outlived its parent";
  }
}

TEST(PoolTest, CallbackMaySubmitMoreWork) {
  shoal::Pool pool(shoal::PoolOptions{.processes = 2, .max_pending = 4});
  std::atomic<int> done{0};
  std::vector<shoal::AsyncResult<int>> inner;
  std::mutex mu;
  std::vector<shoal::AsyncResult<int>> outer;
  for (int i = 0; i < 20; ++i) {
    outer.push_back(pool.apply_async(
        shoal::Async{.callback =
                         [&](int v) {
                           auto r = pool.apply_async(
                               shoal::Async{.callback = [&](int) { ++done; }},
                               Square, v);
                           std::lock_guard<std::mutex> l(mu);
                           inner.push_back(r);
                         }},
        Square, i));
  }
  for (auto& r : outer) r.get(kWait);
  for (int i = 0; i < 3000 && done.load() < 20; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(done.load(), 20);
}


// --- Python parity ---------------------------------------------------------

// Python: it = pool.imap(f, xs); pool.close(); list(it) gives every result.
TEST(PoolTest, ImapThenCloseThenIterateDeliversEveryResultAsPython) {
  std::vector<int> in(200);
  std::iota(in.begin(), in.end(), 0);
  for (bool ordered : {true, false}) {
    shoal::Pool pool(2);
    auto it = ordered ? pool.imap(Square, in) : pool.imap_unordered(Square, in);
    pool.close();
    EXPECT_THROW(pool.imap(Square, in), shoal::ValueError);  // new calls: no
    std::vector<int> got;
    while (auto v = it.next(kWait)) got.push_back(*v);
    if (!ordered) std::sort(got.begin(), got.end());
    ASSERT_EQ(got.size(), in.size()) << ordered;
    for (int i = 0; i < 200; ++i) ASSERT_EQ(got[i], i * i);
    pool.join();
    EXPECT_TRUE(pool.worker_pids().empty());
  }
}

// Python: close(); join() waits until the whole input of an imap made
// before was run; iterating afterwards gives every result.
TEST(PoolTest, CloseThenJoinRunsTheWholeInputOfAnImapAsPython) {
  shoal::Pool pool(2);
  int next = 0;
  auto it = pool.imap(
      Square,
      [&]() -> std::optional<int> {
        if (next == 300) return std::nullopt;
        return next++;
      },
      3);
  EXPECT_LT(next, 300);  // lazy so far
  pool.close();
  pool.join();
  EXPECT_EQ(next, 300);
  EXPECT_TRUE(pool.worker_pids().empty());
  int n = 0;
  while (auto v = it.next(kWait)) {
    ASSERT_EQ(*v, n * n);
    ++n;
  }
  EXPECT_EQ(n, 300);
}

struct SayWhenError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// CPython's test_imap_handle_iterable_exception: the results before the
// failing position, then the iterable's exception there.
TEST(PoolTest, ImapHandlesAnIterableExceptionAsPython) {
  shoal::Pool pool(2);
  auto throwing = [](int total, int when) {
    return [total, when, i = 0]() mutable -> std::optional<int> {
      if (i == when) throw SayWhenError("somebody said when");
      if (i == total) return std::nullopt;
      return i++;
    };
  };
  {
    auto it = pool.imap(Square, throwing(10, 3), 1);  // does not throw
    for (int i = 0; i < 3; ++i) ASSERT_EQ(*it.next(kWait), i * i);
    EXPECT_THROW(it.next(kWait), SayWhenError);
    EXPECT_FALSE(it.next(kWait).has_value());
  }
  {
    // "SayWhenError seen at start of problematic chunk's results"
    auto it = pool.imap(Square, throwing(20, 7), 2);
    for (int i = 0; i < 6; ++i) ASSERT_EQ(*it.next(kWait), i * i);
    EXPECT_THROW(it.next(kWait), SayWhenError);
  }
  {
    auto it = pool.imap(Square, throwing(4, 3), 1);
    for (int i = 0; i < 3; ++i) ASSERT_EQ(*it.next(kWait), i * i);
    EXPECT_THROW(it.next(kWait), SayWhenError);
  }
  for (int chunksize : {1, 2}) {
    auto it = pool.imap_unordered(Square, throwing(10, 3), chunksize);
    std::multiset<int> got;
    bool raised = false;
    for (int i = 0; i < 10 && !raised; ++i) {
      try {
        auto v = it.next(kWait);
        ASSERT_TRUE(v.has_value());
        got.insert(*v);
      } catch (const SayWhenError&) {
        raised = true;
      }
    }
    EXPECT_TRUE(raised);
    // Every result before the failing position was delivered first (only
    // whole chunks: with chunksize 2, item 2 shared a chunk with item 3).
    const std::multiset<int> want =
        chunksize == 1 ? std::multiset<int>{0, 1, 4} : std::multiset<int>{0, 1};
    EXPECT_EQ(got, want);
  }
}

std::vector<int> Range(int n) {
  std::vector<int> v(n);
  std::iota(v.begin(), v.end(), 0);
  return v;
}

// Python: `v = pool.apply_async(f, x).get()` is a value; in C++ binding the
// temporary's result to a reference must not dangle.
TEST(PoolTest, GetOnATemporaryAsyncResultIsAValue) {
  shoal::Pool pool(1);
  const auto& v = pool.apply_async(Range, 1000).get();
  ASSERT_EQ(v.size(), 1000u);
  EXPECT_EQ(v[999], 999);
  const std::vector<int>& w = pool.apply_async(Range, 5).get(kWait);
  EXPECT_EQ(w, (std::vector<int>{0, 1, 2, 3, 4}));
  // On an AsyncResult you keep: a reference into it, stable.
  auto r = pool.apply_async(Range, 3);
  const std::vector<int>& a = r.get();
  const std::vector<int>& b = r.get();
  EXPECT_EQ(&a, &b);
  // A temporary copy of a shared result copies (the other copy keeps it).
  std::vector<int> c = shoal::AsyncResult<std::vector<int>>(r).get();
  EXPECT_EQ(c, r.get());
  EXPECT_EQ(pool.apply(Range, 2), (std::vector<int>{0, 1}));
}

// Python: Pool(0) raises ValueError; the cpu count only when not given.
TEST(PoolTest, ZeroProcessesRaisesValueErrorAsPython) {
  EXPECT_THROW(shoal::Pool(0), shoal::ValueError);
  EXPECT_THROW(shoal::Pool(shoal::PoolOptions{.processes = 0}),
               shoal::ValueError);
  shoal::Pool dflt;
  EXPECT_EQ(dflt.processes(),
            static_cast<std::size_t>(shoal::process_cpu_count()));
}

// Python's Pool starts its workers in the constructor: pool._pool lists
// them at once.
TEST(PoolTest, WorkerPidsListsEveryWorkerRightAfterConstruction) {
  shoal::Pool pool(3);
  const std::vector<pid_t> pids = pool.worker_pids();
  ASSERT_EQ(pids.size(), 3u);
  EXPECT_EQ(std::set<pid_t>(pids.begin(), pids.end()).size(), 3u);
  for (pid_t p : pids) {
    EXPECT_NE(p, getpid());
    EXPECT_EQ(kill(p, 0), 0) << p;
  }
}

// Python: Pool(...) with an impossible argument raises ValueError at once;
// a limit of the pool's shared region is the caller's mistake, not a bad
// region (InvalidRegion), and never silently wraps (2^32 slots -> 0, the
// default).
TEST(PoolTest, OversizedMaxPendingIsValueError_LikePythonBadArgument) {
  EXPECT_THROW(shoal::Pool(shoal::PoolOptions{
                   .processes = 1,
                   .max_pending = shoal::PoolOptions::kMaxPending + 1}),
               shoal::ValueError);
  EXPECT_THROW(shoal::Pool(shoal::PoolOptions{
                   .processes = 1, .max_pending = std::size_t{1} << 32}),
               shoal::ValueError);
  EXPECT_THROW(shoal::Pool(shoal::PoolOptions{
                   .processes = 1, .inline_bytes = std::size_t{1} << 40}),
               shoal::ValueError);
  // A valid value works.
  shoal::Pool ok(shoal::PoolOptions{.processes = 1, .max_pending = 4096});
  EXPECT_EQ(ok.apply(Square, 3), 9);
}

}  // namespace
