// Hostile and stopped peers on a live queue: a peer that writes garbage into
// the shared control words (the spin policy, the heap's lock) or that stops
// (SIGSTOP) while it holds the queue's heap lock must not stretch anybody
// else's timed call past its bound, nor crash or abort them.
//
// Each attack is made by a real forked process on the queue's live shared
// memory; the survivor's calls are timed. kHang only tells a hang (or a
// wait of seconds, what these attacks used to cause) from a slow machine:
// the bounds asked for are 50 ms.
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "gtest/gtest.h"
#include "shoal/base/deadline.h"
#include "shoal/base/errors.h"
#include "shoal/ipc/internal/block_heap.h"
#include "shoal/ipc/internal/queue_core.h"
#include "shoal/ipc/internal/ring_core.h"
#include "shoal/ipc/queue.h"
#include "tests/ipc/fork_helper.h"

namespace shoal {
namespace {

using namespace std::chrono_literals;
using testing::ElapsedMs;
using testing::ForkChild;
using testing::Reap;
using testing::RunInChild;
using Clock = std::chrono::steady_clock;

constexpr double kHang = 3000;  // ms

QueueOptions SmallQueue() {
  QueueOptions o;
  o.maxsize = 8;
  o.inline_bytes = 64;
  o.heap_bytes = 1 << 20;
  return o;
}

internal::QueueShared* SharedOf(const Queue<std::string>& q) {
  return q.region().at<internal::QueueShared>(0);
}

internal::BlockHeapShared* HeapOf(const Queue<std::string>& q) {
  return reinterpret_cast<internal::BlockHeapShared*>(
      q.region().payload() + SharedOf(q)->heap_offset);
}

internal::RingData* RingOf(const Queue<std::string>& q) {
  return reinterpret_cast<internal::RingData*>(q.region().payload() +
                                               SharedOf(q)->ring_offset);
}

// Waits (bounded) until `pid` has stopped; false if it did not.
bool WaitStopped(pid_t pid) {
  return testing::WaitUntil([&] {
    int status = 0;
    return waitpid(pid, &status, WNOHANG | WUNTRACED) == pid &&
           WIFSTOPPED(status);
  });
}

// Forks a peer that takes the queue's heap lock and stops (SIGSTOP) holding
// it; returns once it has stopped (its pid; the caller SIGKILLs and reaps).
pid_t StopWhileHoldingHeapLock(const Queue<std::string>& q) {
  internal::BlockHeapShared* heap = HeapOf(q);
  const pid_t holder = ForkChild(
      [&] {
        heap->lock.acquire();
        raise(SIGSTOP);
      },
      60);
  EXPECT_TRUE(WaitStopped(holder));
  return holder;
}

TEST(StoppedPeer, HoldingTheHeapLockBoundsEveryTimedCall) {
  Queue<std::string> q(SmallQueue());
  const std::string big(4096, 'b');  // larger than a slot: in the heap
  q.put(big);
  const pid_t holder = StopWhileHoldingHeapLock(q);

  // get() frees the item's heap block: it must not need the lock.
  auto t0 = Clock::now();
  EXPECT_EQ(q.get(Deadline(50ms)), big);
  EXPECT_LT(ElapsedMs(t0), kHang);

  // A put that needs a heap block times out within its bound.
  t0 = Clock::now();
  EXPECT_THROW(q.put(big, Deadline(50ms)), Full);
  const double put_ms = ElapsedMs(t0);
  EXPECT_GE(put_ms, 45);
  EXPECT_LT(put_ms, kHang);
  t0 = Clock::now();
  EXPECT_FALSE(q.try_put(big));
  EXPECT_LT(ElapsedMs(t0), kHang);

  // Items that fit a slot never touch the heap.
  q.put("small", Deadline(50ms));
  EXPECT_EQ(q.get(Deadline(50ms)), "small");

  // Once the holder is dead, the next put repairs the lock and succeeds.
  kill(holder, SIGKILL);
  Reap(holder);
  q.put(big, Deadline(10s));
  EXPECT_EQ(q.get(Deadline(10s)), big);
}

TEST(StoppedPeer, ConsumerInAnotherProcessDrainsHeapItems) {
  // The same from the reader's side in another process: a consumer forked
  // after the holder stopped drains heap items within its bound.
  Queue<std::string> q(SmallQueue());
  const std::string big(2000, 'x');
  for (int i = 0; i < 4; ++i) q.put(big + std::to_string(i));
  const pid_t holder = StopWhileHoldingHeapLock(q);
  const int rc = RunInChild([&] {
    for (int i = 0; i < 4; ++i) {
      const auto t0 = Clock::now();
      CHILD_CHECK(q.get(Deadline(50ms)) == big + std::to_string(i));
      CHILD_CHECK(ElapsedMs(t0) < kHang);
    }
    const auto t0 = Clock::now();
    CHILD_CHECK(!q.try_get(Deadline(50ms)).has_value());
    CHILD_CHECK(ElapsedMs(t0) < kHang);
  });
  EXPECT_EQ(rc, 0);
  kill(holder, SIGKILL);
  Reap(holder);
}

TEST(HostilePeer, GarbageSpinPolicyDoesNotStretchTimeouts) {
  Queue<std::string> q(SmallQueue());
  internal::RingData* ring = RingOf(q);
  // The longest spin the fields can ask for (4.29 s), at a probe (the 16th
  // consecutive failure spins the whole maximum).
  ASSERT_EQ(RunInChild([&] {
              for (internal::SpinPolicy* p :
                   {&ring->read_spin, &ring->write_spin}) {
                p->max_ns.store(UINT32_MAX);
                p->estimate_ns.store(UINT32_MAX);
                p->failures.store(internal::kProbePeriod);
              }
            }),
            0);
  for (int i = 0; i < 3; ++i) {
    auto t0 = Clock::now();
    EXPECT_FALSE(q.try_get(Deadline(50ms)).has_value());
    EXPECT_LT(ElapsedMs(t0), kHang) << "get, attempt " << i;
  }
  for (int i = 0; i < 8; ++i) q.put("fill");
  for (int i = 0; i < 3; ++i) {
    auto t0 = Clock::now();
    EXPECT_FALSE(q.try_put("more", Deadline(50ms)));
    EXPECT_LT(ElapsedMs(t0), kHang) << "put, attempt " << i;
  }
}

TEST(HostilePeer, GarbageHeapLockWordGivesATimeoutNotAHang) {
  // A lock word naming an owner that never releases (a live tid, no
  // OWNER_DIED bit): heap puts time out within their bound; gets and slot
  // items are unaffected.
  Queue<std::string> q(SmallQueue());
  const std::string big(3000, 'g');
  q.put(big);
  internal::BlockHeapShared* heap = HeapOf(q);
  const pid_t peer = ForkChild([] { pause(); }, 60);
  ASSERT_EQ(RunInChild([&] {
              auto* word = reinterpret_cast<std::atomic<int>*>(&heap->lock);
              word->store(peer);  // glibc's __lock is the first word
            }),
            0);
  auto t0 = Clock::now();
  EXPECT_EQ(q.get(Deadline(50ms)), big);
  EXPECT_LT(ElapsedMs(t0), kHang);
  t0 = Clock::now();
  EXPECT_THROW(q.put(big, Deadline(50ms)), Full);
  EXPECT_LT(ElapsedMs(t0), kHang);
  q.put("small", Deadline(50ms));
  EXPECT_EQ(q.get(Deadline(50ms)), "small");
  kill(peer, SIGKILL);
  Reap(peer);
}

TEST(HostilePeer, GarbageHeapLockKindIsInvalidRegionNotAnAbort) {
  // A priority-inheritance kind in the heap lock's pthread_mutex_t: glibc
  // would hand the garbage owner to the kernel's PI futex and abort on its
  // answer. The kind word is checked first.
  Queue<std::string> q(SmallQueue());
  internal::BlockHeapShared* heap = HeapOf(q);
  ASSERT_EQ(RunInChild([&] {
              auto* mu = reinterpret_cast<pthread_mutex_t*>(&heap->lock);
              // glibc: PTHREAD_MUTEX_PRIO_INHERIT_NP (32) | robust (16) |
              // process-shared (128).
              mu->__data.__kind = 32 | 16 | 128;
            }),
            0);
  const auto t0 = Clock::now();
  EXPECT_THROW(q.put(std::string(3000, 'k'), Deadline(50ms)), InvalidRegion);
  EXPECT_LT(ElapsedMs(t0), kHang);
  q.put("small", Deadline(50ms));
  EXPECT_EQ(q.get(Deadline(50ms)), "small");
}

}  // namespace
}  // namespace shoal
