// Tests for pool/internal/pool_view.h and the worker's validation.
#include "shoal/pool/internal/pool_view.h"

#include <cstring>
#include <random>

#include "gtest/gtest.h"
#include "shoal/base/errors.h"
#include "shoal/pool/internal/pool_shared.h"
#include "tests/support/fork_helpers.h"

namespace {

using shoal::internal::PoolGeometry;
using shoal::internal::PoolView;
using shoal::testing::SharedMapping;

TEST(PoolViewTest, CreateAttachAndRangeChecks) {
  PoolGeometry g;
  g.workers = 3;
  g.slots = 70;
  g.heap_bytes = 1 << 20;
  const std::size_t n = PoolView::BytesFor(g);
  SharedMapping mapping(n);
  std::byte* mem = mapping.bytes();
  (void)PoolView::Create(mem, n, g);
  PoolView a = PoolView::Attach(mem, n);
  EXPECT_EQ(a.workers(), 3u);
  EXPECT_EQ(a.slots(), 70u);
  EXPECT_THROW(a.slot(70), shoal::InvalidRegion);
  EXPECT_THROW(a.status(3), shoal::InvalidRegion);
  // A corrupt size in a slot is caught, never followed.
  a.slot(5).in_where = shoal::internal::kWhereInline;
  a.slot(5).in_size = 1 << 30;
  EXPECT_THROW(a.Input(5), shoal::InvalidRegion);
  a.slot(6).out_where = shoal::internal::kWhereHeap;
  a.slot(6).out_block.Record(uint64_t{1} << 40, 16);
  a.slot(6).out_size = 16;
  EXPECT_THROW(a.Output(6), shoal::InvalidRegion);
  // Smaller than the layout: refused.
  EXPECT_THROW(PoolView::Attach(mem, n / 2), shoal::InvalidRegion);
  // The notify bitmap reaches every slot.
  std::vector<uint32_t> seen;
  a.Notify(0);
  a.Notify(69);
  a.DrainNotify([&](uint32_t s) { seen.push_back(s); });
  EXPECT_EQ(seen, (std::vector<uint32_t>{0, 69}));
}

TEST(PoolViewTest, GarbageNeverAttaches) {
  PoolGeometry g;
  g.heap_bytes = 1 << 20;
  const std::size_t n = PoolView::BytesFor(g);
  SharedMapping mapping(n);
  std::byte* mem = mapping.bytes();
  std::mt19937_64 rng(7);
  for (int round = 0; round < 50; ++round) {
    for (std::size_t i = 0; i < 4096; i += 8) {
      const uint64_t r = rng();
      std::memcpy(mem + i, &r, 8);
    }
    EXPECT_THROW(PoolView::Attach(mem, n), shoal::InvalidRegion);
  }
  // A valid header with one offset changed.
  PoolView::Create(mem, n, g);
  reinterpret_cast<shoal::internal::PoolShared*>(mem)->heap_offset += 64;
  EXPECT_THROW(PoolView::Attach(mem, n), shoal::InvalidRegion);
}

}  // namespace
