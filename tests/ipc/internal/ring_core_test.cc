// Tests for ipc/internal/ring_core.h: the ring under queues, channels and the
// pool's task ring, through its writer and reader sides.
#include "shoal/ipc/internal/ring_core.h"

#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "shoal/base/errors.h"
#include "tests/support/fork_helpers.h"

namespace shoal::internal {
namespace {

using Status = RingCore::Status;
using namespace std::chrono_literals;

using testing::SharedMapping;

// A ring with its two sides, as one process holds it.
struct Ring {
  Ring(SharedMapping& mem, uint32_t capacity, std::size_t inline_bytes,
       const RingOptions& options = {})
      : core(RingCore::Create(mem.ptr(), mem.size(), capacity, inline_bytes,
                              options)),
        writer(core),
        reader(core) {}
  RingCore core;
  RingWriter writer;
  RingReader reader;
};

bool Put(RingWriter& w, uint64_t v, Deadline d = Deadline()) {
  RingClaim c;
  if (w.Claim(&c, d) != Status::kOk) return false;
  std::memcpy(c.data, &v, sizeof(v));
  w.Publish(c, sizeof(v));
  return true;
}

Status Get(RingReader& r, uint64_t* v, Deadline d = Deadline()) {
  RingClaim c;
  Status s = r.Claim(&c, d);
  if (s != Status::kOk) return s;
  EXPECT_EQ(r.PayloadOf(c), BlockRef::Inline(sizeof(uint64_t)));
  std::memcpy(v, c.data, sizeof(*v));
  r.Release(c);
  return s;
}

// A thread's scheduler state (R, S, D, ...) from /proc.
char ThreadState(pid_t tid) {
  std::ifstream f("/proc/self/task/" + std::to_string(tid) + "/stat");
  std::string line;
  std::getline(f, line);
  const std::size_t paren = line.rfind(')');
  return paren == std::string::npos || paren + 2 >= line.size()
             ? '?'
             : line[paren + 2];
}

// Records what the ring asks of its owner.
struct Recorder final : SlotReclaimer {
  void FreeBlock(BlockRef block) noexcept override { freed.push_back(block); }
  void ItemLost(uint32_t flags) noexcept override { lost.push_back(flags); }
  std::vector<BlockRef> freed;
  std::vector<uint32_t> lost;
};

TEST(RingCore, FifoSingleThreadAndWrapAround) {
  SharedMapping mem(RingCore::BytesFor(3, 64));
  Ring ring(mem, 3, 64);
  uint64_t v;
  for (uint64_t lap = 0; lap < 10; ++lap) {
    for (uint64_t i = 0; i < 3; ++i) ASSERT_TRUE(Put(ring.writer, lap * 10 + i));
    EXPECT_EQ(ring.core.size(), 3u);
    RingClaim c;
    EXPECT_EQ(ring.writer.TryClaim(&c), Status::kWouldBlock);
    for (uint64_t i = 0; i < 3; ++i) {
      ASSERT_EQ(Get(ring.reader, &v), Status::kOk);
      EXPECT_EQ(v, lap * 10 + i);
    }
    EXPECT_EQ(ring.reader.TryClaim(&c), Status::kWouldBlock);
    EXPECT_EQ(ring.core.size(), 0u);
  }
}

TEST(RingCore, TimedClaimsReturnInBound) {
  SharedMapping mem(RingCore::BytesFor(1, 64));
  Ring ring(mem, 1, 64);
  uint64_t v;
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(Get(ring.reader, &v, 100ms), Status::kTimedOut);
  auto dt = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(dt, 100ms);
  EXPECT_LT(dt, 100ms + testing::kSchedulingSlack);
  ASSERT_TRUE(Put(ring.writer, 1));
  t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(Put(ring.writer, 2, 100ms));
  dt = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(dt, 100ms);
  EXPECT_LT(dt, 100ms + testing::kSchedulingSlack);
}

TEST(RingCore, CloseDrainsThenReportsClosed) {
  SharedMapping mem(RingCore::BytesFor(4, 64));
  Ring ring(mem, 4, 64);
  ASSERT_TRUE(Put(ring.writer, 7));
  ASSERT_TRUE(Put(ring.writer, 8));
  ring.core.Close();
  RingClaim c;
  EXPECT_EQ(ring.writer.TryClaim(&c), Status::kClosed);
  uint64_t v;
  ASSERT_EQ(Get(ring.reader, &v, 1s), Status::kOk);
  EXPECT_EQ(v, 7u);
  ASSERT_EQ(Get(ring.reader, &v, 1s), Status::kOk);
  EXPECT_EQ(v, 8u);
  EXPECT_EQ(Get(ring.reader, &v, 1s), Status::kClosed);
}

TEST(RingCore, CloseWakesSleepingReader) {
  SharedMapping mem(RingCore::BytesFor(4, 64));
  Ring ring(mem, 4, 64);
  // Timed from the close (not from the start of the wait: the closing
  // thread's nap may end late on a busy machine), against a timeout far
  // above the bound.
  std::atomic<int64_t> closed_at{0};
  std::thread t([&] {
    std::this_thread::sleep_for(100ms);
    closed_at.store(std::chrono::steady_clock::now().time_since_epoch().count());
    ring.core.Close();
  });
  uint64_t v;
  EXPECT_EQ(Get(ring.reader, &v, 30s), Status::kClosed);
  EXPECT_NE(closed_at.load(), 0);
  EXPECT_LT(std::chrono::steady_clock::now() -
                std::chrono::steady_clock::time_point(
                    std::chrono::steady_clock::duration(closed_at.load())),
            testing::kSchedulingSlack);
  t.join();
}

// A reader of the previous lap still holds the slot at head: after a close
// the ring is drained all the same (nothing can be published there).
TEST(RingCore, ClosedWhileAPreviousLapReaderHoldsTheHeadSlot) {
  SharedMapping mem(RingCore::BytesFor(1, 64));
  Ring ring(mem, 1, 64);
  ASSERT_TRUE(Put(ring.writer, 1));
  RingClaim held;
  ASSERT_EQ(ring.reader.TryClaim(&held), Status::kOk);
  ring.core.Close();
  RingClaim c;
  EXPECT_EQ(ring.reader.TryClaim(&c), Status::kClosed);
  ring.reader.Release(held);
  EXPECT_EQ(ring.reader.TryClaim(&c), Status::kClosed);
}

TEST(RingCore, WritesAfterCloseWhenTheOwnerAllowsThem) {
  SharedMapping mem(RingCore::BytesFor(4, 64));
  Ring ring(mem, 4, 64, RingOptions{.writes_after_close = true});
  ring.core.Close();
  ASSERT_TRUE(Put(ring.writer, 5, Deadline::Now()));
  uint64_t v;
  ASSERT_EQ(Get(ring.reader, &v, 1s), Status::kOk);
  EXPECT_EQ(v, 5u);
  EXPECT_EQ(Get(ring.reader, &v, 1s), Status::kClosed);
}

TEST(RingCore, AbandonedSlotIsSkippedAndItsBlockFreed) {
  SharedMapping mem(RingCore::BytesFor(4, 64));
  Recorder rec;
  Ring ring(mem, 4, 64, RingOptions{.reclaimer = &rec});
  RingClaim c;
  ASSERT_EQ(ring.writer.TryClaim(&c), Status::kOk);
  c.slot->block.Record(512, 100);
  ring.writer.Abandon(c);
  ASSERT_TRUE(Put(ring.writer, 42));
  uint64_t v;
  ASSERT_EQ(Get(ring.reader, &v, 1s), Status::kOk);
  EXPECT_EQ(v, 42u);
  EXPECT_EQ(ring.core.lost(), 0u);
  EXPECT_EQ(rec.freed, std::vector<BlockRef>{BlockRef::Heap(512, 100)});
  EXPECT_TRUE(rec.lost.empty());
}

TEST(RingCore, PayloadOfAHeapSlotAndReleaseFreesItsBlockOnce) {
  SharedMapping mem(RingCore::BytesFor(2, 64));
  Recorder rec;
  Ring ring(mem, 2, 64, RingOptions{.reclaimer = &rec});
  RingClaim w;
  ASSERT_EQ(ring.writer.TryClaim(&w), Status::kOk);
  w.slot->block.Record(4096, 300);
  ring.writer.Publish(w, 0, kSlotBlock);
  RingClaim r;
  ASSERT_EQ(ring.reader.TryClaim(&r), Status::kOk);
  EXPECT_EQ(ring.reader.PayloadOf(r), BlockRef::Heap(4096, 300));
  EXPECT_TRUE(rec.freed.empty());
  ring.reader.Release(r);
  EXPECT_EQ(rec.freed, std::vector<BlockRef>{BlockRef::Heap(4096, 300)});
  EXPECT_TRUE(r.slot->block.Load().is_none());
}

// Threads: 4 producers x 4 consumers, every value exactly once.
TEST(RingCore, MpmcThreadsExactlyOnce) {
  constexpr int kProducers = 4, kConsumers = 4, kPer = 50000;
  SharedMapping mem(RingCore::BytesFor(64, 64));
  const RingCore core = RingCore::Create(mem.ptr(), mem.size(), 64, 64);
  std::vector<std::atomic<int>> seen(kProducers * kPer);
  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] {
      RingWriter w(core);
      for (int i = 0; i < kPer; ++i) ASSERT_TRUE(Put(w, p * kPer + i, 10s));
    });
  }
  std::atomic<int> got{0};
  for (int c = 0; c < kConsumers; ++c) {
    threads.emplace_back([&] {
      RingReader r(core);
      uint64_t v;
      while (Get(r, &v, 10s) == Status::kOk) {
        seen[v].fetch_add(1);
        got.fetch_add(1);
      }
    });
  }
  for (int p = 0; p < kProducers; ++p) threads[p].join();
  RingCore(core).Close();
  for (size_t i = kProducers; i < threads.size(); ++i) threads[i].join();
  EXPECT_EQ(got.load(), kProducers * kPer);
  for (auto& s : seen) ASSERT_EQ(s.load(), 1);
}

// Processes: a writer dies between claim and publish. The reader skips the
// lost slot within about a second and counts it; the user bits of the slot
// reach the reclaimer.
TEST(RingCore, DeadWriterSlotIsRecoveredAndCounted) {
  SharedMapping mem(RingCore::BytesFor(8, 64));
  Recorder rec;
  Ring ring(mem, 8, 64, RingOptions{.reclaimer = &rec});
  pid_t child = fork();
  if (child == 0) {
    RingClaim c;
    if (ring.writer.TryClaim(&c) != Status::kOk) _exit(1);
    c.slot->flags.store(kSlotUser0);
    raise(SIGKILL);
    _exit(2);
  }
  int status;
  ASSERT_EQ(waitpid(child, &status, 0), child);  // dead and reaped
  ASSERT_TRUE(Put(ring.writer, 99));
  uint64_t v;
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(Get(ring.reader, &v, 5s), Status::kOk);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, testing::kSchedulingSlack);
  EXPECT_EQ(v, 99u);
  EXPECT_EQ(ring.core.lost(), 1u);
  ASSERT_EQ(rec.lost.size(), 1u);
  EXPECT_EQ(rec.lost[0], kSlotLost | kSlotUser0);
}

// The dead writer is still a zombie (not reaped): it must count as dead.
TEST(RingCore, ZombieWriterCountsAsDead) {
  SharedMapping mem(RingCore::BytesFor(8, 64));
  Ring ring(mem, 8, 64);
  pid_t child = fork();
  if (child == 0) {
    RingClaim c;
    if (ring.writer.TryClaim(&c) != Status::kOk) _exit(1);
    raise(SIGKILL);
    _exit(2);
  }
  siginfo_t info;
  ASSERT_EQ(waitid(P_PID, child, &info, WEXITED | WNOWAIT), 0);  // no reap
  ASSERT_TRUE(Put(ring.writer, 5));
  uint64_t v;
  ASSERT_EQ(Get(ring.reader, &v, 5s), Status::kOk);
  EXPECT_EQ(v, 5u);
  EXPECT_EQ(ring.core.lost(), 1u);
  waitpid(child, nullptr, 0);
}

// What a pid reuse leaves behind, made by hand: the dead holder's slot and
// its registry entry now name `heir`, a live process that took over the
// pid (same start time in the entry: the dead holder's).
void HandPidTo(SharedMapping& mem, bool writing, pid_t dead, pid_t heir) {
  auto* d = reinterpret_cast<RingData*>(mem.ptr());
  auto* slot = reinterpret_cast<RingSlot*>(
      static_cast<std::byte*>(mem.ptr()) + d->slots_offset);
  const SlotWord held = slot->state.Load(std::memory_order_acquire);
  ASSERT_TRUE(held.HeldBy(dead));
  slot->state.Exchange(held.TakenOverBy(heir), std::memory_order_seq_cst);
  std::atomic<uint64_t>* table = writing ? d->writers : d->readers;
  int found = 0;
  for (int i = 0; i < (writing ? kRingMaxWriters : kRingMaxReaders); ++i) {
    const uint64_t e = table[i].load();
    if (static_cast<pid_t>(e >> 32) != dead) continue;
    table[i].store((static_cast<uint64_t>(heir) << 32) | (e & 0xffffffffu));
    ++found;
  }
  ASSERT_EQ(found, 1);
}

// A live process that sleeps, to stand for whoever got a dead pid. Start
// times count clock ticks (10 ms): a real heir starts long after the pid
// space wrapped, and this one at least a few ticks after the dead holder.
pid_t ForkSleeper() {
  std::this_thread::sleep_for(50ms);
  const pid_t p = fork();
  if (p == 0) {
    for (;;) pause();
  }
  return p;
}

// A writer dies mid-claim and its pid goes to a process that never wrote
// to this ring: the pid is in use, but the slot is repaired all the same.
TEST(RingCore, DeadWriterWhosePidWasReusedIsRecovered) {
  SharedMapping mem(RingCore::BytesFor(8, 64));
  Ring ring(mem, 8, 64);
  const pid_t child = fork();
  if (child == 0) {
    RingClaim c;
    if (ring.writer.TryClaim(&c) != Status::kOk) _exit(1);
    raise(SIGKILL);
    _exit(2);
  }
  ASSERT_EQ(waitpid(child, nullptr, 0), child);
  const pid_t heir = ForkSleeper();
  HandPidTo(mem, /*writing=*/true, child, heir);
  ASSERT_TRUE(Put(ring.writer, 7));
  uint64_t v = 0;
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(Get(ring.reader, &v, 5s), Status::kOk);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, testing::kSchedulingSlack);
  EXPECT_EQ(v, 7u);
  EXPECT_EQ(ring.core.lost(), 1u);
  kill(heir, SIGKILL);
  waitpid(heir, nullptr, 0);
}

// The same for a reader that dies between claim and release.
TEST(RingCore, DeadReaderWhosePidWasReusedIsRecovered) {
  SharedMapping mem(RingCore::BytesFor(1, 64));
  Ring ring(mem, 1, 64);
  ASSERT_TRUE(Put(ring.writer, 1));
  const pid_t child = fork();
  if (child == 0) {
    RingClaim c;
    if (ring.reader.TryClaim(&c) != Status::kOk) _exit(1);
    raise(SIGKILL);
    _exit(2);
  }
  ASSERT_EQ(waitpid(child, nullptr, 0), child);
  const pid_t heir = ForkSleeper();
  HandPidTo(mem, /*writing=*/false, child, heir);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(Put(ring.writer, 2, 5s));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, testing::kSchedulingSlack);
  EXPECT_EQ(ring.core.lost(), 1u);
  uint64_t v = 0;
  EXPECT_EQ(Get(ring.reader, &v, 1s), Status::kOk);
  EXPECT_EQ(v, 2u);
  kill(heir, SIGKILL);
  waitpid(heir, nullptr, 0);
}

// A live writer of another process in the middle of a long write is not
// taken for dead, however long a reader waits on its slot: it registered
// before it claimed.
TEST(RingCore, ALiveWriterInAnotherProcessIsNeverRepaired) {
  SharedMapping mem(RingCore::BytesFor(8, 64));
  Ring ring(mem, 8, 64);
  int go[2];
  ASSERT_EQ(pipe(go), 0);
  const pid_t child = fork();
  if (child == 0) {
    RingClaim c;
    if (ring.writer.TryClaim(&c) != Status::kOk) _exit(1);
    char b;
    if (read(go[0], &b, 1) != 1) _exit(3);  // hold the slot until told
    const uint64_t v = 41;
    std::memcpy(c.data, &v, sizeof(v));
    ring.writer.Publish(c, sizeof(v));
    _exit(0);
  }
  uint64_t v = 0;
  // Several liveness checks long.
  EXPECT_EQ(Get(ring.reader, &v, Deadline(400ms)), Status::kTimedOut);
  EXPECT_EQ(ring.core.lost(), 0u);
  ASSERT_EQ(write(go[1], "g", 1), 1);
  EXPECT_EQ(Get(ring.reader, &v, 5s), Status::kOk);
  EXPECT_EQ(v, 41u);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  close(go[0]);
  close(go[1]);
}

// A reader dies between claim and release on a full ring: the blocked
// writer recovers the slot, frees its block and counts the item.
TEST(RingCore, DeadReaderSlotIsRecoveredByWriter) {
  SharedMapping mem(RingCore::BytesFor(1, 64));
  Recorder rec;
  Ring ring(mem, 1, 64, RingOptions{.reclaimer = &rec});
  RingClaim w;
  ASSERT_EQ(ring.writer.TryClaim(&w), Status::kOk);
  w.slot->block.Record(64, 10);
  ring.writer.Publish(w, 0, kSlotBlock | kSlotUser0);
  pid_t child = fork();
  if (child == 0) {
    RingClaim c;
    if (ring.reader.TryClaim(&c) != Status::kOk) _exit(1);
    raise(SIGKILL);
    _exit(2);
  }
  ASSERT_EQ(waitpid(child, nullptr, 0), child);
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(Put(ring.writer, 2, 5s));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, testing::kSchedulingSlack);
  EXPECT_EQ(ring.core.lost(), 1u);
  EXPECT_EQ(rec.lost, std::vector<uint32_t>{kSlotBlock | kSlotUser0});
  EXPECT_EQ(rec.freed, std::vector<BlockRef>{BlockRef::Heap(64, 10)});
  uint64_t v;
  ASSERT_EQ(Get(ring.reader, &v, 1s), Status::kOk);
  EXPECT_EQ(v, 2u);
}

// kRepairedByOwner: nobody but the owner touches a dead reader's slot; the
// owner reads the payload in place, then the slot is free and a writer
// sleeping for it wakes.
TEST(RingCore, OwnerRepairsDeadReadersAndSeesTheirPayload) {
  SharedMapping mem(RingCore::BytesFor(1, 8));
  Recorder rec;
  Ring ring(mem, 1, 8,
            RingOptions{.holder_death = HolderDeath::kRepairedByOwner,
                        .reclaimer = &rec});
  ASSERT_TRUE(Put(ring.writer, 1234));
  pid_t child = fork();
  if (child == 0) {
    RingClaim c;
    if (ring.reader.TryClaim(&c) != Status::kOk) _exit(1);
    raise(SIGKILL);
    _exit(2);
  }
  siginfo_t info;
  ASSERT_EQ(waitid(P_PID, child, &info, WEXITED | WNOWAIT), 0);  // no reap
  // Waiters leave the slot alone, even past the liveness interval.
  EXPECT_FALSE(Put(ring.writer, 2, 200ms));
  EXPECT_EQ(ring.core.lost(), 0u);
  std::atomic<int64_t> repaired_at{0};
  std::thread repair([&] {
    std::this_thread::sleep_for(100ms);
    repaired_at.store(
        std::chrono::steady_clock::now().time_since_epoch().count());
    std::vector<uint64_t> seen;
    EXPECT_EQ(ring.core.RepairReadsOf(getpid(), [&](const RingClaim&) {
      seen.push_back(0);
    }), 0u);  // not the dead pid: nothing
    EXPECT_EQ(ring.core.RepairReadsOf(child, [&](const RingClaim& c) {
      uint64_t v;
      std::memcpy(&v, c.data, sizeof(v));
      seen.push_back(v);
    }), 1u);
    EXPECT_EQ(seen, std::vector<uint64_t>{1234});
  });
  // Sleeps until the repair wakes it: timed from the repair, against a
  // timeout far above the bound.
  EXPECT_TRUE(Put(ring.writer, 3, 30s));
  EXPECT_NE(repaired_at.load(), 0);
  EXPECT_LT(std::chrono::steady_clock::now() -
                std::chrono::steady_clock::time_point(
                    std::chrono::steady_clock::duration(repaired_at.load())),
            testing::kSchedulingSlack);
  repair.join();
  EXPECT_EQ(ring.core.lost(), 0u);
  EXPECT_TRUE(rec.lost.empty());
  uint64_t v;
  ASSERT_EQ(Get(ring.reader, &v, 1s), Status::kOk);
  EXPECT_EQ(v, 3u);
  waitpid(child, nullptr, 0);
}

// kRepairedByOwner: sleepers never wake up on their own to look around, so
// the owner's repair after a death wakes them: the dead process may have
// owed them a wake-up (here: a slot published without one).
TEST(RingCore, OwnerRepairWakesReadersAHandOffWasOwedTo) {
  SharedMapping mem(RingCore::BytesFor(4, 8));
  Ring ring(mem, 4, 8,
            RingOptions{.holder_death = HolderDeath::kRepairedByOwner});
  std::atomic<bool> got{false};
  std::atomic<pid_t> tid{0};
  std::thread reader([&] {
    tid.store(static_cast<pid_t>(syscall(SYS_gettid)));
    uint64_t v;
    EXPECT_EQ(Get(ring.reader, &v, 10s), Status::kOk);
    EXPECT_EQ(v, 77u);
    got.store(true);
  });
  // Until the reader sleeps in the kernel (registered, state S).
  ASSERT_TRUE(testing::WaitUntil([&] {
    return ring.core.data()->readers_waiting.load() > 0 && tid.load() != 0 &&
           ThreadState(tid.load()) == 'S';
  }));
  RingClaim c;
  ASSERT_EQ(ring.writer.TryClaim(&c), Status::kOk);
  const uint64_t v = 77;
  std::memcpy(c.data, &v, sizeof(v));
  c.slot->size.store(sizeof(v));
  // Published, but the wake-up is "lost".
  c.slot->state.Store(SlotWord::FullAt(c.pos), std::memory_order_seq_cst);
  std::this_thread::sleep_for(100ms);
  if (got.load()) {
    reader.join();
    GTEST_SKIP() << "the reader woke before the repair (spurious wake-up)";
  }
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(ring.core.RepairReadsOf(999999, [](const RingClaim&) {}), 0u);
  reader.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, testing::kSchedulingSlack);
}

// Writers gone: a reader on an empty ring whose every writer died gets
// kClosed, when the creator asked for it.
TEST(RingCore, ReaderSeesClosedWhenEveryWriterIsGone) {
  SharedMapping mem(RingCore::BytesFor(4, 64));
  Ring ring(mem, 4, 64);
  ring.core.set_close_on_writers_gone(true);
  pid_t child = fork();
  if (child == 0) {
    RingWriter w(ring.core);
    if (!Put(w, 1, Deadline::Now())) _exit(1);
    raise(SIGKILL);
    _exit(2);
  }
  ASSERT_EQ(waitpid(child, nullptr, 0), child);
  uint64_t v;
  ASSERT_EQ(Get(ring.reader, &v, 1s), Status::kOk);
  EXPECT_EQ(v, 1u);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(Get(ring.reader, &v, 5s), Status::kClosed);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, testing::kSchedulingSlack);
}

TEST(RingCore, CorruptIndexIsAnErrorNotACrash) {
  SharedMapping mem(RingCore::BytesFor(4, 64));
  Ring ring(mem, 4, 64);
  ring.core.data()->head.Store(RingPos(0, 0xffffff00u),
                               std::memory_order_relaxed);
  RingClaim c;
  EXPECT_THROW(ring.reader.TryClaim(&c), InvalidRegion);
  // A slot two laps behind the index.
  ring.core.data()->head.Store(RingPos(5, 0), std::memory_order_relaxed);
  EXPECT_THROW(ring.reader.TryClaim(&c), InvalidRegion);
  ring.core.data()->tail.Store(RingPos(5, 0), std::memory_order_relaxed);
  EXPECT_THROW(ring.writer.TryClaim(&c), InvalidRegion);
  ring.core.data()->capacity = 1u << 30;
  EXPECT_THROW(RingCore::Attach(mem.ptr(), mem.size()), InvalidRegion);
}

TEST(RingCore, CorruptPayloadIsRefusedWhenResolved) {
  SharedMapping mem(RingCore::BytesFor(2, 64));
  Ring ring(mem, 2, 64);
  RingClaim w;
  ASSERT_EQ(ring.writer.TryClaim(&w), Status::kOk);
  ring.writer.Publish(w, 1000);  // more than the slot holds
  RingClaim r;
  ASSERT_EQ(ring.reader.TryClaim(&r), Status::kOk);
  EXPECT_THROW(ring.reader.PayloadOf(r).Resolve(ring.core.InlineArea(r), {},
                                                "test slot"),
               InvalidRegion);
  ring.reader.Release(r);
  ASSERT_EQ(ring.writer.TryClaim(&w), Status::kOk);
  ring.writer.Publish(w, 0, kSlotBlock);  // a heap payload with no block
  ASSERT_EQ(ring.reader.TryClaim(&r), Status::kOk);
  EXPECT_TRUE(ring.reader.PayloadOf(r).is_none());
  EXPECT_THROW(ring.reader.PayloadOf(r).Resolve(ring.core.InlineArea(r), {},
                                                "test slot"),
               InvalidRegion);
  ring.reader.Release(r);
}

}  // namespace
}  // namespace shoal::internal
