// Tests for ipc/wait.h: shoal::wait and WaitSet across real processes, with
// futex_waitv and with its fallback (one thread per object).
#include "shoal/ipc/wait.h"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "shoal/base/errors.h"
#include "shoal/base/internal/futex.h"
#include "shoal/ipc/internal/queue_core.h"
#include "shoal/ipc/internal/ring_core.h"
#include "tests/support/fork_helpers.h"

namespace shoal {
namespace {

using std::chrono::milliseconds;
using testing_clock = std::chrono::steady_clock;
using shoal::testing::ExitCode;
using shoal::testing::ForkChild;
using shoal::testing::NewShared;
using shoal::testing::SettleOtherThreads;
using shoal::testing::WaitExitCode;

internal::RingData* RingOf(const Queue<uint32_t>& q) {
  auto* shared = q.region().at<internal::QueueShared>(0);
  return reinterpret_cast<internal::RingData*>(q.region().payload() +
                                               shared->ring_offset);
}

// True once somebody watches the queue's read (or write) side.
bool Watched(const Queue<uint32_t>& q, bool write = false) {
  internal::RingData* d = RingOf(q);
  const auto& w = write ? d->writers_waiting : d->readers_waiting;
  return w.load() >= internal::kRingWatcher;
}

// In a child: waits (bounded by the child's alarm) until `pred`.
template <class Pred>
void AwaitInChild(Pred pred) {
  while (!pred()) usleep(200);
}

int PidfdOpen(pid_t pid) {
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
}

double MsSince(testing_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(testing_clock::now() - t0)
      .count();
}

QueueOptions Small(std::size_t maxsize = 64) {
  QueueOptions o;
  o.maxsize = maxsize;
  return o;
}

// Every test runs with futex_waitv and with the fallback.
class WaitTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { internal::SetFutexWaitvForTesting(GetParam()); }
  void TearDown() override { internal::SetFutexWaitvForTesting(true); }
};

INSTANTIATE_TEST_SUITE_P(Kernel, WaitTest, ::testing::Values(true, false),
                         [](const auto& info) {
                           return info.param ? "futex_waitv" : "fallback";
                         });

TEST_P(WaitTest, TimeoutOn64EmptyQueuesReturnsWithinItsBound) {
  std::vector<Queue<uint32_t>> qs;
  for (int i = 0; i < 64; ++i) qs.emplace_back(Small());
  std::vector<Waitable> objs(qs.begin(), qs.end());
  const auto t0 = testing_clock::now();
  EXPECT_TRUE(wait(objs, milliseconds(100)).empty());
  const double ms = MsSince(t0);
  EXPECT_GE(ms, 99.0);
  EXPECT_LT(ms, 100.0 + shoal::testing::kSlackMs);
  // Nothing stays registered after the wait.
  for (auto& q : qs) EXPECT_FALSE(Watched(q));
}

TEST_P(WaitTest, TimeoutWithDescriptorsAndQueuesReturnsWithinItsBound) {
  Queue<uint32_t> q(Small());
  auto [a, b] = Pipe();
  const auto t0 = testing_clock::now();
  EXPECT_TRUE(wait({q, a}, milliseconds(100)).empty());
  const double ms = MsSince(t0);
  EXPECT_GE(ms, 99.0);
  EXPECT_LT(ms, 100.0 + shoal::testing::kSlackMs);
}

TEST_P(WaitTest, AnItemPutByAnotherProcessWakesTheWaiter) {
  std::vector<Queue<uint32_t>> qs;
  for (int i = 0; i < 8; ++i) qs.emplace_back(Small());
  WaitSet set;
  for (auto& q : qs) set.add(q);
  SettleOtherThreads();  // a WaitSet helper may be starting (fork_helpers.h)
  const pid_t child = ForkChild([&] {
    AwaitInChild([&] { return Watched(qs[5]); });  // the waiter sleeps
    qs[5].put(55);
  });
  const auto& ready = set.wait(std::chrono::seconds(20));
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_TRUE(ready[0].is(qs[5]));
  EXPECT_EQ(ready[0].kind(), Waitable::Kind::kReadable);
  EXPECT_EQ(qs[5].try_get(), std::optional<uint32_t>(55));
  EXPECT_EQ(WaitExitCode(child), 0);
  // Drained: nothing ready any more.
  EXPECT_TRUE(set.poll().empty());
}

TEST_P(WaitTest, AFullQueueBecomesWritableWhenAConsumerTakes) {
  Queue<uint32_t> q(Small(1));
  q.put(1);
  WaitSet set;
  set.add(writable(q));
  EXPECT_TRUE(set.poll().empty());
  SettleOtherThreads();  // a WaitSet helper may be starting (fork_helpers.h)
  const pid_t child = ForkChild([&] {
    AwaitInChild([&] { return Watched(q, /*write=*/true); });
    CHILD_CHECK(q.get() == 1);
  });
  const auto& ready = set.wait(std::chrono::seconds(20));
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_TRUE(ready[0].is(q));
  EXPECT_EQ(ready[0].kind(), Waitable::Kind::kWritable);
  EXPECT_TRUE(q.try_put(2));
  EXPECT_EQ(WaitExitCode(child), 0);
}

TEST_P(WaitTest, AnEventSetByAnotherProcess) {
  auto* ev = NewShared<Event>();
  auto* go = NewShared<std::atomic<int>>(0);
  Queue<uint32_t> q(Small());
  WaitSet set;
  set.add(q);
  set.add(*ev);
  EXPECT_TRUE(set.poll().empty());
  SettleOtherThreads();  // a WaitSet helper may be starting (fork_helpers.h)
  const pid_t child = ForkChild([&] {
    AwaitInChild([&] { return go->load() == 1; });
    ev->set();
  });
  go->store(1);
  const auto& ready = set.wait(std::chrono::seconds(20));
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_TRUE(ready[0].is(*ev));
  EXPECT_EQ(ready[0].kind(), Waitable::Kind::kSet);
  EXPECT_EQ(WaitExitCode(child), 0);
  ev->clear();
  EXPECT_TRUE(set.poll().empty());
}

TEST_P(WaitTest, AProcessExitIsSeenThroughItsSentinel) {
  auto [r, w] = Pipe(false);
  SettleOtherThreads();  // a WaitSet helper may be starting (fork_helpers.h)
  const pid_t child = ForkChild([&] {
    w.close();
    try {
      r.recv<int>();  // until the parent closes its end
    } catch (const EOFError&) {
    }
    _exit(7);
  });
  r.close();
  const int pidfd = PidfdOpen(child);
  ASSERT_GE(pidfd, 0);
  Queue<uint32_t> q(Small());
  Waitable sentinel = ReadableFd{pidfd};
  EXPECT_TRUE(wait({q, sentinel}, milliseconds(50)).empty());
  w.close();  // the child leaves now
  const auto t0 = testing_clock::now();
  auto ready = wait({q, sentinel}, std::chrono::seconds(20));
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_TRUE(ready[0] == sentinel);
  EXPECT_EQ(ready[0].fd(), pidfd);
  EXPECT_LT(MsSince(t0), 20000.0);
  EXPECT_EQ(WaitExitCode(child), 7);
  ::close(pidfd);
}

TEST_P(WaitTest, TimersFireOncePerPeriod) {
  const auto t0 = testing_clock::now();  // before the timers start
  Waitable tick = Timer::Every(milliseconds(20));
  Waitable once = Timer::After(milliseconds(10));
  Queue<uint32_t> q(Small());
  WaitSet set;
  set.add(q);
  set.add(tick);
  set.add(once);
  int ticks = 0, onces = 0;
  while (ticks < 3) {
    const auto& ready = set.wait(std::chrono::seconds(10));
    ASSERT_FALSE(ready.empty());
    for (const Waitable& r : ready) {
      if (r == tick) ++ticks;
      if (r == once) {
        ++onces;
        set.remove(once);  // a one-shot timer stays ready: take it out
      }
    }
  }
  EXPECT_EQ(onces, 1);
  EXPECT_GE(MsSince(t0), 59.0);
}

// 64 objects (40 queues, 8 channels, 8 pipes, 4 events, 4 process
// sentinels), items from 4 processes to random objects in random order:
// every item is seen exactly once, every event and every exit once.
TEST_P(WaitTest, SixtyFourMixedObjectsFromFourProcesses) {
  constexpr int kProcs = 4;
  const uint32_t kPerProc = GetParam() ? 3000 : 400;
  std::vector<Queue<uint32_t>> qs;
  for (int i = 0; i < 40; ++i) qs.emplace_back(Small(16));
  std::vector<Channel<uint32_t>> chans;
  for (int i = 0; i < 8; ++i) chans.emplace_back(1, 4);
  std::vector<Connection> rd, wr;
  for (int i = 0; i < 8; ++i) {
    auto [r, w] = Pipe(false);
    rd.push_back(std::move(r));
    wr.push_back(std::move(w));
  }
  auto* events = shoal::testing::NewSharedArray<Event>(kProcs);
  std::vector<pid_t> pids;
  for (int c = 0; c < kProcs; ++c) {
    SettleOtherThreads();  // a WaitSet helper may be starting (fork_helpers.h)
    pids.push_back(ForkChild(
        [&, c] {
          for (auto& r : rd) r.close();
          std::mt19937 rng(1234 + c);
          for (uint32_t k = 0; k < kPerProc; ++k) {
            const uint32_t id = c * kPerProc + k;
            const uint32_t dest = rng() % 50;
            if (dest < 40) {
              qs[dest].put(id);
            } else if (dest < 48) {
              chans[dest - 40].send(std::span<const uint32_t>(&id, 1));
            } else {
              wr[2 * c + (dest - 48)].send(id);  // this process's two pipes
            }
          }
          events[c].set();
        },
        120));
  }
  for (auto& w : wr) w.close();
  std::vector<int> pidfds;
  for (pid_t p : pids) pidfds.push_back(PidfdOpen(p));

  auto set_ptr = std::make_unique<WaitSet>();
  WaitSet& set = *set_ptr;
  for (auto& q : qs) set.add(q);
  for (auto& ch : chans) set.add(ch);
  for (auto& r : rd) set.add(r);
  for (int c = 0; c < kProcs; ++c) set.add(events[c]);
  std::vector<Waitable> sentinels;
  for (int fd : pidfds) {
    sentinels.push_back(ReadableFd{fd});
    set.add(sentinels.back());
  }
  ASSERT_EQ(set.size(), 64u);

  std::vector<int> seen(kProcs * kPerProc, 0);
  uint64_t items = 0;
  int events_seen = 0, exits_seen = 0, eofs = 0;
  auto count = [&](uint32_t id) {
    ASSERT_LT(id, seen.size());
    ++seen[id];
    ++items;
  };
  while (items < seen.size() || events_seen < kProcs || exits_seen < kProcs ||
         eofs < 8) {
    const std::vector<Waitable> ready = set.wait(std::chrono::seconds(30));
    ASSERT_FALSE(ready.empty()) << "nothing ready for 30 s; items " << items;
    for (const Waitable& r : ready) {
      bool handled = false;
      for (auto& q : qs) {
        if (!r.is(q)) continue;
        handled = true;
        while (auto v = q.try_get()) count(*v);
      }
      for (auto& ch : chans) {
        if (!r.is(ch)) continue;
        handled = true;
        while (auto v = ch.try_receive()) {
          ASSERT_EQ(v->size(), 1u);
          count(v->data()[0]);
        }
      }
      for (auto& conn : rd) {
        if (!r.is(conn)) continue;
        handled = true;
        try {
          while (conn.poll()) count(conn.recv<uint32_t>());
        } catch (const EOFError&) {
          ++eofs;
          set.remove(r);
        }
      }
      for (int c = 0; c < kProcs; ++c) {
        if (!r.is(events[c])) continue;
        handled = true;
        ++events_seen;
        set.remove(r);
      }
      for (const Waitable& s : sentinels) {
        if (r == s) {
          handled = true;
          ++exits_seen;
          set.remove(r);
        }
      }
      ASSERT_TRUE(handled);
    }
  }
  EXPECT_EQ(items, seen.size());
  for (std::size_t i = 0; i < seen.size(); ++i) {
    ASSERT_EQ(seen[i], 1) << "item " << i;
  }
  EXPECT_EQ(events_seen, kProcs);
  EXPECT_EQ(exits_seen, kProcs);
  for (pid_t p : pids) EXPECT_EQ(WaitExitCode(p), 0);
  set_ptr.reset();  // its helper thread unregisters from every queue
  for (int fd : pidfds) ::close(fd);
  for (auto& q : qs) EXPECT_FALSE(Watched(q));
}

// Nobody is woken for an item nobody waits for: a producer putting into a
// queue outside the waiter's set makes no FUTEX_WAKE at all; its first put
// into a watched queue makes one.
TEST_P(WaitTest, NoWakeUpsForItemsNobodyWaitsFor) {
  std::vector<Queue<uint32_t>> qs;
  for (int i = 0; i < 64; ++i) qs.emplace_back(Small(2048));
  struct Counts {
    std::atomic<uint64_t> unwatched{~0ull};
    std::atomic<uint64_t> watched{~0ull};
  };
  auto* counts = NewShared<Counts>();
  WaitSet set;
  for (int i = 1; i < 64; ++i) set.add(qs[i]);  // qs[0] is not watched
  const uint32_t seq0 = RingOf(qs[0])->items_seq.load();
  const uint32_t watch0 = RingOf(qs[0])->read_watch_seq.load();
  SettleOtherThreads();  // a WaitSet helper may be starting (fork_helpers.h)
  const pid_t child = ForkChild([&] {
    AwaitInChild([&] { return Watched(qs[63]); });
    const uint64_t before = internal::FutexWakeCalls();
    for (uint32_t i = 0; i < 1000; ++i) qs[0].put(i);
    counts->unwatched = internal::FutexWakeCalls() - before;
    qs[7].put(7);
    counts->watched = internal::FutexWakeCalls() - before;
  });
  const auto& ready = set.wait(std::chrono::seconds(20));
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_TRUE(ready[0].is(qs[7]));
  ASSERT_EQ(WaitExitCode(child), 0);
  EXPECT_EQ(counts->unwatched.load(), 0u);
  EXPECT_EQ(counts->watched.load(), 1u);
  EXPECT_EQ(RingOf(qs[0])->items_seq.load(), seq0);
  EXPECT_EQ(RingOf(qs[0])->read_watch_seq.load(), watch0);
  EXPECT_EQ(qs[0].qsize(), 1000u);
}

// A writer that dies holding the slot at the head (claimed, never
// published) while another process published behind it: the waiter repairs
// the slot after the liveness interval, as a blocked get() would, and sees
// the item behind it.
TEST_P(WaitTest, AWriterKilledAtTheHeadDoesNotHideTheItemsBehindIt) {
  Channel<uint32_t> ch(1, 4);
  auto* loaned = NewShared<std::atomic<int>>(0);
  SettleOtherThreads();  // a WaitSet helper may be starting (fork_helpers.h)
  const pid_t holder = ForkChild([&] {
    auto loan = ch.loan(1);
    loaned->store(1);
    pause();  // killed holding the slot
  });
  ASSERT_TRUE(shoal::testing::WaitUntil([&] { return loaned->load() == 1; }));
  const uint32_t v = 42;
  ASSERT_TRUE(ch.try_send(std::span<const uint32_t>(&v, 1)));
  WaitSet set;
  set.add(ch);
  EXPECT_TRUE(set.poll().empty());  // the head is being written
  kill(holder, SIGKILL);
  EXPECT_EQ(WaitExitCode(holder), -SIGKILL);
  const auto t0 = testing_clock::now();
  const auto& ready = set.wait(std::chrono::seconds(20));
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_LT(MsSince(t0), 5000.0);
  auto got = ch.try_receive();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->data()[0], 42u);
  EXPECT_EQ(ch.lost(), 1u);
}

// A peer that writes garbage into a waited-on queue: the wait returns
// within its bound (the queue reported ready, or not), never crashes or
// hangs, and the queue's own next call reports InvalidRegion.
TEST_P(WaitTest, GarbageInAWaitedOnQueueIsReadyThenInvalidRegion) {
  Queue<uint32_t> good(Small()), bad(Small());
  SettleOtherThreads();  // a WaitSet helper may be starting (fork_helpers.h)
  const pid_t peer = ForkChild([&] {
    internal::RingData* d = RingOf(bad);
    // The head index far out of range.
    d->head.Store(internal::RingPos(7, 1u << 30), std::memory_order_seq_cst);
  });
  ASSERT_EQ(WaitExitCode(peer), 0);
  const auto t0 = testing_clock::now();
  auto ready = wait({good, bad}, std::chrono::seconds(5));
  EXPECT_LT(MsSince(t0), 5000.0 + shoal::testing::kSlackMs);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_TRUE(ready[0].is(bad));
  EXPECT_THROW(bad.get(Deadline::Now()), InvalidRegion);
}

TEST_P(WaitTest, GarbageWaiterCountsCostTheWaiterNothingButItsTimeout) {
  Queue<uint32_t> q(Small());
  // A peer zeroes the waiter count while we wait: the producer's put then
  // wakes nobody; the waiter still returns at its deadline, and sees the
  // item then.
  WaitSet set;
  set.add(q);
  SettleOtherThreads();  // a WaitSet helper may be starting (fork_helpers.h)
  const pid_t child = ForkChild([&] {
    AwaitInChild([&] { return Watched(q); });
    RingOf(q)->readers_waiting.store(0);
    q.put(1);
  });
  const auto t0 = testing_clock::now();
  const auto& ready = set.wait(milliseconds(300));
  EXPECT_LT(MsSince(t0), 300.0 + shoal::testing::kSlackMs);
  EXPECT_LE(ready.size(), 1u);
  ASSERT_EQ(WaitExitCode(child), 0);
  EXPECT_EQ(set.poll().size(), 1u);
  // Our disarm took the count below zero (modulo 2^32): it is garbage now,
  // which costs wakers a FUTEX_WAKE each, nothing more.
  RingOf(q)->readers_waiting.store(0);
}

// Event-loop integration: the set's fd is readable when something is ready
// and not once poll() has reported everything and it was drained.
TEST_P(WaitTest, TheSetsFdPlugsIntoEpoll) {
  std::vector<Queue<uint32_t>> qs;
  for (int i = 0; i < 3; ++i) qs.emplace_back(Small());
  auto [a, b] = Pipe();
  WaitSet set;
  for (auto& q : qs) set.add(q);
  set.add(a);
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  ASSERT_GE(ep, 0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ASSERT_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, set.fd(), &ev), 0);
  epoll_event out;
  EXPECT_EQ(epoll_wait(ep, &out, 1, 0), 0);

  SettleOtherThreads();  // the set's helper thread (fork_helpers.h)
  const pid_t child = ForkChild([&] {
    AwaitInChild([&] { return Watched(qs[2]); });  // the helper sleeps
    qs[2].put(9);
  });
  ASSERT_EQ(epoll_wait(ep, &out, 1, 20000), 1);
  auto ready = set.poll();
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_TRUE(ready[0].is(qs[2]));
  EXPECT_EQ(qs[2].try_get(), std::optional<uint32_t>(9));
  EXPECT_TRUE(set.poll().empty());
  EXPECT_EQ(epoll_wait(ep, &out, 1, 0), 0);
  ASSERT_EQ(WaitExitCode(child), 0);

  // A descriptor object: readable through the same fd.
  b.send(5);
  ASSERT_EQ(epoll_wait(ep, &out, 1, 20000), 1);
  ready = set.poll();
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_TRUE(ready[0].is(a));
  EXPECT_EQ(a.recv<int>(), 5);
  EXPECT_TRUE(set.poll().empty());
  EXPECT_EQ(epoll_wait(ep, &out, 1, 0), 0);
  ::close(ep);
}

TEST(WaitSetTest, EveryQueueKindAndChannelSide) {
  SimpleQueue<int> sq;
  JoinableQueue<int> jq;
  Channel<uint32_t> ch(1, 2);
  WaitSet set;
  set.add(sq);
  set.add(jq);
  set.add(ch);
  set.add(writable(sq));
  set.add(writable(jq));
  set.add(writable(ch));
  auto ready = set.poll();  // all three have room, none has an item
  ASSERT_EQ(ready.size(), 3u);
  for (const Waitable& r : ready) {
    EXPECT_EQ(r.kind(), Waitable::Kind::kWritable);
  }
  sq.put(1);
  jq.put(2);
  const uint32_t v = 3;
  ch.send(std::span<const uint32_t>(&v, 1));
  ready = set.poll();
  ASSERT_EQ(ready.size(), 6u);
  EXPECT_TRUE(ready[0].is(sq));
  EXPECT_TRUE(ready[1].is(jq));
  EXPECT_TRUE(ready[2].is(ch));
}

// A set made before fork() works in the child (its helper thread did not
// come along: the child starts its own) and in the parent.
TEST(WaitSetTest, UsableOnBothSidesOfAFork) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "ThreadSanitizer cannot start threads after a "
                  "multi-threaded fork";
#endif
  Queue<uint32_t> q(Small()), r(Small());
  auto [a, b] = Pipe();
  WaitSet set;
  set.add(q);
  set.add(a);
  ASSERT_GE(set.fd(), 0);  // the helper thread runs
  EXPECT_TRUE(set.poll().empty());
  SettleOtherThreads();  // the set's helper thread (fork_helpers.h)
  const pid_t child = ForkChild([&] {
    r.put(1);  // tell the parent we are up
    const auto& ready = set.wait(std::chrono::seconds(20));
    CHILD_CHECK(ready.size() == 1 && ready[0].is(q));
    CHILD_CHECK(q.try_get() == std::optional<uint32_t>(7));
  });
  ASSERT_EQ(r.get(std::chrono::seconds(20)), 1u);
  q.put(7);
  EXPECT_EQ(WaitExitCode(child), 0);
  b.send(1);
  const auto& ready = set.wait(std::chrono::seconds(20));
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_TRUE(ready[0].is(a));
}

TEST(WaitSetTest, RemoveAndLimits) {
  Queue<uint32_t> q(Small());
  WaitSet set;
  set.add(q);
  set.add(writable(q));
  EXPECT_EQ(set.size(), 2u);
  auto ready = set.poll();
  ASSERT_EQ(ready.size(), 1u);  // writable, not readable
  EXPECT_EQ(ready[0].kind(), Waitable::Kind::kWritable);
  EXPECT_EQ(set.remove_object(q), 2u);
  EXPECT_EQ(set.size(), 0u);
  std::vector<Queue<uint32_t>> many;
  for (int i = 0; i < 128; ++i) many.emplace_back(Small(1));
  WaitSet big;
  for (int i = 0; i < 127; ++i) big.add(many[i]);
  EXPECT_THROW(big.add(many[127]), ValueError);
  Connection* none = nullptr;
  EXPECT_THROW(Waitable{none}, ValueError);
}

}  // namespace
}  // namespace shoal
