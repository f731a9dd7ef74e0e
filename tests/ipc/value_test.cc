#include "shoal/ipc/value.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <mutex>
#include <optional>
#include <vector>

#include "gtest/gtest.h"
#include "shoal/base/errors.h"
#include "tests/ipc/fork_helper.h"
#include "tests/sync/huge_timeouts.h"

namespace shoal {
namespace {

using namespace std::chrono_literals;
using testing::StartChild;
using testing::WaitChild;

double MsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now() - t)
      .count();
}

// A child that takes `lock`, says so through `held`, then stops itself
// (SIGSTOP): a holder that will never release. The caller kills it.
template <class L>
pid_t StopWhileHolding(L& lock, std::atomic<int>* held) {
  pid_t pid = StartChild([&lock, held] {
    lock.acquire();
    held->store(1);
    raise(SIGSTOP);
    return 0;
  });
  const auto start = std::chrono::steady_clock::now();
  while (held->load() == 0 && MsSince(start) < 10000) usleep(1000);
  EXPECT_EQ(held->load(), 1);
  return pid;
}

std::atomic<int>* SharedFlag() {
  void* p = mmap(nullptr, sizeof(std::atomic<int>), PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  return new (p) std::atomic<int>(0);
}

// Python: `v.get_lock().acquire(timeout=0.1)` gives up on a holder that never
// lets go; shoal's load/store/add/update take the same bound.
TEST(Value, TimedCallsGiveUpOnAStuckHolder_LikePythonAcquireTimeout) {
  Value<int> v(10);
  std::atomic<int>* held = SharedFlag();
  pid_t holder = StopWhileHolding(v.get_lock(), held);
  auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(v.load(100ms), TimeoutError);
  EXPECT_FALSE(v.try_load(100ms).has_value());
  EXPECT_FALSE(v.try_load().has_value());
  EXPECT_THROW(v.store(1, 100ms), TimeoutError);
  EXPECT_FALSE(v.try_store(1, 100ms));
  EXPECT_THROW(v.add(1, 100ms), TimeoutError);
  EXPECT_THROW(v.update([](int x) { return x * 2; }, 100ms), TimeoutError);
  const double ms = MsSince(start);
  EXPECT_GE(ms, 500.0);
  EXPECT_LE(ms, 5000.0);  // seven bounded waits of 100 ms, not forever
  // The stopped holder is killed: the lock is repaired, nothing was written.
  kill(holder, SIGKILL);
  EXPECT_EQ(WaitChild(holder), -SIGKILL);
  EXPECT_EQ(v.load(1s), 10);
  EXPECT_EQ(v.try_load(), std::optional<int>(10));
  EXPECT_TRUE(v.try_store(11));
  v.store(12, 1s);
  EXPECT_EQ(v.add(1, 1s), 13);
  EXPECT_EQ(v.update([](int x) { return x * 2; }, 1s), 26);
}

// A lock-less Value has nothing to wait for.
TEST(Value, TimedCallsOnALockFreeValueNeverWait) {
  Value<int> v(3, /*lock=*/false);
  EXPECT_EQ(v.load(0s), 3);
  EXPECT_EQ(v.try_load(), std::optional<int>(3));
  EXPECT_TRUE(v.try_store(4, 0s));
  EXPECT_EQ(v.load(), 4);
}

// Python: a huge timeout waits for the holder (another process).
TEST(Value, HugeTimeoutWaitsForTheHolder_LikePythonAcquireTimeout) {
  Value<int> v(1);
  auto holder = [&v] {
    return testing::StartPeer([&v] { v.get_lock().acquire(); },
                              [&v] { v.get_lock().release(); });
  };
  testing::ForEachHugeDuration([&](const char* what, auto timeout) {
    testing::ExpectWaitsForPeer(what, holder(),
                                [&] { return v.load(timeout) == 1; });
  });
}

// The lock flag lives in shared memory: a byte other than 0/1 there (a
// peer's stray write) is a corrupt region, never undefined behaviour (the
// ubsan build checks every bool load).
TEST(Value, CorruptLockFlagIsInvalidRegion) {
  for (bool lock : {true, false}) {
    Value<int> v(5, lock);
    auto* flag = reinterpret_cast<unsigned char*>(v.get()) -
                 offsetof(internal::ValueData<int>, value) +
                 offsetof(internal::ValueData<int>, has_lock);
    *flag = 0x5a;
    EXPECT_THROW(v.load(), InvalidRegion);
    EXPECT_THROW(v.store(1), InvalidRegion);
    EXPECT_THROW(v.has_lock(), InvalidRegion);
    EXPECT_THROW(v.get_lock(), InvalidRegion);
    EXPECT_THROW(v.try_load(), InvalidRegion);
    *flag = lock ? 1 : 0;
    EXPECT_EQ(v.load(), 5);
  }
}

// ctypes.c_bool (Value('?')) reads any non-zero byte as True; so does
// Value<bool>, without undefined behaviour.
TEST(Value, BoolWithAByteOtherThanZeroOrOneReadsTrue_LikeCtypesBool) {
  Value<bool> locked(false);
  Value<bool> unlocked(false, /*lock=*/false);
  RawValue<bool> raw(false);
  for (bool* b : {locked.get(), unlocked.get(), raw.get()}) {
    std::memset(b, 0x02, 1);
  }
  EXPECT_TRUE(locked.load());
  EXPECT_TRUE(locked.value());
  EXPECT_EQ(locked.try_load(), std::optional<bool>(true));
  EXPECT_TRUE(unlocked.load());
  EXPECT_TRUE(raw.load());
  EXPECT_TRUE(locked.update([](bool x) { return !x; }) == false);
}

TEST(Value, FourProcessesIncrementUnderGetLockExactTotal) {
  Value<long> v(0);
  std::vector<pid_t> kids;
  for (int p = 0; p < 4; ++p) {
    kids.push_back(StartChild(
        [&] {
          for (int i = 0; i < 100000; ++i) {
            std::lock_guard<RLock> guard(v.get_lock());
            *v.get() += 1;
          }
          return 0;
        },
        60));
  }
  for (pid_t k : kids) EXPECT_EQ(WaitChild(k, 70), 0);
  EXPECT_EQ(v.load(), 400000);
}

// Python's Value lock is recursive: load()/store() work under get_lock().
TEST(Value, LoadAndStoreWhileHoldingGetLock) {
  Value<long> counter(0);
  alarm(10);  // a non-recursive lock would hang here
  {
    std::lock_guard<RLock> guard(counter.get_lock());
    counter.store(counter.load() + 1);
  }
  alarm(0);
  EXPECT_EQ(counter.load(), 1);
}

TEST(Value, AddAndUpdate) {
  Value<double> v(1.5);
  EXPECT_EQ(v.add(2.0), 3.5);
  EXPECT_EQ(v.update([](double x) { return x * 2; }), 7.0);
  v.store(-1);
  EXPECT_EQ(v.value(), -1.0);
}

TEST(Value, LockFreeValueHasNoLock) {
  Value<int> v(3, /*lock=*/false);
  EXPECT_FALSE(v.has_lock());
  EXPECT_THROW(v.get_lock(), ValueError);
  v.store(4);
  EXPECT_EQ(v.load(), 4);
}

TEST(RawValue, FetchAddAcrossProcesses) {
  RawValue<int64_t> v(0);
  std::vector<pid_t> kids;
  for (int p = 0; p < 4; ++p) {
    kids.push_back(StartChild([&] {
      for (int i = 0; i < 50000; ++i) v.fetch_add(1);
      return 0;
    }));
  }
  for (pid_t k : kids) EXPECT_EQ(WaitChild(k), 0);
  EXPECT_EQ(v.load(), 200000);
}

TEST(Value, HolderKilledInsideLockIsRepairedByAdd) {
  Value<int> v(10);
  pid_t child = fork();
  if (child == 0) {
    v.get_lock().acquire();
    raise(SIGKILL);
  }
  waitpid(child, nullptr, 0);
  EXPECT_EQ(v.add(1), 11);  // no hang, no exception
  EXPECT_EQ(v.load(), 11);
}

TEST(Value, TravelsThroughTheCodecAndOpensElsewhere) {
  Value<int> v(1);
  std::string bytes = Encode(v);
  EXPECT_EQ(testing::RunInChild([&] {
              Value<int> other = Decode<Value<int>>(bytes);
              other.add(41);
              return 0;
            }),
            0);
  EXPECT_EQ(v.load(), 42);
}

TEST(Value, OpenByName) {
  RegionOptions o;
  o.kind = RegionKind::kNamed;
  o.name = "test.value.byname." + std::to_string(getpid());
  Value<long> v(40, true, o);
  EXPECT_EQ(testing::RunInChild([&] {
              Value<long>::Open(o.name).add(2);
              return 0;
            }),
            0);
  EXPECT_EQ(v.load(), 42);
  EXPECT_THROW(Value<int>::Open(o.name), InvalidRegion);
  // A lock-less Value is the same region as a RawValue.
  EXPECT_EQ(RawValue<long>::Open(o.name).load(), 42);
}

struct Point {
  double x, y;
};

TEST(Value, TriviallyCopyableStruct) {
  Value<Point> p(Point{1, 2});
  p.update([](Point q) { return Point{q.x + 1, q.y + 1}; });
  EXPECT_EQ(p.load().x, 2);
  EXPECT_EQ(p.load().y, 3);
}

}  // namespace
}  // namespace shoal
