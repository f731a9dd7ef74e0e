#include "shoal/ipc/queue.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "shoal/base/errors.h"
#include "tests/support/fork_helpers.h"
#include "tests/sync/huge_timeouts.h"

namespace shoal {
namespace {

using namespace std::chrono_literals;
using testing::ForkChild;
using testing::RunInChild;
using testing::WaitExitCode;

TEST(Queue, OneProducerOneConsumerKeepsOrder) {
  Queue<int> q(64);
  pid_t child = ForkChild([&] {
    for (int i = 0; i < 100000; ++i) q.put(i, 10s);
    return 0;
  });
  for (int i = 0; i < 100000; ++i) ASSERT_EQ(q.get(10s), i);
  EXPECT_EQ(WaitExitCode(child), 0);
  EXPECT_TRUE(q.empty());
}

TEST(Queue, FourProducersFourConsumersEachItemExactlyOnce) {
  constexpr int kProducers = 4, kConsumers = 4, kItems = 200000;
  constexpr int kPer = kItems / kProducers;
  Queue<uint64_t> q(1024);
  auto* seen = testing::NewSharedArray<std::atomic<uint8_t>>(kItems);
  auto* sums = testing::NewSharedArray<std::atomic<uint64_t>>(kConsumers);
  std::vector<pid_t> kids;
  for (int c = 0; c < kConsumers; ++c) {
    kids.push_back(ForkChild(
        [&, c] {
          for (;;) {
            std::optional<uint64_t> v = q.try_get(20s);
            if (!v) return 0;  // closed and drained
            seen[*v].fetch_add(1);
            sums[c].fetch_add(*v);
          }
        },
        60));
  }
  std::vector<pid_t> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.push_back(ForkChild(
        [&, p] {
          for (int i = 0; i < kPer; ++i) q.put(uint64_t(p) * kPer + i, 20s);
          return 0;
        },
        60));
  }
  for (pid_t p : producers) EXPECT_EQ(WaitExitCode(p, 70s), 0);
  q.close();
  for (pid_t k : kids) EXPECT_EQ(WaitExitCode(k, 70s), 0);
  uint64_t total = 0;
  for (int c = 0; c < kConsumers; ++c) total += sums[c].load();
  EXPECT_EQ(total, uint64_t(kItems) * (kItems - 1) / 2);
  for (int i = 0; i < kItems; ++i) ASSERT_EQ(seen[i].load(), 1) << i;
  EXPECT_EQ(q.lost(), 0u);
}

// Items from 0 B to 4 MiB: small ones inline, large ones through the heap.
TEST(Queue, RandomSizesZeroToFourMiB) {
  Queue<std::string> q(QueueOptions{.maxsize = 16, .heap_bytes = 32 << 20});
  constexpr int kItems = 200;
  pid_t child = ForkChild(
      [&] {
        std::mt19937 rng(7);
        for (int i = 0; i < kItems; ++i) {
          std::size_t n = (i % 10 == 0) ? (rng() % (4 << 20)) : (rng() % 300);
          std::string s(n, '\0');
          for (std::size_t k = 0; k < n; ++k) s[k] = static_cast<char>(k * 7 + i);
          q.put(s, 20s);
        }
        return 0;
      },
      60);
  std::mt19937 rng(7);
  for (int i = 0; i < kItems; ++i) {
    std::size_t n = (i % 10 == 0) ? (rng() % (4 << 20)) : (rng() % 300);
    std::string s = q.get(20s);
    ASSERT_EQ(s.size(), n) << i;
    for (std::size_t k = 0; k < n; k += 997) {
      ASSERT_EQ(s[k], static_cast<char>(k * 7 + i)) << i << " " << k;
    }
  }
  EXPECT_EQ(WaitExitCode(child, 70s), 0);
}

TEST(Queue, ItemLargerThanHeapIsRefusedAndKept) {
  Queue<std::string> q(QueueOptions{.maxsize = 4, .heap_bytes = 1 << 20});
  std::string big(2 << 20, 'x');
  EXPECT_THROW(q.put(big), ValueError);
  EXPECT_EQ(big.size(), 2u << 20);
  EXPECT_TRUE(q.empty());
  q.put(std::string(900 << 10, 'y'));
  EXPECT_EQ(q.get(1s).size(), 900u << 10);
}

TEST(Queue, EmptyAndFull) {
  Queue<int> q(2);
  EXPECT_THROW(q.get_nowait(), Empty);
  EXPECT_FALSE(q.try_get().has_value());
  q.put_nowait(1);
  q.put_nowait(2);
  EXPECT_TRUE(q.full());
  EXPECT_EQ(q.qsize(), 2u);
  EXPECT_THROW(q.put_nowait(3), Full);
  EXPECT_FALSE(q.try_put(3));
  EXPECT_EQ(q.get_nowait(), 1);
  EXPECT_EQ(q.get_nowait(), 2);
  EXPECT_TRUE(q.empty());
}

TEST(Queue, TimeoutsReturnInBound) {
  Queue<int> q(1);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(q.get(150ms), Empty);
  auto dt = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(dt, 150ms);
  EXPECT_LT(dt, 150ms + testing::kSchedulingSlack);
  q.put(1);
  t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(q.put(2, 150ms), Full);
  dt = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(dt, 150ms);
  EXPECT_LT(dt, 150ms + testing::kSchedulingSlack);
  t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(q.try_put(2, absl::Milliseconds(100)));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 100ms);
}

TEST(Queue, CloseThenDrainThenClosed) {
  Queue<std::string> q(16);
  q.put("a");
  q.put("b");
  q.close();
  EXPECT_TRUE(q.closed());
  EXPECT_THROW(q.put("c"), Closed);
  EXPECT_FALSE(q.try_put("c"));
  EXPECT_EQ(q.get(1s), "a");
  EXPECT_EQ(q.get(1s), "b");
  EXPECT_THROW(q.get(1s), Closed);
  EXPECT_FALSE(q.try_get(1s).has_value());
}

TEST(Queue, CloseWakesBlockedReadersInOtherProcesses) {
  Queue<int> q(16);
  std::vector<pid_t> kids;
  for (int i = 0; i < 3; ++i) {
    kids.push_back(ForkChild([&] {
      try {
        q.get();  // untimed: only close() can end it
      } catch (const Closed&) {
        return 0;
      }
      return 1;
    }));
  }
  std::this_thread::sleep_for(100ms);
  q.close();
  for (pid_t k : kids) EXPECT_EQ(WaitExitCode(k, 30s), 0);
}

TEST(Queue, SentinelShutdownWithTenConsumers) {
  constexpr int kConsumers = 10, kItems = 10000;
  Queue<int> q(256);
  auto* total = testing::NewSharedArray<std::atomic<int64_t>>(1);
  std::vector<pid_t> kids;
  for (int c = 0; c < kConsumers; ++c) {
    kids.push_back(ForkChild([&] {
      for (;;) {
        int v = q.get(20s);
        if (v < 0) return 0;  // the sentinel
        total->fetch_add(v);
      }
    }));
  }
  for (int i = 0; i < kItems; ++i) q.put(i, 20s);
  for (int c = 0; c < kConsumers; ++c) q.put(-1, 20s);
  for (pid_t k : kids) EXPECT_EQ(WaitExitCode(k, 30s), 0);
  EXPECT_EQ(total->load(), int64_t(kItems) * (kItems - 1) / 2);
  EXPECT_TRUE(q.empty());
}

TEST(Queue, ProducerKilledMidPutLosesAtMostItsItem) {
  Queue<std::string> q(8);
  pid_t child = fork();
  if (child == 0) {
    // Claim a slot the way put() does, then die before publishing.
    internal::RingWriter ring(internal::RingCore::Attach(
        q.region().payload() +
            q.region().at<internal::QueueShared>(0)->ring_offset,
        q.region().at<internal::QueueShared>(0)->ring_bytes));
    internal::RingClaim c;
    if (ring.TryClaim(&c) != internal::RingCore::Status::kOk) _exit(1);
    raise(SIGKILL);
  }
  waitpid(child, nullptr, 0);
  q.put("after");
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(q.get(5s), "after");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, testing::kSchedulingSlack);
  EXPECT_EQ(q.lost(), 1u);
}

// Opt-in: readers stop waiting once every writer is gone.
TEST(Queue, ReaderGetsClosedAfterDrainWhenEveryWriterDied) {
  Queue<int> q(QueueOptions{.maxsize = 16, .close_when_writers_gone = true});
  std::vector<pid_t> writers;
  for (int w = 0; w < 2; ++w) {
    writers.push_back(fork());
    if (writers.back() == 0) {
      q.put(w);
      if (w == 0) _exit(0);  // leaves without destructors
      raise(SIGKILL);        // dies
    }
  }
  for (pid_t w : writers) waitpid(w, nullptr, 0);
  int sum = q.get(5s) + q.get(5s);
  EXPECT_EQ(sum, 1);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(q.get(), Closed);  // untimed: must not wait forever
  EXPECT_LT(std::chrono::steady_clock::now() - t0, testing::kSchedulingSlack);
  // The queue itself is not closed: a new writer can still put.
  q.put(7);
  EXPECT_EQ(q.get(1s), 7);
}

TEST(Queue, WithoutTheOptionReadersKeepWaiting) {
  Queue<int> q(16);
  EXPECT_EQ(RunInChild([&] {
              q.put(1);
              return 0;
            }),
            0);
  EXPECT_EQ(q.get(1s), 1);
  EXPECT_THROW(q.get(300ms), Empty);  // waits the full timeout, as in Python
}

TEST(Queue, NamedQueueOpenedByAnotherProcess) {
  std::string name = "queue_test_" + std::to_string(getpid());
  QueueOptions options;
  options.maxsize = 8;
  options.region.kind = RegionKind::kNamed;
  options.region.name = name;
  Queue<std::string> q(options);
  EXPECT_EQ(RunInChild([&] {
              Queue<std::string> other = Queue<std::string>::Open(name);
              other.put("from another process");
              return 0;
            }),
            0);
  EXPECT_EQ(q.get(1s), "from another process");
  // The wrong item type is refused, naming both.
  try {
    Queue<int>::Open(name);
    FAIL() << "opened a Queue<std::string> as Queue<int>";
  } catch (const InvalidRegion& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("shoal::Queue<std::string>"), std::string::npos) << what;
    EXPECT_NE(what.find("shoal::Queue<int>"), std::string::npos) << what;
  }
}

// A queue region made by a shoal whose queue layout version differs (the
// same C++ type, another shared layout) is refused by name and by ref, and
// the message says so instead of naming the same type twice.
TEST(Queue, AQueueOfAnotherLayoutVersionIsRefused) {
  const std::string name = "queue_test_v_" + std::to_string(getpid());
  RegionOptions options;
  options.kind = RegionKind::kNamed;
  options.name = name;
  const RegionLayout older = LayoutOf<Queue<int>>("queue", 2);
  ASSERT_NE(older.hash, Queue<int>::Layout().hash);
  Region region = Region::Create(4096, older, options);
  const std::string expected =
      "holds shoal::Queue<int> in a different shared layout than this "
      "program's shoal::Queue<int> (made by another version of shoal";
  for (int by_ref = 0; by_ref < 2; ++by_ref) {
    try {
      if (by_ref) {
        Queue<int>::Open(region.ref());
      } else {
        Queue<int>::Open(name);
      }
      ADD_FAILURE() << "opened a queue of another layout version, by_ref="
                    << by_ref;
    } catch (const InvalidRegion& e) {
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos)
          << e.what();
    }
  }
}

TEST(Queue, OpenByRefFromForkedChild) {
  Queue<int> q(8);
  RegionRef ref = q.ref();
  EXPECT_EQ(RunInChild([&] {
              Queue<int> other = Queue<int>::Open(ref);
              other.put(41);
              return 0;
            }),
            0);
  EXPECT_EQ(q.get(1s), 41);
}

TEST(SimpleQueue, PutGetEmptyClose) {
  SimpleQueue<std::vector<double>> q;
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(RunInChild([&] {
              q.put({1.5, 2.5});
              return 0;
            }),
            0);
  EXPECT_FALSE(q.empty());
  EXPECT_EQ(q.get(), (std::vector<double>{1.5, 2.5}));
  q.close();
  EXPECT_THROW(q.get(), Closed);
}

// put_encoded/get_encoded move the codec bytes of a std::string without a
// std::string: what a typed reader/writer in another process sees is the
// same item, in both directions, inline and through the heap.
TEST(Queue, EncodedBytesInteroperateWithTypedEnds) {
  Queue<std::string> q(8);
  const std::string small = "hi", big(100000, 'x');
  for (const std::string* s : {&small, &big}) {
    const uint64_t n = s->size();
    ASSERT_EQ(q.put_encoded(8 + n,
                            [&](std::span<std::byte> dst) {
                              ASSERT_EQ(dst.size(), 8 + n);
                              std::memcpy(dst.data(), &n, 8);
                              std::memcpy(dst.data() + 8, s->data(), n);
                            }),
              QueueStatus::kOk);
  }
  EXPECT_EQ(RunInChild([&] {
              if (q.get(5s) != small || q.get(5s) != big) return 1;
              q.put(big + "!");
              return 0;
            }),
            0);
  std::string got;
  ASSERT_EQ(q.get_encoded(
                [&](std::span<const std::byte> b) {
                  uint64_t n = 0;
                  std::memcpy(&n, b.data(), 8);
                  ASSERT_EQ(b.size(), 8 + n);
                  got.assign(reinterpret_cast<const char*>(b.data()) + 8, n);
                },
                5s),
            QueueStatus::kOk);
  EXPECT_EQ(got, big + "!");
  // Timeouts and close are reported, not thrown.
  auto noop_read = [](std::span<const std::byte>) {};
  EXPECT_EQ(q.get_encoded(noop_read, Deadline::Now()), QueueStatus::kTimedOut);
  for (int i = 0; i < 8; ++i) q.put("f");
  auto write_empty = [](std::span<std::byte> dst) {
    std::memset(dst.data(), 0, dst.size());
  };
  EXPECT_EQ(q.put_encoded(8, write_empty, 10ms), QueueStatus::kTimedOut);
  q.close();
  EXPECT_EQ(q.put_encoded(8, write_empty), QueueStatus::kClosed);
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(q.get_encoded(noop_read, Deadline::Now()), QueueStatus::kOk);
  }
  EXPECT_EQ(q.get_encoded(noop_read), QueueStatus::kClosed);
}

// Garbage written through put_encoded reaches a typed reader as CodecError,
// and the queue goes on.
TEST(Queue, EncodedGarbageIsACodecErrorForTypedReaders) {
  Queue<std::string> q(4);
  ASSERT_EQ(q.put_encoded(8,
                          [](std::span<std::byte> dst) {
                            const uint64_t lie = 1000;  // claims 1000 bytes
                            std::memcpy(dst.data(), &lie, 8);
                          }),
            QueueStatus::kOk);
  q.put("ok");
  EXPECT_THROW(q.get(), CodecError);
  EXPECT_EQ(q.get(), "ok");
}

// JoinableQueue counts items put through put_encoded.
TEST(JoinableQueue, EncodedPutsAreCounted) {
  JoinableQueue<std::vector<std::byte>> q(4);
  ASSERT_EQ(q.put_encoded(9,
                          [](std::span<std::byte> dst) {
                            const uint64_t n = 1;
                            std::memcpy(dst.data(), &n, 8);
                            dst[8] = std::byte{7};
                          }),
            QueueStatus::kOk);
  EXPECT_EQ(q.unfinished_tasks(), 1u);
  EXPECT_EQ(q.get(), std::vector<std::byte>{std::byte{7}});
  q.task_done();
  EXPECT_TRUE(q.join(1s));
}

// The multiprocessing tour's producer/consumer: a daemon-like consumer calls task_done() for
// each item; the producer's join() returns once all are done.
TEST(JoinableQueue, ProducerConsumerTaskDoneJoin) {
  JoinableQueue<int> q(32);
  auto* processed = testing::NewSharedArray<std::atomic<int>>(1);
  pid_t consumer = ForkChild([&] {
    for (;;) {
      int v = q.get(20s);
      std::this_thread::sleep_for(std::chrono::microseconds(50));
      processed->fetch_add(v);
      q.task_done();
    }
    return 0;
  });
  for (int i = 1; i <= 1000; ++i) q.put(i);
  EXPECT_TRUE(q.join(20s));
  EXPECT_EQ(processed->load(), 1000 * 1001 / 2);
  EXPECT_EQ(q.unfinished_tasks(), 0u);
  kill(consumer, SIGKILL);
  WaitExitCode(consumer);
}

TEST(JoinableQueue, JoinTimesOutWhileUnfinished) {
  JoinableQueue<int> q(4);
  q.put(1);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(q.join(100ms));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 100ms);
  EXPECT_EQ(q.get(), 1);
  q.task_done();
  EXPECT_TRUE(q.join(100ms));
}

TEST(JoinableQueue, TaskDoneTooOftenIsAnError) {
  JoinableQueue<int> q(4);
  q.put(1);
  q.get();
  q.task_done();
  EXPECT_THROW(q.task_done(), ValueError);
  EXPECT_EQ(q.unfinished_tasks(), 0u);
}

TEST(JoinableQueue, LostItemDoesNotBlockJoin) {
  JoinableQueue<int> q(4);
  q.put(1);
  pid_t child = fork();
  if (child == 0) {
    internal::RingReader ring(internal::RingCore::Attach(
        q.region().payload() +
            q.region().at<internal::QueueShared>(0)->ring_offset,
        q.region().at<internal::QueueShared>(0)->ring_bytes));
    internal::RingClaim c;
    if (ring.TryClaim(&c) != internal::RingCore::Status::kOk) _exit(1);
    raise(SIGKILL);  // dies holding the item
  }
  waitpid(child, nullptr, 0);
  q.put(2);
  q.put(3);
  q.put(4);
  q.put(5, 5s);  // the writer recovers the dead reader's slot (ring of 4)
  EXPECT_EQ(q.lost(), 1u);
  for (int i = 0; i < 4; ++i) {
    q.get(1s);
    q.task_done();
  }
  EXPECT_TRUE(q.join(1s));
}

// Python: q.get(timeout=1e30) waits for the item another process puts
// later; a timeout too large for int64 nanoseconds is not "don't wait".
TEST(Queue, HugeTimeoutGetWaitsForALatePut_LikePythonGetTimeout) {
  Queue<int> q(4);
  int n = 0;
  auto late_put = [&q](int v) {
    return testing::StartPeer([] {}, [&q, v] { q.put(v); });
  };
  testing::ForEachHugeDuration([&](const char* what, auto timeout) {
    const int v = ++n;
    testing::ExpectWaitsForPeer(what, late_put(v),
                                [&] { return q.get(timeout) == v; });
  });
  testing::ForEachHugeAbslDuration([&](const char* what, absl::Duration t) {
    const int v = ++n;
    testing::ExpectWaitsForPeer(what, late_put(v),
                                [&] { return q.get(t) == v; });
  });
  EXPECT_THROW(q.get(std::chrono::hours::min()), Empty);
  EXPECT_FALSE(q.try_get(std::chrono::duration<double>(-1e30)).has_value());
}

// Python: q.put(x, timeout=1e30) on a full queue waits for a get().
TEST(Queue, HugeTimeoutPutWaitsForALateGet_LikePythonPutTimeout) {
  Queue<int> q(1);
  q.put(0);
  testing::ForEachHugeDuration([&](const char* what, auto timeout) {
    testing::ExpectWaitsForPeer(
        what, testing::StartPeer([] {}, [&q] { q.get(10s); }), [&] {
          q.put(1, timeout);
          return q.qsize() == 1;
        });
  });
  EXPECT_THROW(q.put(2, std::chrono::seconds::min()), Full);
}

}  // namespace
}  // namespace shoal
