// Tests for waiting on a Broadcast Subscriber with shoal::wait / WaitSet
// (ipc/wait.h, ipc/broadcast.h): across real processes, with futex_waitv
// and with its fallback. A publish from another process wakes the waiter,
// never missed; closed, lapped, a dead publisher and a peer writing garbage
// are reported within the wait's bound.
#include <signal.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "shoal/base/errors.h"
#include "shoal/base/internal/futex.h"
#include "shoal/ipc/broadcast.h"
#include "shoal/ipc/queue.h"
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
using Sub = Broadcast<uint64_t>::Subscriber;

internal::BroadcastData* DataOf(const Broadcast<uint64_t>& b) {
  return reinterpret_cast<internal::BroadcastData*>(b.region().payload());
}

// True once somebody (a watcher or a blocked receive) waits on the
// broadcast's read side.
bool Watched(const Broadcast<uint64_t>& b) {
  return DataOf(b)->readers_waiting.load() > 0;
}

template <class Pred>
void AwaitInChild(Pred pred) {
  while (!pred()) usleep(200);
}

double MsSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

void Send(Broadcast<uint64_t>& b, uint64_t v) {
  b.send(std::vector<uint64_t>{v}, seconds(20));
}

class BroadcastWaitTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { internal::SetFutexWaitvForTesting(GetParam()); }
  void TearDown() override { internal::SetFutexWaitvForTesting(true); }
};

INSTANTIATE_TEST_SUITE_P(Kernel, BroadcastWaitTest,
                         ::testing::Values(true, false),
                         [](const auto& info) {
                           return info.param ? "futex_waitv" : "fallback";
                         });

TEST_P(BroadcastWaitTest, ASubscriberAndAQueueInOneSetWakeForAnotherProcess) {
  Broadcast<uint64_t> b(1, BroadcastOptions{.slots = 4});
  Sub sub = b.subscribe();
  QueueOptions qo;
  qo.maxsize = 8;
  Queue<uint32_t> q(qo);
  WaitSet set;
  set.add(q);
  set.add(sub);
  EXPECT_TRUE(set.poll().empty());
  auto* step = NewShared<std::atomic<int>>(0);
  SettleOtherThreads();  // a WaitSet helper may be starting (fork_helpers.h)
  const pid_t child = ForkChild([&] {
    AwaitInChild([&] { return Watched(b); });  // the waiter sleeps
    Send(b, 7);
    AwaitInChild([&] { return step->load() == 1 && Watched(b); });
    q.put(9);
  });
  {
    const auto& ready = set.wait(seconds(20));
    ASSERT_EQ(ready.size(), 1u);
    EXPECT_TRUE(ready[0].is(sub));
    EXPECT_EQ(ready[0].kind(), Waitable::Kind::kReadable);
    auto v = sub.try_receive();
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ((*v)[0], 7u);
  }
  EXPECT_TRUE(set.poll().empty());  // drained
  step->store(1);
  {
    const auto& ready = set.wait(seconds(20));
    ASSERT_EQ(ready.size(), 1u);
    EXPECT_TRUE(ready[0].is(q));
    EXPECT_EQ(q.try_get(), std::optional<uint32_t>(9));
  }
  EXPECT_EQ(WaitExitCode(child), 0);
  EXPECT_TRUE(set.poll().empty());
  // Nobody left registered on the read side.
  EXPECT_EQ(DataOf(b)->readers_waiting.load(), 0u);
}

// Publishes land at every instant relative to the waiter's registration
// (the publisher does not wait for the waiter to sleep): none is missed, or
// that round's 20 s wait would time out.
TEST_P(BroadcastWaitTest, NoPublishIsMissed) {
  constexpr uint64_t kRounds = 300;
  Broadcast<uint64_t> b(1, BroadcastOptions{.slots = 2});
  Sub sub = b.subscribe();
  auto* taken = NewShared<std::atomic<uint64_t>>(0);
  SettleOtherThreads();  // a WaitSet helper may be starting (fork_helpers.h)
  const pid_t child = ForkChild([&] {
    for (uint64_t i = 0; i < kRounds; ++i) {
      AwaitInChild([&] { return taken->load() == i; });
      if (i % 3 == 1) usleep(static_cast<useconds_t>(i % 7) * 50);
      Send(b, i);
    }
  }, 120);
  WaitSet set;
  set.add(sub);
  for (uint64_t i = 0; i < kRounds; ++i) {
    const auto& ready = set.wait(seconds(20));
    ASSERT_EQ(ready.size(), 1u) << "round " << i;
    auto v = sub.try_receive();
    ASSERT_TRUE(v.has_value()) << "round " << i;
    EXPECT_EQ((*v)[0], i);
    v.reset();
    taken->store(i + 1);
  }
  EXPECT_EQ(WaitExitCode(child, seconds(60)), 0);
  EXPECT_EQ(sub.delivered(), kRounds);
}

TEST_P(BroadcastWaitTest, ClosedByAnotherProcessIsReadyAndReceiveSaysClosed) {
  Broadcast<uint64_t> b(1, BroadcastOptions{.slots = 4});
  Sub sub = b.subscribe();
  Send(b, 1);
  WaitSet set;
  set.add(sub);
  ASSERT_EQ(set.poll().size(), 1u);
  EXPECT_EQ(sub.recv(seconds(1))[0], 1u);
  EXPECT_TRUE(set.poll().empty());
  SettleOtherThreads();  // a WaitSet helper may be starting (fork_helpers.h)
  const pid_t child = ForkChild([&] {
    AwaitInChild([&] { return Watched(b); });
    b.close();
  });
  const auto& ready = set.wait(seconds(20));
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_TRUE(ready[0].is(sub));
  EXPECT_THROW(sub.receive(Deadline::Now()), Closed);
  EXPECT_EQ(set.poll().size(), 1u);  // closed and drained stays ready
  EXPECT_EQ(WaitExitCode(child), 0);
}

TEST_P(BroadcastWaitTest, ALappedOverwriteSubscriberIsReadyAndToldWhatItMissed) {
  Broadcast<uint64_t> b(1, BroadcastOptions{.slots = 4});
  Sub sub = b.subscribe({.when_behind = WhenBehind::kOverwrite});
  WaitSet set;
  set.add(sub);
  SettleOtherThreads();  // a WaitSet helper may be starting (fork_helpers.h)
  const pid_t child = ForkChild([&] {
    for (uint64_t i = 0; i < 10; ++i) Send(b, i);
  });
  ASSERT_EQ(WaitExitCode(child), 0);
  const auto& ready = set.wait(seconds(20));
  ASSERT_EQ(ready.size(), 1u);
  auto v = sub.try_receive();
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->missed_before(), 6u);  // blocks 0..5 were overwritten
  EXPECT_EQ((*v)[0], 6u);
  v.reset();
  for (uint64_t i = 7; i < 10; ++i) EXPECT_EQ(sub.recv(seconds(1))[0], i);
  EXPECT_TRUE(set.poll().empty());
  EXPECT_EQ(sub.missed(), 6u);
  EXPECT_EQ(sub.delivered(), 4u);
}

// A publisher killed holding the loan at the subscriber's cursor: the wait
// repairs the slot after the liveness interval and reports the block behind
// it, well before the wait's own 20 s.
TEST_P(BroadcastWaitTest, APublisherKilledAtTheCursorDoesNotHideWhatFollows) {
  Broadcast<uint64_t> b(1, BroadcastOptions{.slots = 4});
  Sub sub = b.subscribe();
  auto* loaned = NewShared<std::atomic<int>>(0);
  SettleOtherThreads();  // a WaitSet helper may be starting (fork_helpers.h)
  const pid_t holder = ForkChild([&] {
    auto loan = b.loan(1);
    loaned->store(1);
    pause();  // killed holding the slot
  });
  ASSERT_TRUE(shoal::testing::WaitUntil([&] { return loaned->load() == 1; }));
  Send(b, 42);
  WaitSet set;
  set.add(sub);
  EXPECT_TRUE(set.poll().empty());  // the block at the cursor is being written
  kill(holder, SIGKILL);
  EXPECT_EQ(WaitExitCode(holder), -SIGKILL);
  const auto t0 = Clock::now();
  const auto& ready = set.wait(seconds(20));
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_LT(MsSince(t0), static_cast<double>(shoal::testing::kSlackMs));
  EXPECT_EQ(sub.recv(Deadline::Now())[0], 42u);
  EXPECT_EQ(sub.lost(), 1u);
  EXPECT_EQ(b.lost(), 1u);
}

// A peer writes garbage where the subscriber's next block would be: the
// set reports it ready (its receive throws InvalidRegion) or times out at
// its bound; either way within the bound, and never a crash.
TEST_P(BroadcastWaitTest, GarbageAtTheCursorIsReadyAndReceiveThrows) {
  Broadcast<uint64_t> b(1, BroadcastOptions{.slots = 4});
  Sub sub = b.subscribe();
  WaitSet set;
  set.add(sub);
  SettleOtherThreads();  // a WaitSet helper may be starting (fork_helpers.h)
  const pid_t peer = ForkChild([&] {
    AwaitInChild([&] { return Watched(b); });
    Send(b, 5);
    auto* d = DataOf(b);
    auto* slot = reinterpret_cast<internal::BroadcastSlotHeader*>(
        b.region().payload() + d->slots_offset);
    slot->flags.store(0xdead0000u);  // not a flag anybody writes
  });
  const auto t0 = Clock::now();
  const auto& ready = set.wait(seconds(20));
  EXPECT_LT(MsSince(t0), 20000.0 + shoal::testing::kSlackMs);
  ASSERT_EQ(WaitExitCode(peer), 0);
  EXPECT_EQ(set.poll().size(), 1u);
  (void)ready;
  EXPECT_THROW(sub.receive(Deadline::Now()), InvalidRegion);
  // The cursor moved past it: nothing more.
  EXPECT_TRUE(set.poll().empty());
}

// Random garbage over the whole ring (header, slots, the subscriber table)
// from another process, many times: every wait returns within its bound,
// nothing crashes, and the subscriber's next receive returns, throws a
// shoal::Error, or times out.
TEST_P(BroadcastWaitTest, RandomGarbageFromAPeerNeverHangsOrCrashesTheWaiter) {
  for (int round = 0; round < 20; ++round) {
    Broadcast<uint64_t> b(2, BroadcastOptions{.slots = 4, .max_subscribers = 8});
    Sub sub = b.subscribe({.when_behind = WhenBehind::kOverwrite});
    Send(b, 1);
    (void)sub.recv(seconds(1));
    WaitSet set;
    set.add(sub);
    SettleOtherThreads();  // a WaitSet helper may be starting (fork_helpers.h)
    const pid_t peer = ForkChild([&, round] {
      std::mt19937_64 rng(static_cast<uint64_t>(round) * 7919 + 1);
      auto* bytes = reinterpret_cast<unsigned char*>(b.region().payload());
      const std::size_t n = b.region().payload_size();
      for (int k = 0; k < 24; ++k) {
        const std::size_t at = rng() % n;
        const uint64_t v = rng();
        std::memcpy(bytes + (at & ~std::size_t{7}), &v,
                    std::min<std::size_t>(8, n - (at & ~std::size_t{7})));
      }
      // Wake whoever sleeps (as a publish would).
      DataOf(b)->items_seq.fetch_add(1);
      internal::FutexWake(&DataOf(b)->items_seq, 1 << 30);
    });
    ASSERT_EQ(WaitExitCode(peer), 0);
    const auto t0 = Clock::now();
    (void)set.wait(milliseconds(200));
    EXPECT_LT(MsSince(t0), 200.0 + shoal::testing::kSlackMs);
    try {
      (void)sub.try_receive(milliseconds(100));
    } catch (const Error&) {
    }
    // Our own disarm may have left a garbage count: zero it so that the
    // region's teardown is not disturbed (it is not read there anyway).
    DataOf(b)->readers_waiting.store(0);
  }
}

TEST_P(BroadcastWaitTest, ALeftSubscriberIsReadyAndReceiveSaysSo) {
  Broadcast<uint64_t> b(1, BroadcastOptions{.slots = 4});
  Sub sub = b.subscribe();
  WaitSet set;
  set.add(sub);
  EXPECT_TRUE(set.poll().empty());
  sub.leave();
  EXPECT_EQ(set.poll().size(), 1u);
  EXPECT_THROW(sub.receive(Deadline::Now()), ValueError);
  Sub empty;
  EXPECT_THROW(set.add(empty), ValueError);
}

TEST_P(BroadcastWaitTest, ABlockKeptByRecvIntoAShortBufferIsReady) {
  Broadcast<uint64_t> b(4, BroadcastOptions{.slots = 4});
  Sub sub = b.subscribe();
  WaitSet set;
  set.add(sub);
  b.send(std::vector<uint64_t>{1, 2, 3});
  uint64_t one[1];
  EXPECT_THROW(sub.recv(std::span<uint64_t>(one, 1), Deadline::Now()),
               BufferTooShort);
  EXPECT_EQ(set.poll().size(), 1u);
  uint64_t three[3];
  EXPECT_EQ(sub.recv(std::span<uint64_t>(three, 3), Deadline::Now()), 3u);
  EXPECT_TRUE(set.poll().empty());
}

// The set's descriptor (event loops) covers subscribers too.
TEST_P(BroadcastWaitTest, TheSetsFdFiresForAPublish) {
  Broadcast<uint64_t> b(1, BroadcastOptions{.slots = 4});
  Sub sub = b.subscribe();
  WaitSet set;
  set.add(sub);
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  ASSERT_GE(ep, 0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ASSERT_EQ(::epoll_ctl(ep, EPOLL_CTL_ADD, set.fd(), &ev), 0);
  epoll_event out;
  EXPECT_EQ(::epoll_wait(ep, &out, 1, 0), 0);
  SettleOtherThreads();  // the set's helper thread (fork_helpers.h)
  const pid_t child = ForkChild([&] {
    AwaitInChild([&] { return Watched(b); });  // the helper watches
    Send(b, 3);
  });
  EXPECT_EQ(::epoll_wait(ep, &out, 1, 20000), 1);
  const auto& ready = set.poll();
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(sub.recv(Deadline::Now())[0], 3u);
  EXPECT_EQ(WaitExitCode(child), 0);
  ::close(ep);
}

}  // namespace
}  // namespace shoal
