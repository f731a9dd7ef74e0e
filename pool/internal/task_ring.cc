#include "shoal/pool/internal/task_ring.h"

#include <sched.h>

#include <climits>
#include <new>
#include <string>

#include "shoal/base/errors.h"
#include "shoal/base/internal/futex.h"
#include "shoal/base/internal/process_liveness.h"

namespace shoal::internal {
namespace {

constexpr uint32_t kEmpty = 0;
constexpr uint32_t kFull = 2;
constexpr uint32_t kReading = 3;

constexpr uint64_t MakeState(uint32_t lap, uint32_t pid, uint32_t phase) {
  return (static_cast<uint64_t>(lap) << 32) |
         (static_cast<uint64_t>(pid & 0x3fffffffu) << 2) | phase;
}
constexpr uint32_t LapOf(uint64_t s) { return static_cast<uint32_t>(s >> 32); }
constexpr uint32_t PhaseOf(uint64_t s) { return static_cast<uint32_t>(s & 3); }
constexpr uint32_t PidOf(uint64_t s) {
  return static_cast<uint32_t>((s >> 2) & 0x3fffffffu);
}

constexpr std::size_t HeaderBytes() {
  return (sizeof(TaskRingShared) + kCacheLine - 1) / kCacheLine * kCacheLine;
}

int Log2(uint32_t v) { return 31 - __builtin_clz(v); }

}  // namespace

std::size_t TaskRing::BytesFor(uint32_t capacity) {
  if (capacity == 0 || (capacity & (capacity - 1)) != 0 ||
      capacity > (1u << 24)) {
    throw ValueError("task ring: capacity must be a power of two <= 2^24");
  }
  return HeaderBytes() + std::size_t{capacity} * sizeof(TaskRingEntry);
}

TaskRing TaskRing::Create(void* mem, std::size_t bytes, uint32_t capacity) {
  if (bytes < BytesFor(capacity) ||
      reinterpret_cast<uintptr_t>(mem) % kCacheLine != 0) {
    throw ValueError("task ring: memory too small or misaligned");
  }
  auto* shared = new (mem) TaskRingShared;
  shared->capacity = capacity;
  shared->reserved = 0;
  shared->tail.store(0, std::memory_order_relaxed);
  shared->head.store(0, std::memory_order_relaxed);
  shared->items_seq.store(0, std::memory_order_relaxed);
  shared->readers_waiting.store(0, std::memory_order_relaxed);
  shared->closed.store(0, std::memory_order_relaxed);
  shared->spin.Init();
  auto* entries = reinterpret_cast<TaskRingEntry*>(static_cast<std::byte*>(mem) +
                                                   HeaderBytes());
  for (uint32_t i = 0; i < capacity; ++i) {
    auto* e = new (&entries[i]) TaskRingEntry;
    e->state.store(MakeState(0, 0, kEmpty), std::memory_order_relaxed);
    e->value.store(0, std::memory_order_relaxed);
  }
  std::atomic_thread_fence(std::memory_order_release);
  return Attach(mem, bytes);
}

TaskRing TaskRing::Attach(void* mem, std::size_t bytes) {
  if (mem == nullptr || reinterpret_cast<uintptr_t>(mem) % kCacheLine != 0 ||
      bytes < HeaderBytes()) {
    throw InvalidRegion("task ring: memory too small or misaligned");
  }
  auto* shared = static_cast<TaskRingShared*>(mem);
  const uint32_t capacity = shared->capacity;
  if (capacity == 0 || (capacity & (capacity - 1)) != 0 ||
      capacity > (1u << 24) ||
      (bytes - HeaderBytes()) / sizeof(TaskRingEntry) < capacity) {
    throw InvalidRegion("task ring: corrupt geometry (capacity " +
                        std::to_string(capacity) + ")");
  }
  TaskRing ring;
  ring.shared_ = shared;
  ring.entries_ = reinterpret_cast<TaskRingEntry*>(static_cast<std::byte*>(mem) +
                                                   HeaderBytes());
  ring.capacity_ = capacity;
  ring.mask_ = capacity - 1;
  return ring;
}

namespace {
inline uint32_t LapOfPos(uint64_t pos, uint32_t capacity) {
  return static_cast<uint32_t>(pos >> Log2(capacity));
}
}  // namespace

bool TaskRing::Push(uint64_t value, const Deadline& deadline) {
  const uint64_t pos = shared_->tail.load(std::memory_order_relaxed);
  const uint32_t lap = LapOfPos(pos, capacity_);
  TaskRingEntry* e = At(pos);
  const uint64_t want = MakeState(lap, 0, kEmpty);
  if (e->state.load(std::memory_order_acquire) != want) {
    // A reader between claim and release on this entry (a few instructions,
    // unless it was preempted or died; the monitor recovers dead ones).
    for (uint32_t i = 0; e->state.load(std::memory_order_acquire) != want; ++i) {
      if (i < 64) {
        CpuRelax();
      } else if (i < 1000) {
        sched_yield();
      } else {
        if (deadline.expired()) return false;
        timespec ts{0, 200 * 1000};
        nanosleep(&ts, nullptr);
      }
    }
  }
  e->value.store(value, std::memory_order_relaxed);
  e->state.exchange(MakeState(lap, 0, kFull), std::memory_order_seq_cst);
  shared_->tail.store(pos + 1, std::memory_order_release);
  if (shared_->readers_waiting.load(std::memory_order_seq_cst) > 0) {
    shared_->items_seq.fetch_add(1, std::memory_order_seq_cst);
    FutexWake(&shared_->items_seq, 1);
  }
  return true;
}

TaskRing::Status TaskRing::TryTake(uint64_t* value, uint64_t* pos_out) {
  const uint32_t me = static_cast<uint32_t>(CachedPid());
  for (;;) {
    const uint64_t pos = shared_->head.load(std::memory_order_acquire);
    const uint32_t lap = LapOfPos(pos, capacity_);
    TaskRingEntry* e = At(pos);
    uint64_t s = e->state.load(std::memory_order_acquire);
    const int32_t d = static_cast<int32_t>(LapOf(s) - lap);
    const uint32_t phase = PhaseOf(s);
    if (d == 0 && phase == kFull) {
      if (e->state.compare_exchange_strong(s, MakeState(lap, me, kReading),
                                           std::memory_order_seq_cst)) {
        uint64_t expected = pos;
        shared_->head.compare_exchange_strong(expected, pos + 1,
                                              std::memory_order_acq_rel);
        *value = e->value.load(std::memory_order_relaxed);
        *pos_out = pos;
        return Status::kOk;
      }
      continue;
    }
    if ((d == 0 && phase == kReading) || d > 0) {
      uint64_t expected = pos;
      shared_->head.compare_exchange_strong(expected, pos + 1,
                                            std::memory_order_acq_rel);
      continue;
    }
    // (lap, EMPTY): not written yet; or an entry of the previous lap still
    // held: the writer has not reached this lap. Either way: empty.
    if (shared_->closed.load(std::memory_order_seq_cst) != 0) {
      if (e->state.load(std::memory_order_seq_cst) == s &&
          shared_->head.load(std::memory_order_seq_cst) == pos) {
        return Status::kClosed;
      }
      continue;
    }
    return Status::kEmpty;
  }
}

TaskRing::Status TaskRing::Take(uint64_t* value, uint64_t* pos,
                                const Deadline& deadline, bool may_spin) {
  Status s = TryTake(value, pos);
  if (s != Status::kEmpty) return s;
  if (may_spin && SpinUntil(shared_->spin, [&] {
        s = TryTake(value, pos);
        return s != Status::kEmpty;
      })) {
    return s;
  }
  for (;;) {
    shared_->readers_waiting.fetch_add(1, std::memory_order_seq_cst);
    const uint32_t observed = shared_->items_seq.load(std::memory_order_seq_cst);
    s = TryTake(value, pos);
    if (s != Status::kEmpty) {
      shared_->readers_waiting.fetch_sub(1, std::memory_order_seq_cst);
      return s;
    }
    if (deadline.expired()) {
      shared_->readers_waiting.fetch_sub(1, std::memory_order_seq_cst);
      return Status::kTimedOut;
    }
    FutexWait(&shared_->items_seq, observed, deadline);
    shared_->readers_waiting.fetch_sub(1, std::memory_order_seq_cst);
  }
}

void TaskRing::Release(uint64_t pos) {
  At(pos)->state.exchange(MakeState(LapOfPos(pos, capacity_) + 1, 0, kEmpty),
                          std::memory_order_seq_cst);
}

void TaskRing::TakeFromDead(pid_t pid, std::vector<uint64_t>* values) {
  const uint32_t p = static_cast<uint32_t>(pid) & 0x3fffffffu;
  for (uint32_t i = 0; i < capacity_; ++i) {
    TaskRingEntry* e = &entries_[i];
    uint64_t s = e->state.load(std::memory_order_acquire);
    if (PhaseOf(s) != kReading || PidOf(s) != p) continue;
    const uint64_t v = e->value.load(std::memory_order_relaxed);
    if (e->state.compare_exchange_strong(s, MakeState(LapOf(s) + 1, 0, kEmpty),
                                         std::memory_order_seq_cst)) {
      values->push_back(v);
    }
  }
}

void TaskRing::Close() {
  shared_->closed.store(1, std::memory_order_seq_cst);
  WakeAll();
}

void TaskRing::WakeAll() {
  shared_->items_seq.fetch_add(1, std::memory_order_seq_cst);
  FutexWake(&shared_->items_seq, INT_MAX);
}

bool TaskRing::closed() const {
  return shared_->closed.load(std::memory_order_acquire) != 0;
}

std::size_t TaskRing::size() const {
  const uint64_t tail = shared_->tail.load(std::memory_order_acquire);
  const uint64_t head = shared_->head.load(std::memory_order_acquire);
  return tail > head ? static_cast<std::size_t>(tail - head) : 0;
}

}  // namespace shoal::internal
