// Tests for base/deadline.h: every duration and time point a user can write
// means what Python's `timeout=` means. However large ("wait at least that
// long", i.e. forever in practice), however small or negative ("do not
// wait"), in any representation and on any clock, without overflow (the
// ubsan configuration turns any overflow into a failure).
#include "shoal/base/deadline.h"

#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <ratio>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "shoal/base/errors.h"

namespace shoal {
namespace {

using namespace std::chrono_literals;
using std::chrono::duration;
using std::chrono::hours;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;
using std::chrono::system_clock;
using std::chrono::time_point;

// "At least that long": either forever, or not before `at_least` from now.
constexpr auto kCentury = hours(24 * 365 * 100);

void ExpectWaitsAtLeastACentury(const Deadline& d) {
  EXPECT_FALSE(d.expired());
  EXPECT_GE(d.remaining(), kCentury);
  if (!d.infinite()) {
    EXPECT_GE(d.when() - steady_clock::now(), kCentury);
  }
}

void ExpectDoesNotWait(const Deadline& d) {
  EXPECT_FALSE(d.infinite());
  EXPECT_TRUE(d.expired());
  EXPECT_EQ(d.remaining(), steady_clock::duration::zero());
}

// Python: q.get(timeout=1e30) blocks until an item arrives.
TEST(DeadlineTest, HugeTimeoutWaitsForever_LikePythonTimeout) {
  ExpectWaitsAtLeastACentury(Deadline(hours::max()));
  ExpectWaitsAtLeastACentury(Deadline(std::chrono::minutes::max()));
  ExpectWaitsAtLeastACentury(Deadline(seconds::max()));
  ExpectWaitsAtLeastACentury(Deadline(milliseconds::max()));
  ExpectWaitsAtLeastACentury(Deadline(microseconds::max()));
  ExpectWaitsAtLeastACentury(Deadline(nanoseconds::max()));
  ExpectWaitsAtLeastACentury(Deadline(std::chrono::years::max()));
  ExpectWaitsAtLeastACentury(Deadline(duration<double>(1e30)));
  ExpectWaitsAtLeastACentury(Deadline(duration<double, std::milli>(1e300)));
  ExpectWaitsAtLeastACentury(
      Deadline(duration<double>(std::numeric_limits<double>::infinity())));
  ExpectWaitsAtLeastACentury(Deadline(duration<float>(1e30f)));
  ExpectWaitsAtLeastACentury(Deadline(duration<long double>(1e4000L)));
  ExpectWaitsAtLeastACentury(Deadline(duration<uint64_t>::max()));
  ExpectWaitsAtLeastACentury(Deadline(duration<uint64_t, std::nano>::max()));
  ExpectWaitsAtLeastACentury(Deadline(duration<int32_t, std::ratio<86400>>::max()));
  ExpectWaitsAtLeastACentury(Deadline(absl::InfiniteDuration()));
  ExpectWaitsAtLeastACentury(Deadline(absl::Hours(1e10)));
  ExpectWaitsAtLeastACentury(Deadline(absl::Seconds(INT64_MAX)));
  ExpectWaitsAtLeastACentury(Deadline(absl::Nanoseconds(INT64_MAX)));
  ExpectWaitsAtLeastACentury(Deadline::Infinite());
  ExpectWaitsAtLeastACentury(Deadline());
}

// Large but representable: exactly that long, not forever.
TEST(DeadlineTest, LargeTimeoutIsKeptExactly) {
  const auto before = steady_clock::now();
  const Deadline d(hours(24 * 365 * 200));  // 200 years: fits in int64 ns
  const auto after = steady_clock::now();
  EXPECT_FALSE(d.infinite());
  EXPECT_GE(d.when(), before + hours(24 * 365 * 200));
  EXPECT_LE(d.when(), after + hours(24 * 365 * 200));
  // Finer than a nanosecond (the largest is ~106 days): converted, never
  // wrapped.
  const Deadline p(duration<int64_t, std::pico>::max());
  EXPECT_FALSE(p.infinite());
  EXPECT_GE(p.when(), before + nanoseconds(INT64_MAX / 1000));
  const Deadline a(absl::Hours(24 * 365 * 200));
  EXPECT_FALSE(a.infinite());
  EXPECT_GE(a.when(), before + hours(24 * 365 * 200));
}

// Python: a zero or negative timeout does not block (get(timeout=-1) is
// get_nowait for Lock.acquire semantics: shoal makes both non-blocking).
TEST(DeadlineTest, ZeroAndNegativeTimeoutsDoNotWait_LikePythonTimeoutZero) {
  ExpectDoesNotWait(Deadline(0s));
  ExpectDoesNotWait(Deadline(-1ns));
  ExpectDoesNotWait(Deadline(hours::min()));
  ExpectDoesNotWait(Deadline(seconds::min()));
  ExpectDoesNotWait(Deadline(milliseconds::min()));
  ExpectDoesNotWait(Deadline(nanoseconds::min()));
  ExpectDoesNotWait(Deadline(duration<double>(-1e30)));
  ExpectDoesNotWait(Deadline(duration<double>(-0.0)));
  ExpectDoesNotWait(
      Deadline(duration<double>(-std::numeric_limits<double>::infinity())));
  ExpectDoesNotWait(Deadline(duration<int64_t, std::pico>::min()));
  ExpectDoesNotWait(Deadline(absl::ZeroDuration()));
  ExpectDoesNotWait(Deadline(-absl::InfiniteDuration()));
  ExpectDoesNotWait(Deadline(absl::Hours(-1e10)));
  ExpectDoesNotWait(Deadline::Now());
}

// Python raises ValueError for timeout=float('nan').
TEST(DeadlineTest, NanTimeoutIsValueError_LikePython) {
  EXPECT_THROW(Deadline(duration<double>(std::nan(""))), ValueError);
  EXPECT_THROW(Timeout(duration<float>(std::nanf(""))), ValueError);
}

// Sub-nanosecond positive durations round up: "wait at least that long".
TEST(DeadlineTest, FractionalDurationsRoundUp) {
  EXPECT_EQ(Timeout(duration<double, std::nano>(0.25)).count(), 1);
  EXPECT_EQ(Timeout(duration<int64_t, std::pico>(1001)).count(), 2);
  EXPECT_EQ(Timeout(duration<double>(1.5)).count(), 1'500'000'000);
  EXPECT_EQ(Timeout(absl::Nanoseconds(0.25)).count(), 1);
  EXPECT_EQ(Timeout(duration<double>(-1.5)).count(), -1'500'000'000);
}

TEST(DeadlineTest, TimeoutSaturates) {
  EXPECT_TRUE(Timeout(hours::max()).infinite());
  EXPECT_TRUE(Timeout(duration<double>(1e30)).infinite());
  EXPECT_TRUE(Timeout(absl::InfiniteDuration()).infinite());
  EXPECT_TRUE(Timeout::Infinite().infinite());
  EXPECT_FALSE(Timeout(hours(1)).infinite());
  EXPECT_EQ(Timeout(hours(1)).count(), int64_t{3600} * 1'000'000'000);
  EXPECT_EQ(std::chrono::nanoseconds(Timeout(1ms)), 1ms);
  EXPECT_EQ(Timeout(hours::min()).count(), INT64_MIN);
  EXPECT_EQ(Timeout().count(), 0);
  // A Timeout converts to a Deadline with the same meaning.
  ExpectWaitsAtLeastACentury(Deadline(Timeout(hours::max())));
  ExpectDoesNotWait(Deadline(Timeout(-1s)));
}

// try_lock_until(time_point) of any clock and any precision.
TEST(DeadlineTest, FarTimePointsOfAnyClockWaitForever) {
  ExpectWaitsAtLeastACentury(Deadline::Until(steady_clock::time_point::max()));
  ExpectWaitsAtLeastACentury(Deadline::Until(system_clock::time_point::max()));
  ExpectWaitsAtLeastACentury(
      Deadline::Until(time_point<system_clock, seconds>(seconds::max() - 1s)));
  ExpectWaitsAtLeastACentury(
      Deadline::Until(time_point<steady_clock, hours>(hours(1'000'000'000))));
  ExpectWaitsAtLeastACentury(Deadline::Until(
      time_point<system_clock, duration<double>>(duration<double>(1e30))));
  ExpectWaitsAtLeastACentury(Deadline::Until(
      time_point<steady_clock, duration<double>>(duration<double>(1e30))));
  ExpectWaitsAtLeastACentury(
      Deadline::Until(system_clock::now() + hours(24 * 365 * 150)));
}

TEST(DeadlineTest, PastTimePointsOfAnyClockDoNotWait) {
  ExpectDoesNotWait(Deadline::Until(steady_clock::time_point::min()));
  ExpectDoesNotWait(Deadline::Until(system_clock::time_point::min()));
  ExpectDoesNotWait(Deadline::Until(time_point<system_clock, hours>::min()));
  ExpectDoesNotWait(
      Deadline::Until(time_point<steady_clock, seconds>(seconds::min())));
  ExpectDoesNotWait(Deadline::Until(system_clock::now() - 1s));
  ExpectDoesNotWait(Deadline::Until(steady_clock::now() - 1s));
  ExpectDoesNotWait(Deadline::Until(time_point<system_clock, seconds>{}));
}

TEST(DeadlineTest, NearTimePointsOfAnyClockAreKept) {
  const auto before = steady_clock::now();
  const Deadline d = Deadline::Until(system_clock::now() + 10s);
  EXPECT_FALSE(d.infinite());
  EXPECT_GE(d.when(), before + 9s);
  EXPECT_LE(d.when(), steady_clock::now() + 11s);
  const auto s = time_point_cast<seconds>(steady_clock::now()) + 20s;
  const Deadline e = Deadline::Until(s);
  EXPECT_EQ(e.when(), (time_point<steady_clock, nanoseconds>(s)));
}

TEST(DeadlineTest, AbsTimespecOfAHugeDeadlineIsValid) {
  const Deadline d(hours(24 * 365 * 200));
  const timespec ts = d.abs_timespec();
  EXPECT_GT(ts.tv_sec, 0);
  EXPECT_GE(ts.tv_nsec, 0);
  EXPECT_LT(ts.tv_nsec, 1'000'000'000);
}

TEST(DeadlineTest, MinPicksTheEarlier) {
  const Deadline a(1s);
  EXPECT_EQ(Deadline::Min(a, Deadline(hours::max())).when(), a.when());
  EXPECT_EQ(Deadline::Min(Deadline(seconds::max()), a).when(), a.when());
}

}  // namespace
}  // namespace shoal
