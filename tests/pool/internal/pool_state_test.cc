// Tests for pool/internal/pool_state.h.
#include "shoal/pool/internal/pool_state.h"

#include <signal.h>

#include <stdexcept>

#include "gtest/gtest.h"
#include "shoal/base/errors.h"

namespace {

using shoal::internal::DescribeExit;
using shoal::internal::ExitStatus;
using shoal::internal::PoolState;

TEST(PoolStateTest, CloseKeepsTakingTheChunksOfOpenLazyMaps) {
  PoolState s;
  EXPECT_TRUE(s.running());
  EXPECT_TRUE(s.accepts(false));
  EXPECT_TRUE(s.Close());
  EXPECT_FALSE(s.Close());
  EXPECT_EQ(s.phase(), PoolState::kClosing);
  EXPECT_FALSE(s.accepts(false));
  EXPECT_TRUE(s.accepts(true));
  EXPECT_THROW(s.CheckAccepting(), shoal::ValueError);
  s.CheckAccepting(true);
  EXPECT_TRUE(s.FinishClosing());
  EXPECT_FALSE(s.FinishClosing());
  EXPECT_FALSE(s.accepts(true));
  EXPECT_TRUE(s.Terminate());
  EXPECT_FALSE(s.Terminate());
  EXPECT_TRUE(s.terminating());
  EXPECT_FALSE(s.FinishClosing());
}

TEST(PoolStateTest, TheFirstBreakWinsAndCarriesItsCause) {
  PoolState s;
  shoal::internal::ErrorRecord cause;
  cause.kind = "std::invalid_argument";
  cause.message = "bad init";
  EXPECT_TRUE(s.Break("first", cause));
  EXPECT_FALSE(s.Break("second", std::nullopt));
  EXPECT_FALSE(s.accepts(true));
  try {
    std::rethrow_exception(s.BrokenError());
  } catch (const shoal::BrokenPool& e) {
    EXPECT_STREQ(e.what(), "the pool is broken: first");
    EXPECT_THROW(std::rethrow_if_nested(e), std::invalid_argument);
  }
  EXPECT_THROW(s.CheckAccepting(true), shoal::BrokenPool);
}

TEST(PoolStateTest, DescribeExit) {
  EXPECT_EQ(DescribeExit(7, ExitStatus{SIGKILL, -1}),
            "worker pid 7 was killed by SIGKILL");
  EXPECT_EQ(DescribeExit(7, ExitStatus{0, 3}), "worker pid 7 exited with code 3");
  EXPECT_EQ(DescribeExit(7, ExitStatus{}), "worker pid 7 exited (status unknown)");
}

}  // namespace
