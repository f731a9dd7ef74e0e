#include "shoal/ipc/array.h"

#include <sys/wait.h>
#include <unistd.h>

#include <mutex>
#include <stdexcept>
#include <vector>

#include "gtest/gtest.h"
#include "shoal/base/errors.h"
#include "tests/ipc/fork_helper.h"

namespace shoal {
namespace {

using testing::StartChild;
using testing::WaitChild;

TEST(Array, ZeroedAndSized) {
  Array<int> a(10);
  EXPECT_EQ(a.size(), 10u);
  for (int x : a.span()) EXPECT_EQ(x, 0);
  Array<double> b{1.0, 2.0, 3.0};
  EXPECT_EQ(b.to_vector(), (std::vector<double>{1, 2, 3}));
}

TEST(Array, FourProcessesIncrementUnderGetLock) {
  Array<long> a(8);
  std::vector<pid_t> kids;
  for (int p = 0; p < 4; ++p) {
    kids.push_back(StartChild(
        [&] {
          for (int i = 0; i < 20000; ++i) {
            std::lock_guard<RLock> guard(a.get_lock());
            for (long& x : a.span()) x += 1;
          }
          return 0;
        },
        60));
  }
  for (pid_t k : kids) EXPECT_EQ(WaitChild(k, 70), 0);
  for (long x : a.span()) EXPECT_EQ(x, 80000);
}

TEST(Array, SliceAndAssign) {
  Array<int> a{0, 1, 2, 3, 4, 5};
  EXPECT_EQ(a.slice(2, 5), (std::vector<int>{2, 3, 4}));
  std::vector<int> in = {9, 9};
  a.assign(4, in);
  EXPECT_EQ(a.to_vector(), (std::vector<int>{0, 1, 2, 3, 9, 9}));
  EXPECT_THROW(a.slice(4, 7), std::out_of_range);
  EXPECT_THROW(a.slice(5, 4), std::out_of_range);
  EXPECT_THROW(a.assign(5, in), std::out_of_range);
  EXPECT_THROW(a.at(6), std::out_of_range);
}

TEST(Array, OpenByName) {
  RegionOptions o;
  o.kind = RegionKind::kNamed;
  o.name = "test.array.byname." + std::to_string(getpid());
  Array<double> a({1.0, 2.0, 3.0}, o);
  RawArray<int> r(2, RegionOptions{.kind = RegionKind::kNamed,
                                   .name = o.name + ".raw"});
  EXPECT_EQ(testing::RunInChild([&] {
              Array<double>::Open(o.name)[1] = 20.0;
              RawArray<int>::Open(o.name + ".raw")[0] = 7;
              return 0;
            }),
            0);
  EXPECT_EQ(a.to_vector(), (std::vector<double>{1.0, 20.0, 3.0}));
  EXPECT_EQ(r[0], 7);
  EXPECT_THROW(Array<float>::Open(o.name), InvalidRegion);
  EXPECT_THROW(RawArray<double>::Open(o.name), InvalidRegion);
}

TEST(RawArray, SharedWithForkedChildAndOpenedByRef) {
  RawArray<uint8_t> a(4);
  RegionRef ref = a.ref();
  EXPECT_EQ(testing::RunInChild([&] {
              a[0] = 1;
              RawArray<uint8_t> same = RawArray<uint8_t>::Open(ref);
              same[3] = 4;
              return 0;
            }),
            0);
  EXPECT_EQ(a.to_vector(), (std::vector<uint8_t>{1, 0, 0, 4}));
  // Opening as another element type is refused.
  EXPECT_THROW(RawArray<int>::Open(ref), InvalidRegion);
  EXPECT_THROW(Array<uint8_t>::Open(ref), InvalidRegion);
}

}  // namespace
}  // namespace shoal
