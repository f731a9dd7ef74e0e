// Tests for ipc/blackboard.h: keys declared at creation, typed entries,
// named opening and validation, a corrupt key table, and writers of several
// keys SIGKILLed at progress-driven instants while readers check values.
#include "shoal/ipc/blackboard.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "shoal/base/errors.h"
#include "shoal/ipc/connection.h"
#include "shoal/ipc/shared.h"
#include "tests/ipc/fork_helper.h"

namespace {

using shoal::Blackboard;
using shoal::testing::StartChild;
using shoal::testing::WaitChild;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

struct Limits {
  int lo;
  int hi;
  double scale;
};

// Whole or torn: every field derives from `n`.
struct Reading {
  uint64_t n;
  uint64_t a[60];
  uint64_t check;
  void Set(uint64_t v) {
    n = v;
    check = v * 7;
    for (int i = 0; i < 60; ++i) {
      a[i] = v + static_cast<uint64_t>(i);
      check ^= a[i];
    }
  }
  bool Valid() const {
    uint64_t c = n * 7;
    for (int i = 0; i < 60; ++i) {
      if (a[i] != n + static_cast<uint64_t>(i)) return false;
      c ^= a[i];
    }
    return c == check;
  }
};

Blackboard MakeBoard(const shoal::RegionOptions& region = {}) {
  return Blackboard({Blackboard::Key<int>("log_level", 2),
                     Blackboard::Key<double>("rate_limit", 100.0),
                     Blackboard::Key<Limits>("limits", Limits{1, 9, 0.5})},
                    region);
}

TEST(Blackboard, KeysEntriesAndGeneration) {
  Blackboard board = MakeBoard();
  EXPECT_EQ(board.keys(),
            (std::vector<std::string>{"log_level", "rate_limit", "limits"}));
  EXPECT_TRUE(board.contains("limits"));
  EXPECT_FALSE(board.contains("nope"));
  auto level = board.entry<int>("log_level");
  auto rate = board.entry<double>("rate_limit");
  EXPECT_EQ(level.read(), 2);
  EXPECT_EQ(rate.read(), 100.0);
  EXPECT_EQ(board.read<Limits>("limits").hi, 9);
  EXPECT_EQ(board.generation(), 0u);
  EXPECT_EQ(level.publish(4), 1u);
  EXPECT_EQ(rate.publish(250.0), 1u);
  EXPECT_EQ(rate.publish(260.0), 2u);
  EXPECT_EQ(board.publish("log_level", 5), 2u);
  EXPECT_EQ(board.entry<Limits>("limits").update([](Limits& l) { l.hi = 10; }),
            1u);
  EXPECT_EQ(board.generation(), 5u);
  EXPECT_EQ(level.read(), 5);
  EXPECT_EQ(rate.read_versioned().version, 2u);
  EXPECT_EQ(board.read<Limits>("limits").hi, 10);
  EXPECT_EQ(board.read<Limits>("limits").lo, 1);
  EXPECT_FALSE(level.read_if_newer(2).has_value());
  EXPECT_EQ(level.key(), "log_level");

  EXPECT_THROW(board.entry<int>("nope"), shoal::ValueError);
  try {
    board.entry<float>("rate_limit");
    FAIL() << "expected InvalidRegion";
  } catch (const shoal::InvalidRegion& e) {
    EXPECT_NE(std::string(e.what()).find("holds double but was asked for as float"),
              std::string::npos)
        << e.what();
  }
}

TEST(Blackboard, BadDeclarations) {
  EXPECT_THROW(Blackboard(std::vector<Blackboard::KeySpec>{}),
               shoal::ValueError);
  EXPECT_THROW(Blackboard({Blackboard::Key<int>("a"), Blackboard::Key<int>("a")}),
               shoal::ValueError);
  EXPECT_THROW(Blackboard({Blackboard::Key<int>("")}), shoal::ValueError);
  EXPECT_THROW(Blackboard({Blackboard::Key<int>(std::string(128, 'k'))}),
               shoal::ValueError);
  EXPECT_THROW(Blackboard({Blackboard::Key<int>(std::string("a\0b", 3))}),
               shoal::ValueError);
  Blackboard ok({Blackboard::Key<int>(std::string(127, 'k'))});
  EXPECT_EQ(ok.read<int>(std::string(127, 'k')), 0);
}

TEST(Blackboard, NamedOpenSendHandleAndWaitChanged) {
  shoal::RegionOptions named;
  named.kind = shoal::RegionKind::kNamed;
  Blackboard board = MakeBoard(named);
  const std::string name = board.region().name();
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t reader = StartChild([&] {
    Blackboard b = Blackboard::Open(name);
    const uint64_t g = b.generation();
    char c = 1;
    (void)!write(ready[1], &c, 1);
    if (!b.wait_changed(g, seconds(20))) return 1;
    auto level = b.entry<int>("log_level");
    if (!level.wait_newer(0, seconds(20))) return 2;
    return level.read() == 7 ? 0 : 3;
  });
  char c;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  board.publish("log_level", 7);
  EXPECT_EQ(WaitChild(reader), 0);
  EXPECT_THROW(shoal::Latest<int>::Open(name), shoal::InvalidRegion);

  auto [a, b] = shoal::Pipe();
  pid_t late = StartChild([&] {
    Blackboard got = b.recv_handle<Blackboard>(seconds(20));
    got.publish("rate_limit", 1.25);
    return 0;
  });
  Blackboard fresh = MakeBoard();
  a.send_handle(fresh);
  EXPECT_EQ(WaitChild(late), 0);
  EXPECT_EQ(fresh.read<double>("rate_limit"), 1.25);
  ::close(ready[0]);
  ::close(ready[1]);
}

// A peer that corrupts the key table or a cell: InvalidRegion, no crash.
TEST(Blackboard, CorruptTableIsInvalidRegion) {
  Blackboard board = MakeBoard();
  std::byte* base = board.region().payload();
  auto* d = reinterpret_cast<shoal::internal::BlackboardData*>(base);
  auto* e = reinterpret_cast<shoal::internal::BlackboardEntryData*>(
      base + d->entries_offset);
  const uint32_t count = d->key_count;
  d->key_count = 1u << 30;
  EXPECT_THROW(board.keys(), shoal::InvalidRegion);
  EXPECT_THROW(Blackboard::Open(board.ref()), shoal::InvalidRegion);
  d->key_count = count;

  const uint64_t off = e[1].cell_offset;
  e[1].cell_offset = uint64_t{1} << 50;
  EXPECT_THROW(board.entry<double>("rate_limit"), shoal::InvalidRegion);
  e[1].cell_offset = off + 8;  // misaligned
  EXPECT_THROW(board.entry<double>("rate_limit"), shoal::InvalidRegion);
  e[1].cell_offset = 64;  // inside the table
  EXPECT_THROW(board.entry<double>("rate_limit"), shoal::InvalidRegion);
  e[1].cell_offset = off;
  e[1].value_size = 16;
  EXPECT_THROW(board.entry<double>("rate_limit"), shoal::InvalidRegion);
  e[1].value_size = 8;
  std::memset(e[1].key, 'x', sizeof(e[1].key));  // no NUL at all
  EXPECT_THROW(board.entry<double>("rate_limit"), shoal::ValueError);
  EXPECT_EQ(board.keys()[1], std::string(127, 'x'));
  // The cell of "log_level" claims another size.
  auto* cell = reinterpret_cast<shoal::internal::LatestCellData*>(
      base + e[0].cell_offset);
  cell->value_size = 1000;
  EXPECT_THROW(board.entry<int>("log_level"), shoal::InvalidRegion);
  // An Entry taken before the corruption keeps working on what it
  // validated.
  cell->value_size = 4;
  auto level = board.entry<int>("log_level");
  cell->value_size = 1000;
  level.publish(3);
  EXPECT_EQ(level.read(), 3);
}

struct Book {
  std::atomic<int> stop{0};
  std::atomic<uint64_t> done[64] = {};
  std::atomic<uint64_t> reads[2] = {};
};

// Two keys, each with its own writer, writers SIGKILLed after a random
// number of further publications (20 kills), two readers checking every
// value of both keys and that per-key versions match the values.
TEST(Blackboard, WritersOfSeveralKeysKilledReadersSeeWholeValues) {
  Reading zero;
  zero.Set(0);
  Blackboard board({Blackboard::Key<Reading>("left", zero),
                    Blackboard::Key<Reading>("right", zero),
                    Blackboard::Key<int>("untouched", 77)});
  auto book = shoal::Shared<Book>::Create();
  auto writer = [&](const char* key, int slot) {
    return StartChild([&board, &book, key, slot] {
      auto e = board.entry<Reading>(key);
      while (book->stop.load() == 0) {
        e.update([](Reading& r) {
          if (!r.Valid()) std::abort();
          r.Set(r.n + 1);
        });
        book->done[slot].fetch_add(1);
      }
      return 0;
    }, 120);
  };
  std::vector<pid_t> readers;
  for (int r = 0; r < 2; ++r) {
    readers.push_back(StartChild([&, r] {
      auto left = board.entry<Reading>("left");
      auto right = board.entry<Reading>("right");
      auto untouched = board.entry<int>("untouched");
      uint64_t last_l = 0, last_r = 0, n = 0;
      while (book->stop.load() == 0) {
        auto l = left.read_versioned();
        auto rr = right.read_versioned();
        if (!l.value.Valid() || !rr.value.Valid()) return 3;
        if (l.value.n != l.version || rr.value.n != rr.version) return 4;
        if (l.version < last_l || rr.version < last_r) return 5;
        if (untouched.read() != 77) return 6;
        last_l = l.version;
        last_r = rr.version;
        book->reads[r].store(++n, std::memory_order_relaxed);
      }
      return n > 0 ? 0 : 7;
    }, 120));
  }
  const char* keys[2] = {"left", "right"};
  int slot = 0;
  pid_t writers[2] = {writer(keys[0], slot++), writer(keys[1], slot++)};
  // The kills start once both readers read (see latest_test.cc).
  ASSERT_TRUE(shoal::testing::WaitUntil(
      [&] { return book->reads[0].load() > 0 && book->reads[1].load() > 0; },
      seconds(60)));
  std::mt19937 rng(17);
  constexpr int kKills = 20;
  for (int k = 0; k < kKills; ++k) {
    const int which = static_cast<int>(rng() % 2);
    auto e = board.entry<Reading>(keys[which]);
    const uint64_t target = e.version() + 1 + rng() % 40;
    const auto give_up = Clock::now() + seconds(60);
    while (e.version() < target) {
      ASSERT_LT(Clock::now(), give_up) << "no progress on " << keys[which];
      sched_yield();
    }
    kill(writers[which], SIGKILL);
    EXPECT_EQ(WaitChild(writers[which]), -SIGKILL);
    writers[which] = writer(keys[which], slot++);
  }
  book->stop.store(1);
  for (pid_t w : writers) EXPECT_EQ(WaitChild(w), 0);
  for (pid_t r : readers) EXPECT_EQ(WaitChild(r), 0);
  uint64_t done = 0;
  for (int s = 0; s < slot; ++s) done += book->done[s].load();
  const uint64_t versions = board.entry<Reading>("left").version() +
                            board.entry<Reading>("right").version();
  EXPECT_GE(versions, done);
  EXPECT_LE(versions, done + kKills);
  // generation counts publications; a writer killed between its
  // publication and the count leaves it short, never ahead.
  EXPECT_LE(board.generation(), versions);
  EXPECT_GE(board.generation() + kKills, versions);
  EXPECT_EQ(board.read<int>("untouched"), 77);
  const uint64_t deaths = board.entry<Reading>("left").writer_deaths() +
                          board.entry<Reading>("right").writer_deaths();
  std::printf("[figures] blackboard: %llu versions on 2 keys, %llu completed "
              "updates, %d writers SIGKILLed, %llu of them holding a writer "
              "lock, generation %llu, 0 torn values\n",
              static_cast<unsigned long long>(versions),
              static_cast<unsigned long long>(done), kKills,
              static_cast<unsigned long long>(deaths),
              static_cast<unsigned long long>(board.generation()));
  EXPECT_EQ(board.entry<Reading>("left").read().n,
            board.entry<Reading>("left").version());
}

}  // namespace
