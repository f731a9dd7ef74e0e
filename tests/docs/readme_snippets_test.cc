// The README's short examples, compiled and run, so they never rot. Each
// TEST mirrors one snippet of README.md "A short example per concept".
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "shoal/ipc/array.h"
#include "shoal/ipc/blackboard.h"
#include "shoal/ipc/broadcast.h"
#include "shoal/ipc/channel.h"
#include "shoal/ipc/connection.h"
#include "shoal/ipc/latest.h"
#include "shoal/ipc/listener.h"
#include "shoal/ipc/queue.h"
#include "shoal/ipc/shared.h"
#include "shoal/ipc/value.h"
#include "shoal/ipc/wait.h"
#include "shoal/pool/context.h"
#include "shoal/pool/executor.h"
#include "shoal/pool/pool.h"
#include "shoal/pool/process.h"
#include "shoal/pool/reusable_executor.h"
#include "shoal/pool/service.h"
#include "shoal/sync/barrier.h"
#include "shoal/sync/condition.h"
#include "shoal/sync/lock.h"

namespace {

void greet(std::string who) { std::printf("hello %s\n", who.c_str()); }
int square(int x) { return x * x; }
void produce(shoal::Queue<int> results) { results.put(42); }

TEST(Readme, Process) {
  shoal::Process p(greet, std::string("bob"));
  p.start();
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
}

// The README's snippets, run. Where the README waits 1 s for another
// process (Python's timeout=1), the test allows 30 s: a forked peer may be
// off the CPU for seconds on a loaded machine.
TEST(Readme, Pipe) {
  auto [parent, child] = shoal::Pipe();
  if (fork() == 0) {
    child.send(std::vector<int>{1, 2, 3});
    _exit(0);
  }
  child.close();
  EXPECT_EQ(shoal::wait({&parent}, std::chrono::seconds(30)).size(), 1u);
  auto v = parent.recv<std::vector<int>>();
  EXPECT_EQ(v, (std::vector<int>{1, 2, 3}));
  EXPECT_THROW(parent.recv<int>(), shoal::EOFError);
  wait(nullptr);
}

TEST(Readme, Queue) {
  shoal::Queue<std::string> q(/*maxsize=*/100);
  if (fork() == 0) {
    q.put("work");
    q.put("more");
    _exit(0);
  }
  std::string item = q.get(std::chrono::seconds(30));
  EXPECT_EQ(item, "work");
  item = q.get(std::chrono::hours::max());
  EXPECT_EQ(item, "more");
  q.close();
  EXPECT_THROW(q.put("more"), shoal::Closed);
  EXPECT_THROW(q.put("more"), shoal::ValueError);
  wait(nullptr);
}

TEST(Readme, QueueBatches) {
  shoal::Queue<int> q(shoal::QueueOptions{.single_producer = true,
                                          .single_consumer = true});
  if (fork() == 0) {
    std::vector<int> v(64, 7);
    _exit(q.put_many(v) == 64 ? 0 : 1);
  }
  std::vector<int> got = q.get_many(64, std::chrono::seconds(30));
  ASSERT_GE(got.size(), 1u);
  while (got.size() < 64) {  // the README's one get_many may take fewer
    std::vector<int> more = q.get_many(64 - got.size(), std::chrono::seconds(30));
    got.insert(got.end(), more.begin(), more.end());
  }
  EXPECT_EQ(got, std::vector<int>(64, 7));
  int status = 0;
  wait(&status);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(Readme, JoinableQueue) {
  shoal::JoinableQueue<int> jobs;
  pid_t consumer = fork();
  if (consumer == 0) {
    alarm(30);
    for (;;) {
      jobs.get();
      jobs.task_done();
    }
  }
  for (int i = 0; i < 100; ++i) jobs.put(i);
  EXPECT_TRUE(jobs.join(std::chrono::seconds(10)));
  kill(consumer, SIGKILL);
  waitpid(consumer, nullptr, 0);
}

TEST(Readme, ValueAndArray) {
  shoal::Value<long> counter(0);
  shoal::Array<double> data(1000);
  {
    std::lock_guard g(counter.get_lock());
    *counter.get() += 1;
  }
  counter.add(1);
  std::vector<double> first10 = data.slice(0, 10);
  std::vector<double> last10 = data.slice(-10, PTRDIFF_MAX);
  long now = counter.load(std::chrono::milliseconds(100));
  EXPECT_EQ(counter.load(), 2);
  EXPECT_EQ(now, 2);
  EXPECT_EQ(first10.size(), 10u);
  EXPECT_EQ(last10.size(), 10u);
}

TEST(Readme, Channel) {
  shoal::FloatChannel ch(/*max_elements=*/100000);
  auto w = ch.loan(100000);
  std::iota(w.begin(), w.end(), 0.0);
  w.publish();
  auto r = ch.receive();
  double sum = std::accumulate(r.begin(), r.end(), 0.0);
  EXPECT_EQ(sum, 99999.0 * 100000 / 2);
}

TEST(Readme, Lock) {
  auto lock = shoal::Shared<shoal::Lock>::Create();
  { std::lock_guard g(*lock); }
  try {
    lock->acquire();
  } catch (const shoal::OwnerDied&) {
    lock->make_consistent();
  }
  lock->release();
}

struct Buffer {
  shoal::Lock lock;
  shoal::Condition not_empty{lock}, not_full{lock};
  int count = 0;
};

TEST(Readme, ConditionAndBarrier) {
  auto buf = shoal::Shared<Buffer>::Create();
  {
    std::unique_lock g(buf->not_empty);
    EXPECT_TRUE(buf->lock.is_owned());
    EXPECT_FALSE(buf->not_empty.wait_for([&] { return buf->count > 0; },
                                         std::chrono::milliseconds(10)));
  }
  EXPECT_FALSE(buf->lock.locked());
  auto barrier = shoal::Shared<shoal::Barrier>::Create(
      3, [] { std::puts("all three arrived"); }, std::chrono::seconds(5));
  EXPECT_EQ(barrier->parties(), 3u);
  EXPECT_EQ(barrier->timeout(), shoal::Timeout(std::chrono::seconds(5)));
}

TEST(Readme, Pool) {
  shoal::Pool pool(shoal::PoolOptions{.processes = 4});
  std::vector<int> squares = pool.map(square, std::vector<int>{1, 2, 3});
  auto r = pool.apply_async(square, 7);
  int v = r.get(std::chrono::seconds(30));
  auto it = pool.imap(square, std::vector<int>{4, 5});
  pool.close();
  pool.join();
  int first = *it.next();
  EXPECT_EQ(squares, (std::vector<int>{1, 4, 9}));
  EXPECT_EQ(v, 49);
  EXPECT_EQ(first, 16);
  EXPECT_EQ(*it.next(), 25);
}

TEST(Readme, Executor) {
  shoal::ProcessPoolExecutor ex(shoal::ExecutorOptions{.max_workers = 2});
  auto f = ex.submit(square, 9);
  EXPECT_EQ(f.result(), 81);
  std::vector futures = {ex.submit(square, 2), ex.submit(square, 3)};
  int n = 0;
  for (auto& done : shoal::as_completed(futures)) {
    (void)done;
    ++n;
  }
  EXPECT_EQ(n, 2);
  auto m = ex.map(square, std::vector<int>{1, 2, 3});
  ex.shutdown();
  EXPECT_EQ(*m.next(), 1);
  EXPECT_THROW(ex.submit(square, 1), shoal::RuntimeError);
}

TEST(Readme, ReusableExecutor) {
  auto rex = shoal::get_reusable_executor(
      {.max_workers = 2, .idle_timeout = std::chrono::seconds(60)});
  int r = rex.submit(square, 4).result();
  EXPECT_EQ(r, 16);
  auto bigger = shoal::get_reusable_executor({.max_workers = 4});
  EXPECT_EQ(bigger.submit(square, 5).result(), 25);
  EXPECT_EQ(rex.worker_pids().size(), 4u);  // the same executor, resized
  rex.shutdown();
}

TEST(Readme, SpawnContext) {
  shoal::Pool pool(shoal::PoolOptions{.processes = 2,
                                      .context = shoal::get_context("fork")});
  EXPECT_EQ(pool.apply(square, 3), 9);
}

TEST(Readme, WaitAndWaitSet) {
  shoal::Queue<int> jobs, results;
  auto [conn, other] = shoal::Pipe();
  shoal::Process worker(produce, results);
  worker.start();
  bool got = false, ended = false;
  while (!got || !ended) {
    auto ready = shoal::wait({jobs, results, conn, worker}, std::chrono::seconds(20));
    ASSERT_FALSE(ready.empty());
    for (const shoal::Waitable& r : ready) {
      EXPECT_FALSE(r.is(jobs));
      EXPECT_FALSE(r.is(conn));
      if (r.is(results) && results.try_get() == std::optional<int>(42)) got = true;
      if (r.is(worker)) ended = true;
    }
  }
  worker.join();
  shoal::WaitSet set;
  set.add(jobs);
  set.add(shoal::writable(results));
  set.add(shoal::Timer::Every(std::chrono::milliseconds(100)));
  const auto& ready = set.wait(std::chrono::seconds(1));
  ASSERT_EQ(ready.size(), 1u);  // room in results; the timer comes later
  EXPECT_EQ(ready[0].kind(), shoal::Waitable::Kind::kWritable);
  EXPECT_GE(set.fd(), 0);
}

TEST(Readme, ListenerAndClient) {
  const std::string name = "readme-jobs-" + std::to_string(getpid());
  // 30 s for the handshake (default 5 s): a loaded CI machine may keep the
  // forked client off the CPU for seconds.
  shoal::Listener listener(shoal::AbstractAddress(name), "secret",
                           {.handshake_timeout = std::chrono::seconds(30)});
  shoal::Queue<int> q;
  pid_t client = fork();
  if (client == 0) {
    alarm(30);
    shoal::Connection s =
        shoal::Client(shoal::AbstractAddress(name), "secret");
    auto jobs = s.recv_handle<shoal::Queue<int>>();
    jobs.put(42);
    _exit(0);
  }
  shoal::Connection c = listener.accept(std::chrono::seconds(20));
  c.send_handle(q);
  EXPECT_EQ(q.get(std::chrono::seconds(20)), 42);
  EXPECT_THROW(shoal::Client(shoal::AbstractAddress(name), "wrong",
                             std::chrono::milliseconds(300)),
               shoal::Error);  // refused (or timed out: nobody accepts now)
  int status = 0;
  waitpid(client, &status, 0);
  EXPECT_EQ(status, 0);
}

struct Pose {
  double x;
  double y;
};

TEST(Readme, LatestAndBlackboard) {
  shoal::Latest<Pose> pose;
  pose.publish(Pose{1.0, 2.0});
  Pose p = pose.read();
  EXPECT_EQ(p.y, 2.0);
  auto [q, version] = pose.read_versioned();
  EXPECT_EQ(version, 1u);
  EXPECT_EQ(q.x, 1.0);
  EXPECT_FALSE(pose.wait_newer(version, std::chrono::milliseconds(10)));

  shoal::Blackboard config({shoal::Blackboard::Key<int>("log_level", 2),
                            shoal::Blackboard::Key<double>("rate", 100.0)});
  auto rate = config.entry<double>("rate");
  rate.publish(250.0);
  double r = rate.read();
  EXPECT_EQ(r, 250.0);
  EXPECT_EQ(config.read<int>("log_level"), 2);
}

TEST(Readme, ServiceAndServiceClient) {
  shoal::Service<std::string, std::size_t> svc;
  pid_t server = fork();
  if (server == 0) {
    alarm(30);
    svc.serve([](const std::string& s) { return s.size(); });
    _exit(0);
  }
  shoal::ServiceClient<std::string, std::size_t> client(svc);
  std::size_t n = client.call("four", std::chrono::seconds(30));
  EXPECT_EQ(n, 4u);
  shoal::Future<std::size_t> f = client.call_async("seven");
  EXPECT_EQ(f.result(std::chrono::seconds(20)), 5u);
  svc.close();
  int status = 0;
  waitpid(server, &status, 0);
  EXPECT_EQ(status, 0);
}

TEST(Readme, Broadcast) {
  shoal::Broadcast<double> bus(/*max_elements=*/4096, {.slots = 8, .history = 4});
  auto early = bus.subscribe();
  auto w = bus.loan(4096);
  std::iota(w.begin(), w.end(), 0.0);
  w.publish();
  auto sub = bus.subscribe({.when_behind = shoal::WhenBehind::kOverwrite,
                            .history = 4});
  auto v = sub.receive(std::chrono::seconds(1));
  double sum = std::accumulate(v.begin(), v.end(), 0.0);
  EXPECT_EQ(sum, 4095.0 * 4096 / 2);
  EXPECT_EQ(v.missed_before(), 0u);
  EXPECT_EQ(sub.missed(), 0u);
  EXPECT_EQ(early.receive(std::chrono::seconds(1)).data(), v.data());
}

}  // namespace
