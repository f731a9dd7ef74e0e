#include "shoal/ipc/value.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mutex>
#include <vector>

#include "gtest/gtest.h"
#include "shoal/base/errors.h"
#include "tests/ipc/fork_helper.h"

namespace shoal {
namespace {

using testing::StartChild;
using testing::WaitChild;

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
