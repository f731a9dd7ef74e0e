#include "shoal/ipc/array.h"

#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <span>
#include <stdexcept>
#include <vector>

#include "gtest/gtest.h"
#include "shoal/base/errors.h"
#include "tests/ipc/fork_helper.h"

namespace shoal {
namespace {

using namespace std::chrono_literals;
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
  EXPECT_THROW(a.at(6), std::out_of_range);
}

// Python: a[4:7] on 6 elements is a[4:6]; a[5:4] is []; negative indices
// count from the end; only a single index out of range is an IndexError.
TEST(Array, SlicesClip_LikePythonSlices) {
  for (auto slice : {+[](const Array<int>& a, std::ptrdiff_t b,
                         std::ptrdiff_t e) { return a.slice(b, e); },
                     +[](const Array<int>& a, std::ptrdiff_t b,
                         std::ptrdiff_t e) { return a.slice(b, e, 1s); }}) {
    Array<int> a{0, 1, 2, 3, 4, 5};
    using V = std::vector<int>;
    EXPECT_EQ(slice(a, 4, 7), (V{4, 5}));         // a[4:7]
    EXPECT_EQ(slice(a, 5, 4), V{});               // a[5:4]
    EXPECT_EQ(slice(a, 7, 9), V{});               // a[7:9]
    EXPECT_EQ(slice(a, -2, 6), (V{4, 5}));        // a[-2:6]
    EXPECT_EQ(slice(a, -100, 2), (V{0, 1}));      // a[-100:2]
    EXPECT_EQ(slice(a, 2, -1), (V{2, 3, 4}));     // a[2:-1]
    EXPECT_EQ(slice(a, -3, -100), V{});           // a[-3:-100]
    EXPECT_EQ(slice(a, 0, PTRDIFF_MAX), (V{0, 1, 2, 3, 4, 5}));  // a[0:]
    EXPECT_EQ(slice(a, PTRDIFF_MIN, PTRDIFF_MAX), (V{0, 1, 2, 3, 4, 5}));
  }
  RawArray<int> r{0, 1, 2};
  EXPECT_EQ(r.slice(1, 10), (std::vector<int>{1, 2}));
  EXPECT_EQ(r.slice(-1, 3), (std::vector<int>{2}));
}

TEST(Array, NegativeIndexCountsFromTheEnd_LikePythonIndex) {
  Array<int> a{0, 1, 2, 3, 4, 5};
  EXPECT_EQ(a.at(-1), 5);
  EXPECT_EQ(a.at(-6), 0);
  EXPECT_THROW(a.at(-7), std::out_of_range);   // IndexError
  EXPECT_THROW(a.at(6), std::out_of_range);
  EXPECT_THROW(a.at(PTRDIFF_MIN), std::out_of_range);
}

// Python: a[i:i+len(v)] = v must keep the length ("Can only assign sequence
// of same size": ValueError); negative offsets count from the end.
TEST(Array, AssignPastTheEndIsValueError_LikePythonSliceAssignment) {
  Array<int> a{0, 1, 2, 3, 4, 5};
  std::vector<int> in = {9, 9};
  EXPECT_THROW(a.assign(5, in), ValueError);
  EXPECT_THROW(a.assign(6, in), ValueError);
  EXPECT_THROW(a.assign(-1, in), ValueError);
  EXPECT_EQ(a.to_vector(), (std::vector<int>{0, 1, 2, 3, 4, 5}));  // untouched
  a.assign(-2, in);
  EXPECT_EQ(a.to_vector(), (std::vector<int>{0, 1, 2, 3, 9, 9}));
  a.assign(6, std::span<const int>());  // a[6:6] = []
  a.assign(-100, std::vector<int>{7});  // a[0:1] = [7]
  EXPECT_EQ(a.at(0), 7);
}

// Python: `a.get_lock().acquire(timeout=0.1)`; shoal's slice/assign/to_vector
// take the same bound and give up on a holder that never lets go.
TEST(Array, TimedCallsGiveUpOnAStuckHolder_LikePythonAcquireTimeout) {
  Array<int> a{1, 2, 3};
  void* mem = mmap(nullptr, sizeof(std::atomic<int>), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  auto* held = new (mem) std::atomic<int>(0);
  pid_t holder = StartChild([&a, held] {
    a.get_lock().acquire();
    held->store(1);
    raise(SIGSTOP);
    return 0;
  });
  for (int i = 0; i < 10000 && held->load() == 0; ++i) usleep(1000);
  ASSERT_EQ(held->load(), 1);
  std::vector<int> in = {7};
  EXPECT_THROW(a.slice(0, 2, 100ms), TimeoutError);
  EXPECT_THROW(a.to_vector(100ms), TimeoutError);
  EXPECT_THROW(a.assign(0, in, 100ms), TimeoutError);
  kill(holder, SIGKILL);
  EXPECT_EQ(WaitChild(holder), -SIGKILL);
  EXPECT_EQ(a.to_vector(1s), (std::vector<int>{1, 2, 3}));
  a.assign(0, in, 1s);
  EXPECT_EQ(a.slice(0, 1, 1s), (std::vector<int>{7}));
}

// Array<bool>: copies out read any non-zero byte as true (ctypes.c_bool),
// without undefined behaviour.
TEST(Array, BoolElementsWithOtherBytesReadTrue_LikeCtypesBool) {
  Array<bool> a(3);
  std::memset(a.data() + 1, 0x7f, 1);
  EXPECT_EQ(a.to_vector(), (std::vector<bool>{false, true, false}));
  EXPECT_EQ(a.slice(1, 2), (std::vector<bool>{true}));
  RawArray<bool> r(2);
  std::memset(r.data(), 0x02, 2);
  EXPECT_EQ(r.to_vector(), (std::vector<bool>{true, true}));
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
