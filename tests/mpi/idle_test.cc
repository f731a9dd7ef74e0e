// Copyright 2026 The shoal Authors.
//
// The MPI threads' idle policy (mpi/internal/idle.h): when a yield shows
// that other threads hold the CPUs, the busy phase sleeps in short steps
// instead of yielding, for a while. No MPI needed.
#include "shoal/mpi/internal/idle.h"

#include <atomic>
#include <cstdint>
#include <thread>

#include "gtest/gtest.h"
#include "shoal/base/internal/clock.h"

namespace shoal::mpi::internal {
namespace {

using shoal::internal::MonotonicNanos;

TEST(IdlePolicyTest, AFastYieldLeavesTheCpusUncrowded) {
  IdlePolicy p(200'000, 5'000'000, 1'000'000);
  EXPECT_FALSE(p.Crowded(1'000));
  p.NoteYield(1'000, 1'000 + IdlePolicy::kSlowYieldNs);  // exactly the limit
  EXPECT_FALSE(p.Crowded(1'000 + IdlePolicy::kSlowYieldNs));
}

TEST(IdlePolicyTest, ASlowYieldMeansCrowdedForAWhileThenYieldsAgain) {
  IdlePolicy p(200'000, 5'000'000, 1'000'000);
  const int64_t back = 10'000'000 + IdlePolicy::kSlowYieldNs + 1;
  p.NoteYield(10'000'000, back);
  EXPECT_TRUE(p.Crowded(back));
  EXPECT_TRUE(p.Crowded(back + IdlePolicy::kCrowdedNs - 1));
  EXPECT_FALSE(p.Crowded(back + IdlePolicy::kCrowdedNs));
  // A later slow yield extends it from its own end.
  p.NoteYield(back + IdlePolicy::kCrowdedNs, back + 2 * IdlePolicy::kCrowdedNs);
  EXPECT_TRUE(p.Crowded(back + 3 * IdlePolicy::kCrowdedNs - 1));
  EXPECT_FALSE(p.Crowded(back + 3 * IdlePolicy::kCrowdedNs));
}

// Crowded and busy: Idle() sleeps on the doorbell (a ring ends it) rather
// than yielding; each step is bounded by kCrowdedSleepNs, so a caller that
// loops sees its event without waiting for max_sleep.
TEST(IdlePolicyTest, CrowdedBusyPhaseSleepsOnTheDoorbellInShortSteps) {
  // A 10 s max sleep: were the step not capped while crowded, the loop
  // below would take seconds per pass.
  IdlePolicy p(/*spin_ns=*/60'000'000'000, /*busy_ns=*/60'000'000'000,
               /*max_sleep_ns=*/10'000'000'000);
  const int64_t now = MonotonicNanos();
  p.NoteYield(now, now + IdlePolicy::kSlowYieldNs + 1);
  Doorbell bell;
  // 64 passes with nothing happening: each sleeps at most kCrowdedSleepNs
  // (plus scheduling), so together well under the 10 s a single uncapped
  // sleep could reach after a few doublings.
  const int64_t t0 = MonotonicNanos();
  for (int i = 0; i < 64; ++i) p.Idle(bell, bell.Snapshot(), 0, true);
  const int64_t took = MonotonicNanos() - t0;
  EXPECT_GE(took, 64 * IdlePolicy::kFirstSleepNs);  // it slept, not yielded
  EXPECT_LT(took, 10'000'000'000);  // bounded by the cap, not max_sleep

  // A ring from another thread ends a sleep.
  std::atomic<bool> done{false};
  std::thread waiter([&] {
    const uint32_t seen = bell.Snapshot();
    p.Idle(bell, seen, 0, true);
    done = true;
  });
  bell.Ring();
  waiter.join();
  EXPECT_TRUE(done);
}

}  // namespace
}  // namespace shoal::mpi::internal
