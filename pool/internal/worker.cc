#include "shoal/pool/internal/worker.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "shoal/base/errors.h"
#include "shoal/base/internal/clock.h"
#include "shoal/base/internal/process_liveness.h"
#include "shoal/pool/internal/callable.h"
#include "shoal/pool/internal/remote_error.h"

namespace shoal::internal {
namespace {

bool ParentGone(const PoolView& view, const WorkerContext& ctx) {
  if (ctx.is_thread) return false;
  const uint32_t parent = ctx.parent_pid != 0
                              ? static_cast<uint32_t>(ctx.parent_pid)
                              : view.shared()->parent_pid;
  return static_cast<uint32_t>(getppid()) != parent;
}

// The worker side of one slot: payload from the slot or heap, result into
// the slot or a heap block this worker allocates.
class SlotIO final : public TaskIO {
 public:
  SlotIO(PoolView& view, uint32_t slot, const WorkerContext& ctx)
      : view_(view), slot_(view.slot(slot)), index_(slot), ctx_(ctx) {}

  std::span<const std::byte> input() override { return view_.Input(index_); }

  std::span<std::byte> Reserve(std::size_t n) override {
    DropBlock();
    if (n <= view_.out_inline()) {
      slot_.out_where = kWhereInline;
      slot_.out_size = n;
      return {view_.slot_out(index_), n};
    }
    BlockHeap& heap = view_.heap();
    if (n > heap.capacity()) {
      throw SerializationError(
          "a result of " + std::to_string(n) +
          " bytes is larger than the pool's shared heap (" +
          std::to_string(heap.capacity()) +
          " bytes): raise PoolOptions::shared_heap_bytes");
    }
    std::optional<uint64_t> off = heap.Allocate(n, Deadline::Now());
    while (!off) {
      // Results the parent has not collected yet fill the heap: ask it to
      // move them out of shared memory, and wait (in slices, so that a
      // worker whose parent died does not wait forever).
      view_.shared()->sweep_requested.store(1, std::memory_order_seq_cst);
      view_.KickHandler();
      off = heap.Allocate(n, Deadline(std::chrono::milliseconds(200)));
      if (off) break;
      if (ParentGone(view_, ctx_)) {
        throw SerializationError("the parent process is gone");
      }
      if (ctx_.stop != nullptr && ctx_.stop->load(std::memory_order_relaxed)) {
        throw SerializationError("the pool was terminated");
      }
    }
    // Record the block before writing it, so it is freed even if we die.
    slot_.out_block.Record(*off, n);
    slot_.out_where = kWhereHeap;
    slot_.out_size = n;
    return {heap.At(*off, n), n};
  }

  // Frees a block reserved earlier (a result that failed half-way).
  void DropBlock() {
    view_.FreeBlock(slot_.out_block);
  }

 private:
  PoolView& view_;
  TaskSlot& slot_;
  uint32_t index_;
  const WorkerContext& ctx_;
};

// Writes `rec` as the task's output; falls back to a truncated message when
// even that cannot be stored.
void WriteError(SlotIO& io, ErrorRecord rec) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    try {
      const std::size_t n = EncodedErrorSize(rec);
      std::span<std::byte> dst = io.Reserve(n);
      EncodeErrorRecordTo(rec, dst.data(), dst.size());
      return;
    } catch (...) {
      if (rec.message.size() > 64) {
        rec.message.resize(64);
        rec.message += "... (truncated)";
      }
      if (rec.type_name.size() > 64) rec.type_name.resize(64);
    }
  }
  io.DropBlock();
  io.Reserve(0);
}

// The initializer's input is the init area.
class InitIO final : public TaskIO {
 public:
  explicit InitIO(std::span<const std::byte> in) : in_(in) {}
  std::span<const std::byte> input() override { return in_; }
  std::span<std::byte> Reserve(std::size_t n) override {
    scratch_.resize(n);
    return {scratch_.data(), n};
  }

 private:
  std::span<const std::byte> in_;
  std::vector<std::byte> scratch_;
};

void RecordInitError(PoolView& view, const ErrorRecord& rec) {
  PoolShared* s = view.shared();
  uint32_t expected = 0;
  if (!s->init_error_state.compare_exchange_strong(expected, 1,
                                                   std::memory_order_acq_rel)) {
    return;  // somebody else's failure is already recorded
  }
  ErrorRecord r = rec;
  for (int attempt = 0; attempt < 2; ++attempt) {
    const std::size_t n = EncodedErrorSize(r);
    if (n <= kInitErrorCapacity) {
      EncodeErrorRecordTo(r, view.init_error_area(), n);
      s->init_error_size = static_cast<uint32_t>(n);
      break;
    }
    r.message.resize(std::min<std::size_t>(r.message.size(), 1000));
    r.type_name.resize(std::min<std::size_t>(r.type_name.size(), 200));
  }
  s->init_error_state.store(2, std::memory_order_release);
}

// Resident set size in bytes (/proc/self/statm field 2).
uint64_t ResidentBytes(int statm_fd) {
  char buf[128];
  ssize_t n = pread(statm_fd, buf, sizeof(buf) - 1, 0);
  if (n <= 0) return 0;
  buf[n] = '\0';
  unsigned long size = 0, resident = 0;
  if (std::sscanf(buf, "%lu %lu", &size, &resident) != 2) return 0;
  return uint64_t{resident} * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

void RunTask(PoolView& view, uint64_t ref, const WorkerContext& ctx) {
  const uint32_t index = SlotOfRef(ref);
  const uint32_t gen = GenOfRef(ref);
  TaskSlot& slot = view.slot(index);
  uint32_t s = slot.state.load(std::memory_order_acquire);
  for (;;) {
    if (GenOf(s) != gen || PhaseOf(s) != kPhaseQueued) return;  // cancelled
    if (slot.state.compare_exchange_weak(s, WithPhase(s, kPhaseRunning),
                                         std::memory_order_acq_rel)) {
      break;
    }
  }
  slot.ran_pid = static_cast<int32_t>(CachedPid());
  SlotIO io(view, index, ctx);
  uint32_t outcome = kPhaseOk;
  try {
    InvokeFn fn = ResolveInvoker(slot.invoker);
    fn(io);
  } catch (...) {
    outcome = kPhaseError;
    WriteError(io, CaptureCurrentException());
  }
  view.Complete(index, gen, kPhaseRunning, outcome);
}

}  // namespace

int RunWorker(PoolView& view, const WorkerContext& ctx) {
  WorkerStatus& st = view.status(ctx.index);
  PoolShared* s = view.shared();
  st.current.store(0, std::memory_order_relaxed);
  st.tasks_done.store(0, std::memory_order_relaxed);
  st.exit_reason.store(kExitNone, std::memory_order_relaxed);
  st.life.store(kWorkerStarting, std::memory_order_release);

  if (s->has_initializer != 0) {
    try {
      if (s->init_size > s->init_bytes) {
        throw InvalidRegion("pool region: initializer size corrupt");
      }
      InitIO io({view.init_area(), s->init_size});
      InvokeFn fn = ResolveInvoker(s->init_invoker);
      fn(io);
    } catch (...) {
      RecordInitError(view, CaptureCurrentException());
      st.exit_reason.store(kExitInitFailed, std::memory_order_relaxed);
      st.life.store(kWorkerInitFailed, std::memory_order_release);
      return kInitFailedExitCode;
    }
  }
  st.life.store(kWorkerReady, std::memory_order_release);

  const uint64_t max_tasks = s->max_tasks_per_child;
  const uint64_t max_memory = s->max_memory_per_child;
  int statm_fd = -1;
  if (max_memory != 0 && !ctx.is_thread) {
    statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  }
  uint64_t done = 0;
  uint32_t reason = kExitNone;
  TaskRing& ring = view.ring();
  while (reason == kExitNone) {
    if (max_tasks != 0 && done >= max_tasks) {
      reason = kExitMaxTasks;
      break;
    }
    if (ctx.stop != nullptr && ctx.stop->load(std::memory_order_relaxed)) {
      reason = kExitClosed;
      break;
    }
    uint64_t value = 0, pos = 0;
    // Slices: a process worker checks that its parent still runs (the
    // parent-death signal normally kills it first; this is the backstop).
    TaskRing::Status r =
        ring.Take(&value, &pos, Deadline(std::chrono::seconds(1)));
    if (r == TaskRing::Status::kClosed) {
      reason = kExitClosed;
      break;
    }
    if (r != TaskRing::Status::kOk) {
      if (ParentGone(view, ctx)) reason = kExitParentGone;
      continue;
    }
    if (!IsTaskRef(value) || SlotOfRef(value) >= view.slots()) {
      ring.Release(pos);  // garbage: skip it
      continue;
    }
    st.started_ns.store(MonotonicNanos(), std::memory_order_relaxed);
    st.current.store(value, std::memory_order_seq_cst);
    ring.Release(pos);
    RunTask(view, value, ctx);
    st.current.store(0, std::memory_order_release);
    ++done;
    st.tasks_done.store(done, std::memory_order_relaxed);
    if (statm_fd >= 0 && ResidentBytes(statm_fd) > max_memory) {
      reason = kExitMemory;
    }
  }
  if (statm_fd >= 0) close(statm_fd);
  st.exit_reason.store(reason, std::memory_order_relaxed);
  st.life.store(kWorkerExiting, std::memory_order_release);
  return 0;
}

}  // namespace shoal::internal
