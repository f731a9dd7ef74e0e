#include "shoal/pool/pool.h"

#include <string>

#include "shoal/pool/internal/pool_view.h"
#include "shoal/pool/internal/spawn.h"
#include "shoal/pool/process.h"

namespace shoal {

// The public limits are the ones a pool segment can describe.
static_assert(PoolOptions::kMaxPending == internal::PoolGeometry::kMaxSlots);
static_assert(PoolOptions::kMaxInlineBytes ==
              internal::PoolGeometry::kMaxInline);

Pool::Pool(const PoolOptions& options, bool threads,
           bool break_on_worker_death) {
  internal::EngineOptions e;
  // As Python: the cpu count only when not given; 0 is an error.
  const std::size_t n = options.processes.value_or(process_cpu_count());
  if (n == 0) throw ValueError("Number of processes must be at least 1");
  if (n > internal::PoolGeometry::kMaxWorkers) {
    throw ValueError("too many processes (at most " +
                     std::to_string(internal::PoolGeometry::kMaxWorkers) +
                     ")");
  }
  e.workers = static_cast<uint32_t>(n);
  e.threads = threads;
  e.method = internal::EffectiveMethod(
      options.context ? &*options.context : nullptr);
  e.max_tasks_per_child = options.maxtasksperchild;
  e.max_memory_per_child = options.max_memory_per_child;
  e.default_timeout = internal::TaskLimit(options.task_timeout);
  // Checked here, before anything narrows them: a value past what the
  // region can describe is the caller's mistake (ValueError), not a bad
  // region (InvalidRegion), and 2^32 must not wrap to 0 (the default).
  if (options.max_pending > PoolOptions::kMaxPending) {
    throw ValueError("max_pending " + std::to_string(options.max_pending) +
                     " is too large (at most " +
                     std::to_string(PoolOptions::kMaxPending) + ")");
  }
  if (options.inline_bytes > PoolOptions::kMaxInlineBytes) {
    throw ValueError("inline_bytes " + std::to_string(options.inline_bytes) +
                     " is too large (at most " +
                     std::to_string(PoolOptions::kMaxInlineBytes) + ")");
  }
  e.slots = static_cast<uint32_t>(options.max_pending);
  e.inline_bytes = static_cast<uint32_t>(options.inline_bytes);
  e.heap_bytes = options.shared_heap_bytes;
  e.break_on_worker_death = break_on_worker_death;
  e.worker_name = threads ? "Thread"
                  : e.method == StartMethod::kFork       ? "ForkPoolWorker"
                  : e.method == StartMethod::kForkServer ? "ForkServerPoolWorker"
                                                         : "SpawnPoolWorker";
  if (options.initializer) {
    e.has_initializer = true;
    e.init_invoker = options.initializer.invoker();
    e.init_payload = options.initializer.payload();
  }
  engine_ = internal::Engine::Start(e);
}

Pool::~Pool() {
  if (!engine_) return;
  // Python's `with Pool() as p:` ends with terminate().
  engine_->Terminate();
  engine_->Join(Deadline::Infinite());
}

void Pool::close() { engine_->Close(); }
void Pool::terminate() { engine_->Terminate(); }
void Pool::join() { engine_->Join(Deadline::Infinite()); }
bool Pool::join(const Deadline& deadline) { return engine_->Join(deadline); }
std::size_t Pool::processes() const { return engine_->workers(); }
std::vector<pid_t> Pool::worker_pids() const { return engine_->WorkerPids(); }
bool Pool::broken() const { return engine_->broken(); }

}  // namespace shoal
