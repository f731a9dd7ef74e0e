// Python's meaning of a huge `timeout=` for the timed calls of ipc/ that
// queue_test, connection_test and value_test do not cover: Channel
// receive/recv/loan, Latest::wait_newer, Blackboard::wait_changed,
// Listener::accept. A timeout too large for int64 nanoseconds, or finite
// but centuries away, waits for the other process (which acts ~300 ms
// later) instead of giving up at once.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "shoal/base/deadline.h"
#include "shoal/base/errors.h"
#include "shoal/ipc/blackboard.h"
#include "shoal/ipc/channel.h"
#include "shoal/ipc/connection.h"
#include "shoal/ipc/latest.h"
#include "shoal/ipc/listener.h"
#include "tests/sync/huge_timeouts.h"

namespace {

using shoal::Deadline;
using shoal::testing::ExpectWaitsForPeer;
using shoal::testing::Peer;
using shoal::testing::StartPeer;

// hours::max(), seconds::max(), milliseconds::max(), 1e30 s, absl's
// infinite and 1e10 h, and a finite deadline ~228 years away.
template <class F>
void ForEachHugeTimeout(F&& f) {
  shoal::testing::ForEachHugeDuration(
      [&](const char* name, auto d) { f(name, Deadline(d)); });
  shoal::testing::ForEachHugeAbslDuration(
      [&](const char* name, absl::Duration d) { f(name, Deadline(d)); });
  const Deadline far(std::chrono::hours(2'000'000));
  EXPECT_FALSE(far.infinite());
  f("hours(2'000'000) (finite)", far);
}

TEST(ChannelHugeTimeouts, ReceiveAndRecvWaitForAWriter_LikePythonGetTimeout) {
  ForEachHugeTimeout([](const char* name, Deadline d) {
    shoal::FloatChannel ch(4);
    const std::vector<double> block{1, 2, 3, 4};
    Peer writer = StartPeer([] {}, [&] { ch.send(block); });
    ExpectWaitsForPeer(name, writer, [&] {
      auto view = ch.receive(d);
      return view.size() == 4 && view[3] == 4.0;
    });
    Peer again = StartPeer([] {}, [&] { ch.send(block); });
    ExpectWaitsForPeer(name, again, [&] { return ch.recv(d) == block; });
  });
}

TEST(ChannelHugeTimeouts, LoanWaitsForAFreeSlot_LikePythonPutTimeout) {
  ForEachHugeTimeout([](const char* name, Deadline d) {
    shoal::FloatChannel ch(4, /*slots=*/1);
    ch.send(std::vector<double>{1, 2, 3, 4});  // the only slot is full
    Peer reader = StartPeer([] {}, [&] { (void)ch.recv(Deadline(std::chrono::seconds(10))); });
    ExpectWaitsForPeer(name, reader, [&] {
      auto loan = ch.loan(4, d);
      return loan.size() == 4;
    });
  });
}

TEST(LatestHugeTimeouts, WaitNewerWaitsForAPublish) {
  ForEachHugeTimeout([](const char* name, Deadline d) {
    shoal::Latest<int64_t> latest(0);
    Peer writer = StartPeer([] {}, [&] { latest.publish(42); });
    ExpectWaitsForPeer(name, writer, [&] {
      return latest.wait_newer(0, d) && latest.read() == 42;
    });
  });
}

TEST(BlackboardHugeTimeouts, WaitChangedWaitsForAPublish) {
  ForEachHugeTimeout([](const char* name, Deadline d) {
    shoal::Blackboard board({shoal::Blackboard::Key<int>("level", 1)});
    const uint64_t seen = board.generation();
    Peer writer = StartPeer([] {}, [&] { board.publish<int>("level", 2); });
    ExpectWaitsForPeer(name, writer, [&] {
      return board.wait_changed(seen, d) &&
             board.entry<int>("level").read() == 2;
    });
  });
}

// Python: listener.accept() has no timeout; shoal's does, and a huge one
// waits for the client.
TEST(ListenerHugeTimeouts, AcceptWaitsForAClient) {
  ForEachHugeTimeout([](const char* name, Deadline d) {
    shoal::Listener listener(
        "", "key", {.handshake_timeout = std::chrono::seconds(30)});
    const std::string address = listener.address();
    Peer client = StartPeer([] {}, [&] {
      shoal::Connection c =
          shoal::Client(address, "key", Deadline(std::chrono::seconds(10)));
      c.send(7);
    });
    ExpectWaitsForPeer(name, client, [&] {
      shoal::Connection c = listener.accept(d);
      return c.recv<int>(Deadline(std::chrono::seconds(10))) == 7;
    });
  });
}

}  // namespace
