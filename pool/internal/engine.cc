#include "shoal/pool/internal/engine.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <thread>
#include <utility>

#include "shoal/base/errors.h"
#include "shoal/ipc/region.h"
#include "shoal/pool/internal/callback_thread.h"
#include "shoal/pool/internal/launcher.h"
#include "shoal/pool/internal/pool_state.h"
#include "shoal/pool/internal/pool_view.h"
#include "shoal/pool/internal/supervisor.h"
#include "shoal/pool/internal/task_table.h"

namespace shoal::internal {

// Declared in the order they are built; destroyed in reverse (threads
// first, the mapping last).
struct Engine::Parts {
  Region region;
  PoolView view;
  PoolState state;
  std::unique_ptr<Launcher> launcher;
  std::unique_ptr<TaskTable> table;
  std::unique_ptr<Supervisor> supervisor;
  std::unique_ptr<CallbackThread> callbacks;
  mutable std::mutex join_mu;
  bool joined = false;
  mutable std::mutex streams_mu;
  std::vector<std::weak_ptr<Stream>> streams;  // open ones (and expired)
  int open_streams = 0;

  // closing -> closed: the queue closes, workers leave once it is drained.
  void CloseQueue() {
    if (state.FinishClosing()) {
      view.ring().Close();
      supervisor->Wake();
    }
  }
};

Engine::Engine(std::unique_ptr<Parts> parts, uint32_t workers)
    : p_(std::move(parts)), workers_(workers) {}

std::shared_ptr<Engine> Engine::Start(const EngineOptions& options) {
  if (options.workers == 0) {
    throw ValueError("Number of processes must be at least 1");
  }
  // The one place that tells thread pools from process pools.
  const LaunchKind kind = options.threads ? LaunchKind::kThreads
                          : options.method == StartMethod::kFork
                              ? LaunchKind::kForkServer
                          : options.method == StartMethod::kForkServer
                              ? LaunchKind::kForkserver
                              : LaunchKind::kSpawn;
  CheckCanLaunch(kind, options.default_timeout.count() > 0 ||
                           options.max_memory_per_child != 0);

  auto p = std::make_unique<Parts>();
  PoolGeometry g;
  g.workers = options.workers;
  g.slots = options.slots != 0 ? options.slots : kDefaultSlots;
  const uint32_t inl =
      options.inline_bytes != 0 ? options.inline_bytes : kDefaultInline;
  g.in_inline = inl;
  g.out_inline = inl;
  g.init_bytes = (options.init_payload.size() + 63) / 64 * 64;
  g.heap_bytes = options.heap_bytes != 0 ? options.heap_bytes : kDefaultHeapBytes;
  RegionOptions ro;
  ro.kind = RegionKindFor(kind);
  ro.name = "shoal-pool";
  const std::size_t bytes = PoolView::BytesFor(g);
  // Everything but the heap's data is reserved now; the heap as it grows.
  p->region = Region::Create(bytes, PoolRegionLayout(), ro,
                             bytes - std::min<uint64_t>(bytes, g.heap_bytes));
  p->view = PoolView::Create(p->region.payload(), p->region.payload_size(), g);
  const pid_t parent = getpid();
  PoolShared* s = p->view.shared();
  s->max_tasks_per_child = options.max_tasks_per_child;
  s->max_memory_per_child = options.max_memory_per_child;
  s->parent_pid = static_cast<uint32_t>(parent);
  if (options.has_initializer) {
    s->has_initializer = 1;
    s->init_invoker = options.init_invoker;
    s->init_size = options.init_payload.size();
    std::memcpy(p->view.init_area(), options.init_payload.data(),
                options.init_payload.size());
  }
  p->region.PublishReady();

  LaunchContext lc;
  lc.view = &p->view;
  lc.region = &p->region;
  lc.parent_pid = parent;
  lc.worker_name = options.worker_name;
  lc.workers = options.workers;
  p->launcher = MakeLauncher(kind, lc);
  TaskTableOptions to;
  to.can_kill = p->launcher->processes();
  to.default_timeout = options.default_timeout;
  p->table = std::make_unique<TaskTable>(p->view, p->state, to);
  SupervisorOptions so;
  so.workers = options.workers;
  so.worker_name = options.worker_name;
  so.break_on_worker_death = options.break_on_worker_death;
  p->supervisor = std::make_unique<Supervisor>(so, p->view, p->state,
                                               *p->table, *p->launcher);
  p->table->set_control(p->supervisor.get());
  p->callbacks =
      std::make_unique<CallbackThread>(p->view, *p->table, p->state);
  // The supervisor first: with the fork method it forks the fork server
  // before the callback thread exists (fork_server.h).
  p->supervisor->Start();
  p->callbacks->Start();
  return std::shared_ptr<Engine>(new Engine(std::move(p), options.workers));
}

void Engine::Shutdown(Parts& p) {
  {
    std::lock_guard<std::mutex> lock(p.join_mu);
    if (p.joined) return;
  }
  if (p.state.Terminate()) {
    p.view.ring().Close();
    p.supervisor->Terminate();
  }
  p.supervisor->WaitFinished(Deadline::Infinite());
  p.supervisor->Join();
  p.callbacks->Stop();
  p.table->CollectFinished();
  std::lock_guard<std::mutex> lock(p.join_mu);
  p.joined = true;
}

Engine::~Engine() {
  if (!p_) return;
  if (p_->callbacks->InThread()) {
    // The last reference went in a callback: this thread is still inside
    // the parts (collecting, running callbacks). Finish in a thread of its
    // own, which waits for the callback thread to unwind and leave.
    Parts* parts = p_.release();
    std::thread([parts] {
      Shutdown(*parts);
      delete parts;
    }).detach();
    return;
  }
  Shutdown(*p_);
}

std::optional<TaskRef> Engine::Submit(const SubmitSpec& spec,
                                      const Deadline& deadline) {
  return p_->table->Submit(spec, deadline);
}
bool Engine::WaitDone(TaskRef ref, const Deadline& deadline) {
  return p_->table->WaitDone(ref, deadline);
}
bool Engine::IsDone(TaskRef ref) const { return p_->table->IsDone(ref); }
bool Engine::IsRunning(TaskRef ref) const { return p_->table->IsRunning(ref); }
void Engine::Collect(TaskRef ref) { p_->table->Collect(ref); }
void Engine::Watch(TaskRef ref) { p_->table->Watch(ref); }
bool Engine::Cancel(TaskRef ref, bool kill_running) {
  return p_->table->Cancel(ref, kill_running);
}
void Engine::CollectEverything() { p_->table->CollectEverything(); }
void Engine::CancelPending() { p_->table->FailAllQueued(kPhaseCancelled); }

void Engine::ScheduleCallbacks(std::shared_ptr<Job> job) {
  p_->callbacks->Schedule(std::move(job));
}
bool Engine::InHandlerThread() const { return p_->callbacks->InThread(); }
void Engine::WaitAsCollector(const Deadline& deadline,
                             absl::FunctionRef<bool()> ready) {
  p_->table->WaitAsCollector(deadline, ready);
}

void Engine::OpenStream(const std::shared_ptr<Stream>& stream) {
  std::lock_guard<std::mutex> lock(p_->streams_mu);
  p_->state.CheckAccepting();
  std::erase_if(p_->streams, [](const auto& w) { return w.expired(); });
  p_->streams.push_back(stream);
  ++p_->open_streams;
}

void Engine::StreamEnded() {
  std::lock_guard<std::mutex> lock(p_->streams_mu);
  if (--p_->open_streams == 0 &&
      p_->state.phase() == PoolState::kClosing) {
    p_->CloseQueue();
  }
}

bool Engine::HasOpenStreams() const {
  std::lock_guard<std::mutex> lock(p_->streams_mu);
  return p_->open_streams > 0;
}

namespace {
std::vector<std::shared_ptr<Stream>> Live(
    std::mutex& mu, const std::vector<std::weak_ptr<Stream>>& streams) {
  std::lock_guard<std::mutex> lock(mu);
  std::vector<std::shared_ptr<Stream>> out;
  for (const auto& w : streams) {
    if (auto s = w.lock()) out.push_back(std::move(s));
  }
  return out;
}
}  // namespace

void Engine::StopStreams() {
  for (auto& s : Live(p_->streams_mu, p_->streams)) s->StopInput();
}

void Engine::Close() {
  if (!p_->state.Close()) return;
  {
    std::lock_guard<std::mutex> lock(p_->streams_mu);
    if (p_->open_streams == 0) p_->CloseQueue();
  }
  p_->table->WakeSubmitters();
}

void Engine::Terminate() {
  if (p_->state.Terminate()) {
    p_->view.ring().Close();
    p_->supervisor->Terminate();
    p_->table->WakeSubmitters();
  }
}

bool Engine::Join(const Deadline& deadline) {
  Parts& p = *p_;
  std::lock_guard<std::mutex> lock(p.join_mu);
  if (p.joined) return true;
  if (p.state.running()) {
    throw ValueError("join() needs close() or terminate() first");
  }
  // As in Python, where a lazy map's input was all queued when it was
  // called: the maps still open read the rest of theirs now.
  if (p.state.phase() == PoolState::kClosing) {
    for (auto& s : Live(p.streams_mu, p.streams)) {
      if (!s->Drain(deadline)) return false;
    }
  }
  if (!p.supervisor->WaitFinished(deadline)) return false;
  p.supervisor->Join();
  p.callbacks->Stop();
  // Whatever finished and nobody collected: deliver it now (terminated
  // tasks get their CancelledError), so no result ever waits forever.
  p.table->CollectFinished();
  p.joined = true;
  return true;
}

bool Engine::accepting(bool continuation) const {
  return p_->state.accepts(continuation);
}

bool Engine::joined() const {
  std::lock_guard<std::mutex> lock(p_->join_mu);
  return p_->joined;
}

bool Engine::WaitIdle(const Deadline& deadline) {
  for (const TaskRef& ref : p_->table->InFlight()) {
    if (!p_->table->WaitDone(ref, deadline)) return false;
  }
  return true;
}
bool Engine::broken() const { return p_->state.broken(); }
std::exception_ptr Engine::BrokenError() const {
  return p_->state.BrokenError();
}
std::vector<pid_t> Engine::WorkerPids() const {
  return p_->supervisor->WorkerPids();
}

}  // namespace shoal::internal
