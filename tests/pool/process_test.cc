// Tests for pool/process.h (fork start method; spawn is in context_test.cc).
#include "shoal/pool/context.h"
#include "shoal/pool/process.h"

#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "shoal/base/errors.h"
#include "shoal/base/internal/process_liveness.h"
#include "shoal/ipc/connection.h"
#include "shoal/ipc/queue.h"
#include "shoal/ipc/shared.h"
#include "shoal/ipc/value.h"
#include "shoal/sync/lock.h"

namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

void PutTwice(shoal::Queue<std::string> q, std::string s, int n) {
  for (int i = 0; i < n; ++i) q.put(s + std::to_string(i));
}

void ReportIdentity(shoal::Queue<std::string> q) {
  auto me = shoal::current_process();
  auto parent = shoal::parent_process();
  q.put(me.name);
  q.put(std::to_string(me.pid == getpid()));
  q.put(parent ? parent->name : "none");
  q.put(std::to_string(parent ? parent->pid : 0));
  q.put(std::to_string(me.daemon));
}

void Sleeper(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }
void ExitWith(int code) { std::exit(code); }
void Throws() { throw std::runtime_error("target failed"); }

struct Counter {
  shoal::Lock lock;
  long value = 0;
};
void Increment(shoal::Shared<Counter> c, int n) {
  for (int i = 0; i < n; ++i) {
    std::lock_guard<shoal::Lock> g(c->lock);
    ++c->value;
  }
}

void AddToValue(shoal::Value<long> v, long n) {
  for (long i = 0; i < n; ++i) v.add(1);
}

void Echo(shoal::Connection conn) {
  std::string s = conn.recv<std::string>();
  conn.send(s + "!");
}

// Python's adder-server idiom: the server gets both ends, closes the client
// end it does not use, and serves until EOF.
void ServeUntilEof(shoal::Connection server, shoal::Connection client) {
  client.close();
  for (;;) {
    try {
      auto req = server.recv<std::pair<int, int>>();
      server.send(req.first + req.second);
    } catch (const shoal::EOFError&) {
      return;
    }
  }
}

void StartGrandchild(shoal::Queue<std::string> q) {
  try {
    shoal::Process p(Sleeper, 1);
    p.start();
    p.join();
    q.put("started");
  } catch (const shoal::ValueError& e) {
    q.put(e.what());
  }
}

TEST(ProcessTest, RunsTargetWithArguments) {
  shoal::Queue<std::string> q(16);
  shoal::Process p(PutTwice, q, "x", 2);
  EXPECT_EQ(p.pid(), 0);
  EXPECT_FALSE(p.exitcode().has_value());
  EXPECT_FALSE(p.is_alive());
  p.start();
  EXPECT_GT(p.pid(), 0);
  EXPECT_EQ(q.get(10s), "x0");
  EXPECT_EQ(q.get(10s), "x1");
  EXPECT_TRUE(p.join(10s));
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_FALSE(p.is_alive());
  EXPECT_THROW(p.start(), shoal::ValueError);
}

TEST(ProcessTest, NamesAndIdentity) {
  shoal::Queue<std::string> q(16);
  shoal::Process p(shoal::ProcessOptions{.name = "reporter"}, ReportIdentity, q);
  EXPECT_EQ(p.name(), "reporter");
  p.start();
  EXPECT_EQ(q.get(10s), "reporter");
  EXPECT_EQ(q.get(10s), "1");
  EXPECT_EQ(q.get(10s), "MainProcess");
  EXPECT_EQ(q.get(10s), std::to_string(getpid()));
  EXPECT_EQ(q.get(10s), "0");
  p.join();
  EXPECT_EQ(shoal::current_process().name, "MainProcess");
  EXPECT_FALSE(shoal::parent_process().has_value());
  shoal::Process unnamed(Sleeper, 1);
  EXPECT_THAT(unnamed.name(), HasSubstr("Process-"));
}

TEST(ProcessTest, ExitCodes) {
  shoal::Process ok(Sleeper, 1);
  ok.start();
  ok.join();
  EXPECT_EQ(ok.exitcode(), 0);

  shoal::Process exits(ExitWith, 7);
  exits.start();
  exits.join();
  EXPECT_EQ(exits.exitcode(), 7);

  shoal::Process throws(Throws);
  throws.start();
  throws.join();
  EXPECT_EQ(throws.exitcode(), 1);

  shoal::Process term(Sleeper, 20000);
  term.start();
  EXPECT_TRUE(term.is_alive());
  EXPECT_FALSE(term.join(50ms));
  EXPECT_FALSE(term.exitcode().has_value());
  term.terminate();
  EXPECT_TRUE(term.join(10s));
  EXPECT_EQ(term.exitcode(), -SIGTERM);

  shoal::Process killed(Sleeper, 20000);
  killed.start();
  killed.kill();
  killed.join();
  EXPECT_EQ(killed.exitcode(), -SIGKILL);
  killed.terminate();  // no-op once ended
  killed.close();
  EXPECT_THROW(killed.start(), shoal::ValueError);
}

TEST(ProcessTest, CloseWhileRunningIsAnError) {
  shoal::Process p(Sleeper, 20000);
  p.start();
  EXPECT_THROW(p.close(), shoal::ValueError);
  EXPECT_GE(p.sentinel(), 0);
  p.kill();
  p.join();
  p.close();
}

TEST(ProcessTest, SharedLockAndValue) {
  auto c = shoal::Shared<Counter>::Create();
  shoal::Value<long> v(0);
  std::vector<shoal::Process> ps;
  for (int i = 0; i < 3; ++i) {
    ps.emplace_back(Increment, c, 1000);
    ps.emplace_back(AddToValue, v, 500);
  }
  for (auto& p : ps) p.start();
  for (auto& p : ps) {
    EXPECT_TRUE(p.join(30s));
    EXPECT_EQ(p.exitcode(), 0);
  }
  EXPECT_EQ(c->value, 3000);
  EXPECT_EQ(v.load(), 1500);
}

TEST(ProcessTest, ConnectionArgument) {
  auto [parent_end, child_end] = shoal::Pipe();
  shoal::Process p(Echo, child_end);
  p.start();
  child_end.close();
  parent_end.send(std::string("ping"));
  EXPECT_EQ(parent_end.recv<std::string>(10s), "ping!");
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
}

// With fork, the child works on the descriptors it inherited (not on
// duplicates), so closing the unused end there is enough for EOF to reach
// the server when the parent closes its own copy: the same as Python.
TEST(ProcessTest, ClosingAPassedConnectionInAForkedChildClosesItsCopy) {
  // (spawn passes descriptors anew and needs shoal::init in main(): see
  // context_test.)
  for (const char* method : {"fork"}) {
    auto [server, client] = shoal::Pipe();
    shoal::Process p = shoal::get_context(method).Process(ServeUntilEof, server,
                                                          client);
    p.start();
    server.close();
    client.send(std::make_pair(3, 4));
    EXPECT_EQ(client.recv<int>(10s), 7) << method;
    client.close();
    EXPECT_TRUE(p.join(10s)) << method << ": the server never saw EOF";
    if (p.is_alive()) p.kill();
    p.join();
  }
}

TEST(ProcessTest, ActiveChildrenAndCpuCount) {
  shoal::Process a(Sleeper, 20000);
  shoal::Process b(Sleeper, 1);
  a.start();
  b.start();
  b.join();
  auto kids = shoal::active_children();
  EXPECT_NE(std::find(kids.begin(), kids.end(), a), kids.end());
  EXPECT_EQ(std::find(kids.begin(), kids.end(), b), kids.end());
  a.kill();
  a.join();
  kids = shoal::active_children();
  EXPECT_EQ(std::find(kids.begin(), kids.end(), a), kids.end());
  EXPECT_GE(shoal::cpu_count(), 1);
  EXPECT_GE(shoal::process_cpu_count(), 1);
  EXPECT_LE(shoal::process_cpu_count(), shoal::cpu_count());
}

TEST(ProcessTest, DaemonCannotHaveChildren) {
  shoal::Queue<std::string> q(4);
  shoal::Process d(shoal::ProcessOptions{.daemon = true}, StartGrandchild, q);
  EXPECT_TRUE(d.daemon());
  d.start();
  EXPECT_THAT(q.get(10s), HasSubstr("daemonic processes are not allowed"));
  d.join();
  shoal::Process n(StartGrandchild, q);
  EXPECT_FALSE(n.daemon());
  n.set_daemon(false);
  n.start();
  EXPECT_THROW(n.set_daemon(true), shoal::ValueError);
  EXPECT_EQ(q.get(10s), "started");
  n.join();
}

void SpawnDaemonAndExit(shoal::Queue<int> q) {
  shoal::Process d(shoal::ProcessOptions{.daemon = true}, Sleeper, 60000);
  d.start();
  q.put(d.pid());
  // Leaving without joining: the daemon must die with us.
}

TEST(ProcessTest, DaemonDiesWithItsParent) {
  shoal::Queue<int> q(4);
  shoal::Process parent(SpawnDaemonAndExit, q);
  parent.start();
  const pid_t daemon_pid = q.get(30s);
  parent.join();
  bool gone = false;
  for (int i = 0; i < 1000 && !gone; ++i) {
    // Reparented to init (or a subreaper) that may not reap it at once: a
    // zombie counts as gone.
    gone = shoal::internal::IsProcessGone(daemon_pid);
    if (!gone) std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(gone);
}

}  // namespace
