// Copyright 2026 The shoal Authors.
//
// clock.h: the one monotonic clock shoal's internals read.
//
// Deadlines (base/deadline.h) use std::chrono::steady_clock, which is the same
// CLOCK_MONOTONIC; this helper is for code that stores times in shared memory
// or compares them in tight loops, where a plain int64 of nanoseconds is the
// right unit (it is lock-free as a std::atomic<int64_t> and has the same
// meaning in every process on the machine).
//
// Cost: one clock_gettime(CLOCK_MONOTONIC), served by the vDSO (~20 ns).
#ifndef SHOAL_BASE_INTERNAL_CLOCK_H_
#define SHOAL_BASE_INTERNAL_CLOCK_H_

#include <time.h>

#include <cstdint>

namespace shoal::internal {

// Nanoseconds on CLOCK_MONOTONIC (since boot, machine-wide).
inline int64_t MonotonicNanos() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace shoal::internal

#endif  // SHOAL_BASE_INTERNAL_CLOCK_H_
