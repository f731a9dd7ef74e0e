// wait_server: one thread serving three queues, a Listener, its clients'
// connections and its producer processes at once, with shoal::WaitSet --
// multiprocessing.connection.wait for everything shoal has.
//
// The server creates three request queues (urgent, normal, bulk) and a
// Listener (random abstract address, authkey). --producers processes put
// --items numbered requests each into the queues (picked at random) and
// exit; --clients processes connect with Client() and send --requests
// messages each, waiting for every reply. The server waits on all of it in
// one WaitSet: the queues (an item arrived), the Listener (a client
// finished its handshake; the wait moves the handshakes), every accepted connection (a message, or EOF when the
// client leaves), every producer Process (it ended: its sentinel) and a
// 100 ms Timer (housekeeping). It stops when every producer has ended, the
// queues are drained and every client has left, and checks that every
// item and every request was served exactly once.
//
//   # Python                                       # here
//   ready = wait([q._reader, listener_sock,        shoal::WaitSet set; set.add(q); ...
//                 conn, p.sentinel], timeout)      for (auto& r : set.wait(timeout))
//
//   bazel run //examples:wait_server -- --producers=3 --items=2000 --clients=4
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "shoal/base/errors.h"
#include "shoal/ipc/connection.h"
#include "shoal/ipc/listener.h"
#include "shoal/ipc/queue.h"
#include "shoal/ipc/wait.h"
#include "shoal/pool/context.h"
#include "shoal/pool/process.h"

ABSL_FLAG(int, producers, 3, "producer processes");
ABSL_FLAG(int, items, 2000, "requests each producer puts into the queues");
ABSL_FLAG(int, clients, 4, "client processes connecting to the Listener");
ABSL_FLAG(int, requests, 50, "messages each client sends");

namespace {

using std::chrono::seconds;

struct Queues {
  shoal::Queue<long> urgent{64}, normal{64}, bulk{64};
};

void Produce(shoal::Queue<long> urgent, shoal::Queue<long> normal,
             shoal::Queue<long> bulk, int id, int items) {
  std::mt19937 rng(id);
  for (int i = 0; i < items; ++i) {
    const long item = static_cast<long>(id) * items + i;
    switch (rng() % 3) {
      case 0: urgent.put(item); break;
      case 1: normal.put(item); break;
      default: bulk.put(item); break;
    }
  }
}

int RunClient(const std::string& address, const std::string& key, int id,
           int requests) {
  shoal::Connection c = shoal::Client(address, key, seconds(20));
  for (int i = 0; i < requests; ++i) {
    c.send(id * 1000 + i);
    if (c.recv<int>(seconds(20)) != 2 * (id * 1000 + i)) return 1;
  }
  return 0;  // closing the connection: the server sees EOF
}

}  // namespace

int main(int argc, char** argv) {
  shoal::init(argc, argv);  // before anything else: spawned workers start here
  absl::ParseCommandLine(argc, argv);
  const int nprod = absl::GetFlag(FLAGS_producers);
  const int items = absl::GetFlag(FLAGS_items);
  const int nclients = absl::GetFlag(FLAGS_clients);
  const int requests = absl::GetFlag(FLAGS_requests);

  const std::string key = "wait-server-" + std::to_string(getpid());
  shoal::Listener listener({}, key);
  Queues qs;

  std::vector<shoal::Process> producers;
  for (int i = 0; i < nprod; ++i) {
    producers.emplace_back(Produce, qs.urgent, qs.normal, qs.bulk, i, items);
    producers.back().start();
  }
  std::vector<pid_t> clients;
  for (int i = 0; i < nclients; ++i) {
    std::fflush(nullptr);
    const pid_t pid = fork();
    if (pid == 0) _exit(RunClient(listener.address(), key, i, requests));
    clients.push_back(pid);
  }

  shoal::WaitSet set;
  set.add(qs.urgent);
  set.add(qs.normal);
  set.add(qs.bulk);
  set.add(listener);  // ready when accept() would not block
  for (auto& p : producers) set.add(p);
  const shoal::Waitable tick = shoal::Timer::Every(std::chrono::milliseconds(100));
  set.add(tick);

  std::vector<std::unique_ptr<shoal::Connection>> conns;
  std::vector<int> seen(static_cast<std::size_t>(nprod) * items, 0);
  long served[3] = {0, 0, 0};
  long answered = 0;
  int ended = 0, left = 0, ticks = 0, rounds = 0;
  const auto give_up = std::chrono::steady_clock::now() + seconds(60);

  auto drain = [&](shoal::Queue<long>& q, long& count) {
    while (auto item = q.try_get()) {
      if (*item < 0 || *item >= static_cast<long>(seen.size())) continue;
      ++seen[*item];
      ++count;
    }
  };
  while (ended < nprod || left < nclients || qs.urgent.qsize() > 0 ||
         qs.normal.qsize() > 0 || qs.bulk.qsize() > 0) {
    if (std::chrono::steady_clock::now() > give_up) {
      std::printf("gave up after 60 s\n");
      return 1;
    }
    ++rounds;
    for (const shoal::Waitable& r : set.wait(seconds(5))) {
      if (r.is(qs.urgent)) drain(qs.urgent, served[0]);
      else if (r.is(qs.normal)) drain(qs.normal, served[1]);
      else if (r.is(qs.bulk)) drain(qs.bulk, served[2]);
      else if (r == tick) ++ticks;
      else if (r.is(listener)) {
        // The wait moved the clients' handshakes: one finished (or was
        // refused), so accept() returns (or throws) at once.
        try {
          conns.push_back(std::make_unique<shoal::Connection>(
              listener.accept(shoal::Deadline::Now())));
          set.add(*conns.back());
        } catch (const shoal::Error& e) {
          std::printf("accept: %s\n", e.what());
        }
      } else if (r.kind() == shoal::Waitable::Kind::kExited) {
        ++ended;
        set.remove(r);
      } else {
        for (auto& c : conns) {
          if (!r.is(*c)) continue;
          try {
            while (c->poll()) {
              c->send(2 * c->recv<int>());
              ++answered;
            }
          } catch (const shoal::EOFError&) {
            ++left;
            set.remove(r);
          }
        }
      }
    }
  }

  long missing = 0, twice = 0;
  for (int s : seen) {
    if (s == 0) ++missing;
    if (s > 1) ++twice;
  }
  int clean = 0;
  for (pid_t pid : clients) {
    int status = 0;
    if (waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
        WEXITSTATUS(status) == 0) {
      ++clean;
    }
  }
  for (auto& p : producers) {
    p.join();
    if (p.exitcode() == 0) ++clean;
  }
  std::printf("served %ld queue items (urgent %ld, normal %ld, bulk %ld)\n",
              served[0] + served[1] + served[2], served[0], served[1],
              served[2]);
  std::printf("every item exactly once: %s (missing %ld, twice %ld)\n",
              missing == 0 && twice == 0 ? "yes" : "no", missing, twice);
  std::printf("answered %ld requests from %d clients\n", answered, left);
  std::printf("%d producers ended (seen through their sentinels)\n", ended);
  std::printf("%d processes exited cleanly of %d\n", clean, nprod + nclients);
  std::printf("wait rounds: %d, timer ticks: %d\n", rounds, ticks);
  return missing == 0 && twice == 0 && clean == nprod + nclients ? 0 : 1;
}
