// Tests for ipc/internal/slot_word.h: positions and slot states as values.
#include "shoal/ipc/internal/slot_word.h"

#include <cstdint>

#include "gtest/gtest.h"

namespace shoal::internal {
namespace {

using P = SlotPhase;

TEST(RingPos, NextWrapsToTheNextLap) {
  RingPos p(7, 0);
  p = p.Next(3);
  EXPECT_EQ(p, RingPos(7, 1));
  p = p.Next(3);
  EXPECT_EQ(p, RingPos(7, 2));
  p = p.Next(3);
  EXPECT_EQ(p, RingPos(8, 0));
  // A ring of one slot: every step is a lap.
  EXPECT_EQ(RingPos(5, 0).Next(1), RingPos(6, 0));
  EXPECT_EQ(RingPos(5, 2).NextLap(), RingPos(6, 2));
}

TEST(RingPos, LapWrapsAroundAt32Bits) {
  const RingPos last(0xffffffffu, 3);
  EXPECT_EQ(last.Next(4), RingPos(0, 0));
  EXPECT_EQ(last.NextLap(), RingPos(0, 3));
  EXPECT_EQ(RingPos::Distance(last, RingPos(0, 0), 4), 1);
  EXPECT_EQ(RingPos::Distance(RingPos(0, 0), last, 4), -1);
}

TEST(RingPos, DistanceCountsSlots) {
  EXPECT_EQ(RingPos::Distance(RingPos(2, 1), RingPos(2, 1), 5), 0);
  EXPECT_EQ(RingPos::Distance(RingPos(2, 1), RingPos(3, 0), 5), 4);
  EXPECT_EQ(RingPos::Distance(RingPos(2, 4), RingPos(3, 0), 5), 1);
  EXPECT_EQ(RingPos::Distance(RingPos(3, 0), RingPos(2, 4), 5), -1);
}

TEST(RingPos, RawRoundTripsAndKeepsTheEncoding) {
  const RingPos p(0x12345678u, 0x9abcdef0u);
  EXPECT_EQ(p.lap(), 0x12345678u);
  EXPECT_EQ(p.index(), 0x9abcdef0u);
  EXPECT_EQ(p.raw(), 0x123456789abcdef0ull);
  EXPECT_EQ(RingPos::FromRaw(p.raw()), p);
}

TEST(SlotWord, ACreatedSlotIsEmptyAtLapZero) {
  constexpr SlotWord w;
  static_assert(w.raw() == 0);
  EXPECT_TRUE(w.is(P::kEmpty));
  EXPECT_EQ(w, SlotWord::EmptyAt(RingPos(0, 9)));
  EXPECT_FALSE(w.held());
}

TEST(SlotWord, FullCycleThroughTheTransitions) {
  const RingPos at(41, 2);
  const SlotWord empty = SlotWord::EmptyAt(at);
  const SlotWord writing = SlotWord::WritingAt(at, 1234);
  EXPECT_EQ(writing.lap(), 41u);
  EXPECT_EQ(writing.pid(), 1234);
  EXPECT_TRUE(writing.is(P::kWriting));
  EXPECT_TRUE(writing.held());
  EXPECT_TRUE(writing.HeldBy(1234));
  EXPECT_FALSE(writing.HeldBy(1235));
  const SlotWord full = writing.Published();
  EXPECT_EQ(full, SlotWord::FullAt(at));
  EXPECT_EQ(full.pid(), 0);
  EXPECT_FALSE(full.held());
  const SlotWord reading = SlotWord::ReadingAt(at, 77);
  EXPECT_TRUE(reading.is(P::kReading));
  EXPECT_TRUE(reading.HeldBy(77));
  const SlotWord released = reading.Released();
  EXPECT_EQ(released, SlotWord::ReleasedAt(at));
  EXPECT_EQ(released, SlotWord::EmptyAt(at.NextLap()));
  EXPECT_EQ(released.lap(), 42u);
  EXPECT_NE(released, empty);
}

TEST(SlotWord, TakeOverKeepsLapAndPhase) {
  const SlotWord dead = SlotWord::ReadingAt(RingPos(9, 0), 500);
  const SlotWord mine = dead.TakenOverBy(600);
  EXPECT_EQ(mine.lap(), 9u);
  EXPECT_TRUE(mine.is(P::kReading));
  EXPECT_EQ(mine.pid(), 600);
  EXPECT_EQ(mine.Released(), SlotWord::EmptyAt(RingPos(10, 0)));
}

TEST(SlotWord, PidsAreStoredIn30Bits) {
  const pid_t big = (1 << 30) + 5;
  const SlotWord w = SlotWord::WritingAt(RingPos(1, 0), big);
  EXPECT_EQ(w.pid(), 5);
  EXPECT_TRUE(w.HeldBy(big));  // compared as stored
  EXPECT_EQ(w.lap(), 1u);      // never spills into the lap
  EXPECT_TRUE(w.is(P::kWriting));
}

TEST(SlotWord, LapsAheadIsSignedAndWrapSafe) {
  const RingPos at(10, 0);
  EXPECT_EQ(SlotWord::EmptyAt(at).LapsAheadOf(at), 0);
  EXPECT_EQ(SlotWord::FullAt(RingPos(9, 0)).LapsAheadOf(at), -1);
  EXPECT_EQ(SlotWord::FullAt(RingPos(12, 0)).LapsAheadOf(at), 2);
  const RingPos wrapped(0, 0);
  EXPECT_EQ(SlotWord::FullAt(RingPos(0xffffffffu, 0)).LapsAheadOf(wrapped), -1);
  EXPECT_EQ(SlotWord::ReleasedAt(RingPos(0xffffffffu, 0)).LapsAheadOf(wrapped),
            0);
}

TEST(SlotWord, KeepsTheRingEncoding) {
  // [lap:32][pid:30][phase:2], as rings already in shared memory hold it.
  EXPECT_EQ(SlotWord::WritingAt(RingPos(3, 0), 5).raw(),
            (uint64_t{3} << 32) | (uint64_t{5} << 2) | 1);
  EXPECT_EQ(SlotWord::FullAt(RingPos(3, 0)).raw(), (uint64_t{3} << 32) | 2);
  EXPECT_EQ(SlotWord::FromRaw(0xdeadbeef00000007ull).phase(), P::kReading);
}

TEST(SharedWords, TypedAtomicOperations) {
  SharedSlotWord word;
  word.Store(SlotWord::EmptyAt(RingPos(4, 0)), std::memory_order_relaxed);
  SlotWord expected = SlotWord::EmptyAt(RingPos(3, 0));  // stale
  EXPECT_FALSE(word.CompareExchange(expected, SlotWord::WritingAt(RingPos(3, 0), 8),
                                    std::memory_order_seq_cst));
  EXPECT_EQ(expected, SlotWord::EmptyAt(RingPos(4, 0)));  // current value
  EXPECT_TRUE(word.CompareExchange(expected, SlotWord::WritingAt(RingPos(4, 0), 8),
                                   std::memory_order_seq_cst));
  EXPECT_EQ(word.Exchange(SlotWord::FullAt(RingPos(4, 0)),
                          std::memory_order_seq_cst),
            SlotWord::WritingAt(RingPos(4, 0), 8));
  EXPECT_EQ(word.Load(std::memory_order_relaxed), SlotWord::FullAt(RingPos(4, 0)));

  SharedRingPos index;
  index.Store(RingPos(1, 1), std::memory_order_relaxed);
  EXPECT_FALSE(index.Advance(RingPos(1, 0), RingPos(1, 1)));  // not there
  EXPECT_TRUE(index.Advance(RingPos(1, 1), RingPos(1, 2)));
  EXPECT_FALSE(index.Advance(RingPos(1, 1), RingPos(1, 2)));  // helped already
  EXPECT_EQ(index.Load(std::memory_order_relaxed), RingPos(1, 2));
}

}  // namespace
}  // namespace shoal::internal
