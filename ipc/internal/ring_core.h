// Copyright 2026 The shoal Authors.
//
// ring_core.h: the one shared-memory ring under Queue, SimpleQueue,
// JoinableQueue, Channel and the pool's task ring.
//
// Why by hand: Boost.Lockfree's queues hold fixed-size trivially copyable
// values, cannot block, and cannot survive a process that dies half-way
// through an operation. Queues, channels and the pool need all three.
//
// Pieces (iceoryx's ChunkQueueData / ChunkQueuePusher / ChunkQueuePopper):
//   RingData, RingSlot  the shared data: a control block and `capacity`
//                       slots of `stride` bytes (a 32-byte RingSlot header,
//                       then the inline payload).
//   RingCore            the process-local view of one ring: validated
//                       pointers and geometry, what this process does when a
//                       holder dies, who frees heap blocks; what both sides
//                       share (close, size, lost, wake-ups, repair).
//   RingWriter          the writer side: claim a slot, fill it, publish it
//                       (or abandon it); the writer registry.
//   RingReader          the reader side: claim a published slot, consume it,
//                       release it; what the slot's payload is (PayloadOf).
//   SlotReclaimer       the typed interface through which a ring asks its
//                       owner to free a heap block or to account for an item
//                       lost with a dead process.
// Slot states and positions are the value types of slot_word.h, payload
// references those of block_ref.h; nothing here does bit arithmetic on them.
//
// Algorithm
//   A bounded MPMC ring in the style of Vyukov's bounded queue, except that a
//   slot is *claimed by the slot itself* rather than by the shared index
//   alone: every slot has one SlotWord (lap, pid, phase). A writer at
//   position (L, i) (the RingPos in `tail`) moves slot i from (L, EMPTY) to
//   (L, WRITING, its pid) with one CAS, then advances `tail` (anyone who sees
//   the slot claimed helps advance it, so a writer that dies right after its
//   CAS never blocks the index). It fills the slot and publishes (L, FULL).
//   A reader at (L, i) moves FULL to (L, READING, pid), advances `head` the
//   same way, consumes, and releases the slot as (L + 1, EMPTY) for the next
//   lap's writer. The split-phase API (claim, fill, publish; claim, read,
//   release) is what lets Channel loan a slot to the user for zero-copy
//   writes and reads, and lets the pool read a task reference in place.
//
// Process death (HolderDeath)
//   The pid in a WRITING or READING slot names the process in the middle of
//   it. Two policies, chosen per ring by its owner (process-local, RingCore
//   options):
//   * kRepairedByWaiters (queues, channels): a peer that has waited on such
//     a slot for `kLivenessCheckInterval` checks that pid; if the process is
//     gone it takes the slot over and repairs it: a dead writer's slot
//     becomes FULL with the LOST flag (readers skip it), a dead reader's slot
//     becomes EMPTY for the next lap. Either way the dead process's one
//     in-flight item is lost and `lost()` counts it (and the reclaimer hears
//     of it); nothing else is lost and nobody waits more than about one
//     check interval for it.
//   Whose pid is it: a pid that is in use may belong to a new process that
//   got the dead holder's pid. So a holder counts as alive only when the
//   process now using its pid is registered on that side of this ring with
//   its own start time (writers and readers each have a small registry of
//   pid + start time, filled before a process's first claim). A live
//   process that never wrote (or read) this ring is not the holder, and the
//   slot is repaired (start times count 10 ms ticks; a pid comes back only
//   after the pid space wrapped). What stays open: with more than 16
//   processes on a side the registry overflows and the check falls back to
//   the pid alone; a reused pid that itself registered on the same side
//   passes for the holder; and all processes of a ring must share one pid
//   namespace (a pid from another namespace means nothing here).
//   * kRepairedByOwner (the pool's task ring): waiters never repair, and
//     never wake up to check liveness. The owner, which learns of deaths for
//     certain (pidfd), calls RepairReadsOf(pid, fn): every slot the dead
//     process was reading is handed to fn (which reads the task reference)
//     before it is released, so no task is silently dropped.
//
// Blocking
//   Readers sleep on `items_seq`, writers on `space_seq` (shared futexes).
//   Each side registers in a waiter count first and the other side only
//   issues FUTEX_WAKE when that count is non-zero and its operation is the
//   one the sleepers wait for (publishing the slot at `head`, releasing the
//   slot at `tail`); whoever then takes a slot hands the wake-up on when more
//   sleepers could proceed. So the fast path is system call free, and a busy
//   producer is not made to wake consumers that others are already serving.
//   Before sleeping a caller spins, adaptively (the shared SpinPolicy of
//   base/internal/spin.h, one per side). Every wake-up of the readers goes
//   through RingCore::WakeReaders (and of writers through WakeWriters): the
//   one place a multi-object waiter will hook into.
//
// Writers gone
//   A process registers itself as a writer (pid + start time, in a small
//   table in the ring) the first time it claims a slot for writing, and
//   unregisters when its last handle goes (RingWriter::Detach). A reader
//   blocked on an empty ring for one check interval looks at the table: when
//   at least one writer ever registered and every registered writer has
//   detached or died, it returns kClosed instead of waiting forever (the ring
//   itself is not closed: a writer that comes later can still put, and
//   readers then see its items). More than kRingMaxWriters writer processes
//   at once switch the check off (the table cannot tell). Off unless the
//   creator turns it on (set_close_on_writers_gone): with producers that come
//   and go one after another, "every writer is gone" can be true between two
//   of them, and Python's queues block then.
//
// Close: afterwards writers get kClosed (unless the ring was attached with
//   writes_after_close, as the pool's is: it requeues tasks of dead workers
//   after a close); readers drain what is published, then get kClosed.
//
// Memory ordering: publish and release are seq_cst exchanges (they pair with
// the waiter-count increment of the other side, Dekker style); claims are
// seq_cst CASes; payload bytes, the size/flags fields and the block
// reference are ordered by them.
//
// Validation points. Every value read from shared memory that decides an
// index, a length, an offset or a kind goes through one of these before use;
// a corrupt ring gives shoal::InvalidRegion, never an out-of-bounds access or
// an endless loop:
//   RingCore::Attach      the geometry (capacity, stride, slots offset)
//                         against the bytes mapped;
//   RingCore::SlotAt      every slot index taken from `head`/`tail`;
//   RingCore::CheckLaps   a slot more than one lap behind its index;
//   RingCore::MaxTries    the bound on helping loops (laps that never match);
//   RingReader::PayloadOf the slot's kind (flags), inline size and block
//                         reference, as a BlockRef the caller Resolve()s
//                         against the slot and its heap (block_ref.h).
//   pids and writer-table entries are only ever passed to liveness checks.
//
// Batches (RingBatch; Queue::put_many/get_many, Channel::loan_many/
//   receive_many): a side claims the slot at its index as above, then the
//   consecutive slots after it that are ready for it (one CAS each: the slot
//   word stays the claim, so a dead batch holder is repaired slot by slot as
//   any other), then moves its index once past all of them, fills them, and
//   publishes (or releases) them with one wake decision. A waiter that
//   repairs a dead holder's slot repairs the rest of its run of slots too,
//   so a batch costs one liveness interval, not one per slot.
//
// Held slots: a waiter whose slot is being written (or read) by a live
//   process keeps spinning past the adaptive spin, yielding, for at most
//   kHeldSpinNs: a large copy (1 MiB: ~30-50 us) outlasts the adaptive spin
//   (at most 20 us), and sleeping through it costs a FUTEX_WAKE and a
//   context switch per message. Writers claim the slot before they copy a
//   large payload and Announce() it (waking a reader that already sleeps
//   for that slot, so that it watches the copy instead of sleeping through
//   it), so that readers can see this. A waiter spins on a given held slot
//   state once; if that holder stays, it sleeps.
//
// Single writer / single reader (declared by the creator, set_single_sides):
//   the side's one process (pid + start time, recorded in the ring at its
//   first claim) keeps its index in its handle (rigtorp's cached indices):
//   it claims the slot at its cached position with one CAS and stores the
//   index instead of loading it and moving it with a CAS, and hands no
//   wake-up on to other writers (readers): there are none. Another live
//   process claiming on a declared side gets shoal::RuntimeError; once the
//   recorded process is gone, the next one takes its place (its slots are
//   repaired as any dead holder's). The slot word stays the claim, so crash
//   repair, close and wake-ups are those of the shared ring. One thread per
//   side: two threads of the one process stay correct (the CAS decides) but
//   lose the fast path.
//
// Designed for what comes next (not built): a broadcast
// ring with one cursor per subscriber (a reader that owns its cursor instead
// of sharing `head`).
//
// Watchers (ipc/wait.h's WaitSet): a process waiting on many rings at once
// adds kRingWatcher to a side's waiter count, then calls Poll(); if it must
// sleep it sleeps on that side's watch word (futex_waitv over many rings).
// WakeReaders/WakeWriters wake the claimers and the watchers apart (claimers
// one at a time on the seq word, watchers all at once on the watch word), so
// a watcher never takes a wake-up a sleeping claimer needed, and a ring
// nobody watches pays nothing more than before.
#ifndef SHOAL_IPC_INTERNAL_RING_CORE_H_
#define SHOAL_IPC_INTERNAL_RING_CORE_H_

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>

#include "shoal/base/deadline.h"
#include "shoal/base/internal/futex.h"
#include "shoal/base/internal/spin.h"
#include "shoal/ipc/internal/block_ref.h"
#include "shoal/ipc/internal/slot_word.h"

namespace shoal::internal {

class CachedSide;

inline constexpr std::size_t kRingAlign = 64;
// RingData::single_sides.
inline constexpr uint32_t kSingleWriter = 1u << 0;
inline constexpr uint32_t kSingleReader = 1u << 1;
inline constexpr int kRingMaxWriters = 16;
inline constexpr int kRingMaxReaders = 16;

// Slot flags.
inline constexpr uint32_t kSlotInline = 0;       // payload follows the header
inline constexpr uint32_t kSlotBlock = 1u << 0;  // payload in a heap block
inline constexpr uint32_t kSlotLost = 1u << 1;   // writer died: skip, count
inline constexpr uint32_t kSlotSkip = 1u << 2;   // writer abandoned: skip
// Free for the ring's user (JoinableQueue marks items it has counted). The
// ring clears all flags when a writer claims a slot and keeps user bits when
// it marks a slot lost, so the reclaimer's ItemLost can see them.
inline constexpr uint32_t kSlotUser0 = 1u << 8;
inline constexpr uint32_t kSlotRingFlags = 0xffu;

// Watchers (multi-object waiters, ipc/wait.h) register in a side's waiter
// count in units of kRingWatcher, so that the one "anybody waiting?" load the
// publish and release paths already do covers them too; they sleep on the
// side's watch word, which is woken (all of them) wherever that side's
// sleepers would be. Sleeping claimers count in the low 16 bits.
inline constexpr uint32_t kRingWatcher = 1u << 16;

// The fixed header of each slot; the inline payload follows it.
struct RingSlot {
  SharedSlotWord state;
  std::atomic<uint32_t> size;   // inline payload bytes
  std::atomic<uint32_t> flags;  // kSlot*
  SharedBlockRef block;         // the heap payload, with kSlotBlock
};
static_assert(std::is_standard_layout_v<RingSlot>);
static_assert(sizeof(RingSlot) == 32);
static_assert(std::atomic<uint32_t>::is_always_lock_free);

// The shared control block of a ring. The slots follow at `slots_offset`.
struct RingData {
  uint32_t capacity;      // slots, >= 1
  uint32_t stride;        // bytes per slot, a multiple of 64, > header
  uint64_t slots_offset;  // from this struct, a multiple of 64
  uint64_t ring_bytes;    // total bytes of this struct + slots
  alignas(kRingAlign) SharedRingPos tail;
  alignas(kRingAlign) SharedRingPos head;
  alignas(kRingAlign) std::atomic<uint32_t> items_seq;
  std::atomic<uint32_t> readers_waiting;  // sleepers + kRingWatcher * watchers
  std::atomic<uint32_t> read_watch_seq;   // watchers of the read side sleep here
  alignas(kRingAlign) std::atomic<uint32_t> space_seq;
  std::atomic<uint32_t> writers_waiting;  // sleepers + kRingWatcher * watchers
  std::atomic<uint32_t> write_watch_seq;
  alignas(kRingAlign) std::atomic<uint32_t> closed;
  std::atomic<uint32_t> close_on_writers_gone;  // see Writers gone
  std::atomic<uint64_t> lost;
  // Declared single sides (kSingleWriter | kSingleReader, set at creation)
  // and the process on each (pid << 32 | low 32 bits of its start time; 0 =
  // none yet). Read together with `closed`, on the same line.
  std::atomic<uint32_t> single_sides;
  std::atomic<uint64_t> single_writer;
  std::atomic<uint64_t> single_reader;
  // Writer registry (see "Writers gone"): entries are pid << 32 | low 32
  // bits of the process start time; 0 = free.
  alignas(kRingAlign) std::atomic<uint32_t> writers_ever;
  std::atomic<uint32_t> writers_overflow;
  std::atomic<uint64_t> writers[kRingMaxWriters];
  // Reader registry (identity only, see "Whose pid is it"): the same
  // entries, for processes that ever read; never unregistered, reused once
  // gone.
  alignas(kRingAlign) std::atomic<uint32_t> readers_overflow;
  std::atomic<uint64_t> readers[kRingMaxReaders];
  // Adaptive spinning before sleeping, one policy per side, shared by every
  // process so they adapt together.
  alignas(kRingAlign) SpinPolicy read_spin;
  SpinPolicy write_spin;
};
static_assert(std::is_standard_layout_v<RingData>);

// A slot claimed by this process (for writing or reading).
struct RingClaim {
  RingSlot* slot = nullptr;
  RingPos pos;
  std::byte* data = nullptr;  // the inline payload area
};

// `count` consecutive slots from `first` claimed by this process with one
// call (RingWriter::ClaimBatch, RingReader::ClaimBatch). RingCore::ClaimAt
// and NextClaim walk them.
struct RingBatch {
  RingPos first;
  uint32_t count = 0;
};

// What a ring asks of the owner of the memory its slots refer to: the queue
// that owns the heap its slots' blocks come from. Process-local, never in
// shared memory (so a virtual interface is fine).
class SlotReclaimer {
 public:
  // A slot that held `block` (a heap reference) was released, abandoned or
  // repaired after a death: free the block. Must not throw (it runs in
  // destructors and repairs); a block that cannot be freed leaks.
  virtual void FreeBlock(BlockRef block) noexcept = 0;
  // One item was lost with a process that died holding it (counted in
  // lost()); `flags` are its slot's flags, user bits included.
  virtual void ItemLost(uint32_t flags) noexcept = 0;

 protected:
  ~SlotReclaimer() = default;
};

// Who repairs a slot whose holder died (see "Process death").
enum class HolderDeath { kRepairedByWaiters, kRepairedByOwner };

// How this process uses a ring (process-local; every process attaching a
// given ring must choose the same).
struct RingOptions {
  HolderDeath holder_death = HolderDeath::kRepairedByWaiters;
  // Writers may still claim after Close() (readers drain, then kClosed).
  bool writes_after_close = false;
  // Frees heap blocks of released slots and hears of lost items (may be
  // null: a ring whose slots never hold blocks and nobody counts losses).
  SlotReclaimer* reclaimer = nullptr;
};

class RingCore {
 public:
  enum class Status { kOk, kWouldBlock, kTimedOut, kClosed };

  RingCore() = default;

  // Bytes needed for a ring of `capacity` slots each holding `inline_bytes`
  // of inline payload. Throws shoal::ValueError on absurd sizes.
  static std::size_t BytesFor(uint32_t capacity, std::size_t inline_bytes);
  // The slot stride BytesFor uses.
  static uint32_t StrideFor(std::size_t inline_bytes);

  // Constructs a ring in `mem` (64-byte aligned, BytesFor() bytes, zeroed or
  // not). Only the creator calls this, before anybody attaches.
  static RingCore Create(void* mem, std::size_t bytes, uint32_t capacity,
                         std::size_t inline_bytes,
                         const RingOptions& options = {});
  // Attaches to a ring another process created; validates its geometry
  // against `bytes` available. Throws shoal::InvalidRegion.
  static RingCore Attach(void* mem, std::size_t bytes,
                         const RingOptions& options = {});

  // Whether readers treat "every writer gone" as closed (default false).
  // Shared: the creator sets it once for every process.
  void set_close_on_writers_gone(bool on) {
    data_->close_on_writers_gone.store(on ? 1 : 0, std::memory_order_release);
  }
  // Declares one writer process and/or one reader process (see "Single
  // writer / single reader"). Shared: the creator sets it before anybody
  // claims.
  void set_single_sides(bool writer, bool reader) {
    data_->single_sides.store((writer ? kSingleWriter : 0) |
                                  (reader ? kSingleReader : 0),
                              std::memory_order_release);
  }
  // The longest a claim spins before sleeping (0: never spin). Shared.
  void set_max_spin(std::chrono::nanoseconds max) {
    SetMaxSpin(data_->read_spin, max);
    SetMaxSpin(data_->write_spin, max);
  }

  // After Close(), writers get kClosed (unless writes_after_close); readers
  // drain and then get kClosed. Wakes every sleeper. Idempotent.
  void Close();
  bool closed() const;
  // Items published or being written and not yet taken (approximate while
  // others operate).
  std::size_t size() const;
  uint32_t capacity() const { return capacity_; }
  std::size_t inline_capacity() const { return stride_ - sizeof(RingSlot); }
  // Items lost because the process handling them died.
  uint64_t lost() const;
  // The inline payload area of a claimed slot.
  std::span<std::byte> InlineArea(const RingClaim& claim) const {
    return {claim.data, inline_capacity()};
  }

  // The claim of the slot at `pos` that this process holds, for an owner
  // that keeps only the position (the pool's workers). Checks the index.
  RingClaim ClaimAt(RingPos pos) const {
    return ClaimAt(SlotAt(pos.index()), pos);
  }

  // The claim after `claim` in a batch (the next slot of the ring).
  RingClaim NextClaim(const RingClaim& claim) const {
    const RingPos next = claim.pos.Next(capacity_);
    RingSlot* slot =
        next.index() == 0
            ? reinterpret_cast<RingSlot*>(slots_)
            : reinterpret_cast<RingSlot*>(
                  reinterpret_cast<std::byte*>(claim.slot) + stride_);
    return ClaimAt(slot, next);
  }

  // Wakes every sleeping reader (they re-check, and sleep again if nothing
  // changed for them).
  void WakeAllReaders();

  // kRepairedByOwner: `pid` died (and is not reaped yet, so the pid cannot
  // be reused). Every slot it was reading is handed to fn(const RingClaim&)
  // (the payload is still in place) and then released for the next lap.
  // Then every sleeper is woken: the dead process may have owed the others
  // a wake-up (a reader hands the wake-up on after it takes a slot) that
  // nobody else will give. Returns how many slots it repaired.
  template <class Fn>
  std::size_t RepairReadsOf(pid_t pid, Fn&& fn) {
    std::size_t n = 0;
    for (uint32_t i = 0; i < capacity_; ++i) {
      RingClaim claim;
      if (!TakeOverReadOf(pid, i, &claim)) continue;
      fn(static_cast<const RingClaim&>(claim));
      FinishRepairedRead(claim);
      ++n;
    }
    WakeAfterDeath();
    return n;
  }

  bool valid() const { return data_ != nullptr; }
  RingData* data() const { return data_; }

  // How long a waiter waits on one slot before asking whether the process
  // holding it is still alive (kRepairedByWaiters).
  static constexpr auto kLivenessCheckInterval = std::chrono::milliseconds(50);
  // The most a waiter spins on a slot a live process is writing or reading
  // (see "Held slots"; a 16 MiB copy takes about this long).
  static constexpr int64_t kHeldSpinNs = 2'000'000;

 private:
  friend class RingWriter;
  friend class RingReader;

  // Validation points (see the file comment).
  RingSlot* SlotAt(uint32_t index) const {
    if (index >= capacity_) [[unlikely]] ThrowBadIndex(index);
    return reinterpret_cast<RingSlot*>(slots_ + uint64_t{index} * stride_);
  }
  [[noreturn]] void ThrowBadIndex(uint32_t index) const;
  void CheckLaps(int32_t laps_ahead, const char* index_name) const;
  uint64_t MaxTries() const { return uint64_t{4} * capacity_ + 64; }
  [[noreturn]] void ThrowCorrupt(const char* what) const;

  RingClaim ClaimAt(RingSlot* slot, RingPos pos) const {
    return {slot, pos, reinterpret_cast<std::byte*>(slot) + sizeof(RingSlot)};
  }
  // The rest of a batch whose first slot (batch->first) the caller holds,
  // for either side: claims the consecutive slots after it whose word is
  // ready(pos), turning it into mine(pos), up to `max` slots in all, calls
  // claimed(slot) for each, then moves `index` (and `single`'s cached index
  // when this process is the declared side) past the run once.
  template <class Ready, class Mine, class Claimed>
  void ClaimRestOfBatch(uint32_t max, RingBatch* batch, SharedRingPos& index,
                        CachedSide& single, Ready ready, Mine mine,
                        Claimed claimed);
  // Repairs the slot at `index` if the holder named in `state` is gone
  // (kRepairedByWaiters, see HolderGone), and the slots after it that the
  // same gone process holds in the same phase (the rest of its batch). True
  // when the caller should retry at once.
  bool RepairIfHolderGone(uint32_t index, SlotWord state);
  void RepairHeld(RingSlot* slot, SlotWord state);
  // Whether the holder named in a WRITING or READING `state` is gone: its
  // pid is free, or now belongs to a process not registered on that side
  // (see "Whose pid is it").
  bool HolderGone(SlotWord state) const;
  // Whether waiters repair dead holders (and so need the registries).
  bool repaired_by_waiters() const {
    return options_.holder_death == HolderDeath::kRepairedByWaiters;
  }
  // Takes the slot over from its holder (named in `state`); false when
  // somebody else did, or the slot moved on.
  bool TakeOver(RingSlot* slot, SlotWord state) const;
  bool TakeOverReadOf(pid_t pid, uint32_t index, RingClaim* claim);
  void FinishRepairedRead(const RingClaim& claim);
  void WakeAfterDeath();
  // Marks the slot read and free for the next lap's writer; wakes a writer
  // that sleeps for exactly this slot.
  void ReleaseSlot(const RingClaim& claim);
  void FreeBlockOf(RingSlot* slot) const;
  void CountLost(uint32_t flags) const;

  // The one place each side is woken (claimers one, watchers all).
  void WakeReaders();
  void WakeWriters();
  void WakeAllWriters();

  RingData* data_ = nullptr;
  std::byte* slots_ = nullptr;
  uint32_t capacity_ = 0;
  uint32_t stride_ = 0;
  RingOptions options_;
};

// Which process a ring handle registered in a registry for (pid 0: none),
// and at which entry. Threads of one process may share a handle, so both
// are atomics (relaxed: at worst two threads register the process twice,
// which costs an entry until the process is gone); copies start from the
// same marks.
class Registration {
 public:
  Registration() = default;
  Registration(const Registration& o) { *this = o; }
  Registration& operator=(const Registration& o) {
    pid_.store(o.pid(), std::memory_order_relaxed);
    index_.store(o.index(), std::memory_order_relaxed);
    return *this;
  }
  pid_t pid() const { return pid_.load(std::memory_order_relaxed); }
  int index() const { return index_.load(std::memory_order_relaxed); }
  void Set(pid_t pid, int index) {
    index_.store(index, std::memory_order_relaxed);
    pid_.store(pid, std::memory_order_relaxed);
  }

 private:
  std::atomic<pid_t> pid_{0};
  std::atomic<int> index_{-1};
};

// A declared single side's process-local state: the process this handle is
// the side's one process for (0: none) and its cached index. Threads of one
// process may share a handle: relaxed atomics keep that defined (the slot
// CAS decides who claims; a thread with a stale index falls back to the
// shared path), and cost nothing over plain loads and stores on x86-64.
class CachedSide {
 public:
  CachedSide() = default;
  CachedSide(const CachedSide& o) { *this = o; }
  CachedSide& operator=(const CachedSide& o) {
    pid_.store(o.pid(), std::memory_order_relaxed);
    next_.store(o.next().raw(), std::memory_order_relaxed);
    return *this;
  }
  pid_t pid() const { return pid_.load(std::memory_order_relaxed); }
  void set_pid(pid_t pid) { pid_.store(pid, std::memory_order_relaxed); }
  RingPos next() const {
    return RingPos::FromRaw(next_.load(std::memory_order_relaxed));
  }
  void set_next(RingPos p) { next_.store(p.raw(), std::memory_order_relaxed); }

 private:
  std::atomic<pid_t> pid_{0};
  std::atomic<uint64_t> next_{0};
};

// The writer side of a ring, for one process (keep one per process and ring:
// it carries this process's writer registration). Cheap to move.
class RingWriter {
 public:
  using Status = RingCore::Status;

  RingWriter() = default;
  explicit RingWriter(const RingCore& core) : core_(core) {}

  // kOk fills *claim; the caller writes the payload and then calls Publish
  // (or Abandon). kClosed once Close() was called (see writes_after_close).
  Status TryClaim(RingClaim* claim);
  Status Claim(RingClaim* claim, const Deadline& deadline);
  // Claims between 1 and `max` consecutive slots (blocking, like Claim, for
  // the first; the others only if free at once). The caller fills them
  // (core().ClaimAt(batch->first), NextClaim) and calls PublishBatch.
  Status TryClaimBatch(uint32_t max, RingBatch* batch);
  Status ClaimBatch(uint32_t max, RingBatch* batch, const Deadline& deadline);
  // Publishes the first sizes.size() slots of `batch` with those inline
  // sizes and `flags` (user bits set earlier are kept), and the rest as
  // skips (freeing their blocks); one wake-up decision for all of them.
  void PublishBatch(const RingBatch& batch, std::span<const uint32_t> sizes,
                    uint32_t flags = kSlotInline);
  // The same with one size for the first `published` slots.
  void PublishBatch(const RingBatch& batch, uint32_t published, uint32_t size,
                    uint32_t flags = kSlotInline);
  // Makes the slot visible to readers. `flags` says where the payload is
  // (user bits set earlier in claim.slot->flags are kept); a writer that
  // stores its payload in a heap block records it in claim.slot->block right
  // after allocating it (before filling it), so the block is freed if the
  // writer dies.
  void Publish(const RingClaim& claim, uint32_t size,
               uint32_t flags = kSlotInline);
  // Before a long fill (a large copy): wakes a reader that sleeps waiting
  // for this very slot, so that it watches the live writer fill it ("Held
  // slots") and takes the item without a second wake-up. Costs a
  // FUTEX_WAKE only when such a reader sleeps.
  void Announce(const RingClaim& claim);
  // Publishes the slot as "skip" (readers pass over it) and frees its block:
  // for a writer that claimed a slot and then failed to produce its payload.
  void Abandon(const RingClaim& claim);

  // This process stops being a writer (its last handle is going). Wakes
  // readers so they can notice. No-op if it never wrote.
  void Detach();

  // For watchers (see the file comment). Poll: would a claim succeed now
  // (kOk: the slot at tail is free), or end at once (kClosed)? Claims
  // nothing; on kWouldBlock *blocker is the slot state that blocks.
  // CheckBlocker: what a claimer does after being blocked by `blocker` for
  // kLivenessCheckInterval (repair a dead holder's slot); true when the
  // caller should Poll again at once.
  Status Poll(SlotWord* blocker);
  bool CheckBlocker(SlotWord blocker);

  RingCore& core() { return core_; }
  const RingCore& core() const { return core_; }

 private:
  // One attempt; on kWouldBlock, *blocker is the slot state that blocked.
  // `hand_on`: wake the next sleeping writer if it can proceed.
  Status TryClaimOnce(RingClaim* claim, SlotWord* blocker,
                      bool hand_on = true);
  Status TryClaimBatchOnce(uint32_t max, RingBatch* batch, SlotWord* blocker);
  template <class SizeOf>
  void PublishRun(const RingBatch& batch, uint32_t published, SizeOf size_of,
                  uint32_t flags);
  // Sets the slot's size and flags and marks it FULL (no wake-up).
  static void MarkFull(const RingClaim& claim, uint32_t size, uint32_t flags,
                       std::memory_order order);
  void Register();
  // Called by a writer that just took the slot at tail: if writers sleep
  // and the next slot is already free, hand the wake-up on.
  void WakeNextWriter();

  RingCore core_;
  // The process this handle registered as a writer for, and where.
  Registration registered_;
  // Single writer: the process this handle is the ring's writer for, and
  // its cached tail.
  CachedSide single_;
};

// The reader side of a ring. Cheap to copy.
class RingReader {
 public:
  using Status = RingCore::Status;

  RingReader() = default;
  explicit RingReader(const RingCore& core) : core_(core) {}

  // kOk fills *claim (its payload: PayloadOf); the caller consumes it and
  // then calls Release. Skipped and lost slots are passed over inside.
  // kClosed when closed and drained (or, with close_on_writers_gone, empty
  // and every writer gone). `may_spin` false sleeps at once.
  Status TryClaim(RingClaim* claim);
  Status Claim(RingClaim* claim, const Deadline& deadline,
               bool may_spin = true);
  // Claims between 1 and `max` consecutive published slots (blocking, like
  // Claim, for the first). Slots after the first may be skips or lost items
  // (IsItem false: lost ones are already counted); release the whole batch
  // with ReleaseBatch.
  Status TryClaimBatch(uint32_t max, RingBatch* batch);
  Status ClaimBatch(uint32_t max, RingBatch* batch, const Deadline& deadline,
                    bool may_spin = true);
  // Whether a slot of a claimed batch holds an item (not a skip or a loss).
  static bool IsItem(const RingClaim& claim) {
    return (claim.slot->flags.load(std::memory_order_relaxed) &
            (kSlotLost | kSlotSkip)) == 0;
  }
  // Gives the slot back to the writers (and its heap block to the
  // reclaimer).
  void Release(const RingClaim& claim);
  // Releases every slot of `batch`; one wake-up decision for all of them.
  void ReleaseBatch(const RingBatch& batch);

  // Where the claimed slot's payload is, as published: a heap reference
  // (kSlotBlock) or an inline one. Read from shared memory: Resolve() it
  // against core().InlineArea(claim) and the heap before use.
  BlockRef PayloadOf(const RingClaim& claim) const;

  // For watchers, as RingWriter's: Poll says whether a claim would succeed
  // (kOk: an item, possibly one a claim skips, is published at head) or
  // end (kClosed) now; claims nothing. CheckBlocker repairs a dead holder's
  // slot, and sets *writers_gone when every writer is gone (see Writers
  // gone; a claim would return kClosed).
  Status Poll(SlotWord* blocker);
  bool CheckBlocker(SlotWord blocker, bool* writers_gone);

  RingCore& core() { return core_; }
  const RingCore& core() const { return core_; }

 private:
  Status TryClaimOnce(RingClaim* claim, SlotWord* blocker,
                      bool hand_on = true);
  Status TryClaimBatchOnce(uint32_t max, RingBatch* batch, SlotWord* blocker);
  // The wait of Claim and ClaimBatch around one attempt `try_once`.
  template <class TryOnce>
  Status ClaimWith(TryOnce try_once, const Deadline& deadline, bool may_spin);
  // Writers gone (see the file comment).
  bool AllWritersGone() const;
  // Called by a reader that just took the slot at head: if readers sleep
  // and the next slot is already published, hand the wake-up on (its
  // publisher saw another head and woke nobody).
  void WakeNextReader();

  RingCore core_;
  // The process this handle registered as a reader for.
  Registration registered_;
  // Single reader: the process this handle is the ring's reader for, and
  // its cached head.
  CachedSide single_;
};

// The spin policy, if it is sane: a ring's shared policy lives in shared
// memory, where a peer may have written anything (its fields allow 4.29 s,
// which would make a 50 ms timeout return after seconds); a policy asking
// for more than 10 ms is ignored and the waiter sleeps at once.
SpinPolicy* SaneRingSpinPolicy(SpinPolicy* spin);

// RingWaitLoop's default held-slot hook: never spins past the adaptive spin
// (the broadcast ring's blocker names no holder to watch).
struct NoHeldSpin {
  template <class Blocker>
  bool Watches(SpinPolicy*, const Blocker&) const {
    return false;
  }
  template <class Blocker, class Status, class TryOnce>
  bool Spin(SpinPolicy*, const Deadline&, Blocker*, Status*, TryOnce&) {
    return false;
  }
};

// The wait loop of a claim on a shared-memory ring: this ring core's two
// sides and the broadcast ring's (broadcast_ring.h). Try, spin (a sane
// shared policy, or not at all), then sleep on `seq` registered in
// `waiters`, until woken, the deadline, or -- with `liveness` -- the next
// look at whatever blocks the caller: repair(blocker) runs when the same
// blocker stood in the way for RingCore::kLivenessCheckInterval and returns
// true for "look again at once" (it may throw: the registration is undone).
// Without `liveness` the caller sleeps until woken (an owner repairs).
// try_once(Blocker*) returns a Status with kWouldBlock and kTimedOut.
// held_spin may spin on a blocker that a live process holds, past the
// adaptive spin: held_spin.Spin(spin, deadline, &blocker, &s, try_once)
// returns true when try_once stopped blocking (its status in s); it runs
// after the adaptive spin, and again, unregistered, whenever
// held_spin.Watches(spin, blocker) says a blocker the caller was about to
// sleep on should be watched instead. This ring core's claims pass one for
// their slots (see "Held slots" above); the broadcast ring takes NoHeldSpin.
template <class Status, class Blocker, class TryOnce, class Repair,
          class HeldSpin = NoHeldSpin>
Status RingWaitLoop(std::atomic<uint32_t>& seq, std::atomic<uint32_t>& waiters,
                    SpinPolicy* spin, const Deadline& deadline, bool liveness,
                    TryOnce try_once, Repair repair,
                    HeldSpin held_spin = HeldSpin{}) {
  Blocker blocker{};
  Status s = try_once(&blocker);
  if (s != Status::kWouldBlock) return s;
  spin = SaneRingSpinPolicy(spin);
  if (spin != nullptr && !deadline.expired() && SpinUntil(*spin, [&] {
        s = try_once(&blocker);
        return s != Status::kWouldBlock;
      })) {
    return s;
  }
  if (held_spin.Spin(spin, deadline, &blocker, &s, try_once)) return s;
  Blocker last_blocker = blocker;
  auto blocked_since = Deadline::Clock::now();
  struct Registered {  // undone however an iteration ends
    std::atomic<uint32_t>* waiters;
    explicit Registered(std::atomic<uint32_t>& w) : waiters(&w) {
      waiters->fetch_add(1, std::memory_order_seq_cst);
    }
    ~Registered() { Undo(); }
    void Undo() {
      if (waiters != nullptr) waiters->fetch_sub(1, std::memory_order_seq_cst);
      waiters = nullptr;
    }
  };
  for (;;) {
    Registered registered(waiters);
    const uint32_t observed = seq.load(std::memory_order_seq_cst);
    s = try_once(&blocker);
    if (s != Status::kWouldBlock) return s;
    if (deadline.expired()) return Status::kTimedOut;
    if (held_spin.Watches(spin, blocker)) {
      registered.Undo();  // a watcher is not asleep: nobody need wake it
      if (held_spin.Spin(spin, deadline, &blocker, &s, try_once)) return s;
      continue;
    }
    if (!liveness) {
      FutexWait(&seq, observed, deadline);
      continue;
    }
    const auto now = Deadline::Clock::now();
    if (!(blocker == last_blocker)) {
      last_blocker = blocker;
      blocked_since = now;
    } else if (now - blocked_since >= RingCore::kLivenessCheckInterval) {
      blocked_since = now;
      if (repair(blocker)) continue;
    }
    FutexWait(&seq, observed,
              Deadline::Min(deadline,
                            Deadline(now + RingCore::kLivenessCheckInterval)));
  }
}

}  // namespace shoal::internal

#endif  // SHOAL_IPC_INTERNAL_RING_CORE_H_
