// Copyright 2026 The shoal Authors.
//
// pool_shared.h: the shared-memory layout of one pool (Pool,
// ProcessPoolExecutor, ThreadPool all use it).
//
// One region per pool, created by the parent:
//
//   [PoolShared][WorkerStatus x workers][TaskSlot x slots][notify bitmap]
//   [TaskRing][initializer bytes][BlockHeap]
//
// TaskSlot: one per submitted task, owned by the parent from submit until
// the result is collected (a free list in the parent; submit blocks when
// every slot is in use: backpressure). It holds the task's invoker, its
// payload (inline, or a heap block), and later its result (inline, or a
// heap block the worker allocated), and a 32-bit state word that is also
// the futex the caller sleeps on:
//
//     state = [generation : 24][flags : 4][phase : 4]
//     phase: FREE, QUEUED, RUNNING, then one terminal phase that carries
//            the outcome: OK, ERROR (an encoded exception), LOST (the
//            worker died), TIMEOUT, CANCELLED, BROKEN (the pool broke).
//     flags: WAITER (a parent thread sleeps on the word: FUTEX_WAKE needed),
//            NOTIFY (the parent's handler thread wants to hear about the
//            completion: set the slot's bit in the notify bitmap).
//
//   Transitions: parent FREE -> QUEUED (submit); worker QUEUED -> RUNNING
//   (just before calling); worker RUNNING -> OK/ERROR; parent QUEUED ->
//   CANCELLED (cancel of a pending task); monitor RUNNING -> LOST/TIMEOUT/
//   CANCELLED after the worker died, QUEUED -> BROKEN; parent terminal ->
//   FREE (collect; generation + 1). All by CAS, so exactly one side wins.
//
// WorkerStatus: one per worker position. `current` names the task the
// worker took (written before it releases the ring entry), so when it dies
// the monitor knows what it was doing: QUEUED there means never started
// (requeued, it runs once), RUNNING means started (failed with WorkerLost,
// never run twice).
//
// Every offset is validated when a worker attaches; every index read from
// shared memory is range-checked before use.
#ifndef SHOAL_POOL_INTERNAL_POOL_SHARED_H_
#define SHOAL_POOL_INTERNAL_POOL_SHARED_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "shoal/base/internal/cache_line.h"
#include "shoal/base/internal/spin.h"
#include "shoal/ipc/internal/block_ref.h"
#include "shoal/pool/internal/code_ref.h"

namespace shoal::internal {

inline constexpr uint64_t kPoolMagic = 0x6c6f6f702d6c616full;  // "shoal-pool"
inline constexpr uint32_t kPoolLayoutVersion = 4;  // 4: reader registry

// Slot phases.
inline constexpr uint32_t kPhaseFree = 0;
inline constexpr uint32_t kPhaseQueued = 1;
inline constexpr uint32_t kPhaseRunning = 2;
inline constexpr uint32_t kPhaseOk = 8;
inline constexpr uint32_t kPhaseError = 9;
inline constexpr uint32_t kPhaseLost = 10;
inline constexpr uint32_t kPhaseTimeout = 11;
inline constexpr uint32_t kPhaseCancelled = 12;
inline constexpr uint32_t kPhaseBroken = 13;
// Slot flags.
inline constexpr uint32_t kFlagWaiter = 1u << 4;
inline constexpr uint32_t kFlagNotify = 1u << 5;

inline constexpr uint32_t kPhaseMask = 0xfu;
constexpr uint32_t PhaseOf(uint32_t s) { return s & kPhaseMask; }
// The same state word in `phase` (generation and flags kept).
constexpr uint32_t WithPhase(uint32_t s, uint32_t phase) {
  return (s & ~kPhaseMask) | phase;
}
constexpr uint32_t GenOf(uint32_t s) { return s >> 8; }
constexpr bool IsTerminal(uint32_t s) { return PhaseOf(s) >= kPhaseOk; }
constexpr uint32_t MakeSlotState(uint32_t gen, uint32_t flags, uint32_t phase) {
  return (gen << 8) | flags | phase;
}
inline constexpr uint32_t kGenMask = 0xffffffu;

// A task reference (what travels in the ring and in WorkerStatus::current):
// bit 63 set, generation in bits 32..55, slot index in bits 0..31.
constexpr uint64_t MakeTaskRef(uint32_t slot, uint32_t gen) {
  return (uint64_t{1} << 63) | (uint64_t{gen & kGenMask} << 32) | slot;
}
constexpr bool IsTaskRef(uint64_t v) { return (v >> 63) != 0; }
constexpr uint32_t SlotOfRef(uint64_t v) { return static_cast<uint32_t>(v); }
constexpr uint32_t GenOfRef(uint64_t v) {
  return static_cast<uint32_t>(v >> 32) & kGenMask;
}

// Where a payload or result lives.
inline constexpr uint32_t kWhereInline = 0;
inline constexpr uint32_t kWhereHeap = 1;

struct alignas(kCacheLine) TaskSlot {
  std::atomic<uint32_t> state;
  uint32_t reserved0;
  // Written by the parent before QUEUED.
  CodeRef invoker;
  uint64_t in_size;
  uint32_t in_where;
  uint32_t reserved1;
  SharedBlockRef in_block;  // with kWhereHeap
  // Written by the worker before OK/ERROR. out_block is recorded right
  // after allocation, so a block of a worker that dies is still freed.
  uint64_t out_size;
  uint32_t out_where;
  uint32_t reserved2;
  SharedBlockRef out_block;  // with kWhereHeap
  // Written by the monitor before LOST/TIMEOUT (it never touches out_*).
  int32_t lost_pid;
  int32_t lost_signal;
  int32_t lost_exit_code;
  int32_t ran_pid;  // the worker that took the task (informational)
  // Written by the parent before QUEUED; read by the monitor.
  int64_t timeout_ns;  // 0 = none
  // in_inline bytes of payload, then out_inline bytes of result follow.
};
static_assert(std::is_standard_layout_v<TaskSlot>);
static_assert(sizeof(TaskSlot) <= 2 * kCacheLine);

// Worker life states.
inline constexpr uint32_t kWorkerEmpty = 0;     // no process in this position
inline constexpr uint32_t kWorkerStarting = 1;  // running the initializer
inline constexpr uint32_t kWorkerReady = 2;     // taking tasks
inline constexpr uint32_t kWorkerInitFailed = 3;
inline constexpr uint32_t kWorkerExiting = 4;  // leaving normally

struct alignas(kCacheLine) WorkerStatus {
  std::atomic<uint32_t> pid;
  std::atomic<uint32_t> life;
  std::atomic<uint64_t> current;      // a task ref, or 0
  std::atomic<int64_t> started_ns;    // CLOCK_MONOTONIC of the current task
  std::atomic<uint64_t> tasks_done;
  std::atomic<uint32_t> incarnation;  // bumps when the position is refilled
  std::atomic<uint32_t> exit_reason;  // kExit* below
};
static_assert(std::is_standard_layout_v<WorkerStatus>);

inline constexpr uint32_t kExitNone = 0;
inline constexpr uint32_t kExitClosed = 1;     // ring closed and drained
inline constexpr uint32_t kExitMaxTasks = 2;   // maxtasksperchild
inline constexpr uint32_t kExitMemory = 3;     // max_memory_per_child
inline constexpr uint32_t kExitInitFailed = 4;
inline constexpr uint32_t kExitParentGone = 5;

// A worker process's exit code when its initializer threw.
inline constexpr int kInitFailedExitCode = 77;

struct alignas(kCacheLine) PoolShared {
  uint64_t magic;
  uint32_t version;
  uint32_t workers;
  uint32_t slots;
  uint32_t slot_stride;
  uint32_t in_inline;
  uint32_t out_inline;
  uint64_t status_offset;
  uint64_t slots_offset;
  uint64_t notify_offset;  // uint64 words, one bit per slot
  uint64_t ring_offset;
  uint64_t ring_bytes;
  uint64_t init_offset;
  uint64_t init_bytes;    // capacity of the initializer area
  uint64_t init_error_offset;  // kInitErrorCapacity bytes
  uint64_t heap_offset;
  uint64_t heap_bytes;
  uint64_t total_bytes;
  // Options the workers apply themselves.
  uint64_t max_tasks_per_child;   // 0 = unlimited
  uint64_t max_memory_per_child;  // bytes of RSS, 0 = unlimited
  uint32_t parent_pid;
  uint32_t has_initializer;
  CodeRef init_invoker;
  uint64_t init_size;
  // The first initializer failure, encoded (ErrorRecord).
  alignas(kCacheLine) std::atomic<uint32_t> init_error_state;  // 0, 1 writing, 2 done
  uint32_t init_error_size;
  // Completions the handler thread wants to hear about.
  alignas(kCacheLine) std::atomic<uint32_t> notify_seq;
  std::atomic<uint32_t> handler_waiting;
  // A worker waits for heap space: the parent should move finished results
  // out of shared memory.
  std::atomic<uint32_t> sweep_requested;
  alignas(kCacheLine) SpinPolicy result_spin;
};
static_assert(std::is_standard_layout_v<PoolShared>);
static_assert(std::atomic<uint64_t>::is_always_lock_free);
static_assert(std::atomic<uint32_t>::is_always_lock_free);
static_assert(std::atomic<int64_t>::is_always_lock_free);

inline constexpr std::size_t kInitErrorCapacity = 4096;

}  // namespace shoal::internal

#endif  // SHOAL_POOL_INTERNAL_POOL_SHARED_H_
