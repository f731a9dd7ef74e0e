// Tests for waiting on a Listener with shoal::wait / WaitSet (ipc/wait.h,
// ipc/listener.h), across real processes: the wait moves the handshakes,
// and when it reports the listener ready, accept() returns or throws at
// once (Deadline::Now() suffices). Wrong keys, garbage, a silent client
// and a client killed half-way are refused within the wait's bound.
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "shoal/base/errors.h"
#include "shoal/ipc/listener.h"
#include "shoal/ipc/queue.h"
#include "shoal/ipc/region.h"
#include "shoal/ipc/wait.h"
#include "tests/support/fork_helpers.h"

namespace shoal {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;
using shoal::testing::ForkChild;
using shoal::testing::NewShared;
using shoal::testing::SettleOtherThreads;
using shoal::testing::WaitExitCode;

// Handshakes in tests that are not about handshake_timeout get far more
// than the 5 s default: on a loaded CI machine a forked or spawned client
// can be off the CPU for seconds, and its refusal would fail the test.
ListenerOptions Patient() {
  ListenerOptions o;
  o.handshake_timeout = seconds(30);
  return o;
}

std::string UniqueAddress(const char* tag) {
  return AbstractAddress(std::string("shoal-wait-test-") + tag + "-" +
                         std::to_string(getpid()) + "-" +
                         internal::RandomHex128().substr(0, 8));
}

int RawConnect(const std::string& address) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, address.data(), address.size());
  const socklen_t len =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size());
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), len) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

double MsSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

TEST(ListenerWait, AClientFromAnotherProcessWakesTheWaitAndAcceptDoesNotBlock) {
  const std::string address = UniqueAddress("one");
  Listener listener(address, "key", Patient());
  QueueOptions qo;
  qo.maxsize = 4;
  Queue<int> q(qo);
  WaitSet set;
  set.add(q);
  set.add(listener);
  EXPECT_TRUE(set.poll().empty());
  SettleOtherThreads();  // a WaitSet helper may be starting (fork_helpers.h)
  const pid_t child = ForkChild([&] {
    Connection c = Client(address, "key", seconds(20));
    c.send<int>(5);
    CHILD_CHECK(c.recv<int>(seconds(20)) == 50);
  });
  const auto& ready = set.wait(seconds(20));
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_TRUE(ready[0].is(listener));
  Connection c = listener.accept(Deadline::Now());  // never blocks now
  EXPECT_EQ(listener.last_accepted().pid, child);
  EXPECT_EQ(c.recv<int>(seconds(20)), 5);
  c.send<int>(50);
  EXPECT_EQ(WaitExitCode(child), 0);
  EXPECT_TRUE(set.poll().empty());
  EXPECT_EQ(listener.pending(), 0u);
}

TEST(ListenerWait, WithoutAnAuthkeyAQueuedClientIsReady) {
  const std::string address = UniqueAddress("nokey");
  Listener listener(address);
  WaitSet set;
  set.add(listener);
  EXPECT_TRUE(set.poll().empty());
  SettleOtherThreads();  // a WaitSet helper may be starting (fork_helpers.h)
  const pid_t child = ForkChild([&] {
    Connection c = Client(address, {}, seconds(20));
    c.send<int>(1);
  });
  ASSERT_EQ(set.wait(seconds(20)).size(), 1u);
  Connection c = listener.accept(Deadline::Now());
  EXPECT_EQ(c.recv<int>(seconds(20)), 1);
  EXPECT_EQ(WaitExitCode(child), 0);
}

// Sixteen clients at once, five with a wrong key, served by a loop that
// waits on the listener and a queue: every good client is served exactly
// once, every bad one refused exactly once, and no accept() ever waits.
TEST(ListenerWait, SixteenClientsSomeWithWrongKeysThroughAWaitSet) {
  const std::string address = UniqueAddress("sixteen");
  Listener listener(address, "right key", Patient());
  QueueOptions qo;
  qo.maxsize = 64;
  Queue<int> done(qo);
  constexpr int kClients = 16;
  auto bad = [](int i) { return i % 3 == 1; };
  int bad_count = 0;
  std::vector<pid_t> kids;
  for (int i = 0; i < kClients; ++i) {
    if (bad(i)) ++bad_count;
    SettleOtherThreads();  // a WaitSet helper may be starting (fork_helpers.h)
    kids.push_back(ForkChild([&, i]() -> int {
      try {
        Connection c =
            Client(address, bad(i) ? "wrong key" : "right key", seconds(20));
        if (bad(i)) return 10;
        c.send<int>(i);
        if (c.recv<int>(seconds(20)) != i * 100) return 11;
        done.put(i, seconds(20));
        return 0;
      } catch (const AuthenticationError&) {
        return bad(i) ? 0 : 12;
      }
    }, 60));
  }
  WaitSet set;
  set.add(listener);
  set.add(done);
  int served = 0, refused = 0, finished = 0;
  const int good = kClients - bad_count;
  while (finished < good || refused < bad_count) {
    const auto& ready = set.wait(seconds(30));
    ASSERT_FALSE(ready.empty()) << "nothing within 30 s";
    for (const Waitable& r : ready) {
      if (r.is(listener)) {
        try {
          Connection c = listener.accept(Deadline::Now());
          c.send<int>(c.recv<int>(seconds(20)) * 100);
          ++served;
        } catch (const AuthenticationError& e) {
          EXPECT_NE(std::string(e.what()).find("digest received was wrong"),
                    std::string::npos)
              << e.what();
          ++refused;
        }
      } else {
        ASSERT_TRUE(r.is(done));
        while (done.try_get()) ++finished;
      }
    }
  }
  EXPECT_EQ(served, good);
  EXPECT_EQ(finished, good);
  EXPECT_EQ(refused, bad_count);
  EXPECT_EQ(listener.refused(), static_cast<uint64_t>(bad_count));
  for (int i = 0; i < kClients; ++i) {
    EXPECT_EQ(WaitExitCode(kids[i], seconds(30)), 0) << "client " << i;
  }
}

// A silent client is refused by the wait itself at its handshake_timeout:
// the wait returns then, not at its own 20 s.
TEST(ListenerWait, ASilentClientIsRefusedAtItsTimeout) {
  const std::string address = UniqueAddress("silent");
  ListenerOptions opts;
  opts.handshake_timeout = milliseconds(300);
  Listener listener(address, "k", opts);
  const int silent = RawConnect(address);
  ASSERT_GE(silent, 0);
  WaitSet set;
  set.add(listener);
  const auto t0 = Clock::now();
  const auto& ready = set.wait(seconds(20));
  const double ms = MsSince(t0);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_GE(ms, 300.0);
  EXPECT_LT(ms, 300.0 + shoal::testing::kSlackMs);
  try {
    (void)listener.accept(Deadline::Now());
    FAIL() << "expected AuthenticationError";
  } catch (const AuthenticationError& e) {
    EXPECT_NE(std::string(e.what()).find("within 300 ms"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(listener.pending(), 0u);
  EXPECT_TRUE(set.poll().empty());
  ::close(silent);
}

// A client killed half-way through its handshake, and one that sends
// garbage: each is ready at once and refused by accept(), nothing else.
TEST(ListenerWait, AKilledClientAndGarbageAreRefused) {
  const std::string address = UniqueAddress("killed");
  Listener listener(address, "k", Patient());
  WaitSet set;
  set.add(listener);
  auto* connected = NewShared<std::atomic<int>>(0);
  SettleOtherThreads();  // a WaitSet helper may be starting (fork_helpers.h)
  const pid_t victim = ForkChild([&] {
    const int fd = RawConnect(address);
    CHILD_CHECK(fd >= 0);
    connected->store(1);
    pause();  // killed before it answers the challenge
  });
  ASSERT_TRUE(shoal::testing::WaitUntil([&] { return connected->load() == 1; }));
  EXPECT_TRUE(set.poll().empty());  // challenged, no answer yet
  EXPECT_EQ(listener.pending(), 1u);
  kill(victim, SIGKILL);
  EXPECT_EQ(WaitExitCode(victim), -SIGKILL);
  ASSERT_EQ(set.wait(seconds(20)).size(), 1u);
  EXPECT_THROW((void)listener.accept(Deadline::Now()), AuthenticationError);
  const int fd = RawConnect(address);
  ASSERT_GE(fd, 0);
  const std::string junk = "GET / HTTP/1.1\r\n\r\n";
  ASSERT_EQ(send(fd, junk.data(), junk.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(junk.size()));
  ASSERT_EQ(set.wait(seconds(20)).size(), 1u);
  EXPECT_THROW((void)listener.accept(Deadline::Now()), AuthenticationError);
  EXPECT_EQ(listener.refused(), 2u);
  EXPECT_TRUE(set.poll().empty());
  ::close(fd);
}

TEST(ListenerWait, AClosedListenerIsReadyAndAcceptSaysClosed) {
  Listener listener(UniqueAddress("closed"), "k");
  WaitSet set;
  set.add(listener);
  EXPECT_TRUE(set.poll().empty());
  listener.close();
  EXPECT_EQ(set.poll().size(), 1u);
  EXPECT_THROW((void)listener.accept(Deadline::Now()), Closed);
  EXPECT_THROW(set.add(listener), Closed);
}

}  // namespace
}  // namespace shoal
