#include "shoal/pool/internal/engine.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>

#include "shoal/base/errors.h"
#include "shoal/base/internal/clock.h"
#include "shoal/base/internal/futex.h"
#include "shoal/base/internal/spin.h"
#include "shoal/ipc/layout.h"
#include "shoal/pool/internal/identity.h"
#include "shoal/pool/internal/spawn.h"
#include "shoal/pool/internal/worker.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace shoal::internal {
namespace {

constexpr uint32_t kKillNone = 0;
constexpr uint32_t kKillTimeout = 1;
constexpr uint32_t kKillCancel = 2;
constexpr uint32_t kKillTerminate = 3;

constexpr int kMaxStartupFailures = 3;
// Workers killed by a signal before they were ready. An external kill (the
// OOM killer, an operator, a chaos test) is not evidence that the pool cannot
// start workers, so it takes many more in a row before the pool gives up.
constexpr int kMaxStartupKills = 64;
constexpr auto kSpawnStartupLimit = std::chrono::seconds(30);

int PidfdOpen(pid_t pid) {
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
}

int PidfdSignal(int pidfd, int sig) {
  return static_cast<int>(
      syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

std::string SignalName(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev != nullptr ? std::string("SIG") + abbrev
                           : "signal " + std::to_string(sig);
}

// "worker pid 123 was killed by SIGKILL" / "... exited with code 3".
std::string DescribeExit(pid_t pid, int signal, int exit_code) {
  std::string s = "worker pid " + std::to_string(pid);
  if (signal > 0) return s + " was killed by " + SignalName(signal);
  if (exit_code >= 0) return s + " exited with code " + std::to_string(exit_code);
  return s + " exited (status unknown)";
}

uint32_t NextGen(uint32_t gen) {
  uint32_t g = (gen + 1) & kGenMask;
  return g == 0 ? 1 : g;
}

void BlockAllSignalsInThisThread() {
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
}

// The spawned pool worker: args = [worker index, parent pid, name].
int SpawnedPoolWorker(const std::vector<std::string>& args) {
  if (args.size() < 3) {
    std::fprintf(stderr, "shoal: pool worker: bad arguments\n");
    return 72;
  }
  const uint32_t index = static_cast<uint32_t>(ParseLong(args[0]));
  const pid_t parent = static_cast<pid_t>(ParseLong(args[1]));
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) return 0;  // the parent died before we got here
  Region region = Region::FromFd(kFirstPassedFd, PoolRegionLayout());
  close(kFirstPassedFd);
  PoolView view = PoolView::Attach(region.payload(), region.payload_size());
  if (view.shared()->parent_pid != static_cast<uint32_t>(parent)) {
    throw InvalidRegion("pool region: parent pid mismatch");
  }
  BecomeChild(args[2], /*daemon=*/true, {}, parent, "MainProcess");
  WorkerContext ctx;
  ctx.index = index;
  return RunWorker(view, ctx);
}

const bool kRegistered = RegisterSpawnEntry("pool", &SpawnedPoolWorker);

}  // namespace

RegionLayout PoolRegionLayout() {
  return LayoutOf<PoolShared>("shoal::pool", kPoolLayoutVersion);
}

// ---------------------------------------------------------------------------
// Construction and teardown.

Engine::Engine(const EngineOptions& options) : options_(options) {}

std::shared_ptr<Engine> Engine::Start(const EngineOptions& options) {
  (void)kRegistered;
  if (options.workers == 0) {
    throw ValueError("Number of processes must be at least 1");
  }
  if (!options.threads) {
    CheckNotUninitializedSpawnChild();
    if (CurrentIdentity().daemon) {
      throw ValueError("daemonic processes are not allowed to have children");
    }
  } else if (options.default_timeout.count() > 0 ||
             options.max_memory_per_child != 0) {
    throw ValueError(
        "a ThreadPool cannot enforce task timeouts or max_memory_per_child "
        "(threads cannot be killed)");
  }
  std::shared_ptr<Engine> e(new Engine(options));
  e->Init();
  return e;
}

void Engine::Init() {
  parent_pid_ = getpid();
  PoolGeometry g;
  g.workers = options_.workers;
  g.slots = options_.slots != 0 ? options_.slots : kDefaultSlots;
  const uint32_t inl =
      options_.inline_bytes != 0 ? options_.inline_bytes : kDefaultInline;
  g.in_inline = inl;
  g.out_inline = inl;
  g.init_bytes = (options_.init_payload.size() + 63) / 64 * 64;
  g.heap_bytes =
      options_.heap_bytes != 0 ? options_.heap_bytes : kDefaultHeapBytes;
  const std::size_t bytes = PoolView::BytesFor(g);
  RegionOptions ro;
  ro.kind = options_.threads ? RegionKind::kAnonymous : RegionKind::kMemfd;
  ro.name = "shoal-pool";
  // Everything but the heap's data is reserved now; the heap as it grows.
  region_ = Region::Create(bytes, PoolRegionLayout(), ro,
                           bytes - std::min<uint64_t>(bytes, g.heap_bytes));
  view_ = PoolView::Create(region_.payload(), region_.payload_size(), g);
  PoolShared* s = view_.shared();
  s->max_tasks_per_child = options_.max_tasks_per_child;
  s->max_memory_per_child = options_.max_memory_per_child;
  s->parent_pid = static_cast<uint32_t>(parent_pid_);
  if (options_.has_initializer) {
    s->has_initializer = 1;
    s->init_invoker = options_.init_invoker;
    s->init_size = options_.init_payload.size();
    std::memcpy(view_.init_area(), options_.init_payload.data(),
                options_.init_payload.size());
  }
  region_.PublishReady();

  meta_.resize(g.slots);
  free_.reserve(g.slots);
  // LIFO: the most recently used (cache-hot) slot is reused first.
  for (uint32_t i = g.slots; i-- > 0;) free_.push_back(i);
  workers_.resize(options_.workers);

  cmd_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (cmd_fd_ < 0) ThrowSystemError("eventfd", errno);

  // The monitor first: with the fork method it forks the fork server before
  // the handler thread exists (fork_server.h).
  monitor_ = std::thread([this] {
    BlockAllSignalsInThisThread();
    MonitorMain();
  });
  {
    std::unique_lock<std::mutex> lock(server_mu_);
    server_cv_.wait(lock, [&] { return server_started_; });
  }
  handler_ = std::thread([this] {
    BlockAllSignalsInThisThread();
    HandlerMain();
  });
  handler_id_ = handler_.get_id();
}

Engine::~Engine() {
  if (monitor_.joinable() || handler_.joinable()) {
    if (state_.load() != kTerminating) Terminate();
    Join(Deadline::Infinite());
  }
  if (cmd_fd_ >= 0) close(cmd_fd_);
}

void Engine::Post(Command c) {
  {
    std::lock_guard<std::mutex> lock(cmd_mu_);
    cmds_.push_back(c);
  }
  const uint64_t one = 1;
  ssize_t n = write(cmd_fd_, &one, sizeof(one));
  (void)n;
}

bool Engine::accepting() const {
  return state_.load(std::memory_order_acquire) == kRunning && !broken();
}

std::exception_ptr Engine::BrokenError() const {
  std::lock_guard<std::mutex> lock(broken_mu_);
  const std::string msg = "the pool is broken: " + broken_reason_;
  if (!broken_cause_) return std::make_exception_ptr(BrokenPool(msg));
  // BrokenPool carrying the cause (the initializer's error) as its nested
  // exception: std::rethrow_if_nested(e) rethrows the original type.
  try {
    std::rethrow_exception(ToExceptionPtr(*broken_cause_));
  } catch (...) {
    try {
      std::throw_with_nested(BrokenPool(msg));
    } catch (...) {
      return std::current_exception();
    }
  }
}

// ---------------------------------------------------------------------------
// Submitting and collecting.

std::optional<TaskRef> Engine::Submit(const SubmitSpec& spec,
                                      const Deadline& deadline) {
  if (broken()) std::rethrow_exception(BrokenError());
  if (state_.load(std::memory_order_acquire) != kRunning) {
    throw ValueError("Pool not running");
  }
  uint32_t slot;
  {
    std::unique_lock<std::mutex> lock(mu_);
    while (free_.empty()) {
      if (broken()) {
        lock.unlock();
        std::rethrow_exception(BrokenError());
      }
      if (state_.load(std::memory_order_acquire) != kRunning) {
        throw ValueError("Pool not running");
      }
      if (deadline.expired()) return std::nullopt;
      lock.unlock();
      CollectEverything();
      lock.lock();
      if (!free_.empty()) break;
      if (InHandlerThread()) {
        // A callback submitting while every slot waits for the handler:
        // do the handler's collecting here instead of waiting for ourselves.
        lock.unlock();
        HandlerPass(/*run_callbacks=*/false);
        lock.lock();
        if (!free_.empty()) break;
        free_cv_.wait_for(lock, std::chrono::milliseconds(1));
        continue;
      }
      if (deadline.infinite()) {
        free_cv_.wait_for(lock, std::chrono::milliseconds(100));
      } else {
        free_cv_.wait_until(lock, std::min(deadline.when(),
                                           Deadline::Clock::now() +
                                               std::chrono::milliseconds(100)));
      }
    }
    slot = free_.back();
    free_.pop_back();
  }
  TaskSlot& t = view_.slot(slot);
  const uint32_t gen = GenOf(t.state.load(std::memory_order_acquire));
  auto give_back = [&] {
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(slot);
    free_cv_.notify_one();
  };
  t.invoker = spec.invoker;
  t.in_size = spec.size;
  t.out_size = 0;
  t.out_where = kWhereInline;
  t.lost_pid = t.lost_signal = t.lost_exit_code = t.ran_pid = 0;
  const int64_t timeout =
      spec.timeout.count() < 0 ? options_.default_timeout.count()
                               : spec.timeout.count();
  if (timeout > 0 && options_.threads) {
    give_back();
    throw ValueError("a ThreadPool cannot enforce task timeouts");
  }
  t.timeout_ns = timeout > 0 ? timeout : 0;
  try {
    if (spec.size <= view_.in_inline()) {
      t.in_where = kWhereInline;
      spec.write(std::span<std::byte>(view_.slot_in(slot), spec.size));
    } else {
      BlockHeap& heap = view_.heap();
      if (spec.size > heap.capacity()) {
        throw SerializationError(
            "task arguments of " + std::to_string(spec.size) +
            " bytes are larger than the pool's shared heap (" +
            std::to_string(heap.capacity()) +
            " bytes): raise PoolOptions::shared_heap_bytes");
      }
      std::optional<uint64_t> off = heap.Allocate(spec.size, Deadline::Now());
      if (!off && !deadline.expired()) {
        // Results nobody collected yet may hold the heap: have them moved.
        CollectEverything();
        while (!off && !deadline.expired()) {
          if (InHandlerThread()) HandlerPass(/*run_callbacks=*/false);
          off = heap.Allocate(
              spec.size,
              Deadline::Min(deadline, Deadline(std::chrono::milliseconds(50))));
          if (broken()) break;
        }
      }
      if (!off) {
        give_back();
        return std::nullopt;
      }
      t.in_block_len.store(spec.size, std::memory_order_relaxed);
      t.in_block.store(*off + 1, std::memory_order_release);
      t.in_where = kWhereHeap;
      spec.write(std::span<std::byte>(heap.At(*off, spec.size), spec.size));
    }
  } catch (...) {
    const uint64_t b = t.in_block.exchange(0);
    if (b != 0) view_.heap().Free(b - 1, t.in_block_len.load());
    give_back();
    throw;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    SlotMeta& m = meta_[slot];
    m.job = spec.job;
    m.index = spec.index;
    m.gen = gen;
    m.collecting = false;
    m.timed = timeout > 0;
  }
  if (timeout > 0) {
    timed_tasks_.fetch_add(1, std::memory_order_relaxed);
    Post({Cmd::kWake});
  }
  t.state.store(MakeSlotState(gen, spec.notify ? kFlagNotify : 0, kPhaseQueued),
                std::memory_order_release);
  const uint64_t ref = MakeTaskRef(slot, gen);
  {
    std::lock_guard<std::mutex> lock(push_mu_);
    view_.ring().Push(ref);
  }
  // The pool may have broken or been terminated while we pushed, after the
  // monitor's sweep of queued tasks: fail the task ourselves then.
  if (broken()) {
    view_.Complete(slot, gen, kPhaseQueued, kPhaseBroken);
  } else if (state_.load(std::memory_order_seq_cst) == kTerminating) {
    view_.Complete(slot, gen, kPhaseQueued, kPhaseCancelled);
  }
  return TaskRef{slot, gen};
}

bool Engine::IsDone(TaskRef ref) const {
  const uint32_t s = view_.slot(ref.slot).state.load(std::memory_order_acquire);
  return GenOf(s) != ref.gen || IsTerminal(s);
}

bool Engine::IsRunning(TaskRef ref) const {
  const uint32_t s = view_.slot(ref.slot).state.load(std::memory_order_acquire);
  return GenOf(s) == ref.gen && PhaseOf(s) == kPhaseRunning;
}

bool Engine::WaitDone(TaskRef ref, const Deadline& deadline) {
  TaskSlot& t = view_.slot(ref.slot);
  auto done = [&](uint32_t s) { return GenOf(s) != ref.gen || IsTerminal(s); };
  uint32_t s = t.state.load(std::memory_order_acquire);
  if (done(s)) return true;
  if (SpinUntil(view_.shared()->result_spin, [&] {
        return done(t.state.load(std::memory_order_acquire));
      })) {
    return true;
  }
  for (;;) {
    s = t.state.load(std::memory_order_acquire);
    if (done(s)) return true;
    if ((s & kFlagWaiter) == 0) {
      if (!t.state.compare_exchange_weak(s, s | kFlagWaiter,
                                         std::memory_order_seq_cst)) {
        continue;
      }
      s |= kFlagWaiter;
    }
    if (deadline.expired()) return false;
    FutexWait(&t.state, s, deadline);
  }
}

void Engine::Collect(TaskRef ref) {
  std::shared_ptr<Job> job;
  uint32_t index;
  {
    std::lock_guard<std::mutex> lock(mu_);
    SlotMeta& m = meta_[ref.slot];
    if (m.gen != ref.gen || !m.job || m.collecting) return;
    const uint32_t s = view_.slot(ref.slot).state.load(std::memory_order_acquire);
    if (GenOf(s) != ref.gen || !IsTerminal(s)) return;
    m.collecting = true;
    job = m.job;
    index = m.index;
  }
  const uint32_t s = view_.slot(ref.slot).state.load(std::memory_order_acquire);
  Deliver(job, index, ref, PhaseOf(s));
  Recycle(ref.slot, ref.gen);
}

void Engine::Deliver(const std::shared_ptr<Job>& job, uint32_t index,
                     TaskRef ref, uint32_t phase) {
  TaskSlot& t = view_.slot(ref.slot);
  std::exception_ptr error;
  switch (phase) {
    case kPhaseOk:
      try {
        job->OnResult(index, view_.Output(ref.slot));
        return;
      } catch (...) {
        error = std::current_exception();
      }
      break;
    case kPhaseError:
      try {
        std::span<const std::byte> bytes = view_.Output(ref.slot);
        error = ToExceptionPtr(DecodeErrorRecord(bytes.data(), bytes.size()));
      } catch (...) {
        error = std::current_exception();
      }
      break;
    case kPhaseLost: {
      const std::string what = DescribeExit(t.lost_pid, t.lost_signal,
                                            t.lost_exit_code) +
                               " while running the task";
      error = std::make_exception_ptr(
          WorkerLost(what, t.lost_pid, t.lost_signal, t.lost_exit_code));
      break;
    }
    case kPhaseTimeout:
      error = std::make_exception_ptr(TimeoutError(
          "the task ran longer than its timeout of " +
          std::to_string(t.timeout_ns / 1'000'000) + " ms; worker pid " +
          std::to_string(t.lost_pid) + " was killed and replaced"));
      break;
    case kPhaseCancelled:
      error = std::make_exception_ptr(CancelledError(
          t.lost_pid != 0 ? "the task was cancelled while running (worker pid " +
                                std::to_string(t.lost_pid) + " was killed)"
                          : "the task was cancelled"));
      break;
    case kPhaseBroken:
    default:
      error = BrokenError();
      break;
  }
  job->OnError(index, error, phase == kPhaseCancelled);
}

void Engine::Recycle(uint32_t slot, uint32_t gen) {
  TaskSlot& t = view_.slot(slot);
  BlockHeap& heap = view_.heap();
  const uint64_t in = t.in_block.exchange(0, std::memory_order_acq_rel);
  if (in != 0) heap.Free(in - 1, t.in_block_len.load(std::memory_order_relaxed));
  const uint64_t out = t.out_block.exchange(0, std::memory_order_acq_rel);
  if (out != 0) {
    heap.Free(out - 1, t.out_block_len.load(std::memory_order_relaxed));
  }
  const uint32_t next = NextGen(gen);
  t.state.store(MakeSlotState(next, 0, kPhaseFree), std::memory_order_release);
  std::shared_ptr<Job> drop;
  {
    std::lock_guard<std::mutex> lock(mu_);
    SlotMeta& m = meta_[slot];
    drop = std::move(m.job);
    if (m.timed) timed_tasks_.fetch_sub(1, std::memory_order_relaxed);
    m.timed = false;
    m.collecting = false;
    m.gen = next;
    free_.push_back(slot);
  }
  free_cv_.notify_one();
  // `drop` (perhaps the last reference to the job) goes here, unlocked.
}

void Engine::Watch(TaskRef ref) {
  TaskSlot& t = view_.slot(ref.slot);
  uint32_t s = t.state.load(std::memory_order_acquire);
  for (;;) {
    if (GenOf(s) != ref.gen) return;  // collected already
    if (IsTerminal(s)) {
      Collect(ref);
      return;
    }
    if ((s & kFlagNotify) != 0) return;
    if (t.state.compare_exchange_weak(s, s | kFlagNotify,
                                      std::memory_order_seq_cst)) {
      return;
    }
  }
}

bool Engine::Cancel(TaskRef ref, bool kill_running) {
  TaskSlot& t = view_.slot(ref.slot);
  for (;;) {
    const uint32_t s = t.state.load(std::memory_order_acquire);
    if (GenOf(s) != ref.gen || IsTerminal(s)) return false;
    if (PhaseOf(s) == kPhaseQueued) {
      if (view_.Complete(ref.slot, ref.gen, kPhaseQueued, kPhaseCancelled)) {
        Collect(ref);
        return true;
      }
      continue;  // it just started running
    }
    if (PhaseOf(s) != kPhaseRunning || !kill_running || options_.threads) {
      return false;
    }
    Post({Cmd::kKill, 0, MakeTaskRef(ref.slot, ref.gen)});
    // The monitor kills the worker; its death ends the task as cancelled,
    // unless the task finished first.
    WaitDone(ref, Deadline(std::chrono::seconds(30)));
    const uint32_t after = t.state.load(std::memory_order_acquire);
    const bool cancelled =
        GenOf(after) == ref.gen && PhaseOf(after) == kPhaseCancelled;
    Collect(ref);
    return cancelled;
  }
}

void Engine::ScheduleCallbacks(std::shared_ptr<Job> job) {
  {
    std::lock_guard<std::mutex> lock(cb_mu_);
    if (!handler_stopped_.load(std::memory_order_acquire)) {
      callbacks_.push_back(std::move(job));
      view_.KickHandler();
      return;
    }
  }
  job->RunCallbacks(state_.load() != kTerminating);
}

bool Engine::InHandlerThread() const {
  return std::this_thread::get_id() == handler_id_;
}

// ---------------------------------------------------------------------------
// Lifecycle.

void Engine::Close() {
  int expected = kRunning;
  if (state_.compare_exchange_strong(expected, kClosed)) {
    view_.ring().Close();
    Post({Cmd::kWake});
  }
}

void Engine::Terminate() {
  const int prev = state_.exchange(kTerminating);
  if (prev == kTerminating) return;
  view_.ring().Close();
  Post({Cmd::kTerminate});
}

void Engine::CancelPending() { FailAllQueued(kPhaseCancelled); }

void Engine::CollectEverything() {
  for (uint32_t i = 0; i < view_.slots(); ++i) {
    const uint32_t s = view_.slot(i).state.load(std::memory_order_acquire);
    const uint32_t phase = PhaseOf(s);
    if (phase == kPhaseFree) continue;
    if ((s & kFlagNotify) == 0) Watch(TaskRef{i, GenOf(s)});
  }
}

void Engine::FailAllQueued(uint32_t to) {
  for (uint32_t i = 0; i < view_.slots(); ++i) {
    const uint32_t s = view_.slot(i).state.load(std::memory_order_acquire);
    if (PhaseOf(s) == kPhaseQueued) {
      view_.Complete(i, GenOf(s), kPhaseQueued, to);
    }
  }
}

bool Engine::Join(const Deadline& deadline) {
  std::lock_guard<std::mutex> join_lock(join_mu_);
  if (joined_) return true;
  if (state_.load() == kRunning) {
    throw ValueError("join() needs close() or terminate() first");
  }
  {
    std::unique_lock<std::mutex> lock(done_mu_);
    while (!monitor_done_) {
      if (deadline.infinite()) {
        done_cv_.wait(lock);
      } else if (done_cv_.wait_until(lock, deadline.when()) ==
                     std::cv_status::timeout &&
                 !monitor_done_) {
        return false;
      }
    }
  }
  if (monitor_.joinable()) monitor_.join();
  handler_stop_.store(true, std::memory_order_release);
  view_.KickHandler();
  if (handler_.joinable()) {
    if (InHandlerThread()) {
      handler_.detach();  // joined from a callback: cannot wait for ourselves
    } else {
      handler_.join();
    }
  }
  // Whatever finished and nobody collected: deliver it now (terminated
  // tasks get their CancelledError), so no result ever waits forever.
  for (uint32_t i = 0; i < view_.slots(); ++i) {
    const uint32_t s = view_.slot(i).state.load(std::memory_order_acquire);
    if (IsTerminal(s)) Collect(TaskRef{i, GenOf(s)});
  }
  joined_ = true;
  return true;
}

std::vector<pid_t> Engine::WorkerPids() const {
  std::lock_guard<std::mutex> lock(workers_mu_);
  std::vector<pid_t> out;
  for (const WorkerSlot& w : workers_) {
    if (w.live && w.pid > 0) out.push_back(w.pid);
  }
  return out;
}

std::size_t Engine::LiveWorkers() const {
  std::lock_guard<std::mutex> lock(workers_mu_);
  std::size_t n = 0;
  for (const WorkerSlot& w : workers_) n += w.live ? 1 : 0;
  return n;
}

// ---------------------------------------------------------------------------
// The handler thread.

void Engine::CollectNotified(uint32_t slot) {
  const uint32_t s = view_.slot(slot).state.load(std::memory_order_acquire);
  if (IsTerminal(s)) Collect(TaskRef{slot, GenOf(s)});
}

bool Engine::HandlerPass(bool run_callbacks) {
  bool work = false;
  if (view_.shared()->sweep_requested.load(std::memory_order_relaxed) != 0 &&
      view_.shared()->sweep_requested.exchange(0) != 0) {
    CollectEverything();
  }
  view_.DrainNotify([&](uint32_t slot) {
    work = true;
    CollectNotified(slot);
  });
  if (run_callbacks) {
    std::deque<std::shared_ptr<Job>> jobs;
    {
      std::lock_guard<std::mutex> lock(cb_mu_);
      jobs.swap(callbacks_);
    }
    for (auto& j : jobs) {
      work = true;
      j->RunCallbacks(state_.load() != kTerminating);
    }
  }
  return work;
}

void Engine::HandlerMain() {
  PoolShared* s = view_.shared();
  for (;;) {
    s->handler_waiting.store(1, std::memory_order_seq_cst);
    const uint32_t seq = s->notify_seq.load(std::memory_order_seq_cst);
    const bool stop = handler_stop_.load(std::memory_order_acquire);
    const bool work = HandlerPass(true);
    if (stop && !work) break;
    if (!work) {
      FutexWait(&s->notify_seq, seq, Deadline(std::chrono::milliseconds(200)));
    }
    s->handler_waiting.store(0, std::memory_order_relaxed);
  }
  s->handler_waiting.store(0, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(cb_mu_);
    handler_stopped_.store(true, std::memory_order_release);
  }
  // Anything scheduled between the last pass and the flag.
  HandlerPass(true);
}

// ---------------------------------------------------------------------------
// The monitor thread.

void Engine::MonitorMain() {
  if (!options_.threads && options_.method == StartMethod::kFork) {
    try {
      fork_server_.Start([this](uint32_t w, pid_t server) {
        ForkedChild(w, server);
      });
    } catch (const std::exception& e) {
      Break(std::string("cannot start the fork server: ") + e.what(),
            std::nullopt);
    }
  }
  {
    std::lock_guard<std::mutex> lock(server_mu_);
    server_started_ = true;
  }
  server_cv_.notify_all();
  Maintain();
  std::vector<pollfd> fds;
  std::vector<uint32_t> who;
  for (;;) {
    fds.clear();
    who.clear();
    fds.push_back({cmd_fd_, POLLIN, 0});
    {
      for (uint32_t w = 0; w < workers_.size(); ++w) {
        if (workers_[w].live && workers_[w].pidfd >= 0) {
          fds.push_back({workers_[w].pidfd, POLLIN, 0});
          who.push_back(w);
        }
      }
    }
    int timeout_ms = 1000;
    if (!requeue_.empty()) timeout_ms = 1;
    if (timed_tasks_.load(std::memory_order_relaxed) > 0) {
      timeout_ms = std::min(timeout_ms, 5);
    }
    int n = poll(fds.data(), fds.size(), timeout_ms);
    if (n < 0 && errno != EINTR) {
      std::perror("shoal: pool monitor: poll");
    }
    std::deque<Command> cmds;
    if (n > 0 && (fds[0].revents & POLLIN) != 0) {
      uint64_t v;
      ssize_t r = read(cmd_fd_, &v, sizeof(v));
      (void)r;
    }
    {
      std::lock_guard<std::mutex> lock(cmd_mu_);
      cmds.swap(cmds_);
    }
    for (const Command& c : cmds) {
      switch (c.cmd) {
        case Cmd::kWake:
          break;
        case Cmd::kThreadExited:
          if (c.worker < workers_.size() && workers_[c.worker].live) {
            OnWorkerExit(c.worker);
          }
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
            if (!workers_[w].live) continue;
            if (workers_[w].stop) workers_[w].stop->store(true);
            KillWorker(w, kKillTerminate, 0);
          }
          FailAllQueued(kPhaseCancelled);
          break;
      }
    }
    if (n > 0) {
      for (size_t i = 1; i < fds.size(); ++i) {
        if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
        OnWorkerExit(who[i - 1]);
      }
    }
    RetryRequeues();
    if (state_.load() == kTerminating) {
      FailAllQueued(kPhaseCancelled);
    } else {
      CheckTimeouts();
      Maintain();
    }
    if (MonitorShouldExit()) break;
  }
  fork_server_.Stop();
  {
    std::lock_guard<std::mutex> lock(done_mu_);
    monitor_done_ = true;
  }
  done_cv_.notify_all();
  view_.KickHandler();
}

bool Engine::MonitorShouldExit() {
  const int st = state_.load();
  bool any_live = false;
  for (const WorkerSlot& w : workers_) any_live |= w.live;
  if (any_live) return false;
  if (st == kTerminating) return true;
  if (broken()) return true;
  if (st == kClosed) return view_.ring().size() == 0 && requeue_.empty();
  return false;
}

void Engine::Maintain() {
  if (broken()) return;
  const int st = state_.load();
  if (st == kTerminating) return;
  uint32_t live = 0;
  for (const WorkerSlot& w : workers_) live += w.live ? 1 : 0;
  uint32_t want = options_.workers;
  if (st == kClosed) {
    // After close(): keep enough workers for what is left in the queue.
    const std::size_t left = view_.ring().size() + requeue_.size();
    want = static_cast<uint32_t>(std::min<std::size_t>(options_.workers, left));
  }
  for (uint32_t w = 0; w < workers_.size() && live < want; ++w) {
    if (workers_[w].live) continue;
    try {
      SpawnWorker(w);
      ++live;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "shoal: cannot start a pool worker: %s\n", e.what());
      if (live == 0) {
        Break(std::string("cannot start workers: ") + e.what(), std::nullopt);
      }
      return;
    }
  }
  // Spawned workers that never attach (a main() without shoal::init that
  // does something else forever) are killed and counted as failures.
  if (options_.method == StartMethod::kSpawn && !options_.threads) {
    const int64_t now = MonotonicNanos();
    for (uint32_t w = 0; w < workers_.size(); ++w) {
      WorkerSlot& ws = workers_[w];
      if (ws.live && ws.kill_reason == kKillNone &&
          view_.status(w).life.load() == kWorkerEmpty &&
          now - ws.spawned_ns >
              std::chrono::nanoseconds(kSpawnStartupLimit).count()) {
        KillWorker(w, kKillTerminate, 0);
      }
    }
  }
}

void Engine::SpawnWorker(uint32_t w) {
  WorkerSlot& ws = workers_[w];
  WorkerStatus& st = view_.status(w);
  st.pid.store(0, std::memory_order_relaxed);
  st.current.store(0, std::memory_order_relaxed);
  st.exit_reason.store(kExitNone, std::memory_order_relaxed);
  st.life.store(kWorkerEmpty, std::memory_order_release);
  const uint32_t incarnation =
      st.incarnation.fetch_add(1, std::memory_order_relaxed) + 1;
  ws.kill_reason = kKillNone;
  ws.kill_ref = 0;
  ws.spawned_ns = MonotonicNanos();
  const std::string name = options_.worker_name + "-" + std::to_string(w + 1) +
                           (incarnation > 1 ? "." + std::to_string(incarnation)
                                            : std::string());
  if (options_.threads) {
    if (ws.thread.joinable()) ws.thread.join();
    ws.stop = std::make_unique<std::atomic<bool>>(false);
    std::atomic<bool>* stop = ws.stop.get();
    {
      std::lock_guard<std::mutex> lock(workers_mu_);
      ws.live = true;
      ws.pid = getpid();
    }
    st.pid.store(static_cast<uint32_t>(getpid()), std::memory_order_relaxed);
    ws.thread = std::thread([this, w, stop] {
      WorkerContext ctx;
      ctx.index = w;
      ctx.is_thread = true;
      ctx.stop = stop;
      try {
        RunWorker(view_, ctx);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "shoal: thread worker failed: %s\n", e.what());
      }
      Post({Cmd::kThreadExited, w, 0});
    });
    return;
  }
  pid_t pid;
  bool via_server = false;
  if (options_.method == StartMethod::kFork) {
    if (!fork_server_.running()) {
      // The server died (OOM killer?): start another one.
      fork_server_.Start([this](uint32_t w2, pid_t server) {
        ForkedChild(w2, server);
      });
    }
    pid = fork_server_.Spawn(w);
    via_server = true;
  } else {
    pid = SpawnSelf("pool",
                    {std::to_string(w), std::to_string(parent_pid_), name},
                    {region_.fd()});
  }
  const int pidfd = PidfdOpen(pid);
  if (pidfd < 0) {
    const int err = errno;
    kill(pid, SIGKILL);
    if (via_server) {
      fork_server_.Reap(pid);
    } else {
      waitpid(pid, nullptr, 0);
    }
    ThrowSystemError("pidfd_open", err);
  }
  st.pid.store(static_cast<uint32_t>(pid), std::memory_order_release);
  std::lock_guard<std::mutex> lock(workers_mu_);
  ws.live = true;
  ws.pid = pid;
  ws.pidfd = pidfd;
  ws.via_server = via_server;
}

void Engine::ForkedChild(uint32_t w, pid_t parent) {
  // Forked by the fork server (single-threaded): touch nothing of the
  // parent's but the shared region and the worker code.
  sigset_t none;
  sigemptyset(&none);
  pthread_sigmask(SIG_SETMASK, &none, nullptr);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(0);
  const uint32_t incarnation = view_.status(w).incarnation.load();
  BecomeChild(options_.worker_name + "-" + std::to_string(w + 1) +
                  (incarnation > 1 ? "." + std::to_string(incarnation)
                                   : std::string()),
              /*daemon=*/true, {}, parent_pid_, CurrentIdentity().name);
  int rc = 70;
  try {
    WorkerContext ctx;
    ctx.index = w;
    ctx.parent_pid = parent;
    rc = RunWorker(view_, ctx);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "shoal: pool worker failed: %s\n", e.what());
  } catch (...) {
  }
  std::fflush(nullptr);
  _exit(rc);
}

void Engine::KillWorker(uint32_t w, uint32_t reason, uint64_t ref) {
  WorkerSlot& ws = workers_[w];
  if (!ws.live || options_.threads) return;
  if (ws.kill_reason == kKillNone || reason == kKillTerminate) {
    ws.kill_reason = reason;
    ws.kill_ref = ref;
  }
  PidfdSignal(ws.pidfd, SIGKILL);
}

void Engine::CheckTimeouts() {
  if (timed_tasks_.load(std::memory_order_relaxed) == 0 || options_.threads) {
    return;
  }
  const int64_t now = MonotonicNanos();
  for (uint32_t w = 0; w < workers_.size(); ++w) {
    WorkerSlot& ws = workers_[w];
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
    if (limit > 0 && now - started > limit) KillWorker(w, kKillTimeout, cur);
  }
}

void Engine::ReapWorker(uint32_t w, int* signal, int* exit_code) {
  WorkerSlot& ws = workers_[w];
  *signal = 0;
  *exit_code = -1;
  if (options_.threads) {
    if (ws.thread.joinable()) ws.thread.join();
    *exit_code = 0;
    return;
  }
  int status = -1;
  if (ws.via_server) {
    status = fork_server_.Reap(ws.pid);
  } else {
    siginfo_t si{};
    int rc;
    do {
      rc = waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(ws.pidfd),
                  &si, WEXITED);
    } while (rc != 0 && errno == EINTR);
    if (rc == 0 && si.si_pid != 0) {
      if (si.si_code == CLD_EXITED) {
        *exit_code = si.si_status;
      } else {
        *signal = si.si_status;
      }
    }
  }
  if (status >= 0) {
    if (WIFEXITED(status)) *exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) *signal = WTERMSIG(status);
  }
  close(ws.pidfd);
}

void Engine::OnWorkerExit(uint32_t w) {
  WorkerSlot& ws = workers_[w];
  WorkerStatus& st = view_.status(w);
  const pid_t pid = ws.pid;
  const uint32_t life = st.life.load(std::memory_order_acquire);
  const uint32_t reason = st.exit_reason.load(std::memory_order_acquire);

  // What the worker had taken: ring entries still held under its pid, and
  // its status record. (Before reaping, so the pid cannot be reused yet.)
  std::vector<uint64_t> refs;
  if (!options_.threads) view_.ring().TakeFromDead(pid, &refs);
  const uint64_t cur = st.current.exchange(0, std::memory_order_acq_rel);
  if (IsTaskRef(cur)) refs.push_back(cur);
  std::sort(refs.begin(), refs.end());
  refs.erase(std::unique(refs.begin(), refs.end()), refs.end());
  // Now the pid may go (it can no longer be mistaken for a live holder).
  int signal = 0, exit_code = -1;
  ReapWorker(w, &signal, &exit_code);

  const bool abrupt = reason == kExitNone && life != kWorkerInitFailed;
  if (abrupt && options_.break_on_worker_death && !options_.threads &&
      state_.load() != kTerminating && ws.kill_reason == kKillNone) {
    Break("a worker process (" + DescribeExit(pid, signal, exit_code) +
              ") terminated abruptly while the future was running or pending",
          std::nullopt);
  }
  // Off the worker list first: whoever learns of the death from a failed
  // task (WorkerLost) must no longer see the dead pid in worker_pids().
  {
    std::lock_guard<std::mutex> lock(workers_mu_);
    ws.live = false;
    ws.pid = 0;
    ws.pidfd = -1;
    ws.via_server = false;
  }
  for (uint64_t ref : refs) HandleOrphan(ref, w, pid, signal, exit_code, life);
  st.pid.store(0, std::memory_order_relaxed);
  st.life.store(kWorkerEmpty, std::memory_order_release);

  if (life == kWorkerInitFailed ||
      (exit_code == kInitFailedExitCode &&
       view_.shared()->init_error_state.load() == 2)) {
    std::optional<ErrorRecord> cause;
    PoolShared* s = view_.shared();
    if (s->init_error_state.load(std::memory_order_acquire) == 2) {
      try {
        cause = DecodeErrorRecord(view_.init_error_area(),
                                  std::min<uint32_t>(s->init_error_size,
                                                     kInitErrorCapacity));
      } catch (...) {
      }
    }
    std::string what = "the initializer failed in " +
                       DescribeExit(pid, signal, exit_code);
    if (cause) what += ": " + cause->type_name + ": " + cause->message;
    Break(what, cause);
    return;
  }
  if (life != kWorkerReady && life != kWorkerExiting &&
      ws.kill_reason != kKillTerminate && state_.load() != kTerminating) {
    const bool killed = signal != 0;
    if (killed ? ++startup_kills_ >= kMaxStartupKills
               : ++startup_failures_ >= kMaxStartupFailures) {
      Break("workers keep dying before they start (last: " +
                DescribeExit(pid, signal, exit_code) +
                "); with the spawn start method, does main() call "
                "shoal::init(argc, argv) first?",
            std::nullopt);
    }
  } else if (life == kWorkerReady || life == kWorkerExiting) {
    startup_failures_ = 0;
    startup_kills_ = 0;
  }
}

void Engine::HandleOrphan(uint64_t ref, uint32_t w, pid_t pid, int signal,
                          int exit_code, uint32_t life) {
  const uint32_t slot = SlotOfRef(ref);
  const uint32_t gen = GenOfRef(ref);
  if (slot >= view_.slots()) return;
  TaskSlot& t = view_.slot(slot);
  const uint32_t s = t.state.load(std::memory_order_acquire);
  if (GenOf(s) != gen) return;
  WorkerSlot& ws = workers_[w];
  if (PhaseOf(s) == kPhaseQueued) {
    // Taken but never started: it runs on another worker, exactly once.
    if (state_.load() == kTerminating) {
      view_.Complete(slot, gen, kPhaseQueued, kPhaseCancelled);
    } else if (broken()) {
      view_.Complete(slot, gen, kPhaseQueued, kPhaseBroken);
    } else {
      requeue_.push_back(ref);
    }
    return;
  }
  if (PhaseOf(s) != kPhaseRunning) return;
  uint32_t to = kPhaseLost;
  if (state_.load() == kTerminating || ws.kill_reason == kKillTerminate) {
    to = kPhaseCancelled;
  } else if (ws.kill_reason == kKillTimeout && ws.kill_ref == ref) {
    to = kPhaseTimeout;
  } else if (ws.kill_reason == kKillCancel && ws.kill_ref == ref) {
    to = kPhaseCancelled;
  } else if (broken()) {
    to = kPhaseBroken;
  }
  t.lost_pid = pid;
  t.lost_signal = signal;
  t.lost_exit_code = signal > 0 ? -1 : exit_code;
  view_.Complete(slot, gen, kPhaseRunning, to);
}

void Engine::RetryRequeues() {
  if (requeue_.empty()) return;
  std::vector<uint64_t> left;
  for (uint64_t ref : requeue_) {
    const uint32_t slot = SlotOfRef(ref);
    const uint32_t s = view_.slot(slot).state.load(std::memory_order_acquire);
    if (GenOf(s) != GenOfRef(ref) || PhaseOf(s) != kPhaseQueued) continue;
    bool pushed;
    {
      std::lock_guard<std::mutex> lock(push_mu_);
      // Never wait here: the entry may be held by another dead worker that
      // only this thread can recover.
      pushed = view_.ring().Push(ref, Deadline::Now());
    }
    if (!pushed) left.push_back(ref);
  }
  requeue_.swap(left);
}

void Engine::Break(const std::string& reason, std::optional<ErrorRecord> cause) {
  {
    std::lock_guard<std::mutex> lock(broken_mu_);
    if (broken_.load()) return;
    broken_reason_ = reason;
    broken_cause_ = std::move(cause);
    broken_.store(true, std::memory_order_seq_cst);
  }
  view_.ring().Close();
  for (uint32_t w = 0; w < workers_.size(); ++w) {
    if (workers_[w].live && !options_.threads) {
      // Their running tasks end as broken when their deaths come in.
      PidfdSignal(workers_[w].pidfd, SIGKILL);
    } else if (workers_[w].live && workers_[w].stop) {
      workers_[w].stop->store(true);
    }
  }
  FailAllQueued(kPhaseBroken);
  for (uint64_t ref : requeue_) {
    view_.Complete(SlotOfRef(ref), GenOfRef(ref), kPhaseQueued, kPhaseBroken);
  }
  requeue_.clear();
  {
    std::lock_guard<std::mutex> lock(mu_);
  }
  free_cv_.notify_all();
}

}  // namespace shoal::internal
