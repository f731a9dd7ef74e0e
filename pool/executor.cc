#include "shoal/pool/executor.h"

namespace shoal {

namespace {
PoolOptions ToPoolOptions(const ExecutorOptions& o) {
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
  if (engine()) shutdown(/*wait=*/true);
}

void ProcessPoolExecutor::CheckOpen() const {
  if (shutdown_.load(std::memory_order_acquire)) {
    throw ValueError("cannot schedule new futures after shutdown");
  }
  if (broken()) std::rethrow_exception(engine()->BrokenError());
}

void ProcessPoolExecutor::shutdown(bool wait, bool cancel_futures) {
  shutdown_.store(true, std::memory_order_release);
  if (cancel_futures) engine()->CancelPending();
  engine()->Close();
  if (wait) engine()->Join(Deadline::Infinite());
}

}  // namespace shoal
