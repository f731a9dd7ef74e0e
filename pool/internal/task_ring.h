// Copyright 2026 The shoal Authors.
//
// task_ring.h: the ring a pool's idle workers take tasks from.
//
// Why not ipc/internal/slot_ring.h: a pool needs to know, when a worker
// dies, exactly which task it had taken and not yet recorded elsewhere, and
// it must not count that task as silently lost (SlotRing's dead-reader
// recovery drops the item). This ring carries one 64-bit value per entry
// (a task reference), is written only by the pool's own process (the
// parent; several of its threads, serialized by the caller), and leaves
// recovery of a dead reader's entries to the pool's monitor, which knows
// the dead pid for certain (pidfd) and reads the value before recovering.
//
// Algorithm
//   `capacity` (a power of two) entries, each on its own cache line:
//     state = [lap : 32][pid : 30][phase : 2]   phase EMPTY, FULL, READING
//     value = the task reference
//   A position p has lap p / capacity and index p % capacity. The writer at
//   `tail` waits (briefly) for its entry to be (lap, EMPTY), stores the value
//   and publishes (lap, FULL). A reader at `head` claims (lap, FULL) ->
//   (lap, READING, its pid) with one CAS, helps `head` forward, reads the
//   value, and releases the entry as (lap + 1, EMPTY). Between claim and
//   release the worker records the value in its status record; so at any
//   instant a taken task is named either by a READING entry under the
//   worker's pid or by the worker's status record (or both).
//
// Blocking
//   Readers spin briefly (adaptive, sync/internal/spin.h), then sleep on
//   `items_seq` after registering in `readers_waiting`; the writer issues
//   FUTEX_WAKE only when that count is non-zero. Writers never sleep: the
//   pool sizes the ring so that an entry is only ever busy for the few
//   instructions between a reader's claim and release (or until the monitor
//   recovers a dead reader's entry).
//
// Process death: see TakeFromDead(). Memory ordering: publish and release
//   are seq_cst (Dekker pairing with the waiter count), claims are seq_cst
//   CASes, the value is ordered by them.
// Validation: geometry is checked on attach; indices are masked.
#ifndef SHOAL_POOL_INTERNAL_TASK_RING_H_
#define SHOAL_POOL_INTERNAL_TASK_RING_H_

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "shoal/base/deadline.h"
#include "shoal/base/internal/cache_line.h"
#include "shoal/base/internal/spin.h"

namespace shoal::internal {

struct alignas(kCacheLine) TaskRingEntry {
  std::atomic<uint64_t> state;
  std::atomic<uint64_t> value;
};
static_assert(sizeof(TaskRingEntry) == kCacheLine);

struct TaskRingShared {
  uint32_t capacity;  // power of two
  uint32_t reserved;
  alignas(kCacheLine) std::atomic<uint64_t> tail;
  alignas(kCacheLine) std::atomic<uint64_t> head;
  alignas(kCacheLine) std::atomic<uint32_t> items_seq;
  std::atomic<uint32_t> readers_waiting;
  std::atomic<uint32_t> closed;
  SpinPolicy spin;
  // entries follow, at the next cache line
};
static_assert(std::is_standard_layout_v<TaskRingShared>);
static_assert(std::atomic<uint64_t>::is_always_lock_free);

class TaskRing {
 public:
  enum class Status { kOk, kEmpty, kTimedOut, kClosed };

  static std::size_t BytesFor(uint32_t capacity);
  static TaskRing Create(void* mem, std::size_t bytes, uint32_t capacity);
  // Validates the geometry; throws InvalidRegion.
  static TaskRing Attach(void* mem, std::size_t bytes);

  // Writer (serialized by the caller). Publishes `value` and wakes one
  // sleeping reader. Returns false only when the entry at `tail` is still
  // held (a slow or dead reader) after `deadline`.
  bool Push(uint64_t value, const Deadline& deadline = Deadline::Infinite());

  // Reader. kOk: *value is the task and the entry is held (READING under
  // this process's pid) until Release(pos). kClosed once closed and drained.
  Status Take(uint64_t* value, uint64_t* pos, const Deadline& deadline,
              bool may_spin = true);
  void Release(uint64_t pos);

  // Monitor, after `pid` died (and before it is reaped): every entry held by
  // `pid` is read, recovered (made free for the next lap) and its value
  // appended to *values.
  void TakeFromDead(pid_t pid, std::vector<uint64_t>* values);

  // After Close(), readers drain what is left and then get kClosed. Pushes
  // still work (the pool requeues tasks of dead workers after a close).
  void Close();
  bool closed() const;
  // Approximate number of published, untaken values.
  std::size_t size() const;
  uint32_t capacity() const { return capacity_; }
  // Wakes every sleeping reader (they re-check and go back to sleep).
  void WakeAll();

 private:
  TaskRingEntry* At(uint64_t pos) const { return &entries_[pos & mask_]; }
  Status TryTake(uint64_t* value, uint64_t* pos);

  TaskRingShared* shared_ = nullptr;
  TaskRingEntry* entries_ = nullptr;
  uint32_t capacity_ = 0;
  uint64_t mask_ = 0;
};

}  // namespace shoal::internal

#endif  // SHOAL_POOL_INTERNAL_TASK_RING_H_
