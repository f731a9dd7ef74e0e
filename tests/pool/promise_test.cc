// Tests for pool/promise.h: a Future completed from outside any pool.
#include "shoal/pool/promise.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "shoal/base/errors.h"
#include "shoal/pool/executor.h"

namespace {

using namespace std::chrono_literals;

constexpr auto kWait = std::chrono::seconds(30);

TEST(PromiseTest, ValueReachesTheFuture) {
  shoal::Promise<std::string> p;
  shoal::Future<std::string> f = p.future();
  EXPECT_FALSE(f.done());
  EXPECT_FALSE(f.running());
  EXPECT_THROW(f.result(1ms), shoal::TimeoutError);
  EXPECT_TRUE(p.set_running_or_notify_cancel());
  EXPECT_TRUE(f.running());
  EXPECT_TRUE(p.set_result("forty-two"));
  EXPECT_TRUE(f.done());
  EXPECT_FALSE(f.running());
  EXPECT_FALSE(f.cancelled());
  EXPECT_EQ(f.result(kWait), "forty-two");
  EXPECT_EQ(f.exception(kWait), nullptr);
  // The first outcome decides.
  EXPECT_FALSE(p.set_result("other"));
  EXPECT_FALSE(p.set_exception(std::make_exception_ptr(std::runtime_error("x"))));
  EXPECT_FALSE(f.cancel());
  EXPECT_EQ(f.result(kWait), "forty-two");
  EXPECT_TRUE(p.future() == f);
}

TEST(PromiseTest, VoidAndExceptionKeepTheirType) {
  shoal::Promise<void> v;
  EXPECT_TRUE(v.set_result());
  v.future().result(kWait);

  shoal::Promise<int> p;
  p.set_exception(std::make_exception_ptr(std::out_of_range("index 7")));
  shoal::Future<int> f = p.future();
  try {
    f.result(kWait);
    FAIL() << "no exception";
  } catch (const std::out_of_range& e) {
    EXPECT_STREQ(e.what(), "index 7");
  }
  EXPECT_THROW(std::rethrow_exception(f.exception(kWait)), std::out_of_range);
  EXPECT_FALSE(f.cancelled());
}

TEST(PromiseTest, CancelPendingButNotRunning) {
  shoal::Promise<int> pending;
  shoal::Future<int> f = pending.future();
  EXPECT_TRUE(f.cancel());
  EXPECT_TRUE(f.cancel());  // already cancelled: still true, as Python
  EXPECT_TRUE(f.done());
  EXPECT_TRUE(f.cancelled());
  EXPECT_THROW(f.result(kWait), shoal::CancelledError);
  EXPECT_THROW(f.exception(kWait), shoal::CancelledError);
  EXPECT_FALSE(pending.set_running_or_notify_cancel());
  EXPECT_FALSE(pending.set_result(1));

  shoal::Promise<int> running;
  EXPECT_TRUE(running.set_running_or_notify_cancel());
  EXPECT_FALSE(running.future().cancel(/*kill_running=*/true));
  EXPECT_FALSE(running.future().cancelled());
  EXPECT_TRUE(running.set_result(5));
  EXPECT_EQ(running.future().result(kWait), 5);
}

TEST(PromiseTest, CallbacksWithoutRunnerRunInTheCompletingThread) {
  shoal::Promise<int> p;
  std::vector<int> seen;
  std::thread::id where;
  p.future().add_done_callback([&](shoal::Future<int> f) {
    seen.push_back(f.result());
    where = std::this_thread::get_id();
  });
  p.future().add_done_callback([&](shoal::Future<int>) { seen.push_back(-1); });
  std::thread t([&] { p.set_result(9); });
  const std::thread::id tid = t.get_id();
  t.join();
  EXPECT_EQ(seen, (std::vector<int>{9, -1}));
  EXPECT_EQ(where, tid);
  // Added after done: runs at once, here.
  p.future().add_done_callback([&](shoal::Future<int>) { seen.push_back(0); });
  EXPECT_EQ(seen.back(), 0);
  // Cancelling runs them too.
  shoal::Promise<int> c;
  bool called = false;
  c.future().add_done_callback(
      [&](shoal::Future<int> f) { called = f.cancelled(); });
  c.future().cancel();
  EXPECT_TRUE(called);
}

// A runner that posts callbacks to its own thread, as an executor would.
class CallbackThread {
 public:
  CallbackThread() : t_([this] { Run(); }) {}
  ~CallbackThread() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    t_.join();
  }
  shoal::Promise<int>::CallbackRunner runner() {
    return [this](std::function<void()> fn) {
      std::lock_guard<std::mutex> lock(mu_);
      q_.push_back(std::move(fn));
      cv_.notify_all();
    };
  }
  std::thread::id id() const { return t_.get_id(); }

 private:
  void Run() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return stop_ || !q_.empty(); });
      if (q_.empty()) return;
      auto fn = std::move(q_.front());
      q_.pop_front();
      lock.unlock();
      fn();
      lock.lock();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> q_;
  bool stop_ = false;
  std::thread t_;
};

TEST(PromiseTest, CallbacksGoThroughTheRunner) {
  CallbackThread ct;
  shoal::Promise<int> p(ct.runner());
  std::atomic<bool> ran{false};
  std::atomic<bool> in_runner{false};
  p.future().add_done_callback([&](shoal::Future<int> f) {
    in_runner = std::this_thread::get_id() == ct.id();
    ran = f.result() == 3;
  });
  p.set_result(3);
  // Ready before the callbacks (Future semantics): result() does not wait
  // for them.
  EXPECT_EQ(p.future().result(kWait), 3);
  for (int i = 0; i < 6000 && !ran; ++i) std::this_thread::sleep_for(5ms);
  EXPECT_TRUE(ran);
  EXPECT_TRUE(in_runner);
}

TEST(PromiseTest, AsCompletedAndWaitOverPromises) {
  constexpr int kN = 64;
  std::vector<shoal::Promise<int>> ps(kN);
  std::vector<shoal::Future<int>> fs;
  for (auto& p : ps) fs.push_back(p.future());
  // Registered before anything completes: yields in completion order.
  auto completed = shoal::as_completed(fs, shoal::Deadline(kWait));
  // Complete from another thread, last first; one fails.
  std::thread producer([&] {
    for (int i = kN - 1; i >= 0; --i) {
      if (i == 10) {
        ps[i].set_exception(std::make_exception_ptr(std::logic_error("ten")));
      } else {
        ps[i].set_result(i);
      }
    }
  });
  std::vector<int> order;
  int failures = 0;
  for (auto& f : completed) {
    try {
      order.push_back(f.result());
    } catch (const std::logic_error& e) {
      EXPECT_STREQ(e.what(), "ten");
      ++failures;
    }
  }
  producer.join();
  EXPECT_EQ(failures, 1);
  ASSERT_EQ(order.size(), static_cast<size_t>(kN - 1));
  EXPECT_EQ(order.front(), kN - 1);
  EXPECT_EQ(order.back(), 0);

  // wait(): FIRST_EXCEPTION stops at the failure; cancelled ones are done
  // but do not count as exceptions.
  shoal::Promise<int> a, b, c;
  std::vector<shoal::Future<int>> three{a.future(), b.future(), c.future()};
  b.future().cancel();
  auto r = shoal::wait(three, shoal::Deadline(50ms), shoal::FIRST_EXCEPTION);
  EXPECT_EQ(r.done.size(), 1u);
  EXPECT_EQ(r.not_done.size(), 2u);
  c.set_exception(std::make_exception_ptr(std::runtime_error("c")));
  r = shoal::wait(three, shoal::Deadline(kWait), shoal::FIRST_EXCEPTION);
  EXPECT_EQ(r.done.size(), 2u);
  ASSERT_EQ(r.not_done.size(), 1u);
  EXPECT_TRUE(r.not_done[0] == a.future());
  a.set_result(1);
  r = shoal::wait(three, shoal::Deadline(kWait), shoal::ALL_COMPLETED);
  EXPECT_EQ(r.done.size(), 3u);
}

TEST(PromiseTest, CancelRacesWithStart) {
  // Exactly one of cancel() and set_running_or_notify_cancel() wins.
  for (int round = 0; round < 200; ++round) {
    shoal::Promise<int> p;
    shoal::Future<int> f = p.future();
    std::atomic<bool> go{false};
    bool cancelled = false, started = false;
    std::thread t([&] {
      while (!go) {
      }
      cancelled = f.cancel();
    });
    go = true;
    started = p.set_running_or_notify_cancel();
    t.join();
    ASSERT_NE(cancelled, started) << "round " << round;
    if (started) {
      p.set_result(round);
      EXPECT_EQ(f.result(kWait), round);
    } else {
      EXPECT_THROW(f.result(kWait), shoal::CancelledError);
    }
  }
}

}  // namespace
