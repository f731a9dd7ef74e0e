#include "shoal/pool/internal/callback_thread.h"

#include <signal.h>

#include <chrono>
#include <utility>

#include "shoal/base/deadline.h"
#include "shoal/base/internal/futex.h"

namespace shoal::internal {

CallbackThread::CallbackThread(PoolView& view, TaskTable& table,
                               PoolState& state)
    : view_(view), table_(table), state_(state) {}

CallbackThread::~CallbackThread() {
  Stop();
  if (thread_.joinable()) thread_.join();
}

void CallbackThread::Start() {
  thread_ = std::thread([this] {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    Main();
  });
  id_.store(thread_.get_id());
  table_.set_collector(thread_.get_id());
}

bool CallbackThread::InThread() const {
  return std::this_thread::get_id() == id_.load(std::memory_order_relaxed);
}

void CallbackThread::Schedule(std::shared_ptr<Job> job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopped_) {
      pending_.push_back(std::move(job));
      view_.KickHandler();
      return;
    }
  }
  job->RunCallbacks(!state_.terminating());
}

void CallbackThread::Stop() {
  stop_.store(true, std::memory_order_release);
  view_.KickHandler();
  if (InThread() || !thread_.joinable()) return;
  thread_.join();
}

bool CallbackThread::Pass(bool run_callbacks) {
  bool work = table_.CollectNotified();
  if (run_callbacks) {
    std::deque<std::shared_ptr<Job>> jobs;
    {
      std::lock_guard<std::mutex> lock(mu_);
      jobs.swap(pending_);
    }
    for (auto& j : jobs) {
      work = true;
      j->RunCallbacks(!state_.terminating());
    }
  }
  return work;
}

void CallbackThread::Main() {
  PoolShared* s = view_.shared();
  for (;;) {
    s->handler_waiting.store(1, std::memory_order_seq_cst);
    const uint32_t seq = s->notify_seq.load(std::memory_order_seq_cst);
    const bool stop = stop_.load(std::memory_order_acquire);
    const bool work = Pass(true);
    if (stop && !work) break;
    // Every event moves notify_seq after making its work visible (a
    // completion's notify bit, Schedule, Stop, a worker's sweep request),
    // and wakes us because handler_waiting is set: no need to poll.
    if (!work) FutexWait(&s->notify_seq, seq, Deadline::Infinite());
    s->handler_waiting.store(0, std::memory_order_relaxed);
  }
  s->handler_waiting.store(0, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
  }
  // Anything scheduled between the last pass and the flag.
  Pass(true);
}

}  // namespace shoal::internal
