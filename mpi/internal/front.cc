#include "shoal/mpi/internal/front.h"

#include <algorithm>

#include "shoal/base/errors.h"
#include "shoal/pool/internal/engine.h"

namespace shoal::mpi::internal {

Front::Front(const FrontOptions& o) : world_(&World::Get()) {
  if (o.processes_per_rank > 4096) {
    throw ValueError("shoal::mpi: processes_per_rank > 4096");
  }
  SessionConfig c;
  c.processes = static_cast<uint32_t>(o.processes_per_rank);
  c.start_method =
      o.context && o.context->method() == StartMethod::kSpawn ? 1 : 0;
  c.max_tasks_per_child = o.max_tasks_per_child;
  c.task_timeout_ns = o.task_timeout.count() > 0 ? o.task_timeout.count() : 0;
  processes_ = o.processes_per_rank;
  std::size_t credits = o.max_inflight_per_rank;
  if (credits == 0) {
    // Inline: one task running and one waiting on the rank, so it never
    // idles for a round trip through rank 0. Hierarchical: as a local
    // pool's imap, twice the workers plus two.
    credits = processes_ == 0 ? 2 : 2 * processes_ + 2;
  }
  // A local pool must never block the rank's MPI thread on a full ring.
  credits = std::min<std::size_t>(
      credits, processes_ == 0 ? 1u << 20
                               : shoal::internal::Engine::kDefaultSlots);
  per_rank_ = static_cast<uint32_t>(credits);
  session_ = world_->OpenSession(c, per_rank_);
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
