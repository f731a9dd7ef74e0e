#include "shoal/ipc/internal/slot_ring.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "shoal/base/errors.h"

namespace shoal::internal {
namespace {

using Status = SlotRing::Status;
using namespace std::chrono_literals;

struct SharedMem {
  explicit SharedMem(size_t n) : size(n) {
    ptr = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
               -1, 0);
    EXPECT_NE(ptr, MAP_FAILED);
  }
  ~SharedMem() { munmap(ptr, size); }
  void* ptr;
  size_t size;
};

bool Put(SlotRing& ring, uint64_t v, Deadline d = Deadline()) {
  SlotRing::Claim c;
  if (ring.ClaimWrite(&c, d) != Status::kOk) return false;
  std::memcpy(c.data, &v, sizeof(v));
  ring.Publish(c, sizeof(v));
  return true;
}

Status Get(SlotRing& ring, uint64_t* v, Deadline d = Deadline()) {
  SlotRing::Claim c;
  Status s = ring.ClaimRead(&c, d);
  if (s != Status::kOk) return s;
  EXPECT_EQ(c.slot->size.load(), sizeof(uint64_t));
  std::memcpy(v, c.data, sizeof(*v));
  ring.Release(c);
  return s;
}

TEST(SlotRing, FifoSingleThreadAndWrapAround) {
  SharedMem mem(SlotRing::BytesFor(3, 64));
  SlotRing ring = SlotRing::Create(mem.ptr, mem.size, 3, 64);
  uint64_t v;
  for (uint64_t lap = 0; lap < 10; ++lap) {
    for (uint64_t i = 0; i < 3; ++i) ASSERT_TRUE(Put(ring, lap * 10 + i));
    EXPECT_EQ(ring.size(), 3u);
    SlotRing::Claim c;
    EXPECT_EQ(ring.TryClaimWrite(&c), Status::kWouldBlock);
    for (uint64_t i = 0; i < 3; ++i) {
      ASSERT_EQ(Get(ring, &v), Status::kOk);
      EXPECT_EQ(v, lap * 10 + i);
    }
    EXPECT_EQ(ring.TryClaimRead(&c), Status::kWouldBlock);
    EXPECT_EQ(ring.size(), 0u);
  }
}

TEST(SlotRing, TimedClaimsReturnInBound) {
  SharedMem mem(SlotRing::BytesFor(1, 64));
  SlotRing ring = SlotRing::Create(mem.ptr, mem.size, 1, 64);
  uint64_t v;
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(Get(ring, &v, 100ms), Status::kTimedOut);
  auto dt = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(dt, 100ms);
  EXPECT_LT(dt, 600ms);
  ASSERT_TRUE(Put(ring, 1));
  t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(Put(ring, 2, 100ms));
  dt = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(dt, 100ms);
  EXPECT_LT(dt, 600ms);
}

TEST(SlotRing, CloseDrainsThenReportsClosed) {
  SharedMem mem(SlotRing::BytesFor(4, 64));
  SlotRing ring = SlotRing::Create(mem.ptr, mem.size, 4, 64);
  ASSERT_TRUE(Put(ring, 7));
  ASSERT_TRUE(Put(ring, 8));
  ring.Close();
  SlotRing::Claim c;
  EXPECT_EQ(ring.TryClaimWrite(&c), Status::kClosed);
  uint64_t v;
  ASSERT_EQ(Get(ring, &v, 1s), Status::kOk);
  EXPECT_EQ(v, 7u);
  ASSERT_EQ(Get(ring, &v, 1s), Status::kOk);
  EXPECT_EQ(v, 8u);
  EXPECT_EQ(Get(ring, &v, 1s), Status::kClosed);
}

TEST(SlotRing, CloseWakesSleepingReader) {
  SharedMem mem(SlotRing::BytesFor(4, 64));
  SlotRing ring = SlotRing::Create(mem.ptr, mem.size, 4, 64);
  std::thread t([&] {
    std::this_thread::sleep_for(100ms);
    ring.Close();
  });
  uint64_t v;
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(Get(ring, &v, 5s), Status::kClosed);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  t.join();
}

TEST(SlotRing, AbandonedSlotIsSkipped) {
  SharedMem mem(SlotRing::BytesFor(4, 64));
  SlotRing ring = SlotRing::Create(mem.ptr, mem.size, 4, 64);
  SlotRing::Claim c;
  ASSERT_EQ(ring.TryClaimWrite(&c), Status::kOk);
  ring.Abandon(c);
  ASSERT_TRUE(Put(ring, 42));
  uint64_t v;
  ASSERT_EQ(Get(ring, &v, 1s), Status::kOk);
  EXPECT_EQ(v, 42u);
  EXPECT_EQ(ring.lost(), 0u);
}

// Threads: 4 producers x 4 consumers, every value exactly once.
TEST(SlotRing, MpmcThreadsExactlyOnce) {
  constexpr int kProducers = 4, kConsumers = 4, kPer = 50000;
  SharedMem mem(SlotRing::BytesFor(64, 64));
  SlotRing ring = SlotRing::Create(mem.ptr, mem.size, 64, 64);
  std::vector<std::atomic<int>> seen(kProducers * kPer);
  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] {
      for (int i = 0; i < kPer; ++i) ASSERT_TRUE(Put(ring, p * kPer + i, 10s));
    });
  }
  std::atomic<int> got{0};
  for (int c = 0; c < kConsumers; ++c) {
    threads.emplace_back([&] {
      uint64_t v;
      while (Get(ring, &v, 10s) == Status::kOk) {
        seen[v].fetch_add(1);
        got.fetch_add(1);
      }
    });
  }
  for (int p = 0; p < kProducers; ++p) threads[p].join();
  ring.Close();
  for (size_t i = kProducers; i < threads.size(); ++i) threads[i].join();
  EXPECT_EQ(got.load(), kProducers * kPer);
  for (auto& s : seen) ASSERT_EQ(s.load(), 1);
}

// Processes: a writer dies between claim and publish. The reader skips the
// lost slot within about a second and counts it.
TEST(SlotRing, DeadWriterSlotIsRecoveredAndCounted) {
  SharedMem mem(SlotRing::BytesFor(8, 64));
  SlotRing ring = SlotRing::Create(mem.ptr, mem.size, 8, 64);
  pid_t child = fork();
  if (child == 0) {
    SlotRing::Claim c;
    if (ring.TryClaimWrite(&c) != Status::kOk) _exit(1);
    raise(SIGKILL);
    _exit(2);
  }
  int status;
  ASSERT_EQ(waitpid(child, &status, 0), child);  // dead and reaped
  ASSERT_TRUE(Put(ring, 99));
  uint64_t v;
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(Get(ring, &v, 5s), Status::kOk);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  EXPECT_EQ(v, 99u);
  EXPECT_EQ(ring.lost(), 1u);
}

// The dead writer is still a zombie (not reaped): it must count as dead.
TEST(SlotRing, ZombieWriterCountsAsDead) {
  SharedMem mem(SlotRing::BytesFor(8, 64));
  SlotRing ring = SlotRing::Create(mem.ptr, mem.size, 8, 64);
  pid_t child = fork();
  if (child == 0) {
    SlotRing::Claim c;
    if (ring.TryClaimWrite(&c) != Status::kOk) _exit(1);
    raise(SIGKILL);
    _exit(2);
  }
  siginfo_t info;
  ASSERT_EQ(waitid(P_PID, child, &info, WEXITED | WNOWAIT), 0);  // no reap
  ASSERT_TRUE(Put(ring, 5));
  uint64_t v;
  ASSERT_EQ(Get(ring, &v, 5s), Status::kOk);
  EXPECT_EQ(v, 5u);
  EXPECT_EQ(ring.lost(), 1u);
  waitpid(child, nullptr, 0);
}

// A reader dies between claim and release on a full ring: the blocked
// writer recovers the slot.
TEST(SlotRing, DeadReaderSlotIsRecoveredByWriter) {
  SharedMem mem(SlotRing::BytesFor(1, 64));
  SlotRing ring = SlotRing::Create(mem.ptr, mem.size, 1, 64);
  ASSERT_TRUE(Put(ring, 1));
  pid_t child = fork();
  if (child == 0) {
    SlotRing::Claim c;
    if (ring.TryClaimRead(&c) != Status::kOk) _exit(1);
    raise(SIGKILL);
    _exit(2);
  }
  ASSERT_EQ(waitpid(child, nullptr, 0), child);
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(Put(ring, 2, 5s));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  EXPECT_EQ(ring.lost(), 1u);
  uint64_t v;
  ASSERT_EQ(Get(ring, &v, 1s), Status::kOk);
  EXPECT_EQ(v, 2u);
}

TEST(SlotRing, CorruptIndexIsAnErrorNotACrash) {
  SharedMem mem(SlotRing::BytesFor(4, 64));
  SlotRing ring = SlotRing::Create(mem.ptr, mem.size, 4, 64);
  ring.shared()->head.store(0x00000000ffffff00ull);
  SlotRing::Claim c;
  EXPECT_THROW(ring.TryClaimRead(&c), InvalidRegion);
  ring.shared()->capacity = 1u << 30;
  EXPECT_THROW(SlotRing::Attach(mem.ptr, mem.size), InvalidRegion);
}

}  // namespace
}  // namespace shoal::internal
