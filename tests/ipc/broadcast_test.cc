// Tests for ipc/broadcast.h: Broadcast<T> across real processes. Every
// subscriber sees every block; late joiners get history; overwrite
// subscribers are told exactly what they missed; subscribers and writers
// SIGKILLed at progress-driven instants cost nothing but what the contract
// says, and every count adds up.
#include "shoal/ipc/broadcast.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "shoal/base/errors.h"
#include "tests/support/fork_helpers.h"

namespace {

using shoal::Broadcast;
using shoal::BroadcastOptions;
using shoal::Deadline;
using shoal::SubscribeOptions;
using shoal::WhenBehind;
using shoal::testing::ForkChild;
using shoal::testing::NewShared;
using shoal::testing::WaitExitCode;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

constexpr auto kOverwrite = SubscribeOptions{.when_behind = WhenBehind::kOverwrite};

// Progress reported by children through a shared mapping.
struct Progress {
  std::atomic<uint64_t> count[64];
  std::atomic<uint32_t> ready[64];
};

// Waits (bounded) until `pred` holds.
template <class Pred>
bool WaitFor(Pred pred, milliseconds limit = milliseconds(20000)) {
  const auto end = Clock::now() + limit;
  while (!pred()) {
    if (Clock::now() > end) return false;
    usleep(200);
  }
  return true;
}

// A block whose words depend on its sequence number and writer.
struct Tagged {
  uint64_t writer;
  uint64_t n;
  uint64_t check;
  static Tagged Make(uint64_t w, uint64_t n) { return {w, n, w * 1000003 ^ n}; }
  bool ok() const { return check == (writer * 1000003 ^ n); }
};

TEST(Broadcast, LoanPublishReceiveInPlace) {
  Broadcast<int> b(16, BroadcastOptions{.slots = 4});
  auto s1 = b.subscribe();
  auto s2 = b.subscribe();
  EXPECT_EQ(b.subscribers(), 2u);
  auto loan = b.loan(16);
  EXPECT_EQ(loan.seq(), 0u);
  std::iota(loan.begin(), loan.end(), 100);
  loan.publish(5);
  auto v1 = s1.receive(seconds(5));
  auto v2 = s2.receive(seconds(5));
  ASSERT_EQ(v1.size(), 5u);
  EXPECT_EQ(v1.data(), v2.data());  // the same bytes, nothing copied
  EXPECT_EQ(v1[4], 104);
  EXPECT_EQ(v1.seq(), 0u);
  EXPECT_EQ(v1.missed_before(), 0u);
  EXPECT_FALSE(s1.try_receive().has_value());
  v1.release();
  v2.release();
  std::vector<int> in{1, 2, 3};
  b.send(in);
  EXPECT_EQ(s1.recv(seconds(5)), in);
  int small[2];
  EXPECT_THROW(s2.recv(std::span<int>(small), seconds(5)), shoal::BufferTooShort);
  int big[8];
  EXPECT_EQ(s2.recv(std::span<int>(big), seconds(5)), 3u);  // kept for us
  EXPECT_EQ(big[2], 3);
  EXPECT_EQ(s1.delivered(), 2u);
  EXPECT_EQ(b.published(), 2u);
  EXPECT_THROW(b.loan(17), shoal::ValueError);
}

TEST(Broadcast, AbandonedLoanIsSkippedByEverySubscriber) {
  Broadcast<int> b(1, BroadcastOptions{.slots = 4});
  auto s = b.subscribe();
  { auto loan = b.loan(1); }  // never published
  b.send(std::vector<int>{7});
  auto v = s.receive(seconds(5));
  EXPECT_EQ(v[0], 7);
  EXPECT_EQ(v.seq(), 1u);
  EXPECT_EQ(s.delivered(), 1u);
  EXPECT_EQ(s.missed(), 0u);
}

TEST(Broadcast, BadArgumentsAreValueErrors) {
  EXPECT_THROW(Broadcast<int>(0), shoal::ValueError);
  EXPECT_THROW(Broadcast<int>(1, BroadcastOptions{.slots = 0}), shoal::ValueError);
  EXPECT_THROW(Broadcast<int>(1, BroadcastOptions{.slots = 4, .history = 4}),
               shoal::ValueError);
  EXPECT_THROW(Broadcast<int>(1, BroadcastOptions{.max_subscribers = 0}),
               shoal::ValueError);
  EXPECT_THROW(Broadcast<int>(1, BroadcastOptions{.max_subscribers = 70000}),
               shoal::ValueError);
}

TEST(Broadcast, BlockWriterSubscriberMakesThePublisherWaitBounded) {
  Broadcast<int> b(1, BroadcastOptions{.slots = 4});
  auto slow = b.subscribe();
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(b.try_send(std::vector<int>{i}));
  EXPECT_FALSE(b.try_send(std::vector<int>{4}));
  const auto t0 = Clock::now();
  EXPECT_THROW(b.loan(1, milliseconds(60)), shoal::TimeoutError);
  EXPECT_LT(Clock::now() - t0, seconds(5));
  // Reading one frees one slot.
  EXPECT_EQ(slow.recv(seconds(5))[0], 0);
  EXPECT_TRUE(b.try_send(std::vector<int>{4}));
  for (int i = 1; i <= 4; ++i) EXPECT_EQ(slow.recv(seconds(5))[0], i);
  EXPECT_EQ(slow.missed(), 0u);
}

TEST(Broadcast, AHeldViewPinsItsBlockEvenForAnOverwriteSubscriber) {
  Broadcast<int> b(1, BroadcastOptions{.slots = 2});
  auto s = b.subscribe(kOverwrite);
  b.send(std::vector<int>{10});
  auto v = s.receive(seconds(5));
  ASSERT_TRUE(b.try_send(std::vector<int>{11}));
  // The next publication would reuse the slot of the held block.
  EXPECT_FALSE(b.try_send(std::vector<int>{12}));
  EXPECT_EQ(v[0], 10);
  v.release();
  EXPECT_TRUE(b.try_send(std::vector<int>{12}));
}

TEST(Broadcast, OverwriteSubscriberIsToldExactlyWhatItMissed) {
  Broadcast<uint64_t> b(1, BroadcastOptions{.slots = 4});
  auto fast = b.subscribe();       // reads everything, blocks the writer
  auto lazy = b.subscribe(kOverwrite);
  for (uint64_t i = 0; i < 100; ++i) {
    b.send(std::vector<uint64_t>{i}, seconds(5));
    EXPECT_EQ(fast.recv(seconds(5))[0], i);
  }
  // Slots hold 96..99; lazy never read: 96 were overwritten.
  auto v = lazy.receive(seconds(5));
  EXPECT_EQ(v[0], 96u);
  EXPECT_EQ(v.seq(), 96u);
  EXPECT_EQ(v.missed_before(), 96u);
  v.release();
  for (uint64_t i = 97; i < 100; ++i) {
    auto w = lazy.receive(seconds(5));
    EXPECT_EQ(w[0], i);
    EXPECT_EQ(w.missed_before(), 0u);
  }
  EXPECT_EQ(lazy.missed(), 96u);
  EXPECT_EQ(lazy.delivered(), 4u);
  EXPECT_EQ(lazy.delivered() + lazy.missed() + lazy.lost(), 100u);
  EXPECT_EQ(fast.missed(), 0u);
}

TEST(Broadcast, LateJoinerGetsHistory) {
  Broadcast<int> b(1, BroadcastOptions{.slots = 8, .history = 4});
  for (int i = 0; i < 10; ++i) b.send(std::vector<int>{i});  // nobody listens
  auto none = b.subscribe();
  auto two = b.subscribe({.history = 2});
  auto all = b.subscribe({.history = 100});  // clamped to 4
  b.send(std::vector<int>{10});
  EXPECT_EQ(none.recv(seconds(5))[0], 10);
  EXPECT_EQ(two.recv(seconds(5))[0], 8);
  EXPECT_EQ(two.recv(seconds(5))[0], 9);
  EXPECT_EQ(two.recv(seconds(5))[0], 10);
  for (int i = 6; i <= 10; ++i) EXPECT_EQ(all.recv(seconds(5))[0], i);
  EXPECT_EQ(all.missed(), 0u);
  // History never reaches before the first block.
  Broadcast<int> young(1, BroadcastOptions{.slots = 8, .history = 4});
  young.send(std::vector<int>{1});
  auto s = young.subscribe({.history = 4});
  EXPECT_EQ(s.recv(seconds(5))[0], 1);
  EXPECT_FALSE(s.try_receive().has_value());
}

TEST(Broadcast, CloseDrainsThenClosed) {
  Broadcast<int> b(1, BroadcastOptions{.slots = 4});
  auto s = b.subscribe();
  b.send(std::vector<int>{1});
  b.close();
  EXPECT_THROW(b.send(std::vector<int>{2}), shoal::Closed);
  EXPECT_EQ(s.recv(seconds(5))[0], 1);
  EXPECT_THROW(s.receive(seconds(5)), shoal::Closed);
}

TEST(Broadcast, LeavingFreesTheWriter) {
  Broadcast<int> b(1, BroadcastOptions{.slots = 2});
  {
    auto s = b.subscribe();
    b.send(std::vector<int>{1});
    b.send(std::vector<int>{2});
    EXPECT_FALSE(b.try_send(std::vector<int>{3}));
    EXPECT_EQ(b.subscribers(), 1u);
  }
  EXPECT_EQ(b.subscribers(), 0u);
  EXPECT_TRUE(b.try_send(std::vector<int>{3}));
}

TEST(Broadcast, EverySubscriberProcessSeesEveryBlockInOrder) {
  constexpr int kSubs = 4;
  constexpr uint64_t kBlocks = 3000;
  BroadcastOptions o{.slots = 8};
  o.region.kind = shoal::RegionKind::kNamed;
  o.region.name = "bcast-every-" + std::to_string(getpid());
  Broadcast<Tagged> b(4, o);
  auto* p = NewShared<Progress>();
  std::vector<pid_t> kids;
  for (int k = 0; k < kSubs; ++k) {
    kids.push_back(ForkChild([&, k]() -> int {
      // An unrelated opener: by name, not the inherited handle.
      auto mine = Broadcast<Tagged>::Open(o.region.name);
      auto s = mine.subscribe();
      p->ready[k].store(1);
      for (uint64_t i = 0; i < kBlocks; ++i) {
        auto v = s.receive(seconds(20));
        if (v.size() != 1 + i % 4 || v.seq() != i) return 10;
        for (const Tagged& t : v) {
          if (!t.ok() || t.n != i) return 11;
        }
      }
      if (s.missed() != 0 || s.lost() != 0 || s.delivered() != kBlocks) return 12;
      return 0;
    }, 60));
  }
  for (int k = 0; k < kSubs; ++k) {
    ASSERT_TRUE(WaitFor([&] { return p->ready[k].load() == 1; }));
  }
  for (uint64_t i = 0; i < kBlocks; ++i) {
    auto loan = b.loan(1 + i % 4, seconds(20));
    for (auto& t : loan) t = Tagged::Make(0, i);
    loan.publish();
  }
  for (pid_t k : kids) EXPECT_EQ(WaitExitCode(k, seconds(60)), 0);
}

TEST(Broadcast, TwoWriterProcessesEverySubscriberGetsBoth) {
  constexpr uint64_t kPerWriter = 1000;
  Broadcast<Tagged> b(1, BroadcastOptions{.slots = 8});
  auto s1 = b.subscribe();
  auto s2 = b.subscribe(kOverwrite);  // may miss; must account for it
  std::vector<pid_t> writers;
  for (uint64_t w = 1; w <= 2; ++w) {
    writers.push_back(ForkChild([&, w] {
      for (uint64_t i = 0; i < kPerWriter; ++i) {
        b.send(std::vector<Tagged>{Tagged::Make(w, i)}, seconds(20));
      }
    }, 60));
  }
  uint64_t next[3] = {0, 0, 0};
  for (uint64_t i = 0; i < 2 * kPerWriter; ++i) {
    auto v = s1.receive(seconds(20));
    ASSERT_TRUE(v[0].ok());
    ASSERT_EQ(v[0].n, next[v[0].writer]++);  // each writer's order kept
  }
  for (pid_t w : writers) EXPECT_EQ(WaitExitCode(w, seconds(30)), 0);
  EXPECT_EQ(next[1], kPerWriter);
  EXPECT_EQ(next[2], kPerWriter);
  while (auto v = s2.try_receive()) ASSERT_TRUE((*v)[0].ok());
  EXPECT_EQ(s2.delivered() + s2.missed(), 2 * kPerWriter);
}

// A subscriber SIGKILLed at progress-driven instants, while holding a view
// and with blocks unread (block-the-writer): the publisher is held up only
// until the subscriber is evicted; a survivor sees every block.
TEST(Broadcast, KilledSubscribersAreEvictedAndCountsAddUp) {
  constexpr int kKills = 3;
  constexpr uint64_t kBlocks = 1500;
  Broadcast<uint64_t> b(1, BroadcastOptions{.slots = 8});
  auto* p = NewShared<Progress>();
  // The survivor, in its own process.
  const pid_t survivor = ForkChild([&]() -> int {
    auto s = b.subscribe();
    p->ready[0].store(1);
    for (uint64_t i = 0; i < kBlocks; ++i) {
      if (s.recv(seconds(20))[0] != i) return 10;
    }
    return s.missed() == 0 && s.lost() == 0 ? 0 : 11;
  }, 60);
  ASSERT_TRUE(WaitFor([&] { return p->ready[0].load() == 1; }));
  uint64_t sent = 0;
  for (int k = 1; k <= kKills; ++k) {
    const uint64_t reads_before_kill = 20 + 7 * k;
    const pid_t victim = ForkChild([&, k, reads_before_kill]() -> int {
      auto s = b.subscribe();
      p->ready[k].store(1);
      std::optional<Broadcast<uint64_t>::View> held;
      for (uint64_t i = 0; i < reads_before_kill; ++i) held = s.receive(seconds(20));
      p->count[k].store(reads_before_kill);  // holding a view, not reading
      pause();
      return 0;
    }, 60);
    ASSERT_TRUE(WaitFor([&] { return p->ready[k].load() == 1; }));
    // Publish until the victim has read what it will read, then kill it.
    // (Short tries: once the victim stops reading, the ring fills up.)
    while (p->count[k].load() == 0) {
      ASSERT_LT(sent, kBlocks);
      if (b.try_send(std::vector<uint64_t>{sent}, milliseconds(10))) ++sent;
    }
    kill(victim, SIGKILL);
    EXPECT_EQ(WaitExitCode(victim, seconds(10)), -SIGKILL);
    // The victim blocks the next lap; the publisher evicts it.
    const auto t0 = Clock::now();
    for (int i = 0; i < 16 && sent < kBlocks; ++i, ++sent) {
      b.send(std::vector<uint64_t>{sent}, seconds(30));
    }
    // The survivor must read on, too: well below the sends' 30 s, which a
    // victim that was never evicted would take.
    EXPECT_LT(Clock::now() - t0, seconds(15));
    EXPECT_EQ(b.evicted(), static_cast<uint64_t>(k));
  }
  for (; sent < kBlocks; ++sent) b.send(std::vector<uint64_t>{sent}, seconds(20));
  EXPECT_EQ(WaitExitCode(survivor, seconds(60)), 0);
  EXPECT_EQ(b.evicted(), static_cast<uint64_t>(kKills));
  EXPECT_EQ(b.lost(), 0u);
}

// A publisher SIGKILLed holding a loan (at a progress-driven instant): each
// subscriber passes over that one sequence number and counts it as lost;
// another publisher carries on; delivered + lost adds up.
TEST(Broadcast, KilledWriterCostsOneBlockCountedAsLost) {
  constexpr int kKills = 3;
  Broadcast<uint64_t> b(1, BroadcastOptions{.slots = 8});
  auto a = b.subscribe();
  auto o = b.subscribe(kOverwrite);
  auto* p = NewShared<Progress>();
  uint64_t published = 0;
  for (int k = 0; k < kKills; ++k) {
    const uint64_t before = 3 + k;
    const pid_t w = ForkChild([&, k, before] {
      for (uint64_t i = 0; i < before; ++i) b.send(std::vector<uint64_t>{1});
      auto loan = b.loan(1);  // never published
      p->count[k].store(1);
      pause();
    }, 60);
    ASSERT_TRUE(WaitFor([&] { return p->count[k].load() == 1; }));
    kill(w, SIGKILL);
    EXPECT_EQ(WaitExitCode(w, seconds(10)), -SIGKILL);
    published += before;
    b.send(std::vector<uint64_t>{2}, seconds(30));  // the survivor writes on
    ++published;
    // Everything up to the survivor's block arrives; the dead writer's slot
    // is passed over after the liveness check.
    const auto t0 = Clock::now();
    for (uint64_t i = 0; i < before + 1; ++i) {
      (void)a.recv(seconds(30));
      (void)o.recv(seconds(30));
    }
    EXPECT_LT(Clock::now() - t0, seconds(5));
  }
  EXPECT_FALSE(a.try_receive().has_value());
  EXPECT_EQ(b.lost(), static_cast<uint64_t>(kKills));
  EXPECT_EQ(a.lost(), static_cast<uint64_t>(kKills));
  EXPECT_EQ(o.lost(), static_cast<uint64_t>(kKills));
  EXPECT_EQ(a.delivered(), published);
  EXPECT_EQ(a.delivered() + a.missed() + a.lost(), b.published());
  EXPECT_EQ(o.delivered() + o.missed() + o.lost(), b.published());
}

TEST(Broadcast, TwoHundredFiftySixSubscribersAcrossProcesses) {
  constexpr int kProcs = 16, kEach = 16;  // 256 subscribers
  constexpr uint64_t kBlocks = 40;
  Broadcast<uint64_t> b(1, BroadcastOptions{.slots = 8, .max_subscribers = 256});
  auto* p = NewShared<Progress>();
  std::vector<pid_t> kids;
  for (int k = 0; k < kProcs; ++k) {
    kids.push_back(ForkChild([&, k]() -> int {
      std::vector<Broadcast<uint64_t>::Subscriber> subs;
      for (int j = 0; j < kEach; ++j) subs.push_back(b.subscribe());
      p->ready[k].store(1);
      for (uint64_t i = 0; i < kBlocks; ++i) {
        for (auto& s : subs) {
          if (s.recv(seconds(20))[0] != i) return 10;
        }
      }
      if (k == 0) {
        p->count[0].store(1);
        pause();  // keeps its 16 entries until killed
      }
      return 0;
    }, 90));
  }
  for (int k = 0; k < kProcs; ++k) {
    ASSERT_TRUE(WaitFor([&] { return p->ready[k].load() == 1; }));
  }
  EXPECT_EQ(b.subscribers(), 256u);
  EXPECT_THROW(b.subscribe(), shoal::RuntimeError);  // the table is full
  for (uint64_t i = 0; i < kBlocks; ++i) b.send(std::vector<uint64_t>{i}, seconds(20));
  for (int k = 1; k < kProcs; ++k) EXPECT_EQ(WaitExitCode(kids[k], seconds(60)), 0);
  ASSERT_TRUE(WaitFor([&] { return p->count[0].load() == 1; }));
  EXPECT_EQ(b.subscribers(), 16u);
  kill(kids[0], SIGKILL);
  EXPECT_EQ(WaitExitCode(kids[0], seconds(10)), -SIGKILL);
  // Its 16 entries go to newcomers once it is proven dead.
  std::vector<Broadcast<uint64_t>::Subscriber> fresh;
  for (int j = 0; j < 256; ++j) fresh.push_back(b.subscribe());
  EXPECT_EQ(b.evicted(), 16u);
  EXPECT_EQ(b.subscribers(), 256u);
}

// Threads of one process (what ThreadSanitizer can check): two publishing
// threads with their own handles, three subscriber threads in place.
TEST(Broadcast, ThreadsPublishAndSubscribe) {
  constexpr uint64_t kPerWriter = 2000;
  Broadcast<Tagged> b(2, BroadcastOptions{.slots = 4});
  std::vector<Broadcast<Tagged>::Subscriber> subs;
  for (int i = 0; i < 3; ++i) subs.push_back(b.subscribe(i == 2 ? kOverwrite : SubscribeOptions{}));
  std::atomic<int> bad{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 3; ++i) {
    readers.emplace_back([&, i] {
      auto& s = subs[i];
      uint64_t next[3] = {0, 0, 0};
      for (;;) {
        std::optional<Broadcast<Tagged>::View> v;
        try {
          v = s.receive(seconds(20));
        } catch (const shoal::Closed&) {
          break;
        }
        for (const Tagged& t : *v) {
          if (!t.ok() || t.writer < 1 || t.writer > 2) ++bad;
        }
        const Tagged& t = (*v)[0];
        if (i < 2 && t.n != next[t.writer]) ++bad;
        if (t.writer >= 1 && t.writer <= 2) next[t.writer] = t.n + 1;
      }
      if (i < 2 && (s.delivered() != 2 * kPerWriter || s.missed() != 0)) ++bad;
      if (i == 2 && s.delivered() + s.missed() != 2 * kPerWriter) ++bad;
    });
  }
  std::vector<std::thread> writers;
  for (uint64_t w = 1; w <= 2; ++w) {
    writers.emplace_back([&, w, mine = b] () mutable {
      for (uint64_t i = 0; i < kPerWriter; ++i) {
        auto loan = mine.loan(2, seconds(20));
        loan[0] = loan[1] = Tagged::Make(w, i);
        loan.publish();
      }
    });
  }
  for (auto& t : writers) t.join();
  b.close();
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0);
}

// Four publishing threads race for every sequence of a two-slot ring (a
// writer that finds a sequence already claimed moves `tail` on for its
// claimer, which must still publish under the sequence it claimed): the
// subscriber sees sequences 0, 1, 2, ... with every block in each writer's
// order, nothing counted as missed and no sequence taken twice.
TEST(Broadcast, RacingWritersKeepTheirSequences) {
  constexpr uint64_t kWriters = 4;
  constexpr uint64_t kPerWriter = 3000;
  Broadcast<Tagged> b(1, BroadcastOptions{.slots = 2});
  auto s = b.subscribe();
  std::vector<std::thread> writers;
  for (uint64_t w = 1; w <= kWriters; ++w) {
    writers.emplace_back([w, mine = b]() mutable {
      for (uint64_t i = 0; i < kPerWriter; ++i) {
        auto loan = mine.loan(1, seconds(20));
        loan[0] = Tagged::Make(w, i);
        loan.publish();
      }
    });
  }
  uint64_t next[kWriters + 1] = {};
  uint64_t wrong_seq = 0, wrong_block = 0;
  for (uint64_t i = 0; i < kWriters * kPerWriter; ++i) {
    auto v = s.receive(seconds(20));
    if (v.seq() != i) ++wrong_seq;
    const Tagged t = v[0];
    if (!t.ok() || t.writer < 1 || t.writer > kWriters ||
        t.n != next[t.writer]++) {
      ++wrong_block;
    }
  }
  for (auto& t : writers) t.join();
  EXPECT_EQ(wrong_seq, 0u);
  EXPECT_EQ(wrong_block, 0u);
  EXPECT_EQ(s.missed(), 0u);
  EXPECT_EQ(s.delivered(), kWriters * kPerWriter);
  EXPECT_EQ(b.published(), kWriters * kPerWriter);
}

TEST(Broadcast, ForkedChildCannotUseItsParentsSubscriber) {
  Broadcast<int> b(1);
  auto s = b.subscribe();
  const pid_t kid = ForkChild([&]() -> int {
    try {
      (void)s.try_receive();
    } catch (const shoal::ValueError&) {
      return 0;
    }
    return 1;
  });
  EXPECT_EQ(WaitExitCode(kid, seconds(10)), 0);
  b.send(std::vector<int>{5});
  EXPECT_EQ(s.recv(seconds(5))[0], 5);  // the parent's is intact
}

TEST(Broadcast, GarbageGeometryIsInvalidRegion) {
  Broadcast<int> b(4, BroadcastOptions{.slots = 4});
  auto* d = reinterpret_cast<shoal::internal::BroadcastData*>(b.region().payload());
  const uint32_t saved = d->capacity;
  d->capacity = 1u << 30;
  EXPECT_THROW(Broadcast<int>::Open(b.ref()), shoal::InvalidRegion);
  d->capacity = saved;
  d->stride += 64;
  EXPECT_THROW(Broadcast<int>::Open(b.ref()), shoal::InvalidRegion);
  d->stride -= 64;
  EXPECT_NO_THROW(Broadcast<int>::Open(b.ref()));
  EXPECT_THROW(Broadcast<long>::Open(b.ref()), shoal::InvalidRegion);  // type
}

TEST(Broadcast, GarbageBlockSizeIsInvalidRegionAndTheCursorMovesOn) {
  Broadcast<int> b(4, BroadcastOptions{.slots = 4});
  auto s = b.subscribe();
  b.send(std::vector<int>{1});
  b.send(std::vector<int>{2});
  auto* d = reinterpret_cast<shoal::internal::BroadcastData*>(b.region().payload());
  auto* slot = reinterpret_cast<shoal::internal::BroadcastSlotHeader*>(
      b.region().payload() + d->slots_offset);
  slot->size.store(1u << 30);
  EXPECT_THROW(s.receive(seconds(1)), shoal::InvalidRegion);
  EXPECT_EQ(s.recv(seconds(1))[0], 2);
}

}  // namespace
