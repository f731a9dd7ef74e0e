// Tests for the batch forms: Queue::put_many/get_many and
// Channel::loan_many/receive_many, in one process and across real processes,
// including processes SIGKILLed in the middle of a batch.
//
// The kills are placed by progress, not by the clock: the victim parks
// itself (pause()) inside the codec while it encodes or decodes a chosen
// item of a chosen batch, or after a chosen number of completed batches, and
// is killed there. So every trial knows exactly what was claimed and not
// finished, and the counts must add up exactly: what the survivors receive
// plus lost() equals what was claimed.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "shoal/base/errors.h"
#include "shoal/ipc/channel.h"
#include "shoal/ipc/queue.h"
#include "tests/support/fork_helpers.h"

namespace shoal {
namespace {

using namespace std::chrono_literals;
using testing::DestroyShared;
using testing::ForkChild;
using testing::NewShared;
using testing::WaitStatus;
using testing::WaitUntil;

// Where a victim parks.
struct Park {
  std::atomic<pid_t> victim{0};
  std::atomic<uint64_t> value{~uint64_t{0}};  // park on this item
  std::atomic<int> parked{0};
  std::atomic<uint64_t> batches{0};  // batches the victim completed
};
Park* g_park = nullptr;

void MaybePark(uint64_t v) {
  if (g_park != nullptr && v == g_park->value.load() &&
      g_park->victim.load() == getpid()) {
    g_park->parked.store(1);
    for (;;) pause();
  }
}

// A value whose encoding and decoding can park the victim.
struct Item {
  uint64_t v = 0;
};

}  // namespace

template <>
struct CodecTraits<Item> {
  static constexpr std::size_t kMinSize = 8;
  static std::size_t Size(const Item&) { return 8; }
  static void Encode(const Item& i, CodecWriter& w) {
    MaybePark(i.v);
    w.Put(i.v);
  }
  static Item Decode(CodecReader& r) {
    Item i{r.Get<uint64_t>()};
    MaybePark(i.v);
    return i;
  }
};

namespace {

std::vector<uint64_t> Iota(uint64_t from, uint64_t n) {
  std::vector<uint64_t> v(n);
  std::iota(v.begin(), v.end(), from);
  return v;
}

std::vector<Item> Items(uint64_t from, uint64_t n) {
  std::vector<Item> v(n);
  for (uint64_t i = 0; i < n; ++i) v[i].v = from + i;
  return v;
}

// Everything published now, without waiting.
std::vector<uint64_t> Drain(Queue<Item>& q) {
  std::vector<uint64_t> out;
  Item buf[64];
  for (;;) {
    const std::size_t n = q.try_get_many(buf);
    if (n == 0) return out;
    for (std::size_t i = 0; i < n; ++i) out.push_back(buf[i].v);
  }
}

TEST(QueueBatch, PutManyAndGetManyKeepTheOrder) {
  Queue<uint64_t> q(100);
  const std::vector<uint64_t> in = Iota(0, 150);
  EXPECT_EQ(q.put_many(in, Deadline::Now()), 100u);  // as many as fit
  uint64_t out[64];
  ASSERT_EQ(q.get_many(std::span<uint64_t>(out)), 64u);
  EXPECT_EQ(std::vector<uint64_t>(out, out + 64), Iota(0, 64));
  EXPECT_EQ(q.put_many(in.begin() + 100, in.end()), 50u);
  std::vector<uint64_t> rest = q.get_many(1000);
  EXPECT_EQ(rest, Iota(64, 86));
  EXPECT_TRUE(q.empty());
}

TEST(QueueBatch, ItemsThatNeedTheHeapKeepTheirPlace) {
  QueueOptions options;
  options.maxsize = 16;
  options.inline_bytes = 32;
  Queue<std::string> q(options);
  std::vector<std::string> in;
  for (int i = 0; i < 12; ++i) {
    in.push_back(i % 3 == 1 ? std::string(1000 + i, 'a' + i) : std::to_string(i));
  }
  EXPECT_EQ(q.put_many(in), in.size());
  std::vector<std::string> out;
  while (out.size() < in.size()) {
    std::vector<std::string> got = q.get_many(5, 1s);
    ASSERT_LE(got.size(), 5u);
    out.insert(out.end(), got.begin(), got.end());
  }
  EXPECT_EQ(out, in);
}

TEST(QueueBatch, TimeoutsReturnWithinTheirBound) {
  Queue<uint64_t> q(8);
  const std::vector<uint64_t> in = Iota(0, 20);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(q.put_many(in, 100ms), 8u);
  auto dt = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(dt, 100ms);
  EXPECT_LT(dt, 2s);
  EXPECT_EQ(q.get_many(100).size(), 8u);
  t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(q.get_many(100, 100ms), Empty);
  dt = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(dt, 100ms);
  EXPECT_LT(dt, 2s);
  uint64_t out[4];
  EXPECT_EQ(q.try_get_many(out), 0u);
}

TEST(QueueBatch, CloseEndsBatches) {
  Queue<uint64_t> q(8);
  EXPECT_EQ(q.put_many(Iota(0, 3)), 3u);
  q.close();
  EXPECT_THROW(q.put_many(Iota(3, 3)), Closed);
  EXPECT_EQ(q.get_many(10), Iota(0, 3));
  EXPECT_THROW(q.get_many(10, 1s), Closed);
  uint64_t out[4];
  EXPECT_EQ(q.try_get_many(out, 10ms), 0u);
}

TEST(QueueBatch, JoinableQueueCountsEveryItemOfABatch) {
  JoinableQueue<uint64_t> q(32);
  EXPECT_EQ(q.put_many(Iota(0, 20)), 20u);
  EXPECT_EQ(q.unfinished_tasks(), 20u);
  EXPECT_EQ(q.get_many(20).size(), 20u);
  for (int i = 0; i < 20; ++i) q.task_done();
  EXPECT_TRUE(q.join(1s));
  EXPECT_THROW(q.task_done(), ValueError);
}

// A write that throws mid-batch: the items before it are in, it and the
// rest of its claim are skipped (not lost), the exception reaches the caller.
struct Picky {
  uint64_t v = 0;
};

}  // namespace

template <>
struct CodecTraits<Picky> {
  static constexpr std::size_t kMinSize = 8;
  static std::size_t Size(const Picky&) { return 8; }
  static void Encode(const Picky& p, CodecWriter& w) {
    if (p.v == 13) throw ValueError("13 is unlucky");
    w.Put(p.v);
  }
  static Picky Decode(CodecReader& r) { return Picky{r.Get<uint64_t>()}; }
};

namespace {

TEST(QueueBatch, AWriteThatThrowsKeepsTheItemsBeforeIt) {
  Queue<Picky> q(64);
  std::vector<Picky> in(20);
  for (uint64_t i = 0; i < 20; ++i) in[i].v = 10 + i;
  EXPECT_THROW(q.put_many(in), ValueError);
  std::vector<Picky> out = q.get_many(64, 1s);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[2].v, 12u);
  EXPECT_EQ(q.lost(), 0u);
  EXPECT_TRUE(q.empty());
}

// Two producer processes and two consumer processes, in batches of varying
// sizes: every item arrives exactly once, each producer's in order.
TEST(QueueBatch, ProcessesInBatchesExactlyOnce) {
  constexpr uint64_t kPer = 50000;
  Queue<uint64_t> q(256);
  struct Seen {
    std::atomic<uint64_t> count{0};
    std::atomic<uint64_t> sum{0};
    std::atomic<uint64_t> disorder{0};
  };
  auto* seen = NewShared<Seen>();
  std::vector<pid_t> pids;
  for (uint64_t p = 0; p < 2; ++p) {
    pids.push_back(ForkChild([&q, p] {
      const std::vector<uint64_t> all = Iota(p * kPer, kPer);
      std::size_t i = 0;
      while (i < all.size()) {
        const std::size_t n = std::min<std::size_t>(1 + i % 97, all.size() - i);
        i += q.put_many(std::span(all).subspan(i, n));
      }
    }));
  }
  for (int c = 0; c < 2; ++c) {
    pids.push_back(ForkChild([&q, seen, c] {
      uint64_t last[2] = {0, 0};
      bool any[2] = {false, false};
      std::vector<uint64_t> buf(1 + c * 63);
      for (;;) {
        std::size_t n;
        try {
          n = q.get_many(std::span(buf), 20s);
        } catch (const Closed&) {
          return;
        }
        for (std::size_t i = 0; i < n; ++i) {
          const uint64_t v = buf[i], w = v / kPer;
          if (any[w] && v <= last[w]) seen->disorder.fetch_add(1);
          any[w] = true;
          last[w] = v;
          seen->sum.fetch_add(v);
        }
        seen->count.fetch_add(n);
      }
    }));
  }
  for (int p = 0; p < 2; ++p) EXPECT_CHILD_OK(WaitStatus(pids[p], 60s));
  ASSERT_TRUE(WaitUntil([&] { return seen->count.load() == 2 * kPer; }, 60s));
  q.close();
  for (int c = 2; c < 4; ++c) EXPECT_CHILD_OK(WaitStatus(pids[c], 30s));
  EXPECT_EQ(seen->count.load(), 2 * kPer);
  EXPECT_EQ(seen->sum.load(), (2 * kPer - 1) * (2 * kPer) / 2);
  EXPECT_EQ(seen->disorder.load(), 0u);
  EXPECT_EQ(q.lost(), 0u);
  DestroyShared(seen);
}

// ------------------------------------------------ killed in the middle

constexpr uint64_t kBatch = 16;

struct ParkScope {
  ParkScope() { g_park = NewShared<Park>(); }
  ~ParkScope() {
    DestroyShared(g_park);
    g_park = nullptr;
  }
};

// The producer puts batches of kBatch items (batch k = items k*16 ..
// k*16+15) and is killed while encoding item `park` (mid-batch: that batch
// was claimed whole and none of it was published) or, with park = none,
// parks after `stop_after` completed batches. The consumer must then get
// exactly the completed batches, in order, and lost() must count exactly the
// claimed batch.
void KillProducer(uint64_t park, uint64_t stop_after, uint64_t* lost) {
  Queue<Item> q(256);
  g_park->parked.store(0);
  g_park->batches.store(0);
  g_park->value.store(park);
  const pid_t pid = ForkChild([&q, park, stop_after] {
    g_park->victim.store(getpid());
    for (uint64_t k = 0;; ++k) {
      q.put_many(Items(k * kBatch, kBatch));
      g_park->batches.store(k + 1);
      if (park == ~uint64_t{0} && k + 1 == stop_after) {
        g_park->parked.store(1);
        for (;;) pause();
      }
    }
  });
  ASSERT_TRUE(WaitUntil([] { return g_park->parked.load() == 1; }, 20s));
  kill(pid, SIGKILL);
  const int status = WaitStatus(pid, 20s);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  // A marker after the dead batch: the consumer gets past the dead slots.
  q.put(Item{1u << 30});
  std::vector<uint64_t> got;
  const auto t0 = std::chrono::steady_clock::now();
  while (got.empty() || got.back() != (1u << 30)) {
    std::vector<Item> part = q.get_many(64, 10s);
    for (const Item& i : part) got.push_back(i.v);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  const uint64_t completed = park == ~uint64_t{0} ? stop_after : park / kBatch;
  std::vector<uint64_t> expect = Iota(0, completed * kBatch);
  expect.push_back(1u << 30);
  EXPECT_EQ(got, expect);
  *lost = q.lost();
}

TEST(QueueBatchFaults, ProducerKilledMidBatchLosesExactlyThatBatch) {
  ParkScope scope;
  // Fixed kills: the victim dies encoding item j of batch k.
  const uint64_t where[][2] = {{0, 0}, {2, 5}, {3, 15}, {5, 8}};
  for (const auto& kj : where) {
    uint64_t lost = 0;
    KillProducer(kj[0] * kBatch + kj[1], 0, &lost);
    EXPECT_EQ(lost, kBatch) << "batch " << kj[0] << " item " << kj[1];
  }
}

TEST(QueueBatchFaults, ProducerKilledBetweenBatchesLosesNothing) {
  ParkScope scope;
  uint64_t lost = 1;
  KillProducer(~uint64_t{0}, 3, &lost);
  EXPECT_EQ(lost, 0u);
}

// The consumer claims a batch of kBatch and is killed while decoding item j
// of it: the whole claimed batch is lost (counted exactly), a producer
// blocked on the full ring repairs it, and everything else arrives.
TEST(QueueBatchFaults, ConsumerKilledMidBatchLosesExactlyItsBatch) {
  ParkScope scope;
  for (uint64_t j : {0u, 7u, 15u}) {
    Queue<Item> q(64);
    ASSERT_EQ(q.put_many(Items(0, 40)), 40u);
    g_park->parked.store(0);
    g_park->value.store(j);
    const pid_t pid = ForkChild([&q] {
      g_park->victim.store(getpid());
      q.get_many(kBatch);
      _exit(4);  // not reached: parked and killed inside
    });
    ASSERT_TRUE(WaitUntil([] { return g_park->parked.load() == 1; }, 20s));
    kill(pid, SIGKILL);
    WaitStatus(pid, 20s);
    // 24 free slots, then the dead reader's 16: put_many waits one
    // liveness interval for them, repairs all 16, and fills them.
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(q.put_many(Items(100, 40), 10s), 40u);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
    EXPECT_EQ(q.lost(), kBatch);
    std::vector<uint64_t> expect = Iota(16, 24);
    const std::vector<uint64_t> more = Iota(100, 40);
    expect.insert(expect.end(), more.begin(), more.end());
    EXPECT_EQ(Drain(q), expect);
  }
}


// ------------------------------------------ single producer / consumer

QueueOptions Spsc(std::size_t maxsize) {
  QueueOptions o;
  o.maxsize = maxsize;
  o.single_producer = true;
  o.single_consumer = true;
  return o;
}

TEST(QueueSpsc, ItemsAndBatchesFlowInOrderAcrossWrapAround) {
  Queue<uint64_t> q(Spsc(6));
  std::vector<uint64_t> got;
  uint64_t next = 0;
  for (int round = 0; round < 20; ++round) {
    q.put(next++);
    next += q.put_many(Iota(next, 5), Deadline::Now());
    EXPECT_THROW(q.put_nowait(99), Full);
    got.push_back(q.get());
    std::vector<uint64_t> more = q.get_many(3);
    got.insert(got.end(), more.begin(), more.end());
    while (auto v = q.try_get()) got.push_back(*v);
  }
  EXPECT_EQ(got, Iota(0, next));
}

// A second live producer (or consumer) process is refused with a clear
// error and moves nothing; after the first one exits, the next takes over.
TEST(QueueSpsc, ASecondProducerOrConsumerIsRefusedUntilTheFirstIsGone) {
  Queue<uint64_t> q(Spsc(64));
  q.put(1);  // this process is the producer
  ASSERT_EQ(q.get(), 1u);  // and the consumer
  EXPECT_CHILD_OK(testing::WaitStatus(ForkChild([&q] {
    try {
      q.put(2);
      return 10;
    } catch (const RuntimeError& e) {
      if (std::string(e.what()).find("single-producer") == std::string::npos) {
        return 11;
      }
    }
    try {
      q.put_many(Iota(3, 4));
      return 12;
    } catch (const RuntimeError&) {
    }
    try {
      q.get(10ms);
      return 13;
    } catch (const RuntimeError& e) {
      if (std::string(e.what()).find("single-consumer") == std::string::npos) {
        return 14;
      }
    }
    return 0;
  })));
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.lost(), 0u);
  // A fresh queue: a child produces, exits; the next child takes over.
  Queue<uint64_t> r(Spsc(64));
  for (uint64_t c = 0; c < 3; ++c) {
    EXPECT_CHILD_OK(testing::WaitStatus(
        ForkChild([&r, c] { r.put_many(Iota(c * 10, 10)); })));
  }
  std::vector<uint64_t> got;
  while (got.size() < 30) {
    std::vector<uint64_t> part = r.get_many(64, 1s);
    got.insert(got.end(), part.begin(), part.end());
  }
  EXPECT_EQ(got, Iota(0, 30));
}

// The producer of a declared single-producer queue is killed mid-batch:
// exactly its batch is lost; a new producer takes its place.
TEST(QueueSpsc, ProducerKilledMidBatchLosesExactlyThatBatch) {
  ParkScope scope;
  QueueOptions o = Spsc(256);
  Queue<Item> q(o);
  g_park->parked.store(0);
  g_park->value.store(2 * kBatch + 9);
  const pid_t pid = ForkChild([&q] {
    g_park->victim.store(getpid());
    for (uint64_t k = 0;; ++k) q.put_many(Items(k * kBatch, kBatch));
  });
  ASSERT_TRUE(WaitUntil([] { return g_park->parked.load() == 1; }, 20s));
  kill(pid, SIGKILL);
  WaitStatus(pid, 20s);
  EXPECT_CHILD_OK(testing::WaitStatus(
      ForkChild([&q] { q.put(Item{1u << 30}); })));  // the next producer
  std::vector<uint64_t> got;
  while (got.empty() || got.back() != (1u << 30)) {
    std::vector<Item> part = q.get_many(64, 10s);
    for (const Item& i : part) got.push_back(i.v);
  }
  std::vector<uint64_t> expect = Iota(0, 2 * kBatch);
  expect.push_back(1u << 30);
  EXPECT_EQ(got, expect);
  EXPECT_EQ(q.lost(), kBatch);
}

TEST(QueueSpsc, ProcessesExactlyOnceInOrder) {
  constexpr uint64_t kN = 200000;
  Queue<uint64_t> q(Spsc(1024));
  auto* bad = NewShared<std::atomic<uint64_t>>(0);
  const pid_t consumer = ForkChild([&q, bad] {
    uint64_t expect = 0;
    uint64_t buf[64];
    while (expect < kN) {
      const std::size_t n =
          expect % 3 == 0 ? (buf[0] = q.get(20s), 1) : q.get_many(std::span(buf), 20s);
      for (std::size_t i = 0; i < n; ++i) {
        if (buf[i] != expect) bad->fetch_add(1);
        expect = buf[i] + 1;
      }
    }
  });
  const pid_t producer = ForkChild([&q] {
    const std::vector<uint64_t> all = Iota(0, kN);
    std::size_t i = 0;
    while (i < kN) {
      if (i % 5 == 0) {
        q.put(all[i++]);
      } else {
        i += q.put_many(std::span(all).subspan(i, std::min<std::size_t>(64, kN - i)));
      }
    }
  });
  EXPECT_CHILD_OK(testing::WaitStatus(producer, 60s));
  EXPECT_CHILD_OK(testing::WaitStatus(consumer, 60s));
  EXPECT_EQ(bad->load(), 0u);
  EXPECT_EQ(q.lost(), 0u);
  DestroyShared(bad);
}

// ------------------------------------------------------------ Channel

TEST(ChannelBatch, LoanManyAndReceiveManyMoveBlocksInPlace) {
  Channel<uint64_t> ch(100, 8);
  {
    auto w = ch.loan_many(5, 100);
    ASSERT_EQ(w.count(), 5u);
    for (std::size_t b = 0; b < w.count(); ++b) {
      std::iota(w.block(b).begin(), w.block(b).end(), b * 1000);
    }
    w.publish(4);  // the fifth is skipped
  }
  // 5 in use (the skipped block too, until a reader passes it): 3 free.
  auto w2 = ch.loan_many(8, 10);
  EXPECT_EQ(w2.count(), 3u);
  w2.publish(0);
  auto r = ch.receive_many(8, 1s);
  ASSERT_EQ(r.count(), 4u);
  for (std::size_t b = 0; b < 4; ++b) {
    ASSERT_EQ(r.block(b).size(), 100u);
    EXPECT_EQ(r.block(b)[99], b * 1000 + 99);
  }
  r.release();
  EXPECT_THROW(ch.receive_many(8, 50ms), TimeoutError);
  EXPECT_THROW(ch.loan_many(0, 1), ValueError);
  EXPECT_THROW(ch.loan_many(1, 101), ValueError);
  EXPECT_EQ(ch.lost(), 0u);
}

TEST(ChannelBatch, WriterKilledHoldingABatchLosesExactlyItsBlocks) {
  Channel<uint64_t> ch(16, 8);
  auto* parked = NewShared<std::atomic<int>>(0);
  const pid_t pid = ForkChild([&ch, parked] {
    auto w = ch.loan_many(3, 16);
    if (w.count() != 3) _exit(1);
    parked->store(1);
    for (;;) pause();
  });
  ASSERT_TRUE(WaitUntil([&] { return parked->load() == 1; }, 20s));
  kill(pid, SIGKILL);
  WaitStatus(pid, 20s);
  const uint64_t one[1] = {7};
  ch.send(one);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(ch.recv(5s), std::vector<uint64_t>{7});
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_EQ(ch.lost(), 3u);
  DestroyShared(parked);
}

}  // namespace
}  // namespace shoal
