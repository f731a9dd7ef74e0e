// Copyright 2026 The shoal Authors.
//
// huge_timeouts.h: the timeouts and time points too large for int64
// nanoseconds that a user can write, and a forked peer that does something
// (releases a lock, puts an item, sets an event) a while after the test
// started waiting, for the tests that pin Python's meaning of a huge
// `timeout=`: wait at least that long, i.e. until the peer acts.
//
// Every wait stays bounded: the peer runs under alarm() (ForkChild), and the
// waiting call runs under a 60 s alarm() in the test process, so a call that
// wrongly blocks forever kills the test with SIGALRM instead of hanging it.
#ifndef SHOAL_TESTS_SYNC_HUGE_TIMEOUTS_H_
#define SHOAL_TESTS_SYNC_HUGE_TIMEOUTS_H_

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>
#include <thread>

#include "absl/time/time.h"
#include "gtest/gtest.h"

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

// Forks the peer (under a 60 s alarm; exit 0 when `act` returned, 2 if
// something threw); returns once its setup ran (e.g. it holds the lock).
template <class Setup, class Act>
Peer StartPeer(Setup setup, Act act,
               std::chrono::milliseconds delay = std::chrono::milliseconds(300)) {
  Peer peer;
  void* mem = mmap(nullptr, 2 * sizeof(std::atomic<int>),
                   PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) std::abort();
  std::atomic<int>* flags = new (mem) std::atomic<int>[2]();
  peer.flags = flags;
  std::fflush(nullptr);
  peer.pid = fork();
  if (peer.pid < 0) std::abort();
  if (peer.pid == 0) {
    alarm(60);
    try {
      setup();
      flags[0].store(1);
      std::this_thread::sleep_for(delay);
      flags[1].store(1);
      act();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "peer %d: %s\n", getpid(), e.what());
      _exit(2);
    }
    _exit(0);
  }
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (flags[0].load() != 1 && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(flags[0].load(), 1) << "the peer did not finish its setup";
  return peer;
}

// Runs call() -- a blocking call with a huge timeout -- under a 60 s alarm;
// expects it to return true only after the peer acted (so it neither gave
// up at once nor returned early), then reaps the peer.
template <class Call>
void ExpectWaitsForPeer(const char* what, const Peer& peer, Call call) {
  alarm(60);
  const bool ok = call();
  alarm(0);
  // What shows the call waited is that it succeeded and the peer had acted
  // by then (it acts only after its delay). Not the time it took: on a busy
  // machine this process may notice the peer's setup late, so the clock
  // would start late and measure less than the delay.
  EXPECT_TRUE(ok) << what;
  EXPECT_EQ(peer.flags[1].load(), 1)
      << what << ": returned before the other process acted";
  // The peer is done (or about to be): reap it, bounded.
  int status = -1;
  for (int i = 0; i < 30000; ++i) {
    if (waitpid(peer.pid, &status, WNOHANG) == peer.pid) break;
    status = -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (status == -1) {
    kill(peer.pid, SIGKILL);
    waitpid(peer.pid, nullptr, 0);
  }
  EXPECT_TRUE(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << what << ": peer status " << status;
  munmap(peer.flags, 2 * sizeof(std::atomic<int>));
}

}  // namespace shoal::testing

#endif  // SHOAL_TESTS_SYNC_HUGE_TIMEOUTS_H_
