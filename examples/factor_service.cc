// factor_service: a request/response service with two server processes.
//
// The service factorizes numbers. Two server processes compete for the
// requests (each request is served once); several client processes call it
// and check every reply. Then the main process shows the rest of the
// contract: an exception thrown by the handler reaches the caller, async
// calls return futures, and a request that kills its server (a "poison"
// request) fails that one call with WorkerLost naming the server, while the
// other server keeps serving and a replacement is started.
//
//   # Python has no request/response primitive; programs build it from a
//   # pair of queues and match replies to requests by hand:
//   #   requests, replies = Queue(), Queue()
//   #   requests.put((my_id, n)); who, factors = replies.get()   # client
//   #   while True: i, n = requests.get(); replies.put((i, factor(n)))
//   # and a server that dies leaves its caller waiting forever.
//
//   bazel run //examples:factor_service -- --clients=3 --calls=200
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "shoal/base/errors.h"
#include "shoal/pool/context.h"
#include "shoal/pool/process.h"
#include "shoal/pool/service.h"

ABSL_FLAG(int, clients, 3, "client processes");
ABSL_FLAG(int, calls, 200, "calls per client process");
ABSL_FLAG(std::string, start_method, "fork",
          "fork or spawn (Python's set_start_method)");

namespace {

using Factors = std::vector<uint64_t>;
using FactorService = shoal::Service<uint64_t, Factors>;
using FactorClient = shoal::ServiceClient<uint64_t, Factors>;

constexpr uint64_t kPoison = 1;  // a request that kills its server

Factors Factorize(uint64_t n) {
  if (n == 0) throw std::invalid_argument("0 has no prime factorization");
  if (n == kPoison) raise(SIGKILL);  // the server dies holding the request
  Factors f;
  for (uint64_t p = 2; p * p <= n; ++p) {
    while (n % p == 0) {
      f.push_back(p);
      n /= p;
    }
  }
  if (n > 1) f.push_back(n);
  return f;
}

bool Correct(uint64_t n, const Factors& f) {
  uint64_t product = 1;
  for (uint64_t p : f) product *= p;
  return product == n;
}

// A server process: serves until the service is closed.
void Serve(FactorService service) { service.serve(Factorize); }

// A client process: `calls` calls, every reply checked.
void Ask(FactorService service, int id, int calls) {
  FactorClient client(service);
  int correct = 0;
  for (int i = 0; i < calls; ++i) {
    const uint64_t n = 1000003ull * (id + 2) + static_cast<uint64_t>(i) * 7919;
    if (Correct(n, client.call(n, std::chrono::seconds(30)))) ++correct;
  }
  std::printf("client %d: %d calls, %d replies correct\n", id, calls, correct);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  shoal::init(argc, argv);
  absl::ParseCommandLine(argc, argv);
  shoal::set_start_method(absl::GetFlag(FLAGS_start_method));
  const int nclients = absl::GetFlag(FLAGS_clients);
  const int calls = absl::GetFlag(FLAGS_calls);

  FactorService service;
  std::vector<shoal::Process> servers;
  for (int i = 0; i < 2; ++i) {
    servers.emplace_back(Serve, service);
    servers.back().start();
  }
  std::printf("2 server processes serving\n");

  std::vector<shoal::Process> clients;
  for (int i = 0; i < nclients; ++i) {
    clients.emplace_back(Ask, service, i, calls);
    clients.back().start();
  }
  int failed = 0;
  for (auto& c : clients) {
    c.join();
    if (c.exitcode() != 0) ++failed;
  }

  FactorClient client(service);
  // The handler's exception reaches the caller as itself.
  try {
    client.call(0, std::chrono::seconds(30));
  } catch (const std::invalid_argument& e) {
    std::printf("factor(0): std::invalid_argument: %s\n", e.what());
  }
  // Async calls: futures, completed as the replies come.
  std::vector<shoal::Future<Factors>> futures;
  for (uint64_t n = 1000; n < 1008; ++n) futures.push_back(client.call_async(n));
  int async_ok = 0;
  for (uint64_t i = 0; i < futures.size(); ++i) {
    if (Correct(1000 + i, futures[i].result(std::chrono::seconds(30)))) {
      ++async_ok;
    }
  }
  std::printf("async: %zu futures, %d correct\n", futures.size(), async_ok);
  // A poison request kills the server that takes it: that call fails with
  // WorkerLost naming it; the other server carries on.
  pid_t dead = 0;
  try {
    client.call(kPoison, std::chrono::seconds(30));
  } catch (const shoal::WorkerLost& e) {
    dead = e.pid();
    std::printf("poison: WorkerLost: the server that took it died\n");
  }
  int survivors_ok = 0;
  for (auto& s : servers) {
    if (s.pid() == dead) {
      s.join();
      std::printf("dead server exit code: %d (SIGKILL)\n", *s.exitcode());
    }
  }
  for (uint64_t n = 2; n < 102; ++n) {
    if (Correct(n, client.call(n, std::chrono::seconds(30)))) ++survivors_ok;
  }
  std::printf("after the crash: 100 calls, %d correct (served by the other "
              "server)\n", survivors_ok);
  servers.emplace_back(Serve, service);  // a replacement
  servers.back().start();

  service.close();
  for (auto& s : servers) s.join();
  const shoal::ServiceStats st = service.stats();
  std::printf("stats: calls=%llu served=%llu errors=%llu lost=%llu "
              "dropped=%llu discarded=%llu\n",
              static_cast<unsigned long long>(st.calls),
              static_cast<unsigned long long>(st.served),
              static_cast<unsigned long long>(st.errors),
              static_cast<unsigned long long>(st.lost),
              static_cast<unsigned long long>(st.dropped),
              static_cast<unsigned long long>(st.discarded));
  std::printf("clients exited cleanly: %s\n", failed == 0 ? "yes" : "no");
  return failed == 0 && dead != 0 ? 0 : 1;
}
