// Copyright 2026 The shoal Authors.
//
// Tests bench/shootout/stats.h: the shoot-out's medians and percentiles.
#include "bench/shootout/stats.h"

#include <cmath>
#include <limits>
#include <vector>

#include "gtest/gtest.h"

namespace shoal::shootout {
namespace {

TEST(SamplesTest, MedianOfAnOddCountIsTheMiddleSample) {
  Samples s({5.0, 1.0, 3.0});
  EXPECT_EQ(s.Median(), 3.0);
  EXPECT_EQ(s.Min(), 1.0);
  EXPECT_EQ(s.Max(), 5.0);
  EXPECT_EQ(s.size(), 3u);
}

TEST(SamplesTest, MedianOfAnEvenCountIsTheMeanOfTheMiddleTwo) {
  EXPECT_EQ(Samples({4.0, 1.0, 2.0, 10.0}).Median(), 3.0);
  EXPECT_EQ(Samples({7.0, 9.0}).Median(), 8.0);
}

TEST(SamplesTest, OneSampleIsEveryPercentile) {
  Samples s({42.0});
  EXPECT_EQ(s.Percentile(0), 42.0);
  EXPECT_EQ(s.Percentile(0.1), 42.0);
  EXPECT_EQ(s.Median(), 42.0);
  EXPECT_EQ(s.Percentile(1), 42.0);
}

TEST(SamplesTest, PercentilesInterpolateBetweenClosestRanks) {
  // NumPy: np.percentile([10, 20, 30, 40, 50], [10, 25, 90]) = 14, 20, 46.
  Samples s({50.0, 10.0, 40.0, 20.0, 30.0});
  EXPECT_DOUBLE_EQ(s.Percentile(0.10), 14.0);
  EXPECT_DOUBLE_EQ(s.Percentile(0.25), 20.0);
  EXPECT_DOUBLE_EQ(s.Percentile(0.90), 46.0);
}

TEST(SamplesTest, QuantilesOutsideZeroToOneAreClamped) {
  Samples s({1.0, 2.0, 3.0});
  EXPECT_EQ(s.Percentile(-0.5), 1.0);
  EXPECT_EQ(s.Percentile(7.0), 3.0);
}

TEST(SamplesTest, NonFiniteSamplesAreLeftOut) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  Samples s({nan, 2.0, inf, 4.0, -inf});
  EXPECT_EQ(s.size(), 2u);
  EXPECT_EQ(s.Median(), 3.0);
  EXPECT_EQ(s.Max(), 4.0);
}

TEST(SamplesTest, NoSamplesGiveNaN) {
  Samples s(std::vector<double>{});
  EXPECT_TRUE(s.empty());
  EXPECT_TRUE(std::isnan(s.Median()));
  EXPECT_TRUE(std::isnan(Samples({std::nan("")}).Min()));
}

}  // namespace
}  // namespace shoal::shootout
