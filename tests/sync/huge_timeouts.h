// Copyright 2026 The shoal Authors.
//
// huge_timeouts.h: the timeouts and time points too large for int64
// nanoseconds that a user can write, and a forked peer that does something
// (releases a lock, puts an item, sets an event) a while after the test
// started waiting, for the tests that pin Python's meaning of a huge
// `timeout=`: wait at least that long, i.e. until the peer acts.
//
// Every wait stays bounded: the peer runs under alarm() (ForkChild), and the
// waiting call runs under a 30 s alarm() in the test process, so a call that
// wrongly blocks forever kills the test with SIGALRM instead of hanging it.
#ifndef SHOAL_TESTS_SYNC_HUGE_TIMEOUTS_H_
#define SHOAL_TESTS_SYNC_HUGE_TIMEOUTS_H_

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/sync/fork_helpers.h"

namespace shoal::testing {

// Calls f(name, duration) for each std::chrono spelling of "longer than
// int64 nanoseconds can hold".
template <class F>
void ForEachHugeDuration(F&& f) {
  f("milliseconds::max()", std::chrono::milliseconds::max());
  f("seconds::max()", std::chrono::seconds::max());
  f("hours::max()", std::chrono::hours::max());
  f("duration<double>(1e30 s)", std::chrono::duration<double>(1e30));
}

// The same for absl::Duration.
template <class F>
void ForEachHugeAbslDuration(F&& f) {
  f("absl::InfiniteDuration()", absl::InfiniteDuration());
  f("absl::Hours(1e10)", absl::Hours(1e10));
}

// Calls f(name, time_point) for far-future points of several clocks.
template <class F>
void ForEachFarTimePoint(F&& f) {
  using std::chrono::seconds;
  using std::chrono::steady_clock;
  using std::chrono::system_clock;
  f("steady_clock::time_point::max()", steady_clock::time_point::max());
  f("system_clock::time_point::max()", system_clock::time_point::max());
  f("system_clock now + 2^40 s",
    std::chrono::time_point_cast<seconds>(system_clock::now()) +
        seconds(int64_t{1} << 40));
  f("time_point<steady_clock, hours>::max()",
    std::chrono::time_point<steady_clock, std::chrono::hours>::max());
}

// A forked process that ran `setup` and will run `act` after `delay`.
struct Peer {
  pid_t pid = -1;
  std::atomic<int>* flags = nullptr;  // [0]: set up; [1]: about to act
};

// Forks the peer; returns once its setup ran (e.g. it holds the lock).
template <class Setup, class Act>
Peer StartPeer(Setup setup, Act act,
               std::chrono::milliseconds delay = std::chrono::milliseconds(300)) {
  Peer peer;
  peer.flags = NewSharedArray<std::atomic<int>>(2);
  std::atomic<int>* flags = peer.flags;
  peer.pid = ForkChild([=] {
    setup();
    flags[0].store(1);
    std::this_thread::sleep_for(delay);
    flags[1].store(1);
    act();
  });
  EXPECT_TRUE(WaitUntil([&] { return flags[0].load() == 1; }));
  return peer;
}

// Runs call() -- a blocking call with a huge timeout -- under a 30 s alarm;
// expects it to return true only after the peer acted (so it neither gave
// up at once nor returned early), then reaps the peer.
template <class Call>
void ExpectWaitsForPeer(const char* what, const Peer& peer, Call call) {
  const auto start = Clock::now();
  alarm(30);
  const bool ok = call();
  alarm(0);
  EXPECT_TRUE(ok) << what;
  EXPECT_EQ(peer.flags[1].load(), 1)
      << what << ": returned before the other process acted";
  EXPECT_GE(ElapsedMs(start), 250.0) << what;
  EXPECT_CHILD_OK(WaitChild(peer.pid)) << what;
  munmap(peer.flags, 2 * sizeof(std::atomic<int>));
}

}  // namespace shoal::testing

#endif  // SHOAL_TESTS_SYNC_HUGE_TIMEOUTS_H_
