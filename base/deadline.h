// Copyright 2026 The shoal Authors.
//
// deadline.h: one type for "how long may this call block", and one for a
// user's length of time that must never overflow.
//
// Every blocking shoal call has a timed form that takes a `shoal::Deadline`.
// A Deadline converts implicitly from a `std::chrono` duration (any
// representation, any period), an `absl::Duration`, a `shoal::Timeout`, or a
// `std::chrono::steady_clock::time_point`, so callers write
// `q.get(std::chrono::milliseconds(50))` or `q.get(absl::Seconds(1))`;
// `Deadline::Until(t)` takes a time point of any clock. A relative timeout is
// turned into an absolute point on the monotonic clock once, when the
// Deadline is made, so retries inside a call (spurious futex wake-ups, EINTR)
// never extend the total wait.
//
// What a timeout means (Python's `timeout=`):
//   * positive: wait at least that long. However large it is --
//     `hours::max()`, `seconds::max()`, `duration<double>(1e30)`,
//     `absl::InfiniteDuration()`, `absl::Hours(1e10)` -- nothing overflows: a
//     point beyond the monotonic clock's range (about 292 years from boot)
//     becomes `Deadline::Infinite()`. Durations finer than a nanosecond are
//     rounded up.
//   * zero or negative (of any size, down to `hours::min()`): do not block.
//   * NaN (a floating-point duration): shoal::ValueError, as in Python.
//   * time points (`try_lock_until`, `Deadline::Until`): a point of any clock
//     and precision; `time_point::max()` and points too far ahead for the
//     monotonic clock are Infinite(), points in the past do not block.
//     Points of other clocks (system_clock, ...) are converted through the
//     time left now, as std's timed calls do.
//   `Deadline::Infinite()` (the default) means "block until done".
//
// Why by hand: std::chrono::duration_cast and the implicit conversions
// between durations multiply before anyone can check the range (signed
// overflow: undefined behaviour, and in practice a huge timeout wrapping to
// a negative one, i.e. "don't wait"); absl::FromChrono accepts only 64-bit
// integer representations. The conversions here are exact in 128-bit
// integer arithmetic (integral durations) or long double (floating ones).
//
// Cost: one clock_gettime(CLOCK_MONOTONIC) (vDSO, ~20 ns) per finite Deadline;
// the saturation checks are a few compares, folded at compile time for the
// common units.
#ifndef SHOAL_BASE_DEADLINE_H_
#define SHOAL_BASE_DEADLINE_H_

#include <time.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <ratio>
#include <type_traits>

#include "absl/time/time.h"
#include "shoal/base/errors.h"

namespace shoal {

namespace internal {

inline constexpr int64_t kMaxNanos = std::numeric_limits<int64_t>::max();
inline constexpr int64_t kMinNanos = std::numeric_limits<int64_t>::min();

[[noreturn]] inline void ThrowNanTimeout() {
  throw ValueError("timeout is NaN (not a number)");
}

// d in nanoseconds, saturated to [INT64_MIN, INT64_MAX], positive fractions
// of a nanosecond rounded up (so a positive timeout never becomes "don't
// wait"). Throws ValueError for NaN.
template <class Rep, class Period>
constexpr int64_t SaturatedNanos(const std::chrono::duration<Rep, Period>& d) {
  static_assert(std::is_arithmetic_v<Rep>,
                "shoal timeouts take arithmetic duration representations");
  // Nanoseconds per tick = R::num / R::den (reduced).
  using R = std::ratio_divide<Period, std::nano>;
  if constexpr (std::chrono::treat_as_floating_point_v<Rep>) {
    const long double ticks = static_cast<long double>(d.count());
    if (std::isnan(ticks)) ThrowNanTimeout();
    const long double ns = ticks * static_cast<long double>(R::num) /
                           static_cast<long double>(R::den);
    // 2^63 is exact in every long double (and double) format.
    constexpr long double kTwo63 = 9223372036854775808.0L;
    if (ns >= kTwo63) return kMaxNanos;
    if (ns <= -kTwo63) return kMinNanos;
    const long double whole = ns > 0 ? std::ceil(ns) : std::trunc(ns);
    return whole >= kTwo63 ? kMaxNanos : static_cast<int64_t>(whole);
  } else {
    // |ticks| <= kMaxTicks keeps |ticks * num| <= INT64_MAX * den < 2^127.
    constexpr __int128 kMaxTicks =
        static_cast<__int128>(kMaxNanos) * R::den / R::num;
    const __int128 ticks = static_cast<__int128>(d.count());
    if (ticks > kMaxTicks) return kMaxNanos;
    if (ticks < -kMaxTicks) return kMinNanos;
    const __int128 scaled = ticks * R::num;
    __int128 ns = scaled / R::den;  // truncates toward zero
    if (scaled > 0 && scaled % R::den != 0) ++ns;
    if (ns > kMaxNanos) return kMaxNanos;
    if (ns < kMinNanos) return kMinNanos;
    return static_cast<int64_t>(ns);
  }
}

// The same for an absl::Duration (quarter-nanosecond resolution, its own
// infinities).
inline int64_t SaturatedNanos(absl::Duration d) {
  if (d == absl::InfiniteDuration()) return kMaxNanos;
  if (d == -absl::InfiniteDuration()) return kMinNanos;
  // Saturates at the int64 limits for huge finite durations; truncates.
  int64_t ns = absl::ToInt64Nanoseconds(d);
  if (ns < kMaxNanos && d > absl::Nanoseconds(ns)) ++ns;
  return ns;
}

}  // namespace internal

// A length of time a user gives shoal (a per-task time limit, a spin bound,
// a creation timeout), held as int64 nanoseconds, saturated: converts
// implicitly from every std::chrono duration and from absl::Duration with the
// rules above (no overflow, fractions rounded up, NaN -> ValueError), so an
// option field of this type accepts `std::chrono::hours::max()` as "no
// practical limit". count() == INT64_MAX is infinite().
class Timeout {
 public:
  constexpr Timeout() = default;  // zero
  template <class Rep, class Period>
  constexpr Timeout(const std::chrono::duration<Rep, Period>& d)  // NOLINT
      : ns_(internal::SaturatedNanos(d)) {}
  Timeout(absl::Duration d)  // NOLINT: implicit by design
      : ns_(internal::SaturatedNanos(d)) {}

  static constexpr Timeout Infinite() {
    return Timeout(std::chrono::nanoseconds::max());
  }
  constexpr bool infinite() const { return ns_ == internal::kMaxNanos; }
  // Nanoseconds, saturated (INT64_MAX when infinite).
  constexpr int64_t count() const { return ns_; }
  constexpr operator std::chrono::nanoseconds() const {  // NOLINT
    return std::chrono::nanoseconds(ns_);
  }

  friend constexpr bool operator==(Timeout a, Timeout b) = default;

 private:
  int64_t ns_ = 0;
};

class Deadline {
 public:
  using Clock = std::chrono::steady_clock;
  static_assert(std::is_same_v<Clock::duration, std::chrono::nanoseconds>);

  // Block forever.
  constexpr Deadline() : when_(Clock::time_point::max()) {}
  static constexpr Deadline Infinite() { return Deadline(); }
  // Do not block at all.
  static Deadline Now() { return Deadline(Clock::now()); }

  template <class Rep, class Period>
  Deadline(const std::chrono::duration<Rep, Period>& d)  // NOLINT: implicit
      : when_(FromNanos(internal::SaturatedNanos(d))) {}
  Deadline(absl::Duration d)  // NOLINT: implicit by design
      : when_(FromNanos(internal::SaturatedNanos(d))) {}
  Deadline(Timeout t) : when_(FromNanos(t.count())) {}  // NOLINT

  Deadline(Clock::time_point when) : when_(when) {}  // NOLINT

  bool infinite() const { return when_ == Clock::time_point::max(); }
  bool expired() const { return !infinite() && Clock::now() >= when_; }
  Clock::time_point when() const { return when_; }

  // Time left, clamped at zero; Clock::duration::max() when infinite.
  Clock::duration remaining() const {
    if (infinite()) return Clock::duration::max();
    const auto now = Clock::now();
    return when_ <= now ? Clock::duration::zero() : when_ - now;
  }

  // The absolute CLOCK_MONOTONIC timespec that FUTEX_WAIT_BITSET and
  // pthread_mutex_clocklock take. Only valid when !infinite().
  timespec abs_timespec() const {
    int64_t ns = when_.time_since_epoch().count();
    if (ns < 0) ns = 0;
    timespec ts;
    ts.tv_sec = static_cast<time_t>(ns / 1000000000);
    ts.tv_nsec = static_cast<long>(ns % 1000000000);
    return ts;
  }

  // A deadline at `t` on any clock, of any precision: exact for
  // steady_clock time points, through the time left now for other clocks
  // (system_clock, ...), so std's try_lock_until(time_point) maps onto it.
  // Saturating as described at the top of this file.
  template <class C, class D>
  static Deadline Until(const std::chrono::time_point<C, D>& t) {
    if (t == std::chrono::time_point<C, D>::max()) return Infinite();
    const int64_t at = internal::SaturatedNanos(t.time_since_epoch());
    if constexpr (std::is_same_v<C, Clock>) {
      if (at == internal::kMaxNanos) return Infinite();
      return Deadline(Clock::time_point(Clock::duration(at)));
    } else {
      const int64_t now = internal::SaturatedNanos(C::now().time_since_epoch());
      if (at == internal::kMaxNanos) return Infinite();
      return Deadline(Clock::duration(Clamp(__int128{at} - now)));
    }
  }

  // The earlier of two deadlines.
  static Deadline Min(Deadline a, Deadline b) {
    return a.when_ < b.when_ ? a : b;
  }

 private:
  static int64_t Clamp(__int128 v) {
    if (v > internal::kMaxNanos) return internal::kMaxNanos;
    if (v < internal::kMinNanos) return internal::kMinNanos;
    return static_cast<int64_t>(v);
  }

  // `ns` from now; INT64_MAX (a saturated timeout) and anything past the
  // clock's range is Infinite(); <= 0 is already expired.
  static Clock::time_point FromNanos(int64_t ns) {
    const auto now = Clock::now();
    if (ns <= 0) return now - Clock::duration(1);
    if (ns == internal::kMaxNanos) return Clock::time_point::max();
    const __int128 at = __int128{now.time_since_epoch().count()} + ns;
    if (at >= internal::kMaxNanos) return Clock::time_point::max();
    return Clock::time_point(Clock::duration(static_cast<int64_t>(at)));
  }

  Clock::time_point when_;
};

}  // namespace shoal

#endif  // SHOAL_BASE_DEADLINE_H_
