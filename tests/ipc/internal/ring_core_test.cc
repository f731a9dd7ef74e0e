// Tests for ipc/internal/ring_core.h: the ring under queues, channels and the
// pool's task ring, through its writer and reader sides.
#include "shoal/ipc/internal/ring_core.h"

#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
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


// ---------------------------------------------------------------- batches

// Claims up to `max` slots, writes base, base+1, ... and publishes them.
uint32_t PutBatch(RingWriter& w, uint64_t base, uint32_t max,
                  Deadline d = Deadline()) {
  RingBatch b;
  if (w.ClaimBatch(max, &b, d) != Status::kOk) return 0;
  std::vector<uint32_t> sizes(b.count, sizeof(uint64_t));
  RingClaim c = w.core().ClaimAt(b.first);
  for (uint32_t i = 0; i < b.count; ++i) {
    if (i > 0) c = w.core().NextClaim(c);
    const uint64_t v = base + i;
    std::memcpy(c.data, &v, sizeof(v));
  }
  w.PublishBatch(b, sizes);
  return b.count;
}

// Takes up to `max` slots; appends their items to *out; returns the slots.
uint32_t GetBatch(RingReader& r, uint32_t max, std::vector<uint64_t>* out,
                  Deadline d = Deadline()) {
  RingBatch b;
  if (r.ClaimBatch(max, &b, d) != Status::kOk) return 0;
  RingClaim c = r.core().ClaimAt(b.first);
  for (uint32_t i = 0; i < b.count; ++i) {
    if (i > 0) c = r.core().NextClaim(c);
    if (!RingReader::IsItem(c)) continue;
    uint64_t v;
    std::memcpy(&v, c.data, sizeof(v));
    out->push_back(v);
  }
  r.ReleaseBatch(b);
  return b.count;
}

TEST(RingCoreBatch, ClaimsWhatIsFreeInOrderAcrossWrapAround) {
  SharedMapping mem(RingCore::BytesFor(5, 64));
  Ring ring(mem, 5, 64);
  std::vector<uint64_t> got;
  uint64_t next = 0;
  for (int round = 0; round < 7; ++round) {
    // 3 then as many as are free (2 of 5), then none.
    ASSERT_EQ(PutBatch(ring.writer, next, 3), 3u);
    next += 3;
    ASSERT_EQ(PutBatch(ring.writer, next, 8), 2u);
    next += 2;
    RingBatch b;
    EXPECT_EQ(ring.writer.TryClaimBatch(4, &b), Status::kWouldBlock);
    EXPECT_EQ(ring.core.size(), 5u);
    EXPECT_EQ(GetBatch(ring.reader, 4, &got), 4u);
    EXPECT_EQ(GetBatch(ring.reader, 4, &got), 1u);
    EXPECT_EQ(ring.reader.TryClaimBatch(4, &b), Status::kWouldBlock);
  }
  ASSERT_EQ(got.size(), next);
  for (uint64_t i = 0; i < next; ++i) ASSERT_EQ(got[i], i);
}

TEST(RingCoreBatch, UnpublishedRestOfABatchIsSkippedAndItsBlocksFreed) {
  SharedMapping mem(RingCore::BytesFor(8, 64));
  Recorder rec;
  Ring ring(mem, 8, 64, RingOptions{.reclaimer = &rec});
  RingBatch b;
  ASSERT_EQ(ring.writer.ClaimBatch(4, &b, 1s), Status::kOk);
  ASSERT_EQ(b.count, 4u);
  RingClaim c = ring.core.ClaimAt(b.first);
  for (uint64_t i = 0; i < 4; ++i) {
    if (i > 0) c = ring.core.NextClaim(c);
    std::memcpy(c.data, &i, sizeof(i));
    if (i == 3) c.slot->block.Record(128, 8);
  }
  const uint32_t sizes[2] = {8, 8};
  ring.writer.PublishBatch(b, sizes);  // items 0 and 1; 2 and 3 skipped
  EXPECT_EQ(rec.freed, std::vector<BlockRef>{BlockRef::Heap(128, 8)});
  ASSERT_TRUE(Put(ring.writer, 42));
  std::vector<uint64_t> got;
  while (GetBatch(ring.reader, 8, &got, Deadline::Now()) > 0) {
  }
  EXPECT_EQ(got, (std::vector<uint64_t>{0, 1, 42}));
  EXPECT_EQ(ring.core.lost(), 0u);
}

TEST(RingCoreBatch, ReleasingABatchWakesASleepingWriter) {
  SharedMapping mem(RingCore::BytesFor(4, 64));
  Ring ring(mem, 4, 64);
  ring.core.set_max_spin(std::chrono::nanoseconds(0));
  ASSERT_EQ(PutBatch(ring.writer, 0, 4), 4u);
  std::atomic<int> put{0};
  std::thread writer([&] { put = PutBatch(ring.writer, 4, 4, 10s); });
  while (ring.core.data()->writers_waiting.load() == 0) {
    std::this_thread::sleep_for(1ms);
  }
  std::vector<uint64_t> got;
  EXPECT_EQ(GetBatch(ring.reader, 3, &got), 3u);
  writer.join();
  EXPECT_EQ(put.load(), 3);
  while (GetBatch(ring.reader, 8, &got, Deadline::Now()) > 0) {
  }
  EXPECT_EQ(got, (std::vector<uint64_t>{0, 1, 2, 3, 4, 5, 6}));
}

TEST(RingCoreBatch, PublishingABatchWakesASleepingReader) {
  SharedMapping mem(RingCore::BytesFor(8, 64));
  Ring ring(mem, 8, 64);
  ring.core.set_max_spin(std::chrono::nanoseconds(0));
  std::vector<uint64_t> got;
  std::thread reader([&] { GetBatch(ring.reader, 8, &got, 10s); });
  while (ring.core.data()->readers_waiting.load() == 0) {
    std::this_thread::sleep_for(1ms);
  }
  ASSERT_EQ(PutBatch(ring.writer, 10, 5), 5u);
  reader.join();
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.front(), 10u);
}

// A writer killed with a claimed, unpublished batch: the reader repairs the
// whole run in one liveness interval and lost() counts every slot of it.
TEST(RingCoreBatch, DeadWritersBatchIsRepairedAtOnceAndCountedExactly) {
  SharedMapping mem(RingCore::BytesFor(16, 64));
  Recorder rec;
  Ring ring(mem, 16, 64, RingOptions{.reclaimer = &rec});
  ASSERT_EQ(PutBatch(ring.writer, 0, 2), 2u);
  pid_t child = fork();
  if (child == 0) {
    RingBatch b;
    if (ring.writer.TryClaimBatch(5, &b) != Status::kOk || b.count != 5) {
      _exit(1);
    }
    raise(SIGKILL);
    _exit(2);
  }
  int status;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status));
  ASSERT_EQ(PutBatch(ring.writer, 100, 3), 3u);
  std::vector<uint64_t> got;
  auto t0 = std::chrono::steady_clock::now();
  while (got.size() < 5) {
    ASSERT_GT(GetBatch(ring.reader, 16, &got, 5s), 0u);
  }
  // One liveness interval for the five slots, not five.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2 * RingCore::kLivenessCheckInterval + 1s);
  EXPECT_EQ(got, (std::vector<uint64_t>{0, 1, 100, 101, 102}));
  EXPECT_EQ(ring.core.lost(), 5u);
  EXPECT_EQ(rec.lost.size(), 5u);
}

// A reader killed holding a batch: a writer blocked on the full ring repairs
// the run and counts each item.
TEST(RingCoreBatch, DeadReadersBatchIsRepairedByAWriterAndCountedExactly) {
  SharedMapping mem(RingCore::BytesFor(4, 64));
  Recorder rec;
  Ring ring(mem, 4, 64, RingOptions{.reclaimer = &rec});
  ASSERT_EQ(PutBatch(ring.writer, 0, 4), 4u);
  pid_t child = fork();
  if (child == 0) {
    RingBatch b;
    if (ring.reader.TryClaimBatch(3, &b) != Status::kOk || b.count != 3) {
      _exit(1);
    }
    raise(SIGKILL);
    _exit(2);
  }
  ASSERT_EQ(waitpid(child, nullptr, 0), child);
  uint32_t put = 0;
  while (put < 3) {
    const uint32_t n = PutBatch(ring.writer, 10 + put, 3 - put, 5s);
    ASSERT_GT(n, 0u);
    put += n;
  }
  EXPECT_EQ(ring.core.lost(), 3u);
  EXPECT_EQ(rec.lost.size(), 3u);
  std::vector<uint64_t> got;
  while (GetBatch(ring.reader, 8, &got, Deadline::Now()) > 0) {
  }
  EXPECT_EQ(got, (std::vector<uint64_t>{3, 10, 11, 12}));
}

TEST(RingCoreBatch, MpmcThreadsInBatchesExactlyOnce) {
  constexpr int kThreads = 3;
  constexpr uint64_t kPerThread = 20000;
  SharedMapping mem(RingCore::BytesFor(64, 64));
  Ring ring(mem, 64, 64);
  std::vector<std::thread> threads;
  std::vector<std::vector<uint64_t>> got(kThreads);
  std::atomic<uint64_t> taken{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      uint64_t i = 0;
      while (i < kPerThread) {
        i += PutBatch(ring.writer, t * kPerThread + i,
                      static_cast<uint32_t>(std::min<uint64_t>(1 + i % 17,
                                                               kPerThread - i)),
                      10s);
      }
    });
    threads.emplace_back([&, t] {
      while (taken.load() < kThreads * kPerThread) {
        const std::size_t before = got[t].size();
        GetBatch(ring.reader, 1 + t * 7, &got[t], 10ms);
        taken += got[t].size() - before;
      }
    });
  }
  for (auto& th : threads) th.join();
  std::vector<uint64_t> all;
  for (auto& g : got) {
    // Each reader sees each writer's items in order.
    std::vector<uint64_t> last(kThreads, 0);
    std::vector<bool> seen(kThreads, false);
    for (uint64_t v : g) {
      const uint64_t w = v / kPerThread;
      if (seen[w]) {
        EXPECT_GT(v, last[w]);
      }
      seen[w] = true;
      last[w] = v;
    }
    all.insert(all.end(), g.begin(), g.end());
  }
  std::sort(all.begin(), all.end());
  ASSERT_EQ(all.size(), kThreads * kPerThread);
  for (uint64_t i = 0; i < all.size(); ++i) ASSERT_EQ(all[i], i);
}

TEST(RingCoreBatch, CloseEndsBatchClaimsAndDrainsBatches) {
  SharedMapping mem(RingCore::BytesFor(8, 64));
  Ring ring(mem, 8, 64);
  ASSERT_EQ(PutBatch(ring.writer, 0, 3), 3u);
  ring.core.Close();
  RingBatch b;
  EXPECT_EQ(ring.writer.TryClaimBatch(2, &b), Status::kClosed);
  std::vector<uint64_t> got;
  EXPECT_EQ(GetBatch(ring.reader, 8, &got, 1s), 3u);
  EXPECT_EQ(ring.reader.ClaimBatch(8, &b, 1s), Status::kClosed);
  EXPECT_EQ(got, (std::vector<uint64_t>{0, 1, 2}));
}


// ------------------------------------------------------------ held slots

// A reader whose slot a live writer is filling keeps spinning instead of
// registering as a sleeper (a large copy outlasts the adaptive spin). Each
// trial holds the slot ~300 us, far past the adaptive spin's bound; a busy
// machine can preempt the reader past the 2 ms bound, so the test only needs
// some trials to show it, and skips when none could.
TEST(RingCoreHeld, ReaderSpinsThroughALiveWritersFill) {
  SharedMapping mem(RingCore::BytesFor(4, 64));
  Ring ring(mem, 4, 64);
  int spun = 0;
  for (int trial = 0; trial < 20; ++trial) {
    RingClaim c;
    ASSERT_EQ(ring.writer.TryClaim(&c), Status::kOk);
    std::atomic<bool> started{false};
    uint64_t v = 0;
    std::thread reader([&] {
      started = true;
      ASSERT_EQ(Get(ring.reader, &v, 10s), Status::kOk);
    });
    while (!started) std::this_thread::yield();
    bool slept = false;
    const auto until = std::chrono::steady_clock::now() + 300us;
    while (std::chrono::steady_clock::now() < until) {
      slept |= ring.core.data()->readers_waiting.load() != 0;
    }
    const uint64_t x = 1000 + trial;
    std::memcpy(c.data, &x, sizeof(x));
    ring.writer.Publish(c, sizeof(x));
    reader.join();
    EXPECT_EQ(v, x);
    if (!slept) ++spun;
  }
  if (spun == 0) GTEST_SKIP() << "the machine too busy for a reader to spin";
  EXPECT_GT(spun, 0);
}

// A sleeping reader woken by Announce() watches the held slot, takes the
// item once published, and a holder that never publishes still costs the
// reader no more than its deadline.
TEST(RingCoreHeld, AnnouncedSlotWakesTheSleeperWhichThenWatchesIt) {
  SharedMapping mem(RingCore::BytesFor(4, 64));
  Ring ring(mem, 4, 64);
  for (int trial = 0; trial < 2; ++trial) {
    const bool publish = trial == 0;
    Status got = Status::kWouldBlock;
    uint64_t v = 0;
    const auto bound = publish ? 10s : 300ms;
    const auto t0 = std::chrono::steady_clock::now();
    std::thread reader([&] { got = Get(ring.reader, &v, bound); });
    ASSERT_TRUE(testing::WaitUntil(
        [&] { return ring.core.data()->readers_waiting.load() > 0; },
        std::chrono::milliseconds(10000)));
    RingClaim c;
    ASSERT_EQ(ring.writer.TryClaim(&c), Status::kOk);
    ring.writer.Announce(c);
    if (publish) {
      const uint64_t x = 77;
      std::memcpy(c.data, &x, sizeof(x));
      ring.writer.Publish(c, sizeof(x));
      reader.join();
      EXPECT_EQ(got, Status::kOk);
      EXPECT_EQ(v, 77u);
    } else {
      reader.join();
      EXPECT_EQ(got, Status::kTimedOut);
      const auto dt = std::chrono::steady_clock::now() - t0;
      EXPECT_GE(dt, bound);
      EXPECT_LT(dt, bound + 1s);
      ring.writer.Abandon(c);
    }
  }
}

// Spinning on a held slot stays within the caller's deadline.
TEST(RingCoreHeld, TimedClaimOnAHeldSlotReturnsInBound) {
  SharedMapping mem(RingCore::BytesFor(2, 64));
  Ring ring(mem, 2, 64);
  pid_t child = fork();
  if (child == 0) {
    RingClaim c;
    if (ring.writer.TryClaim(&c) != Status::kOk) _exit(1);
    alarm(20);
    for (;;) pause();
  }
  while (ring.core.size() == 0) std::this_thread::sleep_for(1ms);
  uint64_t v;
  for (auto bound : {1ms, 100ms}) {
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(Get(ring.reader, &v, bound), Status::kTimedOut);
    const auto dt = std::chrono::steady_clock::now() - t0;
    EXPECT_GE(dt, bound);
    EXPECT_LT(dt, bound + 500ms);
  }
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
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
