// Copyright 2026 The shoal Authors.
//
// wait.h: how the Python module blocks.
//
// A blocking call first tries once without waiting while it holds the GIL
// (the common, uncontended case costs no GIL hand-off), then waits with the
// GIL released in slices of at most kSlice. Between slices it takes the GIL
// back and runs PyErr_CheckSignals(), so Ctrl-C (KeyboardInterrupt) or any
// Python signal handler that raises interrupts a blocked get(), acquire() or
// wait() within ~kSlice, and other Python threads run meanwhile.
//
// Slicing is only correct for calls whose timed-out attempt has no effect
// (a queue get/put, a lock acquire, a channel loan/receive, a join, a
// condition wait: a timed-out slice re-acquires the condition's lock, and no
// notify can happen while we hold it). Barrier.wait is not one (a timeout
// breaks the barrier): it is handled in sync.cc.
#ifndef SHOAL_PYTHON_WAIT_H_
#define SHOAL_PYTHON_WAIT_H_

#include <pybind11/pybind11.h>

#include <chrono>
#include <cmath>
#include <optional>

#include "shoal/base/deadline.h"

namespace shoal::python {

namespace py = pybind11;

// How often a blocked call comes back to check for signals. It must stay
// well above the queues' and channels' liveness check interval (50 ms in
// ipc/: a waiter looks for a dead peer, or for every writer gone, only
// after blocking that long in ONE call), or a sliced wait would never
// notice a dead peer. tests/python/channel_test.py (a writer killed holding
// a loan) and queue_test.py (close_when_writers_gone) fail if it does not.
inline constexpr std::chrono::milliseconds kSlice{200};

// The deadline of a Python timeout in seconds: None blocks forever; zero,
// negative or NaN does not block.
inline Deadline DeadlineFrom(std::optional<double> timeout) {
  if (!timeout) return Deadline::Infinite();
  const double t = *timeout;
  if (!(t > 0)) return Deadline::Now();
  if (std::isinf(t) || t > 1e9) return Deadline::Infinite();
  return Deadline(std::chrono::duration<double>(t));
}

// multiprocessing's (block, timeout) pair as a deadline.
inline Deadline DeadlineFrom(bool block, std::optional<double> timeout) {
  return block ? DeadlineFrom(timeout) : Deadline::Now();
}

// Runs `attempt(const Deadline&, bool gil_held) -> bool` (true: done,
// false: timed out) until it is done or `total` passes. The first call is
// made with the GIL held and Deadline::Now() when `try_first`; the others
// with the GIL released and deadlines of at most kSlice. Returns false when
// `total` passed.
// Raises (py::error_already_set) when a signal handler raises.
template <class Attempt>
bool WaitInSlices(const Deadline& total, Attempt&& attempt,
                  bool try_first = true) {
  if (try_first) {
    // An expired deadline that costs no clock read to make.
    static const Deadline kExpired{Deadline::Clock::time_point{}};
    if (attempt(kExpired, true)) return true;
    if (total.expired()) return false;
  }
  for (;;) {
    bool done;
    {
      py::gil_scoped_release release;
      done = attempt(Deadline::Min(total, Deadline(kSlice)), false);
    }
    if (done) return true;
    if (total.expired()) return false;
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();
  }
}

}  // namespace shoal::python

#endif  // SHOAL_PYTHON_WAIT_H_
