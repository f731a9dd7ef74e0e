#include "shoal/pool/internal/supervisor.h"

#include <errno.h>
#include <poll.h>
#include <time.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <utility>

#include "shoal/base/errors.h"
#include "shoal/base/internal/clock.h"
#include "shoal/pool/internal/cv_wait.h"
#include "shoal/pool/internal/spawn.h"

namespace shoal::internal {
namespace {

// Why the supervisor killed a worker (decides how its running task ends).
constexpr uint32_t kKillNone = 0;
constexpr uint32_t kKillTimeout = 1;
constexpr uint32_t kKillCancel = 2;
constexpr uint32_t kKillTerminate = 3;

constexpr int kMaxStartupFailures = 3;
// Workers killed by a signal before they were ready. An external kill (the
// OOM killer, an operator, a chaos test) is not evidence that the pool cannot
// start workers, so it takes many more in a row before the pool gives up.
constexpr int kMaxStartupKills = 64;

void BlockAllSignalsInThisThread() {
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
}

}  // namespace

Supervisor::Supervisor(const SupervisorOptions& options, PoolView& view,
                       PoolState& state, TaskTable& table, Launcher& launcher)
    : options_(options),
      view_(view),
      state_(state),
      table_(table),
      launcher_(launcher),
      workers_(options.workers) {}

Supervisor::~Supervisor() {
  if (thread_.joinable()) thread_.join();
  if (cmd_fd_ >= 0) close(cmd_fd_);
}

void Supervisor::Start() {
  cmd_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (cmd_fd_ < 0) ThrowSystemError("eventfd", errno);
  thread_ = std::thread([this] {
    BlockAllSignalsInThisThread();
    Main();
  });
  std::unique_lock<std::mutex> lock(done_mu_);
  done_cv_.wait(lock, [&] { return prepared_; });
}

void Supervisor::Post(Command c) {
  {
    std::lock_guard<std::mutex> lock(cmd_mu_);
    cmds_.push_back(c);
  }
  const uint64_t one = 1;
  ssize_t n = write(cmd_fd_, &one, sizeof(one));
  (void)n;
}

void Supervisor::Wake() { Post({Cmd::kWake}); }
void Supervisor::Terminate() { Post({Cmd::kTerminate}); }
void Supervisor::KillRunning(uint64_t ref) { Post({Cmd::kKill, ref}); }
void Supervisor::WatchTimeouts() { Post({Cmd::kWake}); }

bool Supervisor::WaitFinished(const Deadline& deadline) {
  std::unique_lock<std::mutex> lock(done_mu_);
  return WaitUntil(done_cv_, lock, deadline, [&] { return finished_; });
}

void Supervisor::Join() {
  if (thread_.joinable()) thread_.join();
}

std::vector<pid_t> Supervisor::WorkerPids() const {
  std::lock_guard<std::mutex> lock(workers_mu_);
  std::vector<pid_t> out;
  for (const Worker& w : workers_) {
    if (w.live && w.pid > 0) out.push_back(w.pid);
  }
  return out;
}

std::size_t Supervisor::LiveWorkers() const {
  std::lock_guard<std::mutex> lock(workers_mu_);
  std::size_t n = 0;
  for (const Worker& w : workers_) n += w.live ? 1 : 0;
  return n;
}

// ---------------------------------------------------------------------------
// The supervisor thread.

void Supervisor::Main() {
  try {
    launcher_.Prepare();
  } catch (const std::exception& e) {
    Break(std::string("cannot start the fork server: ") + e.what(),
          std::nullopt);
  }
  // The first workers are started before Start() returns, as Python's
  // Pool starts its processes in its constructor: worker_pids() lists them
  // at once.
  const int64_t first = Maintain();
  {
    std::lock_guard<std::mutex> lock(done_mu_);
    prepared_ = true;
  }
  done_cv_.notify_all();
  std::vector<pollfd> fds;
  std::vector<uint32_t> who;
  int64_t wake_at = first;
  for (;;) {
    fds.clear();
    who.clear();
    fds.push_back({cmd_fd_, POLLIN, 0});
    for (uint32_t w = 0; w < workers_.size(); ++w) {
      if (workers_[w].live && workers_[w].exit_fd >= 0) {
        fds.push_back({workers_[w].exit_fd, POLLIN, 0});
        who.push_back(w);
      }
    }
    // Sleep until an event (a command, a worker's end) or the next
    // deadline something is due at; none: sleep until an event.
    timespec ts{};
    timespec* timeout = nullptr;
    if (wake_at != kNever) {
      const int64_t left = std::max<int64_t>(0, wake_at - MonotonicNanos());
      ts.tv_sec = left / 1'000'000'000;
      ts.tv_nsec = left % 1'000'000'000;
      timeout = &ts;
    }
    const int n = ppoll(fds.data(), fds.size(), timeout, nullptr);
    if (n < 0 && errno != EINTR) std::perror("shoal: pool supervisor: poll");
    if (n > 0 && (fds[0].revents & POLLIN) != 0) {
      uint64_t v;
      ssize_t r = read(cmd_fd_, &v, sizeof(v));
      (void)r;
    }
    std::deque<Command> cmds;
    {
      std::lock_guard<std::mutex> lock(cmd_mu_);
      cmds.swap(cmds_);
    }
    RunCommands(cmds);
    if (n > 0) {
      for (std::size_t i = 1; i < fds.size(); ++i) {
        if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
        OnWorkerExit(who[i - 1]);
      }
    }
    wake_at = RetryRequeues();
    if (state_.terminating()) {
      table_.FailAllQueued(kPhaseCancelled);
    } else {
      wake_at = std::min(wake_at, CheckTimeouts());
      wake_at = std::min(wake_at, Maintain());
    }
    if (ShouldLeave()) break;
  }
  launcher_.Shutdown();
  {
    std::lock_guard<std::mutex> lock(done_mu_);
    finished_ = true;
  }
  done_cv_.notify_all();
  view_.KickHandler();
}

void Supervisor::RunCommands(const std::deque<Command>& cmds) {
  for (const Command& c : cmds) {
    switch (c.cmd) {
      case Cmd::kWake:
        break;
      case Cmd::kKill:
        for (uint32_t w = 0; w < workers_.size(); ++w) {
          if (workers_[w].live &&
              view_.status(w).current.load(std::memory_order_acquire) ==
                  c.ref) {
            KillWorker(w, kKillCancel, c.ref);
          }
        }
        break;
      case Cmd::kTerminate:
        for (uint32_t w = 0; w < workers_.size(); ++w) {
          KillWorker(w, kKillTerminate, 0);
        }
        table_.FailAllQueued(kPhaseCancelled);
        break;
    }
  }
}

bool Supervisor::ShouldLeave() const {
  for (const Worker& w : workers_) {
    if (w.live) return false;
  }
  if (state_.terminating() || state_.broken()) return true;
  if (state_.phase() == PoolState::kClosed) {
    return view_.ring().size() == 0 && requeue_.empty();
  }
  return false;
}

int64_t Supervisor::Maintain() {
  if (state_.broken() || state_.terminating()) return kNever;
  const int64_t now = MonotonicNanos();
  uint32_t live = 0;
  for (const Worker& w : workers_) live += w.live ? 1 : 0;
  uint32_t want = options_.workers;
  if (state_.phase() == PoolState::kClosed) {
    // After close(): keep enough workers for what is left in the queue.
    const std::size_t left = view_.ring().size() + requeue_.size();
    want = static_cast<uint32_t>(std::min<std::size_t>(options_.workers, left));
  }
  int64_t next = kNever;
  if (live < want && now < restart_at_) {
    next = restart_at_;  // the last start failed: not yet
    want = live;
  }
  for (uint32_t w = 0; w < workers_.size() && live < want; ++w) {
    if (workers_[w].live) continue;
    try {
      StartWorker(w);
      ++live;
      restart_backoff_ = kRestartBackoffMin;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "shoal: cannot start a pool worker: %s\n", e.what());
      if (live == 0) {
        Break(std::string("cannot start workers: ") + e.what(), std::nullopt);
        return kNever;
      }
      // Carry on with fewer workers; try again a little later.
      restart_at_ = now + restart_backoff_;
      restart_backoff_ = std::min(2 * restart_backoff_, kRestartBackoffMax);
      next = restart_at_;
      break;
    }
  }
  // Workers that never attach (a spawned main() without shoal::init that
  // does something else forever) are killed and counted as failures.
  const int64_t limit = launcher_.attach_limit().count();
  if (limit <= 0) return next;
  for (uint32_t w = 0; w < workers_.size(); ++w) {
    Worker& ws = workers_[w];
    if (!ws.live || ws.kill_reason != kKillNone ||
        view_.status(w).life.load() != kWorkerEmpty) {
      continue;
    }
    if (now - ws.started_ns >= limit) {
      KillWorker(w, kKillTerminate, 0);
    } else {
      next = std::min(next, ws.started_ns + limit);
    }
  }
  return next;
}

void Supervisor::StartWorker(uint32_t w) {
  Worker& ws = workers_[w];
  WorkerStatus& st = view_.status(w);
  st.pid.store(0, std::memory_order_relaxed);
  st.current.store(0, std::memory_order_relaxed);
  st.exit_reason.store(kExitNone, std::memory_order_relaxed);
  st.life.store(kWorkerEmpty, std::memory_order_release);
  const uint32_t incarnation =
      st.incarnation.fetch_add(1, std::memory_order_relaxed) + 1;
  ws.kill_reason = kKillNone;
  ws.kill_ref = 0;
  ws.started_ns = MonotonicNanos();
  const Launched l =
      launcher_.Launch(w, WorkerName(options_.worker_name, w, incarnation));
  st.pid.store(static_cast<uint32_t>(l.pid), std::memory_order_release);
  std::lock_guard<std::mutex> lock(workers_mu_);
  ws.live = true;
  ws.pid = l.pid;
  ws.exit_fd = l.exit_fd;
}

void Supervisor::KillWorker(uint32_t w, uint32_t reason, uint64_t ref) {
  Worker& ws = workers_[w];
  if (!ws.live) return;
  if (ws.kill_reason == kKillNone || reason == kKillTerminate) {
    ws.kill_reason = reason;
    ws.kill_ref = ref;
  }
  launcher_.Stop(w);
}

int64_t Supervisor::CheckTimeouts() {
  if (table_.timed_tasks() == 0) return kNever;
  const int64_t now = MonotonicNanos();
  int64_t next = kNever;
  for (uint32_t w = 0; w < workers_.size(); ++w) {
    Worker& ws = workers_[w];
    if (!ws.live || ws.kill_reason != kKillNone) continue;
    WorkerStatus& st = view_.status(w);
    const uint64_t cur = st.current.load(std::memory_order_acquire);
    if (!IsTaskRef(cur) || SlotOfRef(cur) >= view_.slots()) continue;
    const int64_t started = st.started_ns.load(std::memory_order_relaxed);
    if (st.current.load(std::memory_order_acquire) != cur) continue;
    TaskSlot& t = view_.slot(SlotOfRef(cur));
    const uint32_t s = t.state.load(std::memory_order_acquire);
    if (GenOf(s) != GenOfRef(cur) || PhaseOf(s) != kPhaseRunning) continue;
    const int64_t limit = t.timeout_ns;
    if (limit <= 0) continue;
    // started comes from shared memory: add without overflowing.
    int64_t end = 0;
    if (__builtin_add_overflow(started, limit, &end)) end = INT64_MAX;
    if (now >= end) {
      KillWorker(w, kKillTimeout, cur);
    } else {
      next = std::min(next, end);
    }
  }
  // A queued task with a limit cannot run out before now + its limit; look
  // again then (it will have started, and its real deadline is known).
  for (uint32_t i = 0; i < view_.slots(); ++i) {
    TaskSlot& t = view_.slot(i);
    if (PhaseOf(t.state.load(std::memory_order_acquire)) != kPhaseQueued) {
      continue;
    }
    const int64_t limit = t.timeout_ns;
    int64_t end = 0;
    if (limit > 0 && !__builtin_add_overflow(now, limit, &end)) {
      next = std::min(next, end);
    }
  }
  return next;
}

void Supervisor::OnWorkerExit(uint32_t w) {
  Worker& ws = workers_[w];
  WorkerStatus& st = view_.status(w);
  const pid_t pid = ws.pid;
  const uint32_t life = st.life.load(std::memory_order_acquire);
  const uint32_t reason = st.exit_reason.load(std::memory_order_acquire);

  // What the worker had taken: ring entries still held under its pid, and
  // its status record. (Before reaping, so the pid cannot be reused yet.
  // Threads share our pid and leave nothing held.)
  std::vector<uint64_t> refs;
  if (launcher_.processes()) view_.ring().TakeFromDead(pid, &refs);
  const uint64_t cur = st.current.exchange(0, std::memory_order_acq_rel);
  if (IsTaskRef(cur)) refs.push_back(cur);
  std::sort(refs.begin(), refs.end());
  refs.erase(std::unique(refs.begin(), refs.end()), refs.end());
  // Now the pid may go (it can no longer be mistaken for a live holder).
  const ExitStatus exit = launcher_.Reap(w);

  const bool abrupt = reason == kExitNone && life != kWorkerInitFailed;
  if (abrupt && options_.break_on_worker_death && !state_.terminating() &&
      ws.kill_reason == kKillNone) {
    Break("a worker process (" + DescribeExit(pid, exit) +
              ") terminated abruptly while the future was running or pending",
          std::nullopt);
  }
  // Off the worker list first: whoever learns of the death from a failed
  // task (WorkerLost) must no longer see the dead pid in worker_pids().
  {
    std::lock_guard<std::mutex> lock(workers_mu_);
    ws.live = false;
    ws.pid = 0;
    ws.exit_fd = -1;
  }
  for (uint64_t ref : refs) Settle(ref, w, pid, exit);
  st.pid.store(0, std::memory_order_relaxed);
  st.life.store(kWorkerEmpty, std::memory_order_release);

  PoolShared* s = view_.shared();
  if (life == kWorkerInitFailed ||
      (exit.exit_code == kInitFailedExitCode &&
       s->init_error_state.load() == 2)) {
    std::optional<ErrorRecord> cause;
    if (s->init_error_state.load(std::memory_order_acquire) == 2) {
      try {
        cause = DecodeErrorRecord(view_.init_error_area(),
                                  std::min<uint32_t>(s->init_error_size,
                                                     kInitErrorCapacity));
      } catch (...) {
      }
    }
    std::string what =
        "the initializer failed in " + DescribeExit(pid, exit);
    if (cause) what += ": " + cause->type_name + ": " + cause->message;
    Break(what, cause);
    return;
  }
  if (exit.signal == 0 && exit.exit_code == kSpawnedWithoutInitExitCode &&
      life != kWorkerReady && life != kWorkerExiting &&
      !state_.terminating()) {
    // Said once, here, rather than by every worker (spawn.cc).
    Break("the spawn start method runs this program again in each worker, "
          "and its main() did not call shoal::init(argc, argv) first: call "
          "it at the top of main(); in a spawned worker it runs the worker "
          "and never returns",
          std::nullopt);
    return;
  }
  if (life != kWorkerReady && life != kWorkerExiting &&
      ws.kill_reason != kKillTerminate && !state_.terminating()) {
    const bool killed = exit.signal != 0;
    if (killed ? ++startup_kills_ >= kMaxStartupKills
               : ++startup_failures_ >= kMaxStartupFailures) {
      Break("workers keep dying before they start (last: " +
                DescribeExit(pid, exit) +
                "); with the spawn start method, does main() call "
                "shoal::init(argc, argv) first?",
            std::nullopt);
    }
  } else if (life == kWorkerReady || life == kWorkerExiting) {
    startup_failures_ = 0;
    startup_kills_ = 0;
  }
}

void Supervisor::Settle(uint64_t ref, uint32_t w, pid_t pid,
                        const ExitStatus& exit) {
  const uint32_t slot = SlotOfRef(ref);
  const uint32_t gen = GenOfRef(ref);
  if (slot >= view_.slots()) return;
  TaskSlot& t = view_.slot(slot);
  const uint32_t s = t.state.load(std::memory_order_acquire);
  if (GenOf(s) != gen) return;
  const Worker& ws = workers_[w];
  if (PhaseOf(s) == kPhaseQueued) {
    // Taken but never started: it runs on another worker, exactly once.
    if (state_.terminating()) {
      view_.Complete(slot, gen, kPhaseQueued, kPhaseCancelled);
    } else if (state_.broken()) {
      view_.Complete(slot, gen, kPhaseQueued, kPhaseBroken);
    } else {
      requeue_.push_back(ref);
    }
    return;
  }
  if (PhaseOf(s) != kPhaseRunning) return;
  uint32_t to = kPhaseLost;
  if (state_.terminating() || ws.kill_reason == kKillTerminate) {
    to = kPhaseCancelled;
  } else if (ws.kill_reason == kKillTimeout && ws.kill_ref == ref) {
    to = kPhaseTimeout;
  } else if (ws.kill_reason == kKillCancel && ws.kill_ref == ref) {
    to = kPhaseCancelled;
  } else if (state_.broken()) {
    to = kPhaseBroken;
  }
  t.lost_pid = pid;
  t.lost_signal = exit.signal;
  t.lost_exit_code = exit.signal > 0 ? -1 : exit.exit_code;
  view_.Complete(slot, gen, kPhaseRunning, to);
}

int64_t Supervisor::RetryRequeues() {
  if (requeue_.empty()) return kNever;
  std::vector<uint64_t> left;
  for (uint64_t ref : requeue_) {
    if (!table_.Requeue(ref)) left.push_back(ref);
  }
  requeue_.swap(left);
  if (requeue_.empty()) {
    requeue_backoff_ = kRequeueBackoffMin;
    return kNever;
  }
  // The ring entry is still held by a reader between its claim and release
  // (a few instructions, unless it was stopped there): try again shortly,
  // backing off. A dead holder's entries come back through its exit.
  const int64_t at = MonotonicNanos() + requeue_backoff_;
  requeue_backoff_ = std::min(2 * requeue_backoff_, kRequeueBackoffMax);
  return at;
}

void Supervisor::Break(const std::string& reason,
                       std::optional<ErrorRecord> cause) {
  if (!state_.Break(reason, std::move(cause))) return;
  view_.ring().Close();
  // Running tasks end BROKEN when their workers' deaths come in.
  for (uint32_t w = 0; w < workers_.size(); ++w) {
    if (workers_[w].live) launcher_.Stop(w);
  }
  table_.FailAllQueued(kPhaseBroken);
  for (uint64_t ref : requeue_) {
    view_.Complete(SlotOfRef(ref), GenOfRef(ref), kPhaseQueued, kPhaseBroken);
  }
  requeue_.clear();
  table_.WakeSubmitters();
}

}  // namespace shoal::internal
