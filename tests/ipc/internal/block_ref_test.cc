// Tests for ipc/internal/block_ref.h: payload references and their bounds.
#include "shoal/ipc/internal/block_ref.h"

#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "shoal/base/errors.h"

namespace shoal::internal {
namespace {

TEST(BlockRef, KindsAndFields) {
  EXPECT_TRUE(BlockRef().is_none());
  EXPECT_EQ(BlockRef(), BlockRef::None());
  const BlockRef in = BlockRef::Inline(12);
  EXPECT_TRUE(in.is_inline());
  EXPECT_EQ(in.length(), 12u);
  const BlockRef heap = BlockRef::Heap(4096, 300);
  EXPECT_TRUE(heap.is_heap());
  EXPECT_EQ(heap.offset(), 4096u);
  EXPECT_EQ(heap.length(), 300u);
  EXPECT_NE(heap, BlockRef::Heap(4096, 301));
}

TEST(BlockRef, FitsInIsOverflowSafe) {
  EXPECT_TRUE(BlockRef::Inline(64).FitsIn(64));
  EXPECT_FALSE(BlockRef::Inline(65).FitsIn(64));
  EXPECT_TRUE(BlockRef::Heap(0, 0).FitsIn(0));
  EXPECT_TRUE(BlockRef::Heap(960, 64).FitsIn(1024));
  EXPECT_FALSE(BlockRef::Heap(961, 64).FitsIn(1024));
  EXPECT_FALSE(BlockRef::Heap(2048, 0).FitsIn(1024));
  const uint64_t huge = std::numeric_limits<uint64_t>::max();
  EXPECT_FALSE(BlockRef::Heap(64, huge).FitsIn(1024));  // offset + len wraps
  EXPECT_FALSE(BlockRef::Heap(huge, 2).FitsIn(1024));
  EXPECT_FALSE(BlockRef::None().FitsIn(1024));
}

TEST(BlockRef, ResolvePointsIntoTheRightArea) {
  std::vector<std::byte> slot(64), heap(1024);
  auto in = BlockRef::Inline(10).Resolve(slot, heap, "test slot");
  EXPECT_EQ(in.data(), slot.data());
  EXPECT_EQ(in.size(), 10u);
  auto h = BlockRef::Heap(256, 100).Resolve(slot, heap, "test slot");
  EXPECT_EQ(h.data(), heap.data() + 256);
  EXPECT_EQ(h.size(), 100u);
}

TEST(BlockRef, ResolveRefusesWhatIsNotInItsRegion) {
  std::vector<std::byte> slot(64), heap(1024);
  EXPECT_THROW(BlockRef::Inline(65).Resolve(slot, heap, "s"), InvalidRegion);
  EXPECT_THROW(BlockRef::Heap(1000, 100).Resolve(slot, heap, "s"),
               InvalidRegion);
  EXPECT_THROW(BlockRef::Heap(0, 1).Resolve(slot, {}, "s"), InvalidRegion);
  EXPECT_THROW(BlockRef::None().Resolve(slot, heap, "s"), InvalidRegion);
  try {
    BlockRef::Heap(1000, 100).Resolve(slot, heap, [] {
      return std::string("queue 'q' slot");
    });
    FAIL() << "no exception";
  } catch (const InvalidRegion& e) {
    EXPECT_EQ(std::string(e.what()),
              "queue 'q' slot names a heap block of 100 bytes at offset 1000 "
              "outside the heap of 1024 bytes: shared memory corrupt");
  }
}

TEST(BlockRef, TheContextIsOnlyBuiltOnError) {
  std::vector<std::byte> slot(64);
  int calls = 0;
  BlockRef::Inline(8).Resolve(slot, {}, [&] {
    ++calls;
    return std::string("x");
  });
  EXPECT_EQ(calls, 0);
}

TEST(SharedBlockRef, RecordLoadTakeOnce) {
  SharedBlockRef r;
  r.Clear();
  EXPECT_TRUE(r.Load().is_none());
  EXPECT_TRUE(r.Take().is_none());
  r.Record(0, 40);  // offset 0 is a block, not "none"
  EXPECT_EQ(r.Load(), BlockRef::Heap(0, 40));
  EXPECT_EQ(r.Take(), BlockRef::Heap(0, 40));
  EXPECT_TRUE(r.Take().is_none());  // handed out once
  EXPECT_TRUE(r.Load().is_none());
  r.Record(8192, 5000);
  EXPECT_EQ(r.Load(), BlockRef::Heap(8192, 5000));
}

TEST(SharedBlockRef, KeepsTheSlotEncoding) {
  // (offset + 1, length), 0 = none: the layout queue slots already use.
  struct Raw {
    uint64_t ref, len;
  };
  SharedBlockRef r;
  r.Record(4096, 77);
  Raw raw;
  static_assert(sizeof(raw) == sizeof(r));
  std::memcpy(&raw, &r, sizeof(raw));
  EXPECT_EQ(raw.ref, 4097u);
  EXPECT_EQ(raw.len, 77u);
}

}  // namespace
}  // namespace shoal::internal
