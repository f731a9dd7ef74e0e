#include "shoal/pool/executor.h"

namespace shoal {

namespace {
PoolOptions ToPoolOptions(const ExecutorOptions& o) {
  if (o.max_workers && *o.max_workers == 0) {
    throw ValueError("max_workers must be greater than 0");
  }
  PoolOptions p;
  p.processes = o.max_workers;
  p.initializer = o.initializer;
  p.maxtasksperchild = o.max_tasks_per_child;
  p.context = o.mp_context;
  p.task_timeout = o.task_timeout;
  p.max_memory_per_child = o.max_memory_per_child;
  p.max_pending = o.max_pending;
  p.inline_bytes = o.inline_bytes;
  p.shared_heap_bytes = o.shared_heap_bytes;
  return p;
}
}  // namespace

ProcessPoolExecutor::ProcessPoolExecutor(const ExecutorOptions& options)
    : Pool(ToPoolOptions(options), /*threads=*/false,
           options.break_on_worker_death) {}

ProcessPoolExecutor::~ProcessPoolExecutor() {
  if (!engine()) return;
  shutdown(/*wait=*/true);
  // Not joined: a map with buffersize was still being iterated. Its
  // iterator holds the pool, which ends with it (Pool's destructor would
  // terminate it, and the calls the map submitted since).
  if (!engine()->joined()) ReleaseEngine();
}

void ProcessPoolExecutor::CheckOpen() const {
  if (shutdown_.load(std::memory_order_acquire)) {
    throw RuntimeError("cannot schedule new futures after shutdown");
  }
  if (broken()) std::rethrow_exception(engine()->BrokenError());
}

void ProcessPoolExecutor::shutdown(bool wait, bool cancel_futures) {
  shutdown_.store(true, std::memory_order_release);
  if (cancel_futures) {
    engine()->StopStreams();
    engine()->CancelPending();
  }
  engine()->Close();
  if (!wait) return;
  if (engine()->HasOpenStreams()) {
    // Every call submitted so far finishes; a map with buffersize that is
    // still being iterated goes on reading its input as it is consumed (its
    // workers leave when it ends).
    engine()->WaitIdle(Deadline::Infinite());
    return;
  }
  engine()->Join(Deadline::Infinite());
}

}  // namespace shoal
