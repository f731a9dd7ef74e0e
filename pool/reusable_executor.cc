#include "shoal/pool/reusable_executor.h"

#include <pthread.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <thread>
#include <tuple>
#include <vector>

#include "shoal/base/deadline.h"
#include "shoal/base/errors.h"
#include "shoal/pool/internal/cv_wait.h"
#include "shoal/pool/internal/engine.h"
#include "shoal/pool/internal/spawn.h"

namespace shoal {
namespace internal {

class ReusableState {
 public:
  std::mutex mu;
  std::condition_variable cv;
  pid_t owner = getpid();
  ReusableExecutorOptions options;
  // The running executor; null when retired for idleness or not started.
  std::shared_ptr<ProcessPoolExecutor> current;
  // Executors to destroy (their destructors wait), in the idle thread.
  std::vector<std::shared_ptr<ProcessPoolExecutor>> retired;
  uint64_t epoch = 1;       // bumped by shutdown(): older handles are done
  int in_use = 0;           // open ReusableUses
  uint64_t generation = 0;  // bumped by every use: activity
  bool stop = false;
  std::thread idle_thread;

  // Caller holds mu.
  const std::shared_ptr<ProcessPoolExecutor>& StartLocked() {
    if (current && current->broken()) {
      retired.push_back(std::move(current));
      cv.notify_all();
    }
    if (!current) {
      ExecutorOptions o;
      o.max_workers = options.max_workers;
      o.initializer = options.initializer;
      o.max_tasks_per_child = options.max_tasks_per_child;
      o.mp_context = options.context;
      current = std::make_shared<ProcessPoolExecutor>(o);
      if (!idle_thread.joinable()) {
        idle_thread = std::thread([this] { IdleMain(); });
      }
      cv.notify_all();
    }
    return current;
  }

 private:
  // Retires the executor once it has been idle for options.idle_timeout:
  // sleeps until it is idle (the engine's own wait), then until activity
  // or the timeout.
  void IdleMain() {
    std::unique_lock<std::mutex> lock(mu);
    while (!stop) {
      if (!retired.empty()) {
        auto done = std::move(retired);
        retired.clear();
        lock.unlock();
        done.clear();  // waits for them to finish
        lock.lock();
        continue;
      }
      if (!current) {
        cv.wait(lock, [&] { return stop || current || !retired.empty(); });
        continue;
      }
      std::shared_ptr<ProcessPoolExecutor> ex = current;
      const uint64_t seen = generation;
      const std::chrono::nanoseconds timeout = options.idle_timeout;
      lock.unlock();
      const bool idle = ex->engine()->WaitIdle(Deadline(timeout));
      lock.lock();
      if (stop) break;
      if (!idle || current != ex) continue;
      auto active = [&] {
        return stop || generation != seen || current != ex ||
               !retired.empty() || in_use > 0;
      };
      if (active() || ex->engine()->HasOpenStreams()) {
        // Busy: wait for the next use to end (or the timeout) and look again.
        WaitUntil(cv, lock, Deadline(timeout),
                  [&] { return stop || generation != seen || current != ex; });
        continue;
      }
      if (WaitUntil(cv, lock, Deadline(timeout), active)) continue;
      if (ex->engine()->HasOpenStreams()) continue;
      // Idle for the whole timeout: its workers go; the next use starts
      // new ones.
      current.reset();
      retired.push_back(std::move(ex));
    }
  }
};

namespace {

std::shared_ptr<ReusableState>& TheState() {
  // Never destroyed (AtExit stops it first); the pointer may be replaced
  // in a fork()ed child.
  static auto* s = new std::shared_ptr<ReusableState>();
  return *s;
}
std::mutex& StateMu() {
  static auto* mu = new std::mutex;
  return *mu;
}

void AtExit() {
  std::shared_ptr<ReusableState> s = TheState();
  if (!s || s->owner != getpid()) return;
  std::shared_ptr<ProcessPoolExecutor> ex;
  std::vector<std::shared_ptr<ProcessPoolExecutor>> retired;
  {
    std::lock_guard<std::mutex> lock(s->mu);
    s->stop = true;
    ex = std::move(s->current);
    s->current.reset();
    retired = std::move(s->retired);
    s->retired.clear();
  }
  s->cv.notify_all();
  // As concurrent.futures at exit: what was submitted finishes.
  if (ex) ex->shutdown(/*wait=*/true);
  ex.reset();
  retired.clear();
  if (s->idle_thread.joinable()) s->idle_thread.join();
}

// Where a fork()ed child keeps its parent's state (reachable, so leak
// checkers in the child do not report it). Static storage, not new: an
// atfork child handler must not allocate (another thread of the parent may
// have held an allocator lock at the fork; ASan's allocator is not reset
// in the child, glibc's is).
alignas(std::shared_ptr<ReusableState>) unsigned char
    g_parents[sizeof(std::shared_ptr<ReusableState>)];

// A fork()ed child has none of the parent's threads: it must not touch the
// parent's executor (nor a lock another thread held): it starts afresh. The
// parent's objects are left alone (leaked), never destroyed here.
void ForgetInChild() {
  new (&StateMu()) std::mutex;
  std::shared_ptr<ReusableState>& s = TheState();
  // (A grandchild overwrites its parent's copy: those bytes stay leaked.)
  if (s) new (g_parents) std::shared_ptr<ReusableState>(std::move(s));
  new (&s) std::shared_ptr<ReusableState>();
}

std::shared_ptr<ReusableState> GetState() {
  std::lock_guard<std::mutex> lock(StateMu());
  std::shared_ptr<ReusableState>& s = TheState();
  if (!s) {
    static std::once_flag once;
    std::call_once(once, [] {
      pthread_atfork(nullptr, nullptr, &ForgetInChild);
      std::atexit(&AtExit);
    });
    s = std::make_shared<ReusableState>();
  }
  return s;
}

bool SameConfig(const ReusableExecutorOptions& a,
                const ReusableExecutorOptions& b) {
  auto method = [](const ReusableExecutorOptions& o) {
    return EffectiveMethod(o.context ? &*o.context : nullptr);
  };
  auto init = [](const ReusableExecutorOptions& o) {
    const Initializer& i = o.initializer;
    return std::make_tuple(static_cast<bool>(i), i.invoker().module,
                           i.invoker().offset, i.payload());
  };
  return a.max_workers.value_or(0) == b.max_workers.value_or(0) &&
         method(a) == method(b) && init(a) == init(b) &&
         a.max_tasks_per_child == b.max_tasks_per_child;
}

}  // namespace

ReusableUse::ReusableUse(const std::shared_ptr<ReusableState>& state,
                         uint64_t epoch)
    : state_(state) {
  std::lock_guard<std::mutex> lock(state_->mu);
  if (epoch != state_->epoch || state_->stop) {
    throw RuntimeError("cannot schedule new futures after shutdown");
  }
  executor_ = state_->StartLocked();
  ++state_->in_use;
  ++state_->generation;
}

ReusableUse::~ReusableUse() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    --state_->in_use;
    ++state_->generation;
  }
  state_->cv.notify_all();
}

}  // namespace internal

const std::shared_ptr<internal::ReusableState>& ReusableExecutor::state()
    const {
  if (!state_) throw ValueError("an empty ReusableExecutor handle");
  return state_;
}

void ReusableExecutor::shutdown(bool wait, bool cancel_futures) {
  internal::ReusableState& s = *state();
  std::shared_ptr<ProcessPoolExecutor> ex;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    if (epoch_ != s.epoch) return;  // already shut down
    ++s.epoch;
    ex = std::move(s.current);
    s.current.reset();
  }
  if (!ex) return;
  ex->shutdown(wait, cancel_futures);
  if (!wait) {
    // Its destructor waits: let the idle thread run it.
    std::lock_guard<std::mutex> lock(s.mu);
    s.retired.push_back(std::move(ex));
    s.cv.notify_all();
  }
}

std::vector<pid_t> ReusableExecutor::worker_pids() const {
  internal::ReusableState& s = *state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (epoch_ != s.epoch || !s.current) return {};
  return s.current->worker_pids();
}

std::size_t ReusableExecutor::max_workers() const {
  internal::ReusableState& s = *state();
  std::lock_guard<std::mutex> lock(s.mu);
  return s.options.max_workers.value_or(
      static_cast<std::size_t>(process_cpu_count()));
}

ReusableExecutor get_reusable_executor(const ReusableExecutorOptions& options) {
  if (options.max_workers && *options.max_workers == 0) {
    throw ValueError("max_workers must be greater than 0");
  }
  if (options.idle_timeout <= std::chrono::nanoseconds(0)) {
    throw ValueError("idle_timeout must be greater than 0");
  }
  std::shared_ptr<internal::ReusableState> s = internal::GetState();
  std::shared_ptr<ProcessPoolExecutor> old;
  std::unique_lock<std::mutex> lock(s->mu);
  if (s->stop) throw RuntimeError("the program is exiting");
  if (s->current && !internal::SameConfig(options, s->options)) {
    // Resize / reconfigure: let submits in progress finish, then the old
    // executor completes (or, with kill_workers, cancels) what it has.
    s->cv.wait(lock, [&] { return s->in_use == 0; });
    old = std::move(s->current);
    s->current.reset();
  }
  s->options = options;
  const uint64_t epoch = s->epoch;
  lock.unlock();
  if (old) {
    if (options.kill_workers) old->engine()->Terminate();
    old->shutdown(/*wait=*/true);
    old.reset();
  }
  lock.lock();
  if (s->epoch == epoch && !s->stop) s->StartLocked();  // workers up now
  return ReusableExecutor(s, epoch);
}

}  // namespace shoal
