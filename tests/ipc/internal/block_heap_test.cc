#include "shoal/ipc/internal/block_heap.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "shoal/base/errors.h"
#include "tests/support/fork_helpers.h"

namespace shoal::internal {
namespace {

using namespace std::chrono_literals;

using testing::SharedMapping;

TEST(BlockHeap, AllocatesDisjointRunsAndFrees) {
  SharedMapping mem(BlockHeap::BytesFor(64 * 1024));
  BlockHeap heap = BlockHeap::Create(mem.ptr(), mem.size(), 64 * 1024);
  EXPECT_EQ(heap.capacity(), 64u * 1024);
  auto a = heap.Allocate(1000, Deadline::Now());
  auto b = heap.Allocate(1, Deadline::Now());
  auto c = heap.Allocate(0, Deadline::Now());
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(*a, 0u);
  EXPECT_EQ(*b, 1024u);  // 1000 bytes = 4 blocks of 256
  EXPECT_EQ(*c, 1280u);
  EXPECT_EQ(heap.used(), 6u * 256);
  heap.Free(*a, 1000);
  heap.Free(*b, 1);
  heap.Free(*c, 0);
  EXPECT_EQ(heap.used(), 0u);
}

TEST(BlockHeap, FullHeapWaitsThenTimesOutOrSucceeds) {
  SharedMapping mem(BlockHeap::BytesFor(4096));
  BlockHeap heap = BlockHeap::Create(mem.ptr(), mem.size(), 4096);
  auto all = heap.Allocate(4096, Deadline::Now());
  ASSERT_TRUE(all);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(heap.Allocate(256, 100ms));
  auto dt = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(dt, 100ms);
  EXPECT_LT(dt, 100ms + testing::kSchedulingSlack);
  std::thread t([&] {
    std::this_thread::sleep_for(50ms);
    heap.Free(*all, 4096);
  });
  EXPECT_TRUE(heap.Allocate(2048, 30s));
  t.join();
  EXPECT_THROW(heap.Allocate(4097, 1s), ValueError);
}

TEST(BlockHeap, RandomAllocFreeKeepsAccounting) {
  SharedMapping mem(BlockHeap::BytesFor(1 << 20));
  BlockHeap heap = BlockHeap::Create(mem.ptr(), mem.size(), 1 << 20);
  std::mt19937 rng(1);
  std::vector<std::pair<uint64_t, uint64_t>> live;
  std::vector<int> owner(heap.capacity() / 256, -1);
  for (int i = 0; i < 20000; ++i) {
    if (!live.empty() && (rng() % 2 == 0 || live.size() > 50)) {
      size_t k = rng() % live.size();
      auto [off, len] = live[k];
      for (uint64_t blk = off / 256; blk < (off + std::max<uint64_t>(len, 1) + 255) / 256; ++blk) owner[blk] = -1;
      heap.Free(off, len);
      live.erase(live.begin() + k);
    } else {
      uint64_t len = rng() % 40000;
      auto off = heap.Allocate(len, Deadline::Now());
      if (!off) continue;
      for (uint64_t blk = *off / 256; blk < (*off + std::max<uint64_t>(len, 1) + 255) / 256; ++blk) {
        ASSERT_EQ(owner[blk], -1) << "overlapping allocation";
        owner[blk] = i;
      }
      live.push_back({*off, len});
    }
  }
  for (auto [off, len] : live) heap.Free(off, len);
  EXPECT_EQ(heap.used(), 0u);
}

TEST(BlockHeap, HolderKilledInsideLockDoesNotHangOthers) {
  SharedMapping mem(BlockHeap::BytesFor(4096));
  BlockHeap heap = BlockHeap::Create(mem.ptr(), mem.size(), 4096);
  pid_t child = fork();
  if (child == 0) {
    static_cast<BlockHeapShared*>(mem.ptr())->lock.acquire();
    raise(SIGKILL);
    _exit(1);
  }
  waitpid(child, nullptr, 0);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(heap.Allocate(100, 5s));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, testing::kSchedulingSlack);
}

TEST(BlockHeap, CorruptInputsAreErrors) {
  SharedMapping mem(BlockHeap::BytesFor(4096));
  BlockHeap heap = BlockHeap::Create(mem.ptr(), mem.size(), 4096);
  EXPECT_THROW(heap.At(4000, 200), InvalidRegion);
  EXPECT_THROW(heap.At(~uint64_t{0}, 2), InvalidRegion);
  EXPECT_THROW(heap.Free(100, 10), InvalidRegion);
  EXPECT_THROW(heap.Free(4096, 10), InvalidRegion);
  static_cast<BlockHeapShared*>(mem.ptr())->blocks = 1 << 30;
  EXPECT_THROW(BlockHeap::Attach(mem.ptr(), mem.size()), InvalidRegion);
}

}  // namespace
}  // namespace shoal::internal
