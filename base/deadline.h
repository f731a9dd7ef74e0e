// Copyright 2026 The shoal Authors.
//
// deadline.h: one type for "how long may this call block".
//
// Every blocking shoal call has a timed form that takes a `shoal::Deadline`.
// A Deadline converts implicitly from a `std::chrono` duration, an
// `absl::Duration`, or a `std::chrono::steady_clock::time_point`, so callers
// write `q.get(std::chrono::milliseconds(50))` or `q.get(absl::Seconds(1))`.
// A relative timeout is turned into an absolute point on the monotonic clock
// once, when the Deadline is made, so retries inside a call (spurious futex
// wake-ups, EINTR) never extend the total wait.
//
// Negative and zero durations mean "do not block"; `Deadline::Infinite()` (the
// default) means "block until done".
//
// Cost: one clock_gettime(CLOCK_MONOTONIC) (vDSO, ~20 ns) per finite Deadline.
#ifndef SHOAL_BASE_DEADLINE_H_
#define SHOAL_BASE_DEADLINE_H_

#include <time.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "absl/time/time.h"

namespace shoal {

class Deadline {
 public:
  using Clock = std::chrono::steady_clock;

  // Block forever.
  constexpr Deadline() : when_(Clock::time_point::max()) {}
  static constexpr Deadline Infinite() { return Deadline(); }
  // Do not block at all.
  static Deadline Now() { return Deadline(Clock::now()); }

  template <class Rep, class Period>
  Deadline(std::chrono::duration<Rep, Period> d)  // NOLINT: implicit by design
      : when_(FromDuration(std::chrono::duration_cast<Clock::duration>(d))) {}

  Deadline(absl::Duration d)  // NOLINT: implicit by design
      : when_(d == absl::InfiniteDuration()
                  ? Clock::time_point::max()
                  : FromDuration(absl::ToChronoNanoseconds(d))) {}

  Deadline(Clock::time_point when) : when_(when) {}  // NOLINT

  bool infinite() const { return when_ == Clock::time_point::max(); }
  bool expired() const { return !infinite() && Clock::now() >= when_; }
  Clock::time_point when() const { return when_; }

  // Time left, clamped at zero; Clock::duration::max() when infinite.
  Clock::duration remaining() const {
    if (infinite()) return Clock::duration::max();
    auto left = when_ - Clock::now();
    return left < Clock::duration::zero() ? Clock::duration::zero() : left;
  }

  // The absolute CLOCK_MONOTONIC timespec that FUTEX_WAIT_BITSET and
  // pthread_mutex_clocklock take. Only valid when !infinite().
  timespec abs_timespec() const {
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                  when_.time_since_epoch())
                  .count();
    if (ns < 0) ns = 0;
    timespec ts;
    ts.tv_sec = static_cast<time_t>(ns / 1000000000);
    ts.tv_nsec = static_cast<long>(ns % 1000000000);
    return ts;
  }

  // A deadline at `t` on any clock: exact for steady_clock time points,
  // through the time left now for other clocks (system_clock, ...), so
  // std's try_lock_until(time_point) maps onto it.
  template <class C, class D>
  static Deadline Until(const std::chrono::time_point<C, D>& t) {
    if (t == std::chrono::time_point<C, D>::max()) return Infinite();
    if constexpr (std::is_same_v<C, Clock> &&
                  std::is_same_v<D, Clock::duration>) {
      return Deadline(t);
    } else {
      return Deadline(t - C::now());
    }
  }

  // The earlier of two deadlines.
  static Deadline Min(Deadline a, Deadline b) {
    return a.when_ < b.when_ ? a : b;
  }

 private:
  static Clock::time_point FromDuration(Clock::duration d) {
    if (d <= Clock::duration::zero()) return Clock::now() - Clock::duration(1);
    auto now = Clock::now();
    if (d >= Clock::time_point::max() - now) return Clock::time_point::max();
    return now + d;
  }

  Clock::time_point when_;
};

}  // namespace shoal

#endif  // SHOAL_BASE_DEADLINE_H_
