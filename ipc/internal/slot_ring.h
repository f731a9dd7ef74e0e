// Copyright 2026 The shoal Authors.
//
// slot_ring.h: the shared-memory ring under Queue, SimpleQueue, JoinableQueue
// and Channel.
//
// Why by hand: Boost.Lockfree's queues hold fixed-size trivially copyable
// values, cannot block, and cannot survive a process that dies half-way
// through an operation. Queues and channels need all three.
//
// Algorithm
//   A bounded MPMC ring of `capacity` slots of `stride` bytes, in the style of
//   Vyukov's bounded queue, except that a slot is *claimed by the slot itself*
//   rather than by the shared index alone: every slot has one 64-bit state word
//
//     [ lap : 32 ][ pid : 30 ][ phase : 2 ]     phase: EMPTY WRITING FULL READING
//
//   A position is (lap << 32 | index). A writer at position (L, i) moves slot i
//   from (L, EMPTY) to (L, WRITING, its pid) with one CAS, then advances `tail`
//   (anyone who sees the slot claimed helps advance it, so a writer that dies
//   right after its CAS never blocks the index). It fills the slot and
//   publishes (L, FULL). A reader at (L, i) moves FULL to (L, READING, pid),
//   advances `head` the same way, consumes, and releases the slot as
//   (L + 1, EMPTY) for the next lap's writer. The split-phase API (claim,
//   fill, publish; claim, read, release) is what lets Channel loan a slot to
//   the user for zero-copy writes and reads.
//
// Process death
//   The pid in a WRITING or READING slot names the process in the middle of
//   it. A peer that has waited on such a slot for `kLivenessCheckInterval`
//   checks that pid; if the process is gone it repairs the slot: a dead
//   writer's slot becomes FULL with the LOST flag (readers skip it), a dead
//   reader's slot becomes EMPTY for the next lap. Either way the dead
//   process's one in-flight item is lost and `lost()` counts it; nothing else
//   is lost and nobody waits more than about one check interval for it.
//
// Blocking
//   Readers sleep on `items_seq`, writers on `space_seq` (shared futexes).
//   Each side registers in a waiter count first and the other side only
//   issues FUTEX_WAKE when that count is non-zero and its operation is the
//   one the sleepers wait for (publishing the slot at `head`, releasing the
//   slot at `tail`); whoever then takes a slot hands the wake-up on when more
//   sleepers could proceed. So the fast path is system call free, and a busy
//   producer is not made to wake consumers that others are already serving. Before sleeping a caller spins, adaptively (the shared
//   SpinPolicy of sync/internal/spin.h, one per side): long enough to catch
//   a peer that is active on the other core and answers within a few
//   microseconds, not at all once spinning keeps failing.
//
// Writers gone
//   A process registers itself as a writer (pid + start time, in a small
//   table in the ring) the first time it claims a slot for writing, and
//   unregisters when its last handle goes (DetachWriter). A reader blocked on
//   an empty ring for one check interval looks at the table: when at least
//   one writer ever registered and every registered writer has detached or
//   died, it returns kClosed instead of waiting forever (the ring itself is
//   not closed: a writer that comes later can still put, and readers then
//   see its items). More than kRingMaxWriters writer processes at once
//   switch the check off (the table cannot tell).
//   This is off unless the creator turns it on (set_close_on_writers_gone):
//   with producers that come and go one after another, "every writer is
//   gone" can be true between two of them, and Python's queues block then.
//
// Memory ordering: publish and release are seq_cst exchanges (they pair with
// the waiter-count increment of the other side, Dekker style); claims are
// acquire CASes; payload bytes and the size/flags fields are ordered by them.
//
// Validation: every index read from shared memory is range-checked before it
// is used; a corrupted ring gives shoal::InvalidRegion, never an out-of-bounds
// access.
#ifndef SHOAL_IPC_INTERNAL_SLOT_RING_H_
#define SHOAL_IPC_INTERNAL_SLOT_RING_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "shoal/base/deadline.h"
#include "shoal/base/internal/spin.h"

namespace shoal::internal {

inline constexpr std::size_t kRingAlign = 64;
inline constexpr int kRingMaxWriters = 16;

// Slot flags.
inline constexpr uint32_t kSlotInline = 0;      // payload follows the header
inline constexpr uint32_t kSlotBlock = 1u << 0;  // payload in a heap block
inline constexpr uint32_t kSlotLost = 1u << 1;   // writer died: skip, count
inline constexpr uint32_t kSlotSkip = 1u << 2;   // writer abandoned: skip
// Free for the ring's user (JoinableQueue marks items it has counted). The
// ring clears all flags when a writer claims a slot and keeps user bits when
// it marks a slot lost, so the lost hook can see them.
inline constexpr uint32_t kSlotUser0 = 1u << 8;

// The fixed header of each slot; the payload follows it.
struct SlotHeader {
  std::atomic<uint64_t> state;
  std::atomic<uint32_t> size;   // payload bytes
  std::atomic<uint32_t> flags;  // kSlot*
  std::atomic<uint64_t> block;  // heap block offset + 1; 0 = none
  std::atomic<uint64_t> block_len;
};
static_assert(std::is_standard_layout_v<SlotHeader>);
static_assert(sizeof(SlotHeader) == 32);
static_assert(std::atomic<uint64_t>::is_always_lock_free);

// The shared control block of a ring. The slots follow at `slots_offset`.
struct RingShared {
  uint32_t capacity;      // slots, >= 1
  uint32_t stride;        // bytes per slot, a multiple of 64, > header
  uint64_t slots_offset;  // from this struct, a multiple of 64
  uint64_t ring_bytes;    // total bytes of this struct + slots
  alignas(kRingAlign) std::atomic<uint64_t> tail;
  alignas(kRingAlign) std::atomic<uint64_t> head;
  alignas(kRingAlign) std::atomic<uint32_t> items_seq;
  std::atomic<uint32_t> readers_waiting;
  alignas(kRingAlign) std::atomic<uint32_t> space_seq;
  std::atomic<uint32_t> writers_waiting;
  alignas(kRingAlign) std::atomic<uint32_t> closed;
  std::atomic<uint32_t> close_on_writers_gone;  // see Writers gone
  std::atomic<uint64_t> lost;
  // Writer registry (see "Writers gone"): entries are pid << 32 | low 32
  // bits of the process start time; 0 = free.
  alignas(kRingAlign) std::atomic<uint32_t> writers_ever;
  std::atomic<uint32_t> writers_overflow;
  std::atomic<uint64_t> writers[kRingMaxWriters];
  // Adaptive spinning before sleeping, one policy per side, shared by every
  // process so they adapt together.
  alignas(kRingAlign) SpinPolicy read_spin;
  SpinPolicy write_spin;
};
static_assert(std::is_standard_layout_v<RingShared>);

// Called when a slot holding a heap block is recovered or skipped, so the
// owner of the heap can free it.
using FreeBlockFn = void (*)(void* ctx, uint64_t block_offset,
                             uint64_t block_len);
// Called once for every item lost to a process death, with the slot's flags.
using LostFn = void (*)(void* ctx, uint32_t flags);

// The process-local handle on a ring in shared memory. Cheap to copy.
class SlotRing {
 public:
  enum class Status { kOk, kWouldBlock, kTimedOut, kClosed };

  struct Claim {
    SlotHeader* slot = nullptr;
    uint64_t pos = 0;
    std::byte* data = nullptr;  // the inline payload area
  };

  SlotRing() = default;

  // Bytes needed for a ring of `capacity` slots each holding `inline_bytes`
  // of inline payload. Throws shoal::ValueError on absurd sizes.
  static std::size_t BytesFor(uint32_t capacity, std::size_t inline_bytes);
  // The slot stride BytesFor uses.
  static uint32_t StrideFor(std::size_t inline_bytes);

  // Constructs a ring in `mem` (64-byte aligned, BytesFor() bytes, zeroed or
  // not). Only the creator calls this, before anybody attaches.
  static SlotRing Create(void* mem, std::size_t bytes, uint32_t capacity,
                         std::size_t inline_bytes);
  // Attaches to a ring another process created; validates its geometry
  // against `bytes` available. Throws shoal::InvalidRegion.
  static SlotRing Attach(void* mem, std::size_t bytes);

  void set_free_block(FreeBlockFn fn, void* ctx) {
    free_block_ = fn;
    free_ctx_ = ctx;
  }
  void set_lost_hook(LostFn fn, void* ctx) {
    lost_fn_ = fn;
    lost_ctx_ = ctx;
  }
  // Whether readers treat "every writer gone" as closed (default false).
  // Shared: the creator sets it once for every process.
  void set_close_on_writers_gone(bool on) {
    shared_->close_on_writers_gone.store(on ? 1 : 0, std::memory_order_release);
  }
  // This process stops being a writer (its last handle is going). Wakes
  // readers so they can notice. No-op if it never wrote.
  void DetachWriter();
  // True when writers ever registered and all of them detached or died.
  bool AllWritersGone();

  // The longest Claim* spins before sleeping (0: never spin). Shared.
  void set_max_spin(std::chrono::nanoseconds max) {
    SetMaxSpin(shared_->read_spin, max);
    SetMaxSpin(shared_->write_spin, max);
  }

  // Writer side. kOk fills *claim; the caller writes the payload and then
  // calls Publish (or Abandon). kClosed once Close() was called.
  Status TryClaimWrite(Claim* claim);
  Status ClaimWrite(Claim* claim, const Deadline& deadline);
  // Makes the slot visible to readers. `flags` says where the payload is
  // (plus user bits set earlier with claim.slot->flags are kept); a
  // writer that stores its payload in a heap block records the block in
  // claim.slot->block / block_len right after allocating it (before filling
  // it), so the block is freed if the writer dies.
  void Publish(const Claim& claim, uint32_t size, uint32_t flags = kSlotInline);
  // Publishes the slot as "skip": readers pass over it. For a writer that
  // claimed a slot and then failed to produce its payload.
  void Abandon(const Claim& claim);

  // Reader side. kOk fills *claim (size/flags/block readable from the slot);
  // the caller consumes the payload and then calls Release. Skipped and lost
  // slots are passed over inside. kClosed when closed and drained.
  Status TryClaimRead(Claim* claim);
  Status ClaimRead(Claim* claim, const Deadline& deadline);
  void Release(const Claim& claim);

  // After Close(), writers get kClosed; readers drain and then get kClosed.
  // Wakes every sleeper. Idempotent.
  void Close();
  bool closed() const;
  // Items published or being written and not yet taken (approximate while
  // others operate).
  std::size_t size() const;
  uint32_t capacity() const { return capacity_; }
  std::size_t inline_capacity() const { return stride_ - sizeof(SlotHeader); }
  // Items lost because the process handling them died.
  uint64_t lost() const;

  bool valid() const { return shared_ != nullptr; }
  RingShared* shared() const { return shared_; }

  // How long a waiter waits on one slot before asking whether the process
  // holding it is still alive.
  static constexpr auto kLivenessCheckInterval = std::chrono::milliseconds(50);

 private:
  SlotHeader* SlotAt(uint32_t index) const;
  uint64_t MaxTries() const;
  [[noreturn]] void ThrowCorrupt(const char* what) const;
  uint64_t Next(uint64_t pos) const;
  void CheckPos(uint64_t pos) const;
  // One attempt; on kWouldBlock, *blocker is the slot state that blocked.
  Status TryClaimWriteOnce(Claim* claim, uint64_t* blocker);
  Status TryClaimReadOnce(Claim* claim, uint64_t* blocker);
  // Repairs the slot if the process named in `state` is gone.
  bool RecoverIfOwnerGone(SlotHeader* slot, uint64_t state);
  void RegisterWriter();
  void WakeReaders();
  void WakeWriters();
  void WakeNextReader();
  void WakeNextWriter();
  void FreeBlockOf(SlotHeader* slot);

  RingShared* shared_ = nullptr;
  std::byte* slots_ = nullptr;
  uint32_t capacity_ = 0;
  uint32_t stride_ = 0;
  FreeBlockFn free_block_ = nullptr;
  void* free_ctx_ = nullptr;
  LostFn lost_fn_ = nullptr;
  void* lost_ctx_ = nullptr;
  // The process this handle registered as a writer for (0: none), and where.
  pid_t writer_pid_ = 0;
  int writer_index_ = -1;
};

}  // namespace shoal::internal

#endif  // SHOAL_IPC_INTERNAL_SLOT_RING_H_
