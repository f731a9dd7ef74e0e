#include "shoal/mpi/pool.h"

#include "shoal/base/errors.h"

namespace shoal::mpi {

Pool::Pool(const PoolOptions& o)
    : Front(internal::FrontOptions{
          .processes_per_rank = o.processes_per_rank,
          .max_inflight_per_rank = o.max_inflight_per_rank,
          .context = o.context,
          .max_tasks_per_child = o.maxtasksperchild,
          .task_timeout = o.task_timeout}) {}

Pool::~Pool() {
  if (state_.load() != kJoined) {
    // Python's `with Pool() as p:` ends with terminate().
    terminate();
    join();
  }
}

void Pool::CheckRunning() const {
  if (state_.load(std::memory_order_acquire) != kRunning) {
    throw ValueError("Pool not running");
  }
  CheckOpen();
}

void Pool::close() {
  int expected = kRunning;
  state_.compare_exchange_strong(expected, kClosed);
  EndSession();
}

void Pool::terminate() {
  int s = state_.load();
  while (s != kJoined && s != kTerminated &&
         !state_.compare_exchange_weak(s, kTerminated)) {
  }
  world().CancelPending(session());
  world().AbandonInFlight(session());
  EndSession();
}

void Pool::join() { join(Deadline::Infinite()); }

bool Pool::join(const Deadline& deadline) {
  const int s = state_.load();
  if (s == kRunning) throw ValueError("Pool is still running");
  if (!world().WaitIdle(session(), deadline)) return false;
  state_.store(kJoined);
  return true;
}

}  // namespace shoal::mpi
