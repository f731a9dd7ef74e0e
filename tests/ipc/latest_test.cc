// Tests for ipc/latest.h: Latest<T> across real processes, including
// writers SIGKILLed at progress-driven instants while readers check that
// every value they read is whole (checksummed) and that counts add up.
#include "shoal/ipc/latest.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "shoal/base/errors.h"
#include "shoal/ipc/connection.h"
#include "shoal/ipc/internal/latest_cell.h"
#include "shoal/ipc/shared.h"
#include "tests/ipc/fork_helper.h"

namespace {

using shoal::testing::StartChild;
using shoal::testing::WaitChild;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

// A value whose every word depends on `count`, with a checksum: a torn read
// (words of two different publications) fails Valid().
template <std::size_t kWords>
struct Sample {
  uint64_t count;  // the version that published it (update() increments)
  uint64_t writer;
  uint64_t words[kWords];
  uint64_t checksum;

  static uint64_t Word(uint64_t count, std::size_t i) {
    return count * 0x9E3779B97F4A7C15ull + i * 0xBF58476D1CE4E5B9ull;
  }
  uint64_t Sum() const {
    uint64_t h = count ^ (writer << 32);
    for (std::size_t i = 0; i < kWords; ++i) h = h * 31 + words[i];
    return h;
  }
  void Fill(uint64_t c, uint64_t w) {
    count = c;
    writer = w;
    for (std::size_t i = 0; i < kWords; ++i) words[i] = Word(c, i);
    checksum = Sum();
  }
  bool Valid() const {
    if (checksum != Sum()) return false;
    for (std::size_t i = 0; i < kWords; ++i) {
      if (words[i] != Word(count, i)) return false;
    }
    return true;
  }
};

struct Odd13 {
  char bytes[13];
};

TEST(Latest, PublishReadVersions) {
  shoal::Latest<int> x(7);
  EXPECT_EQ(x.read(), 7);
  EXPECT_EQ(x.version(), 0u);
  EXPECT_EQ(x.publish(8), 1u);
  EXPECT_EQ(x.publish(9), 2u);
  auto v = x.read_versioned();
  EXPECT_EQ(v.value, 9);
  EXPECT_EQ(v.version, 2u);
  EXPECT_FALSE(x.read_if_newer(2).has_value());
  ASSERT_TRUE(x.read_if_newer(1).has_value());
  EXPECT_EQ(x.update([](int& i) { i *= 10; }), 3u);
  EXPECT_EQ(x.read(), 90);
  EXPECT_EQ(x.writer_deaths(), 0u);

  // Sizes that are not a multiple of 8, and 1 byte.
  Odd13 o;
  std::memcpy(o.bytes, "hello, world!", 13);
  shoal::Latest<Odd13> odd(o);
  std::memcpy(o.bytes, "HELLO, WORLD?", 13);
  odd.publish(o);
  EXPECT_EQ(std::string(odd.read().bytes, 13), "HELLO, WORLD?");
  shoal::Latest<char> c('a');
  c.publish('b');
  EXPECT_EQ(c.read(), 'b');
}

TEST(Latest, NamedRefWrongTypeAndSendHandle) {
  shoal::RegionOptions named;
  named.kind = shoal::RegionKind::kNamed;
  shoal::Latest<double> x(1.5, named);
  const std::string name = x.region().name();
  pid_t child = StartChild([&] {
    auto y = shoal::Latest<double>::Open(name);
    if (y.read() != 1.5) return 1;
    y.publish(2.5);
    return 0;
  });
  EXPECT_EQ(WaitChild(child), 0);
  EXPECT_EQ(x.read(), 2.5);
  EXPECT_EQ(x.version(), 1u);
  try {
    shoal::Latest<float>::Open(name);
    FAIL() << "expected InvalidRegion";
  } catch (const shoal::InvalidRegion& e) {
    EXPECT_NE(std::string(e.what()).find("shoal::Latest<double>"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(shoal::Latest<long>::Open(x.ref()), shoal::InvalidRegion);

  // By descriptor to a process forked before the Latest existed.
  auto [a, b] = shoal::Pipe();
  pid_t late = StartChild([&] {
    auto got = b.recv_handle<shoal::Latest<int>>(seconds(20));
    got.publish(got.read() + 1);
    return 0;
  });
  shoal::Latest<int> fresh(41);
  a.send_handle(fresh);
  EXPECT_EQ(WaitChild(late), 0);
  EXPECT_EQ(fresh.read(), 42);
}

TEST(Latest, WaitNewerAcrossProcesses) {
  shoal::Latest<int> x(0);
  const auto start = Clock::now();
  EXPECT_FALSE(x.wait_newer(0, milliseconds(50)));
  EXPECT_GE(Clock::now() - start, milliseconds(50));
  int go[2];
  ASSERT_EQ(pipe(go), 0);
  pid_t waiter = StartChild([&] {
    char b = 1;
    (void)!write(go[1], &b, 1);  // about to wait
    if (!x.wait_newer(0, seconds(20))) return 1;
    return x.read() == 5 ? 0 : 2;
  });
  char b;
  ASSERT_EQ(read(go[0], &b, 1), 1);
  x.publish(5);
  EXPECT_EQ(WaitChild(waiter), 0);
  ::close(go[0]);
  ::close(go[1]);
}

// A peer scribbling over the cell: read() reports it instead of returning
// garbage or spinning forever.
TEST(Latest, CorruptCellIsInvalidRegion) {
  shoal::Latest<Sample<4>> x;
  Sample<4> s;
  s.Fill(1, 1);
  x.publish(s);
  auto* d = reinterpret_cast<shoal::internal::LatestCellData*>(
      x.region().payload());
  const uint64_t good = d->version.load();
  d->version.store(good + 12345);  // points to a buffer without that version
  EXPECT_THROW(x.read(), shoal::InvalidRegion);
  d->version.store(good);
  EXPECT_EQ(x.read().count, 1u);
  // The published buffer's seq word.
  auto* seq = reinterpret_cast<std::atomic<uint64_t>*>(
      x.region().payload() + sizeof(shoal::internal::LatestCellData) +
      (good & 1) * shoal::internal::LatestStride(sizeof(Sample<4>)));
  seq->store(3);
  EXPECT_THROW(x.read(), shoal::InvalidRegion);
  EXPECT_THROW(x.read(milliseconds(10)), shoal::InvalidRegion);
  // A writer repairs it: the next publication uses the other buffer and
  // is consistent.
  s.Fill(2, 1);
  x.publish(s);
  EXPECT_EQ(x.read().count, 2u);
  // Sizes in the header that do not match the type are refused on attach.
  d->value_size = 3;
  EXPECT_THROW(shoal::Latest<Sample<4>>::Open(x.ref()), shoal::InvalidRegion);
}

// The test's shared bookkeeping.
struct Book {
  std::atomic<int> stop{0};
  std::atomic<uint64_t> done[64] = {};  // completed updates, per writer slot
  std::atomic<uint64_t> reads[8] = {};
  std::atomic<uint64_t> retries_seen[8] = {};
};

using Big = Sample<500>;  // ~4 KiB: a kill often lands mid-copy

// Readers: every value whole, count == version, versions never go back.
int ReaderLoop(const shoal::Latest<Big>& x, Book* book, int slot) {
  uint64_t last = 0;
  uint64_t n = 0;
  while (book->stop.load() == 0) {
    auto v = x.read_versioned();
    if (!v.value.Valid()) return 3;
    if (v.value.count != v.version) return 4;
    if (v.version < last) return 5;
    last = v.version;
    book->reads[slot].store(++n, std::memory_order_relaxed);
  }
  return n > 0 ? 0 : 6;
}

// Writers: update() forever (until killed or stopped), recording each
// completed update in their slot.
int WriterLoop(shoal::Latest<Big> x, Book* book, int slot) {
  const uint64_t me = static_cast<uint64_t>(getpid());
  while (book->stop.load() == 0) {
    x.update([&](Big& b) {
      if (!b.Valid()) std::abort();  // the writer sees only whole values too
      b.Fill(b.count + 1, me);
    });
    book->done[slot].fetch_add(1);
  }
  return 0;
}

// Writers SIGKILLed at progress-driven instants: after a random number of
// further publications, 30 times, two writers at a time, with two readers
// checking every value throughout.
TEST(Latest, WritersKilledAtRandomInstantsNeverTearAValue) {
  Big zero;
  zero.Fill(0, 0);
  shoal::Latest<Big> x(zero);
  auto book = shoal::Shared<Book>::Create();
  std::vector<pid_t> readers;
  for (int r = 0; r < 2; ++r) {
    readers.push_back(StartChild([&, r] { return ReaderLoop(x, book.get(), r); }, 120));
  }
  // The kills start once both readers read: a reader that a loaded machine
  // had not yet run would otherwise see nothing of them.
  ASSERT_TRUE(shoal::testing::WaitUntil(
      [&] { return book->reads[0].load() > 0 && book->reads[1].load() > 0; },
      seconds(60)));
  constexpr int kKills = 30;
  int next_slot = 0;
  pid_t writers[2];
  for (pid_t& w : writers) {
    int slot = next_slot++;
    w = StartChild([&, slot] { return WriterLoop(x, book.get(), slot); }, 120);
  }
  std::mt19937 rng(20261130);
  for (int k = 0; k < kKills; ++k) {
    const uint64_t target = x.version() + 1 + rng() % 50;
    const auto give_up = Clock::now() + seconds(60);
    while (x.version() < target) {
      ASSERT_LT(Clock::now(), give_up) << "writers made no progress";
      sched_yield();
    }
    pid_t& victim = writers[k % 2];
    kill(victim, SIGKILL);
    EXPECT_EQ(WaitChild(victim), -SIGKILL);
    int slot = next_slot++;
    victim = StartChild([&, slot] { return WriterLoop(x, book.get(), slot); }, 120);
  }
  // Let the last writers and the readers run a little more, then stop all.
  const uint64_t settle = x.version() + 100;
  const auto give_up = Clock::now() + seconds(60);
  while (x.version() < settle && Clock::now() < give_up) sched_yield();
  book->stop.store(1);
  for (pid_t w : writers) EXPECT_EQ(WaitChild(w), 0);
  for (pid_t r : readers) EXPECT_EQ(WaitChild(r), 0) << "a reader saw a bad value";

  // Counts add up: every completed update is a publication; a killed
  // writer may have published without recording it (at most one each).
  uint64_t done = 0;
  for (int s = 0; s < next_slot; ++s) done += book->done[s].load();
  const auto final_value = x.read_versioned();
  EXPECT_TRUE(final_value.value.Valid());
  EXPECT_EQ(final_value.value.count, final_value.version);
  EXPECT_GE(final_value.version, done);
  EXPECT_LE(final_value.version, done + kKills);
  EXPECT_LE(x.writer_deaths(), static_cast<uint64_t>(kKills));
  // And the cell is as good as new.
  const uint64_t v = x.update([](Big& b) { b.Fill(b.count + 1, 0); });
  EXPECT_EQ(x.read().count, v);
  ::testing::Test::RecordProperty("writer_deaths",
                                  std::to_string(x.writer_deaths()));
  std::printf("[figures] latest: %llu versions, %llu completed updates, "
              "%d writers SIGKILLed, %llu of them holding the writer lock, "
              "%llu + %llu reads checked, 0 torn\n",
              static_cast<unsigned long long>(final_value.version),
              static_cast<unsigned long long>(done), kKills,
              static_cast<unsigned long long>(x.writer_deaths()),
              static_cast<unsigned long long>(book->reads[0].load()),
              static_cast<unsigned long long>(book->reads[1].load()));
}

// Several writers and readers, no kills: nothing lost, nothing torn.
TEST(Latest, ConcurrentWritersAndReadersCountsAddUp) {
  using S = Sample<6>;
  S zero;
  zero.Fill(0, 0);
  shoal::Latest<S> x(zero);
  constexpr int kWriters = 3;
  constexpr int kUpdates = 20000;
  auto stop = shoal::Shared<std::atomic<int>>::Create(0);
  std::vector<pid_t> readers;
  for (int r = 0; r < 2; ++r) {
    readers.push_back(StartChild([&] {
      uint64_t last = 0;
      while (stop->load() == 0) {
        auto v = x.read_versioned();
        if (!v.value.Valid() || v.value.count != v.version || v.version < last) {
          return 3;
        }
        last = v.version;
      }
      return 0;
    }, 120));
  }
  std::vector<pid_t> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.push_back(StartChild([&] {
      for (int i = 0; i < kUpdates; ++i) {
        x.update([](S& s) { s.Fill(s.count + 1, getpid()); });
      }
      return 0;
    }, 120));
  }
  for (pid_t w : writers) EXPECT_EQ(WaitChild(w, 120), 0);
  stop->store(1);
  for (pid_t r : readers) EXPECT_EQ(WaitChild(r, 120), 0);
  EXPECT_EQ(x.version(), uint64_t{kWriters} * kUpdates);
  EXPECT_EQ(x.read().count, uint64_t{kWriters} * kUpdates);
}

// A writer that holds the lock (stopped, in effect) makes the timed publish
// of another writer fail within its bound; readers are not affected.
TEST(Latest, TimedPublishAgainstAStuckWriter) {
  shoal::Latest<int> x(1);
  int held[2], release[2];
  ASSERT_EQ(pipe(held), 0);
  ASSERT_EQ(pipe(release), 0);
  pid_t stuck = StartChild([&] {
    x.update([&](int& v) {
      v = 2;
      char b = 1;
      (void)!write(held[1], &b, 1);
      (void)!read(release[0], &b, 1);  // hold the writer lock until told
    });
    return 0;
  });
  char b;
  ASSERT_EQ(read(held[0], &b, 1), 1);
  const auto start = Clock::now();
  EXPECT_THROW(x.publish(3, milliseconds(100)), shoal::TimeoutError);
  EXPECT_GE(Clock::now() - start, milliseconds(100));
  EXPECT_EQ(x.read(), 1);  // readers never wait
  ASSERT_EQ(write(release[1], &b, 1), 1);
  EXPECT_EQ(WaitChild(stuck), 0);
  EXPECT_EQ(x.read(), 2);
  for (int fd : {held[0], held[1], release[0], release[1]}) ::close(fd);
}

// Threads of one process (what ThreadSanitizer can see): writers and readers
// race on one Latest.
TEST(Latest, ThreadsReadAndWrite) {
  using S = Sample<10>;
  S zero;
  zero.Fill(0, 0);
  shoal::Latest<S> x(zero);
  std::atomic<int> stop{0};
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&] {
      uint64_t last = 0;
      while (stop.load() == 0) {
        auto v = x.read_versioned();
        if (!v.value.Valid() || v.value.count != v.version ||
            v.version < last) {
          bad.fetch_add(1);
        }
        last = v.version;
      }
    });
  }
  std::vector<std::thread> writers;
  for (int w = 0; w < 2; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < 5000; ++i) {
        x.update([&](S& s) { s.Fill(s.count + 1, static_cast<uint64_t>(w)); });
      }
    });
  }
  for (auto& t : writers) t.join();
  stop.store(1);
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(x.version(), 10000u);
}

// A waiter SIGKILLed while asleep leaves its "someone sleeps" flag behind;
// the next publication clears it (one wasted wake-up, not one per
// publication), and later waiters are still woken.
TEST(Latest, KilledWaiterCostsOneWakeUp) {
  shoal::Latest<int> x(0);
  auto* d = reinterpret_cast<shoal::internal::LatestCellData*>(
      x.region().payload());
  pid_t sleeper = StartChild([&] {
    x.wait_newer(0, seconds(60));
    return 0;
  });
  const auto give_up = Clock::now() + seconds(20);
  while (d->waiters.load() == 0) {
    ASSERT_LT(Clock::now(), give_up);
    sched_yield();
  }
  kill(sleeper, SIGKILL);
  EXPECT_EQ(WaitChild(sleeper), -SIGKILL);
  EXPECT_EQ(d->waiters.load(), 1u);
  x.publish(1);
  EXPECT_EQ(d->waiters.load(), 0u) << "the publication cleared the flag";
  pid_t waiter = StartChild([&] { return x.wait_newer(1, seconds(20)) ? 0 : 1; });
  while (d->waiters.load() == 0) {
    ASSERT_LT(Clock::now(), give_up + seconds(20));
    sched_yield();
  }
  x.publish(2);
  EXPECT_EQ(WaitChild(waiter), 0);
}

}  // namespace
