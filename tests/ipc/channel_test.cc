#include "shoal/ipc/channel.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <numeric>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "shoal/base/errors.h"
#include "shoal/ipc/codec.h"
#include "tests/support/fork_helpers.h"

namespace shoal {
namespace {

using namespace std::chrono_literals;
using testing::ForkChild;
using testing::WaitExitCode;

constexpr std::size_t kDoubles = 100000;
#if defined(__SANITIZE_THREAD__)
// ThreadSanitizer instruments every one of the 10^8 stores and loads of the
// full run (minutes on a busy machine): a tenth still crosses every slot
// many times.
constexpr int kBlocks = 100;
#else
constexpr int kBlocks = 1000;
#endif

// The FloatChannel pattern: a producer sends 1,000 blocks of 100,000 doubles,
// the consumer checks every value. Copy mode.
TEST(FloatChannel, SeedTestCopyMode) {
  FloatChannel ch(kDoubles);
  pid_t producer = ForkChild(
      [&] {
        std::vector<double> block(kDoubles);
        for (int b = 0; b < kBlocks; ++b) {
          for (std::size_t i = 0; i < kDoubles; ++i) block[i] = b * 1e6 + i;
          ch.send(block, 20s);
        }
        return 0;
      },
      240);
  std::vector<double> got(kDoubles);
  for (int b = 0; b < kBlocks; ++b) {
    ASSERT_EQ(ch.recv(std::span<double>(got), 20s), kDoubles);
    for (std::size_t i = 0; i < kDoubles; ++i) {
      ASSERT_EQ(got[i], b * 1e6 + i) << b << " " << i;
    }
  }
  EXPECT_EQ(WaitExitCode(producer, 250s), 0);
}

// The same through loans: the consumer reads the producer's block in place.
TEST(FloatChannel, SeedTestLoanModeIsZeroCopy) {
  FloatChannel ch(kDoubles, 3);
  pid_t producer = ForkChild(
      [&] {
        for (int b = 0; b < kBlocks; ++b) {
          auto w = ch.loan(kDoubles, 20s);
          for (std::size_t i = 0; i < kDoubles; ++i) w[i] = b * 1e6 + i;
          w.publish();
        }
        return 0;
      },
      240);
  const std::byte* lo = ch.region().payload();
  const std::byte* hi = lo + ch.region().payload_size();
  for (int b = 0; b < kBlocks; ++b) {
    auto r = ch.receive(20s);
    ASSERT_EQ(r.size(), kDoubles);
    // The view points into the shared region: nothing was copied.
    auto* p = reinterpret_cast<const std::byte*>(r.data());
    ASSERT_TRUE(p >= lo && p + kDoubles * sizeof(double) <= hi);
    for (std::size_t i = 0; i < kDoubles; ++i) {
      ASSERT_EQ(r[i], b * 1e6 + i) << b << " " << i;
    }
  }
  EXPECT_EQ(WaitExitCode(producer, 250s), 0);
}

TEST(Channel, PartialPublishAndUnpublishedLoanIsSkipped) {
  Channel<int> ch(8, 4);
  {
    auto w = ch.loan(8);
    w[0] = 1;
    // destroyed unpublished: readers never see it
  }
  {
    auto w = ch.loan(8);
    w[0] = 5;
    w[1] = 6;
    w.publish(2);
  }
  auto r = ch.receive(1s);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0], 5);
  EXPECT_EQ(r[1], 6);
  EXPECT_THROW(ch.loan(9), ValueError);
}

TEST(Channel, WriterBlocksOnlyWhenEverySlotIsInUse) {
  Channel<int> ch(4, 2);
  auto w1 = ch.loan(1);
  auto w2 = ch.loan(1);
  EXPECT_FALSE(ch.try_loan(1).has_value());
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(ch.loan(1, 100ms), TimeoutError);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 100ms);
  w1.publish();
  w2.publish();
  {
    auto r = ch.receive(1s);  // one slot free again after release
  }
  EXPECT_TRUE(ch.try_loan(1).has_value());
}

TEST(Channel, RecvIntoSmallBufferCarriesNeededSizeAndKeepsBlock) {
  Channel<int> ch(16);
  std::vector<int> data = {1, 2, 3, 4, 5};
  ch.send(data);
  std::vector<int> small(3);
  try {
    ch.recv(std::span<int>(small), 1s);
    FAIL();
  } catch (const BufferTooShort& e) {
    EXPECT_EQ(e.needed(), 5u);
  }
  EXPECT_EQ(ch.recv(1s), data);
}

TEST(Channel, CloseDrainsThenClosed) {
  Channel<int> ch(4, 4);
  ch.send(std::vector<int>{1});
  ch.close();
  EXPECT_THROW(ch.send(std::vector<int>{2}), Closed);
  EXPECT_EQ(ch.recv(1s), std::vector<int>{1});
  EXPECT_THROW(ch.recv(1s), Closed);
}

TEST(Channel, ReaderKilledHoldingViewCostsOneBlock) {
  Channel<int> ch(4, 1);
  ch.send(std::vector<int>{1});
  pid_t child = fork();
  if (child == 0) {
    auto r = ch.receive(1s);
    raise(SIGKILL);
  }
  waitpid(child, nullptr, 0);
  auto t0 = std::chrono::steady_clock::now();
  ch.send(std::vector<int>{2}, 5s);  // reclaims the dead reader's slot
  EXPECT_LT(std::chrono::steady_clock::now() - t0, testing::kSchedulingSlack);
  EXPECT_EQ(ch.lost(), 1u);
  EXPECT_EQ(ch.recv(1s), std::vector<int>{2});
}

TEST(Channel, ReaderGetsClosedWhenEveryWriterIsGone) {
  Channel<int> ch(4, ChannelOptions{.slots = 4, .close_when_writers_gone = true});
  pid_t child = fork();
  if (child == 0) {
    ch.send(std::vector<int>{1});
    auto w = ch.loan(1);  // dies holding a loan
    raise(SIGKILL);
  }
  waitpid(child, nullptr, 0);
  EXPECT_EQ(ch.recv(5s), std::vector<int>{1});
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(ch.recv(), Closed);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, testing::kSchedulingSlack);
  EXPECT_EQ(ch.lost(), 1u);
}

TEST(Channel, HandleTravelsThroughTheCodec) {
  Channel<int> ch(4);
  std::string bytes = Encode(ch);
  pid_t child = ForkChild([&] {
    Channel<int> other = Decode<Channel<int>>(bytes);
    other.send(std::vector<int>{7, 8});
    return 0;
  });
  EXPECT_EQ(ch.recv(30s), (std::vector<int>{7, 8}));
  EXPECT_EQ(WaitExitCode(child), 0);
}

}  // namespace
}  // namespace shoal
