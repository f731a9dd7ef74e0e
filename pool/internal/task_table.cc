#include "shoal/pool/internal/task_table.h"

#include <algorithm>
#include <string>
#include <utility>

#include "shoal/base/errors.h"
#include "shoal/base/internal/futex.h"
#include "shoal/base/internal/spin.h"
#include "shoal/pool/internal/cv_wait.h"

namespace shoal::internal {
namespace {

uint32_t NextGen(uint32_t gen) {
  uint32_t g = (gen + 1) & kGenMask;
  return g == 0 ? 1 : g;
}

}  // namespace

TaskTable::TaskTable(PoolView& view, PoolState& state,
                     const TaskTableOptions& options)
    : view_(view), state_(state), options_(options) {
  const uint32_t n = view_.slots();
  meta_.resize(n);
  free_.reserve(n);
  // LIFO: the most recently used (cache-hot) slot is reused first.
  for (uint32_t i = n; i-- > 0;) free_.push_back(i);
}

std::optional<TaskRef> TaskTable::Submit(const SubmitSpec& spec,
                                         const Deadline& deadline) {
  state_.CheckAccepting(spec.continuation);
  uint32_t slot;
  {
    std::unique_lock<std::mutex> lock(mu_);
    while (free_.empty()) {
      if (state_.broken()) {
        lock.unlock();
        std::rethrow_exception(state_.BrokenError());
      }
      if (!state_.accepts(spec.continuation)) {
        throw ValueError("Pool not running");
      }
      if (deadline.expired()) return std::nullopt;
      lock.unlock();
      CollectEverything();
      if (InCollector()) {
        // A callback submitting while every slot waits for the callback
        // thread: do its collecting here instead of waiting for ourselves.
        WaitAsCollector(deadline, [&] {
          std::lock_guard<std::mutex> l(mu_);
          return !free_.empty() || !state_.accepts(spec.continuation);
        });
        lock.lock();
        continue;
      }
      lock.lock();
      // Woken by Recycle (a slot came free), or WakeSubmitters (the pool
      // broke, closed or is terminating).
      WaitUntil(free_cv_, lock, deadline, [&] {
        return !free_.empty() || !state_.accepts(spec.continuation);
      });
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
  const int64_t timeout = spec.timeout.count() < 0
                              ? options_.default_timeout.count()
                              : spec.timeout.count();
  if (timeout > 0 && !options_.can_kill) {
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
        // Results nobody collected yet may hold the heap: have them moved
        // (their blocks are freed as they are collected, which wakes us).
        CollectEverything();
        if (InCollector()) {
          WaitAsCollector(deadline, [&] {
            off = heap.Allocate(spec.size, Deadline::Now());
            return off.has_value() || state_.broken();
          });
        } else {
          off = heap.Allocate(spec.size, deadline);
        }
      }
      if (!off) {
        give_back();
        return std::nullopt;
      }
      t.in_block.Record(*off, spec.size);
      t.in_where = kWhereHeap;
      spec.write(std::span<std::byte>(heap.At(*off, spec.size), spec.size));
    }
  } catch (...) {
    view_.FreeBlock(t.in_block);
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
  if (timeout > 0) timed_tasks_.fetch_add(1, std::memory_order_relaxed);
  t.state.store(MakeSlotState(gen, spec.notify ? kFlagNotify : 0, kPhaseQueued),
                std::memory_order_release);
  const uint64_t ref = MakeTaskRef(slot, gen);
  {
    std::lock_guard<std::mutex> lock(push_mu_);
    view_.ring().Push(ref);
  }
  // Queued: the supervisor can see it now and work out when to look again.
  if (timeout > 0 && control_ != nullptr) control_->WatchTimeouts();
  // The pool may have broken or been terminated while we pushed, after the
  // supervisor's sweep of queued tasks: fail the task ourselves then.
  if (state_.broken()) {
    view_.Complete(slot, gen, kPhaseQueued, kPhaseBroken);
  } else if (state_.terminating()) {
    view_.Complete(slot, gen, kPhaseQueued, kPhaseCancelled);
  }
  return TaskRef{slot, gen};
}

bool TaskTable::IsDone(TaskRef ref) const {
  const uint32_t s = view_.slot(ref.slot).state.load(std::memory_order_acquire);
  return GenOf(s) != ref.gen || IsTerminal(s);
}

bool TaskTable::IsRunning(TaskRef ref) const {
  const uint32_t s = view_.slot(ref.slot).state.load(std::memory_order_acquire);
  return GenOf(s) == ref.gen && PhaseOf(s) == kPhaseRunning;
}

bool TaskTable::WaitDone(TaskRef ref, const Deadline& deadline) {
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

void TaskTable::Collect(TaskRef ref) {
  std::shared_ptr<Job> job;
  uint32_t index;
  {
    std::lock_guard<std::mutex> lock(mu_);
    SlotMeta& m = meta_[ref.slot];
    if (m.gen != ref.gen || !m.job || m.collecting) return;
    const uint32_t s =
        view_.slot(ref.slot).state.load(std::memory_order_acquire);
    if (GenOf(s) != ref.gen || !IsTerminal(s)) return;
    m.collecting = true;
    job = m.job;
    index = m.index;
  }
  const uint32_t s = view_.slot(ref.slot).state.load(std::memory_order_acquire);
  Deliver(job, index, ref, PhaseOf(s));
  Recycle(ref.slot, ref.gen);
}

void TaskTable::Deliver(const std::shared_ptr<Job>& job, uint32_t index,
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
      const std::string what =
          DescribeExit(t.lost_pid, ExitStatus{t.lost_signal, t.lost_exit_code}) +
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
      error = state_.BrokenError();
      break;
  }
  job->OnError(index, error, phase == kPhaseCancelled);
}

void TaskTable::Recycle(uint32_t slot, uint32_t gen) {
  TaskSlot& t = view_.slot(slot);
  view_.FreeBlock(t.in_block);
  view_.FreeBlock(t.out_block);
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
  if (collector_waiting_.load(std::memory_order_seq_cst) != 0) {
    view_.KickHandler();
  }
  // `drop` (perhaps the last reference to the job) goes here, unlocked.
}

void TaskTable::Watch(TaskRef ref) {
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

bool TaskTable::Cancel(TaskRef ref, bool kill_running) {
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
    if (PhaseOf(s) != kPhaseRunning || !kill_running || !options_.can_kill ||
        control_ == nullptr) {
      return false;
    }
    control_->KillRunning(MakeTaskRef(ref.slot, ref.gen));
    // The supervisor kills the worker; its death ends the task as
    // cancelled, unless the task finished first.
    WaitDone(ref, Deadline(std::chrono::seconds(30)));
    const uint32_t after = t.state.load(std::memory_order_acquire);
    const bool cancelled =
        GenOf(after) == ref.gen && PhaseOf(after) == kPhaseCancelled;
    Collect(ref);
    return cancelled;
  }
}

void TaskTable::CollectEverything() {
  for (uint32_t i = 0; i < view_.slots(); ++i) {
    const uint32_t s = view_.slot(i).state.load(std::memory_order_acquire);
    if (PhaseOf(s) == kPhaseFree) continue;
    if ((s & kFlagNotify) == 0) Watch(TaskRef{i, GenOf(s)});
  }
}

bool TaskTable::CollectNotified() {
  bool work = false;
  PoolShared* s = view_.shared();
  if (s->sweep_requested.load(std::memory_order_relaxed) != 0 &&
      s->sweep_requested.exchange(0) != 0) {
    CollectEverything();
  }
  view_.DrainNotify([&](uint32_t slot) {
    work = true;
    const uint32_t st = view_.slot(slot).state.load(std::memory_order_acquire);
    if (IsTerminal(st)) Collect(TaskRef{slot, GenOf(st)});
  });
  return work;
}

void TaskTable::CollectFinished() {
  for (uint32_t i = 0; i < view_.slots(); ++i) {
    const uint32_t s = view_.slot(i).state.load(std::memory_order_acquire);
    if (IsTerminal(s)) Collect(TaskRef{i, GenOf(s)});
  }
}

std::vector<TaskRef> TaskTable::InFlight() const {
  std::vector<TaskRef> out;
  for (uint32_t i = 0; i < view_.slots(); ++i) {
    const uint32_t s = view_.slot(i).state.load(std::memory_order_acquire);
    const uint32_t phase = PhaseOf(s);
    if (phase == kPhaseQueued || phase == kPhaseRunning) {
      out.push_back(TaskRef{i, GenOf(s)});
    }
  }
  return out;
}

void TaskTable::FailAllQueued(uint32_t to) {
  for (uint32_t i = 0; i < view_.slots(); ++i) {
    const uint32_t s = view_.slot(i).state.load(std::memory_order_acquire);
    if (PhaseOf(s) == kPhaseQueued) {
      view_.Complete(i, GenOf(s), kPhaseQueued, to);
    }
  }
}

bool TaskTable::Requeue(uint64_t ref) {
  const uint32_t slot = SlotOfRef(ref);
  if (slot >= view_.slots()) return true;
  const uint32_t s = view_.slot(slot).state.load(std::memory_order_acquire);
  if (GenOf(s) != GenOfRef(ref) || PhaseOf(s) != kPhaseQueued) return true;
  std::lock_guard<std::mutex> lock(push_mu_);
  // Never wait here: the entry may be held by another dead worker that only
  // the supervisor can recover.
  return view_.ring().Push(ref, Deadline::Now());
}

void TaskTable::WakeSubmitters() {
  { std::lock_guard<std::mutex> lock(mu_); }
  free_cv_.notify_all();
  view_.KickHandler();
}

void TaskTable::WaitAsCollector(const Deadline& deadline,
                                absl::FunctionRef<bool()> ready) {
  PoolShared* s = view_.shared();
  collector_waiting_.fetch_add(1, std::memory_order_seq_cst);
  for (;;) {
    s->handler_waiting.store(1, std::memory_order_seq_cst);
    const uint32_t seq = s->notify_seq.load(std::memory_order_seq_cst);
    CollectNotified();
    if (ready() || deadline.expired()) break;
    FutexWait(&s->notify_seq, seq, deadline);
  }
  collector_waiting_.fetch_sub(1, std::memory_order_seq_cst);
}

}  // namespace shoal::internal
