#include "shoal/mpi/executor.h"

#include "shoal/base/errors.h"

namespace shoal::mpi {

Executor::Executor(const ExecutorOptions& o)
    : Front(internal::FrontOptions{
          .processes_per_rank = o.processes_per_rank,
          .max_inflight_per_rank = o.max_inflight_per_rank,
          .context = o.mp_context,
          .max_tasks_per_child = o.max_tasks_per_child,
          .task_timeout = o.task_timeout}) {}

Executor::~Executor() { shutdown(/*wait=*/true); }

void Executor::CheckUsable() const {
  if (shutdown_.load(std::memory_order_acquire)) {
    throw ValueError("cannot schedule new futures after shutdown");
  }
  CheckOpen();
}

void Executor::shutdown(bool wait, bool cancel_futures) {
  shutdown_.store(true, std::memory_order_release);
  if (cancel_futures) world().CancelPending(session());
  EndSession();
  if (wait) world().WaitIdle(session(), Deadline::Infinite());
}

}  // namespace shoal::mpi
