// Tests for pool/service.h: request/response across real processes.
#include "shoal/pool/service.h"

#include <signal.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "shoal/base/errors.h"
#include "shoal/ipc/queue.h"
#include "tests/support/fork_helpers.h"

namespace shoal {
namespace {

using namespace std::chrono_literals;
using testing::ForkChild;
using testing::NewShared;
using testing::SettleOtherThreads;
using testing::WaitExitCode;
using testing::WaitUntil;

struct Query {
  uint32_t client;
  uint32_t n;
  char pad[56];
};
static_assert(sizeof(Query) == 64);

RegionOptions Anon() {
  RegionOptions o;
  o.kind = RegionKind::kAnonymous;
  return o;
}

ServiceOptions SmallService() {
  ServiceOptions o;
  o.max_clients = 8;
  o.calls_per_client = 8;
  o.heap_bytes = 16 << 20;
  o.region = Anon();
  return o;
}

// A server process serving `svc` until it is closed.
template <class S, class Fn>
pid_t StartServer(S& svc, Fn handler) {
  // A client's receiver thread may still be finishing a call, or exiting
  // (fork_helpers.h: ASan and fork).
  SettleOtherThreads();
  return ForkChild([&svc, handler] { svc.serve(handler); }, 60);
}

TEST(ServiceTest, CallReturnsTheHandlersReplyFromAnotherProcess) {
  Service<std::string, std::string> svc(SmallService());
  pid_t server = StartServer(svc, [](const std::string& s) {
    return s + " from " + std::to_string(getpid());
  });
  ServiceClient<std::string, std::string> client(svc);
  EXPECT_EQ(client.call("hello", 30s),
            "hello from " + std::to_string(server));
  Future<std::string> f = client.call_async("async");
  EXPECT_EQ(f.result(30s), "async from " + std::to_string(server));
  svc.close();
  EXPECT_EQ(WaitExitCode(server), 0);
  const ServiceStats st = svc.stats();
  EXPECT_EQ(st.calls, 2u);
  EXPECT_EQ(st.served, 2u);
  EXPECT_EQ(st.dropped + st.lost + st.discarded + st.errors, 0u);
  EXPECT_THROW(client.call("late", 1s), Closed);
}

TEST(ServiceTest, HandlerExceptionsReachTheCallerAsThemselves) {
  Service<int, int> svc(SmallService());
  pid_t server = StartServer(svc, [](int x) -> int {
    if (x == 1) throw std::invalid_argument("one is not allowed");
    if (x == 2) throw 42;
    return x * 2;
  });
  ServiceClient<int, int> client(svc);
  EXPECT_EQ(client.call(21, 30s), 42);
  try {
    client.call(1, 30s);
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "one is not allowed");
  }
  EXPECT_THROW(client.call(2, 30s), RemoteError);
  EXPECT_THROW(client.call_async(1).result(30s), std::invalid_argument);
  EXPECT_EQ(client.call(5, 30s), 10);  // the server carries on
  svc.close();
  EXPECT_EQ(WaitExitCode(server), 0);
  EXPECT_EQ(svc.stats().errors, 3u);
}

TEST(ServiceTest, LargeMessagesTravelThroughTheHeap) {
  Service<std::vector<double>, std::vector<double>> svc(SmallService());
  pid_t server = StartServer(svc, [](const std::vector<double>& v) {
    std::vector<double> out(v.rbegin(), v.rend());
    out.push_back(std::accumulate(v.begin(), v.end(), 0.0));
    return out;
  });
  ServiceClient<std::vector<double>, std::vector<double>> client(svc);
  for (int round = 0; round < 3; ++round) {
    std::vector<double> in(100000);
    std::iota(in.begin(), in.end(), round);
    std::vector<double> out = client.call(in, 30s);
    ASSERT_EQ(out.size(), in.size() + 1);
    EXPECT_EQ(out[0], in.back());
    EXPECT_EQ(out.back(), std::accumulate(in.begin(), in.end(), 0.0));
  }
  svc.close();
  EXPECT_EQ(WaitExitCode(server), 0);
}

using Big = std::array<float, 1 << 18>;  // 1 MiB

TEST(ServiceTest, LoanedRequestsAndInPlaceRepliesCopyNothing) {
  Service<Big, Big> svc(SmallService());
  pid_t server = ForkChild(
      [&] {
        while (true) {
          std::optional<Service<Big, Big>::Request> r = svc.try_receive(30s);
          if (!r) return;
          const Big& in = r->value();  // in shared memory
          Big& out = r->loan_reply();
          for (std::size_t i = 0; i < in.size(); ++i) out[i] = in[i] * 2;
          r->send_reply();
        }
      },
      60);
  ServiceClient<Big, Big> client(svc);
  for (int round = 0; round < 3; ++round) {
    auto loan = client.loan(30s);
    for (std::size_t i = 0; i < loan->size(); ++i) (*loan)[i] = float(i + round);
    auto reply = client.call_in_place(std::move(loan), 30s);
    EXPECT_EQ((*reply)[0], 2.0f * round);
    EXPECT_EQ((*reply)[1000], 2.0f * (1000 + round));
  }
  // Copy mode for the same types.
  auto in = std::make_unique<Big>();
  in->fill(1.5f);
  Big out = client.call(*in, 30s);
  EXPECT_EQ(out[12345], 3.0f);
  svc.close();
  EXPECT_EQ(WaitExitCode(server), 0);
  EXPECT_EQ(svc.stats().served, 4u);
}

// Two server processes, four client processes, every reply checked and
// every count exact.
TEST(ServiceTest, TwoServersFourClientsExactAccounting) {
  constexpr int kClients = 4, kCalls = 400;
  Service<Query, uint64_t> svc(SmallService());
  auto* handled = testing::NewSharedArray<std::atomic<uint64_t>>(2);
  pid_t servers[2];
  for (int s = 0; s < 2; ++s) {
    servers[s] = StartServer(svc, [handled, s](const Query& q) {
      handled[s].fetch_add(1);
      return uint64_t{q.client} * 1000000 + q.n;
    });
  }
  pid_t clients[kClients];
  for (int c = 0; c < kClients; ++c) {
    clients[c] = ForkChild(
        [&svc, c] {
          ServiceClient<Query, uint64_t> client(svc);
          std::vector<Future<uint64_t>> pending;
          for (uint32_t i = 0; i < kCalls; ++i) {
            Query q{static_cast<uint32_t>(c), i, {}};
            if (i % 2 == 0) {
              if (client.call(q, 20s) != uint64_t(c) * 1000000 + i) return 3;
            } else {
              pending.push_back(client.call_async(q, 20s));
            }
            if (pending.size() == 4) {
              for (auto& f : pending) {
                const uint64_t v = f.result(20s);
                if (v / 1000000 != uint64_t(c)) return 4;
              }
              pending.clear();
            }
          }
          for (auto& f : pending) {
            if (f.result(20s) / 1000000 != uint64_t(c)) return 4;
          }
          return 0;
        },
        60);
  }
  for (pid_t c : clients) EXPECT_EQ(WaitExitCode(c, 60s), 0);
  svc.close();
  for (pid_t s : servers) EXPECT_EQ(WaitExitCode(s), 0);
  const ServiceStats st = svc.stats();
  EXPECT_EQ(st.calls, uint64_t{kClients * kCalls});
  EXPECT_EQ(st.served, uint64_t{kClients * kCalls});
  EXPECT_EQ(handled[0].load() + handled[1].load(), uint64_t{kClients * kCalls});
  EXPECT_EQ(st.dropped + st.lost + st.discarded + st.errors, 0u);
  EXPECT_EQ(st.clients, 0u);
}

// A server killed while it holds a request: that call fails with WorkerLost
// naming its pid; every other call succeeds; the counts add up.
TEST(ServiceTest, ServerKilledMidRequestFailsOnlyThatCall) {
  constexpr int kClients = 3, kCalls = 200;
  Service<Query, uint64_t> svc(SmallService());
  struct Shared {
    std::atomic<int> holding{0};
    std::atomic<pid_t> holder{0};
  };
  auto* sh = NewShared<Shared>();
  auto handler = [sh](const Query& q) -> uint64_t {
    if (q.n == 999999) {
      sh->holder.store(getpid());
      sh->holding.store(1);
      while (true) pause();  // holds the request until killed
    }
    return uint64_t{q.client} * 1000000 + q.n;
  };
  pid_t servers[2] = {StartServer(svc, handler), StartServer(svc, handler)};
  ServiceClient<Query, uint64_t> victim(svc);
  Future<uint64_t> doomed = victim.call_async(Query{9, 999999, {}});
  ASSERT_TRUE(WaitUntil([&] { return sh->holding.load() == 1; }, 20s));
  const pid_t holder = sh->holder.load();
  // The other clients run while the request is held and after the kill.
  pid_t clients[kClients];
  for (int c = 0; c < kClients; ++c) {
    clients[c] = ForkChild(
        [&svc, c] {
          ServiceClient<Query, uint64_t> client(svc);
          for (uint32_t i = 0; i < kCalls; ++i) {
            if (client.call(Query{uint32_t(c), i, {}}, 20s) !=
                uint64_t(c) * 1000000 + i) {
              return 3;
            }
          }
          return 0;
        },
        60);
  }
  ASSERT_EQ(kill(holder, SIGKILL), 0);
  try {
    doomed.result(30s);
    FAIL() << "no exception";
  } catch (const WorkerLost& e) {
    EXPECT_EQ(e.pid(), holder);
    EXPECT_NE(std::string(e.what()).find(std::to_string(holder)),
              std::string::npos);
  }
  for (pid_t c : clients) EXPECT_EQ(WaitExitCode(c, 60s), 0);
  // The surviving server still serves.
  EXPECT_EQ(victim.call(Query{9, 7, {}}, 30s), 9000007u);
  svc.close();
  for (pid_t s : servers) {
    const int code = WaitExitCode(s);
    EXPECT_EQ(code, s == holder ? -SIGKILL : 0);
  }
  const ServiceStats st = svc.stats();
  EXPECT_EQ(st.calls, uint64_t{kClients * kCalls + 2});
  EXPECT_EQ(st.served, uint64_t{kClients * kCalls + 1});
  EXPECT_EQ(st.lost, 1u);
  EXPECT_EQ(st.dropped + st.discarded + st.errors, 0u);
}

// Ten servers killed mid-request at progress-driven instants (each server
// parks its 100th request; the parent kills the server that parked and
// starts a replacement) while three client processes call without pause:
// exactly ten calls fail with WorkerLost, every other call succeeds, and
// the counts add up.
TEST(ServiceTest, RepeatedServerKillsCountsAddUp) {
  constexpr int kClients = 3, kKills = 10;
  Service<Query, uint64_t> svc(SmallService());
  struct Shared {
    std::atomic<pid_t> holding{0};
    std::atomic<int> parks{0};
    std::atomic<uint64_t> ok{0};
    std::atomic<uint64_t> lost{0};
    std::atomic<uint64_t> posted{0};
    std::atomic<int> stop{0};
  };
  auto* sh = NewShared<Shared>();
  // A server parks a request once it has handled 100 and the parking spot
  // is free; one that finds it taken tries again on its next request. (Only
  // at its 100th would let a server lose its one chance while the parent,
  // slow on a loaded machine, has not yet freed the spot: with every server
  // spent, nothing would ever park again.)
  auto handler = [sh](const Query& q) -> uint64_t {
    static int handled = 0;  // per server process
    if (++handled >= 100 && sh->parks.load() < kKills) {
      pid_t none = 0;
      if (sh->holding.compare_exchange_strong(none, getpid())) {
        if (sh->parks.fetch_add(1) < kKills) {
          while (true) pause();  // parks the request until killed
        }
        sh->holding.store(0);  // enough kills: serve it
      }
    }
    return uint64_t{q.client} * 1000000 + q.n;
  };
  std::vector<pid_t> servers = {StartServer(svc, handler),
                                StartServer(svc, handler)};
  pid_t clients[kClients];
  for (int c = 0; c < kClients; ++c) {
    clients[c] = ForkChild(
        [&svc, sh, c] {
          ServiceClient<Query, uint64_t> client(svc);
          for (uint32_t i = 0; sh->stop.load() == 0; ++i) {
            sh->posted.fetch_add(1);
            try {
              if (client.call(Query{uint32_t(c), i, {}}, 20s) !=
                  uint64_t(c) * 1000000 + i) {
                return 3;
              }
              sh->ok.fetch_add(1);
            } catch (const WorkerLost&) {
              sh->lost.fetch_add(1);
            }
          }
          return 0;
        },
        90);
  }
  for (int k = 0; k < kKills; ++k) {
    ASSERT_TRUE(WaitUntil([&] { return sh->holding.load() != 0; }, 30s));
    const pid_t victim = sh->holding.load();
    ASSERT_EQ(kill(victim, SIGKILL), 0);
    EXPECT_EQ(WaitExitCode(victim), -SIGKILL);
    for (pid_t& s : servers) {
      if (s == victim) s = StartServer(svc, handler);
    }
    sh->holding.store(0);
  }
  // Every client sees its lost call before it stops.
  ASSERT_TRUE(WaitUntil([&] { return sh->lost.load() == kKills; }, 30s));
  sh->stop.store(1);
  for (pid_t c : clients) EXPECT_EQ(WaitExitCode(c, 60s), 0);
  svc.close();
  for (pid_t s : servers) EXPECT_EQ(WaitExitCode(s), 0);
  const ServiceStats st = svc.stats();
  EXPECT_EQ(st.calls, sh->posted.load());
  EXPECT_EQ(st.lost, uint64_t{kKills});
  EXPECT_EQ(sh->lost.load(), uint64_t{kKills});
  EXPECT_EQ(st.served, sh->ok.load());
  EXPECT_EQ(st.calls, sh->ok.load() + sh->lost.load());
  EXPECT_EQ(st.dropped + st.discarded + st.errors, 0u);
  std::printf("%d kills: %llu calls, %llu lost with their server\n", kKills,
              static_cast<unsigned long long>(st.calls),
              static_cast<unsigned long long>(st.lost));
}

// A server killed after taking the request's queue entry and before
// recording itself in the call's cell (a window of a few instructions, made
// deterministic here: the "server" takes the entry through the ring and
// exits). The caller still gets WorkerLost naming it.
TEST(ServiceTest, ServerKilledBetweenTakingAndRecordingFailsThatCall) {
  Service<int, int> svc(SmallService());
  ServiceClient<int, int> client(svc);
  Future<int> f = client.call_async(5);
  auto* shared =
      reinterpret_cast<internal::ServiceShared*>(svc.region().payload());
  pid_t taker = ForkChild(
      [&] {
        internal::RingReader r(internal::RingCore::Attach(
            svc.region().payload() + shared->ring_offset, shared->ring_bytes));
        internal::RingClaim claim;
        return r.Claim(&claim, Deadline(30s)) == internal::RingCore::Status::kOk
                   ? 0
                   : 3;  // exits holding the entry
      },
      30);
  EXPECT_EQ(WaitExitCode(taker), 0);
  try {
    f.result(30s);
    FAIL() << "no exception";
  } catch (const WorkerLost& e) {
    EXPECT_EQ(e.pid(), taker);
  }
  pid_t server = StartServer(svc, [](int x) { return x * 3; });
  EXPECT_EQ(client.call(7, 30s), 21);
  svc.close();
  EXPECT_EQ(WaitExitCode(server), 0);
  const ServiceStats st = svc.stats();
  EXPECT_EQ(st.calls, 2u);
  EXPECT_EQ(st.served, 1u);
  EXPECT_EQ(st.lost, 1u);
}

// A client killed with calls in flight: one held by the server, two still
// queued. Its entry is swept; the held reply is dropped, the queued
// requests discarded; each counted once.
TEST(ServiceTest, ClientKilledWithCallsInFlightIsCountedNotServed) {
  Service<int, int> svc(SmallService());
  struct Shared {
    std::atomic<int> taken{0};
    std::atomic<int> posted{0};
    std::atomic<int> gate{0};
  };
  auto* sh = NewShared<Shared>();
  pid_t server = StartServer(svc, [sh](int x) {
    sh->taken.fetch_add(1);
    WaitUntil([&] { return sh->gate.load() == 1; }, 30s);
    return x;
  });
  pid_t client = ForkChild(
      [&svc, sh] {
        ServiceClient<int, int> c(svc);
        std::vector<Future<int>> f;
        for (int i = 0; i < 3; ++i) f.push_back(c.call_async(i));
        sh->posted.store(1);
        while (true) pause();
      },
      60);
  ASSERT_TRUE(WaitUntil(
      [&] { return sh->posted.load() == 1 && sh->taken.load() == 1; }, 20s));
  kill(client, SIGKILL);
  EXPECT_EQ(WaitExitCode(client), -SIGKILL);
  ServiceStats st = svc.stats();  // sweeps the dead client's entry
  EXPECT_EQ(st.clients, 0u);
  EXPECT_EQ(st.calls, 3u);
  sh->gate.store(1);
  ASSERT_TRUE(WaitUntil(
      [&] {
        const ServiceStats s = svc.stats();
        return s.served + s.discarded == 3;
      },
      20s));
  st = svc.stats();
  EXPECT_EQ(st.served, 1u);
  EXPECT_EQ(st.dropped, 1u);
  EXPECT_EQ(st.discarded, 2u);
  EXPECT_EQ(st.lost, 0u);
  // The service works on, and the entry is reusable.
  ServiceClient<int, int> next(svc);
  EXPECT_EQ(next.call(77, 30s), 77);
  svc.close();
  EXPECT_EQ(WaitExitCode(server), 0);
}

TEST(ServiceTest, ARepliedResponseOfADeadClientIsDropped) {
  Service<int, int> svc(SmallService());
  pid_t server = StartServer(svc, [](int x) { return x; });
  auto* done = NewShared<std::atomic<int>>(0);
  pid_t client = ForkChild(
      [&svc, done] {
        ServiceClient<int, int> c(svc);
        Future<int> f = c.call_async(5);
        f.result(30s);
        // A reply that is still DONE (read in place, not released) when
        // this process is killed.
        auto keep = c.call_in_place(6, 30s);
        if (*keep != 6) return 3;
        done->store(1);
        while (true) pause();
      },
      60);
  ASSERT_TRUE(WaitUntil([&] { return done->load() == 1; }, 20s));
  ASSERT_TRUE(WaitUntil([&] { return svc.stats().served == 2; }, 20s));
  kill(client, SIGKILL);
  EXPECT_EQ(WaitExitCode(client), -SIGKILL);
  const ServiceStats st = svc.stats();
  EXPECT_EQ(st.served, 2u);
  EXPECT_EQ(st.dropped, 1u);
  EXPECT_EQ(st.clients, 0u);
  svc.close();
  EXPECT_EQ(WaitExitCode(server), 0);
}

TEST(ServiceTest, TimeoutsAreBoundedAndTheLateReplyIsDropped) {
  Service<int, int> svc(SmallService());
  ServiceClient<int, int> client(svc);
  // No server at all.
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(client.call(1, 50ms), TimeoutError);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 200ms + testing::kSchedulingSlack);
  auto* gate = NewShared<std::atomic<int>>(0);
  pid_t server = StartServer(svc, [gate](int x) {
    WaitUntil([&] { return gate->load() == 1; }, 30s);
    return x;
  });
  t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(client.call(2, 100ms), TimeoutError);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 200ms + testing::kSchedulingSlack);
  gate->store(1);
  EXPECT_EQ(client.call(3, 30s), 3);
  svc.close();
  EXPECT_EQ(WaitExitCode(server), 0);
  const ServiceStats st = svc.stats();
  // Call 1 was taken by the server after its client gave up (discarded or
  // served-and-dropped, depending on who came first); call 2 was held.
  EXPECT_EQ(st.calls, 3u);
  EXPECT_EQ(st.served + st.discarded, 3u);
  EXPECT_EQ(st.dropped + st.discarded, 2u);
}

// A server stopped (SIGSTOP) while it holds a request is alive: that call
// times out at its deadline, the other server serves the rest, and the
// late reply is dropped once the server runs again.
TEST(ServiceTest, AStoppedServerCostsOnlyItsCallsDeadline) {
  Service<int, int> svc(SmallService());
  struct Shared {
    std::atomic<pid_t> holder{0};
    std::atomic<int> gate{0};
  };
  auto* sh = NewShared<Shared>();
  auto handler = [sh](int x) {
    if (x == 1) {
      sh->holder.store(getpid());
      WaitUntil([&] { return sh->gate.load() == 1; }, 30s);
    }
    return x;
  };
  pid_t servers[2] = {StartServer(svc, handler), StartServer(svc, handler)};
  ServiceClient<int, int> client(svc);
  Future<int> held = client.call_async(1);
  ASSERT_TRUE(WaitUntil([&] { return sh->holder.load() != 0; }, 20s));
  ASSERT_EQ(kill(sh->holder.load(), SIGSTOP), 0);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(held.result(200ms), TimeoutError);  // the future's own wait
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 200ms + testing::kSchedulingSlack);
  for (int i = 2; i < 50; ++i) EXPECT_EQ(client.call(i, 30s), i);
  sh->gate.store(1);
  kill(sh->holder.load(), SIGCONT);
  EXPECT_EQ(held.result(30s), 1);  // it was only late
  svc.close();
  for (pid_t s : servers) EXPECT_EQ(WaitExitCode(s), 0);
  const ServiceStats st = svc.stats();
  EXPECT_EQ(st.calls, 49u);
  EXPECT_EQ(st.served, 49u);
  EXPECT_EQ(st.lost + st.dropped + st.discarded, 0u);
}

// A done callback that holds the client's last handle (nobody else keeps
// the future or the client): the client goes in the receiver thread, after
// the callback, without a crash or a hang.
TEST(ServiceTest, ADoneCallbackMayHoldTheClientsLastHandle) {
  Service<int, int> svc(SmallService());
  auto* gate = NewShared<std::atomic<int>>(0);
  pid_t server = StartServer(svc, [gate](int x) {
    WaitUntil([&] { return gate->load() == 1; }, 30s);
    return x * x;
  });
  std::atomic<int> seen{0};
  {
    std::optional<ServiceClient<int, int>> client;
    client.emplace(svc);
    client->call_async(3).add_done_callback(
        [keep = *client, &seen](const Future<int>& done) mutable {
          seen.store(done.result());
        });
    client.reset();  // the callback holds the last handle now
  }
  gate->store(1);
  ASSERT_TRUE(WaitUntil([&] { return seen.load() == 9; }, 30s));
  ASSERT_TRUE(WaitUntil([&] { return svc.stats().clients == 0; }, 30s));
  svc.close();
  EXPECT_EQ(WaitExitCode(server), 0);
}

TEST(ServiceTest, MoreCallsThanCellsWaitForACell) {
  ServiceOptions o = SmallService();
  o.calls_per_client = 2;
  Service<int, int> svc(o);
  pid_t server = StartServer(svc, [](int x) { return x + 1; });
  ServiceClient<int, int> client(svc);
  std::vector<Future<int>> fs;
  for (int i = 0; i < 20; ++i) fs.push_back(client.call_async(i, 30s));
  for (int i = 0; i < 20; ++i) EXPECT_EQ(fs[i].result(30s), i + 1);
  svc.close();
  EXPECT_EQ(WaitExitCode(server), 0);
}

TEST(ServiceTest, NamedServiceOpensFromAnotherProcess) {
  ServiceOptions o = SmallService();
  o.region.kind = RegionKind::kNamed;
  o.region.name = "service_test_" + std::to_string(getpid());
  Service<std::string, size_t> svc(o);
  pid_t server = ForkChild(
      [name = o.region.name] {
        auto s = Service<std::string, size_t>::Open(name);
        s.serve([](const std::string& x) { return x.size(); });
      },
      60);
  pid_t client = ForkChild(
      [name = o.region.name] {
        auto c = ServiceClient<std::string, size_t>::Open(name);
        return c.call("four", 30s) == 4 ? 0 : 3;
      },
      60);
  EXPECT_EQ(WaitExitCode(client), 0);
  svc.close();
  EXPECT_EQ(WaitExitCode(server), 0);
  // A region of another kind is not a service.
  QueueOptions qo;
  qo.region.kind = RegionKind::kNamed;
  qo.region.name = o.region.name + "_q";
  Queue<int> q(qo);
  EXPECT_THROW((Service<std::string, size_t>::Open(qo.region.name)),
               InvalidRegion);
  EXPECT_THROW((Service<int, size_t>::Open(o.region.name)), InvalidRegion);
}

TEST(ServiceTest, AClientBelongsToTheProcessThatMadeIt) {
  Service<int, int> svc(SmallService());
  ServiceClient<int, int> client(svc);
  EXPECT_EQ(testing::RunInChild([&] {
              try {
                client.call(1, 100ms);
              } catch (const ValueError&) {
                return 0;
              }
              return 3;
            }),
            0);
}

TEST(ServiceTest, GarbageInTheRegionIsAnErrorNotACrash) {
  Service<int, int> svc(SmallService());
  auto* shared =
      reinterpret_cast<internal::ServiceShared*>(svc.region().payload());
  ServiceClient<int, int> client(svc);
  // A garbage queue entry: the server that takes it gets InvalidRegion.
  {
    internal::RingWriter w(internal::RingCore::Attach(
        svc.region().payload() + shared->ring_offset, shared->ring_bytes));
    internal::RingClaim claim;
    ASSERT_EQ(w.TryClaim(&claim), internal::RingCore::Status::kOk);
    const uint32_t garbage[4] = {0xdead, 1, 2, 3};
    std::memcpy(claim.data, garbage, sizeof garbage);
    w.Publish(claim, sizeof garbage);
    EXPECT_THROW(svc.try_receive(100ms), InvalidRegion);
    w.Detach();
  }
  // A cell in an unknown state: the call that meets it says so.
  auto* cells = svc.region().payload() + shared->cells_offset;
  for (uint32_t k = 0; k < shared->calls_per_client * shared->max_clients;
       ++k) {
    reinterpret_cast<internal::ServiceCell*>(cells + k * shared->cell_stride)
        ->state.store(0xff);
  }
  EXPECT_THROW(client.call(1, 100ms), InvalidRegion);
  // A corrupt geometry: opening says so.
  shared->cell_stride = 12;
  EXPECT_THROW((Service<int, int>::Open(svc.ref())), InvalidRegion);
}

}  // namespace
}  // namespace shoal
