#include "shoal/mpi/internal/front.h"

#include <algorithm>

#include "shoal/base/errors.h"
#include "shoal/pool/async.h"
#include "shoal/pool/internal/engine.h"

namespace shoal::mpi::internal {

Front::Front(const FrontOptions& o) : world_(&World::Get()) {
  if (o.processes_per_rank > 4096) {
    throw ValueError("shoal::mpi: processes_per_rank > 4096");
  }
  SessionConfig c;
  c.processes = static_cast<uint32_t>(o.processes_per_rank);
  c.start_method = 0;  // fork
  if (o.context) {
    switch (o.context->method()) {
      case StartMethod::kSpawn:
        c.start_method = 1;
        break;
      case StartMethod::kForkServer:
        c.start_method = 2;
        break;
      default:
        break;
    }
  }
  c.max_tasks_per_child = o.max_tasks_per_child;
  // 0 = no limit; huge user durations saturate to none, never overflow.
  c.task_timeout_ns = ::shoal::internal::TaskLimit(o.task_timeout).count();
  processes_ = o.processes_per_rank;
  // Credits (tasks sent ahead to one rank): fixed when asked for, else
  // adaptive (world.h): inline 2..8 (one running, one queued, up to 8 for
  // short tasks); hierarchical 2P+2..max(2P+2, 8), as a local pool's imap.
  // Never above a local pool's slot count: its ring must not block the
  // rank's MPI thread.
  const std::size_t cap =
      processes_ == 0 ? 1u << 20 : shoal::internal::Engine::kDefaultSlots;
  std::size_t lo = processes_ == 0 ? 2 : 2 * processes_ + 2;
  std::size_t hi = std::max<std::size_t>(lo, 8);
  if (o.max_inflight_per_rank != 0) lo = hi = o.max_inflight_per_rank;
  lo = std::min(lo, cap);
  hi = std::min(hi, cap);
  per_rank_ = static_cast<uint32_t>(hi);
  session_ = world_->OpenSession(c, static_cast<uint32_t>(lo),
                                 static_cast<uint32_t>(hi));
}

Front::~Front() { EndSession(); }

void Front::EndSession() {
  std::lock_guard<std::mutex> lock(end_mu_);
  if (ended_) return;
  ended_ = true;
  world_->CloseSession(session_);
}

std::size_t Front::workers() const {
  return world_->live_workers() * std::max<std::size_t>(processes_, 1);
}

void Front::CheckOpen() const {
  if (world_->broken()) {
    throw BrokenPool("shoal::mpi: every worker rank was lost");
  }
}

}  // namespace shoal::mpi::internal
