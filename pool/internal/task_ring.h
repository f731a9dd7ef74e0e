// Copyright 2026 The shoal Authors.
//
// task_ring.h: the ring a pool's idle workers take tasks from: the ring
// under every shoal queue (ipc/internal/ring_core.h), one 8-byte task
// reference per slot, attached the way a pool needs it.
//
// What a pool needs, and how the ring provides it
//   * When a worker dies, the pool must know exactly which task it had taken
//     and not yet recorded elsewhere, and must not count that task as
//     silently lost. The ring is attached with HolderDeath::kRepairedByOwner:
//     nobody but the pool's monitor, which knows the dead pid for certain
//     (pidfd), repairs a dead worker's slots, and TakeFromDead() reads each
//     task reference before the slot is freed.
//   * Between claim and release the worker records the value in its status
//     record; so at any instant a taken task is named either by a READING
//     slot under the worker's pid or by the worker's status record (or both).
//   * The pool requeues tasks of dead workers after Close() (writes after
//     close are allowed; readers drain, then get kClosed).
//   * Only the pool's own process writes (several of its threads, serialized
//     by the caller).
//
// Blocking: readers spin briefly (adaptive), then sleep on the ring's futex;
//   the writer issues FUTEX_WAKE only when a reader sleeps. The writer sleeps
//   only while the slot at `tail` is still held by a reader of the previous
//   lap (a slow worker, or a dead one until the monitor repairs its slots,
//   which wakes the writer). The pool sizes the ring (at least twice its task
//   slots) so that nothing else can fill it.
//
// Validation: the ring core's (geometry on attach, every index, laps);
//   workers validate the task reference itself (IsTaskRef, slot range).
#ifndef SHOAL_POOL_INTERNAL_TASK_RING_H_
#define SHOAL_POOL_INTERNAL_TASK_RING_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "shoal/base/deadline.h"
#include "shoal/ipc/internal/ring_core.h"

namespace shoal::internal {

class TaskRing {
 public:
  enum class Status { kOk, kEmpty, kTimedOut, kClosed };

  TaskRing() = default;

  // Capacity: a power of two, at most 2^24.
  static std::size_t BytesFor(uint32_t capacity);
  static TaskRing Create(void* mem, std::size_t bytes, uint32_t capacity);
  // Validates the geometry; throws InvalidRegion.
  static TaskRing Attach(void* mem, std::size_t bytes);

  // Writer (serialized by the caller). Publishes `value` and wakes one
  // sleeping reader. Returns false only when the slot at `tail` is still
  // held (a slow or dead reader) after `deadline`.
  bool Push(uint64_t value, const Deadline& deadline = Deadline::Infinite());

  // Reader. kOk: *value is the task and the slot is held (READING under this
  // process's pid) until Release(pos). kTimedOut at the deadline; kClosed
  // once closed and drained.
  Status Take(uint64_t* value, uint64_t* pos, const Deadline& deadline,
              bool may_spin = true);
  void Release(uint64_t pos);

  // Monitor, after `pid` died (and before it is reaped): every slot held by
  // `pid` is read, freed for the next lap and its value appended to *values.
  void TakeFromDead(pid_t pid, std::vector<uint64_t>* values);

  // After Close(), readers drain what is left and then get kClosed. Pushes
  // still work (the pool requeues tasks of dead workers after a close).
  void Close() { writer_.core().Close(); }
  bool closed() const { return writer_.core().closed(); }
  // Approximate number of published, untaken values.
  std::size_t size() const { return writer_.core().size(); }
  uint32_t capacity() const { return writer_.core().capacity(); }
  // Wakes every sleeping reader (they re-check and go back to sleep).
  void WakeAll() { writer_.core().WakeAllReaders(); }

 private:
  explicit TaskRing(const RingCore& core) : writer_(core), reader_(core) {}

  RingWriter writer_;
  RingReader reader_;
};

}  // namespace shoal::internal

#endif  // SHOAL_POOL_INTERNAL_TASK_RING_H_
