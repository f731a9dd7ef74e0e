// apply_async: Pool.apply vs Pool.apply_async, callbacks, timeouts, and a
// worker that dies mid-task.
//
// The Python it follows (the tutorial's f_sleep sleeps 3 s and returns x*x):
//
//   result = pool.apply(f_sleep, (10,))                 # blocks ~3 s
//   result = pool.apply_async(f_sleep, (10,))           # returns at once
//   result = result.get(timeout=4)                      # waits ~3 s
//   pool.apply_async(f_sleep, (10,), callback=callback_func)
//
// then what a long-running service needs on top:
//   * get(timeout) that runs out: shoal::TimeoutError, the task keeps going;
//   * a per-task time limit (Async::timeout): the worker is killed and
//     replaced, the task fails with TimeoutError;
//   * a worker killed from outside (kill -9) mid-task: that task fails with
//     shoal::WorkerLost (naming the pid and the signal), its error_callback
//     runs, a new worker takes the dead one's place and the pool carries on.
//
//   bazel run //examples:apply_async                  # 3 s tasks, as in Python
//   bazel run //examples:apply_async -- --sleep_ms=200
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "shoal/base/errors.h"
#include "shoal/ipc/queue.h"
#include "shoal/pool/context.h"
#include "shoal/pool/pool.h"

ABSL_FLAG(int, sleep_ms, 3000, "how long f_sleep sleeps");
ABSL_FLAG(std::string, start_method, "fork",
          "fork or spawn (Python's set_start_method)");

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

long ms_since(Clock::time_point t) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - t).count();
}

int f_sleep(int x, int ms) {
  std::this_thread::sleep_for(milliseconds(ms));
  return x * x;
}

// Tells the parent which process runs it, then works "forever" (30 s).
int report_pid_and_wait(shoal::Queue<int> pids) {
  pids.put(getpid());
  std::this_thread::sleep_for(std::chrono::seconds(30));
  return 0;
}

std::string pids(std::vector<pid_t> v) {
  std::sort(v.begin(), v.end());
  std::string s;
  for (pid_t p : v) s += (s.empty() ? "" : " ") + std::to_string(p);
  return "[" + s + "]";
}

}  // namespace

int main(int argc, char** argv) {
  shoal::init(argc, argv);
  absl::ParseCommandLine(argc, argv);
  shoal::set_start_method(absl::GetFlag(FLAGS_start_method));
  const int ms = absl::GetFlag(FLAGS_sleep_ms);
  shoal::Pool pool(3);

  // --- apply: blocks until the result is there ------------------------------
  auto t1 = Clock::now();
  int result = pool.apply(f_sleep, 10, ms);
  std::printf("apply result:%d use:%ld ms\n", result, ms_since(t1));

  // --- apply_async: returns at once; get() waits ----------------------------
  auto t2 = Clock::now();
  shoal::AsyncResult<int> async = pool.apply_async(f_sleep, 10, ms);
  std::printf("apply_async returned after %ld ms, ready()=%s\n", ms_since(t2),
              async.ready() ? "true" : "false");
  auto t3 = Clock::now();
  result = async.get(milliseconds(ms + 5000));  // result.get(timeout=...)
  std::printf("apply_async result2:%d use:%ld ms\n", result, ms_since(t3));

  // --- a callback: runs in the parent when the result arrives ---------------
  const auto callback_start = Clock::now();
  auto with_callback = pool.apply_async(
      shoal::Async{.callback =
                       [callback_start](int r) {
                         std::printf("callback result:%d use:%ld ms\n", r,
                                     ms_since(callback_start));
                       }},
      f_sleep, 10, ms);
  with_callback.wait();  // the callback has run when wait() returns
  std::printf("after the callback: get()=%d\n", with_callback.get());

  // --- get(timeout) that runs out: the task itself goes on ------------------
  auto slow = pool.apply_async(f_sleep, 7, ms);
  try {
    slow.get(milliseconds(ms / 4));
  } catch (const shoal::TimeoutError& e) {
    std::printf("get(timeout=%d ms): TimeoutError (%s); the task goes on\n",
                ms / 4, e.what());
  }
  std::printf("get() later: %d\n", slow.get());

  // --- a task over its time limit: its worker is killed and replaced --------
  auto t4 = Clock::now();
  auto too_slow = pool.apply_async(
      shoal::Async{.timeout = milliseconds(ms / 2)}, f_sleep, 5, 10 * ms);
  try {
    too_slow.get();
  } catch (const shoal::TimeoutError& e) {
    std::printf("task with timeout=%d ms: TimeoutError after %ld ms (%s)\n",
                ms / 2, ms_since(t4), e.what());
  }

  // --- a worker killed mid-task ---------------------------------------------
  shoal::Queue<int> running_in;
  auto victim = pool.apply_async(
      shoal::Async{.error_callback =
                       [](const std::exception& e) {
                         std::printf("error_callback: %s\n", e.what());
                       }},
      report_pid_and_wait, running_in);
  const pid_t pid = running_in.get(std::chrono::seconds(30));
  std::printf("workers before: %s; killing %d with SIGKILL\n",
              pids(pool.worker_pids()).c_str(), static_cast<int>(pid));
  kill(pid, SIGKILL);
  try {
    victim.get();
  } catch (const shoal::WorkerLost& e) {
    std::printf("WorkerLost: pid %d, signal %d: %s\n", static_cast<int>(e.pid()),
                e.signal(), e.what());
  }

  // The pool carries on: a new worker replaced the dead one (the pool's
  // monitor does that in the background; give it a moment).
  std::printf("pool carries on: apply(f_sleep, 3) = %d\n", pool.apply(f_sleep, 3, 0));
  auto t5 = Clock::now();
  std::vector<pid_t> after = pool.worker_pids();
  while (ms_since(t5) < 5000 &&
         (after.size() < pool.processes() ||
          std::count(after.begin(), after.end(), pid) != 0)) {
    std::this_thread::sleep_for(milliseconds(10));
    after = pool.worker_pids();
  }
  std::printf("workers after: %s (%zu of %zu, %d replaced)\n", pids(after).c_str(),
              after.size(), pool.processes(),
              std::count(after.begin(), after.end(), pid) == 0 ? 1 : 0);
  pool.close();
  pool.join();
  return 0;
}
