// Copyright 2026 The shoal Authors.
#include "shoal/ipc/internal/ring_core.h"

#include <sched.h>

#include <algorithm>
#include <climits>
#include <new>
#include <string>

#include "shoal/base/errors.h"
#include "shoal/base/internal/futex.h"
#include "shoal/base/internal/process_liveness.h"

namespace shoal::internal {
namespace {

using P = SlotPhase;
using Status = RingCore::Status;

constexpr uint64_t kMaxRingBytes = uint64_t{1} << 40;
// The longest spin a shared ring policy may ask for (SaneRingSpinPolicy).
constexpr uint32_t kMaxRingSpinNs = 10'000'000;

// RingWaitLoop's held-slot hook for this ring core's claims (see "Held
// slots" in the header): spins (yielding after kYieldAfterNs) while the slot
// the caller waits on stays held by one live process other than the
// caller's. Bounded by kHeldSpinNs and the deadline; never when spinning is
// off (no sane policy, or its max_ns is 0).
//
// A waiter woken onto a slot in a held state it has not watched yet (a
// writer announced the slot it now fills, or a reader holds it) watches it
// once instead of sleeping through the copy; a holder that stays in that
// state is slept on, not spun on again.
struct HeldSlotSpin {
  // The held slot state spun on last.
  SlotWord watched;

  static bool SpinningOn(SpinPolicy* spin) {
    return spin != nullptr && spin->max_ns.load(std::memory_order_relaxed) != 0;
  }
  // Whether a waiter about to sleep on `blocker` should watch it instead.
  bool Watches(SpinPolicy* spin, SlotWord blocker) const {
    return SpinningOn(spin) && blocker.held() && blocker != watched;
  }
  // True when try_once stopped blocking (its status in *s).
  template <class TryOnce>
  bool Spin(SpinPolicy* spin, const Deadline& deadline, SlotWord* blocker,
            Status* s, TryOnce& try_once) {
    if (!SpinningOn(spin) || !blocker->held()) return false;
    watched = *blocker;
    const pid_t holder = blocker->pid();
    if (holder == CachedPid() || IsProcessGone(holder)) return false;
    int64_t limit = RingCore::kHeldSpinNs;
    if (!deadline.infinite()) {
      limit = std::min<int64_t>(limit, deadline.remaining().count());
    }
    const int64_t start = MonotonicNanos();
    for (uint32_t i = 1;; ++i) {
      CpuRelax();
      *s = try_once(blocker);
      if (*s != Status::kWouldBlock) return true;
      if (!blocker->held() || blocker->pid() != holder) return false;
      if ((i & 7) == 0) {
        const int64_t spent = MonotonicNanos() - start;
        if (spent >= limit) return false;
        if (spent >= kYieldAfterNs) sched_yield();
      }
    }
  }
};

// Moves `index` from somewhere in [from, to) to `to` (a batch claimed the
// slots up to `to`); others may have helped it part of the way, or past.
void AdvanceTo(SharedRingPos& index, RingPos from, RingPos to,
               uint32_t capacity) {
  RingPos cur = index.Load(std::memory_order_acquire);
  while (RingPos::Distance(from, cur, capacity) >= 0 &&
         RingPos::Distance(cur, to, capacity) > 0) {
    if (index.Advance(cur, to)) return;
    cur = index.Load(std::memory_order_acquire);
  }
}

constexpr uint64_t HeaderBytes() {
  return (sizeof(RingData) + kRingAlign - 1) / kRingAlign * kRingAlign;
}

uint64_t WriterEntry(pid_t pid, uint64_t start_time) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(pid)) << 32) |
         (start_time & 0xffffffffu);
}

bool WriterGone(uint64_t entry) {
  const pid_t pid = static_cast<pid_t>(entry >> 32);
  if (IsProcessGone(pid)) return true;
  const uint64_t start = ProcessStartTime(pid);
  return start != 0 && (start & 0xffffffffu) != (entry & 0xffffffffu);
}

// Puts this process (pid + start time) into a registry of n entries, unless
// it is there already; reuses the entries of processes that are gone. Sets
// *overflow when there is no room (the registry can no longer tell).
// Returns the entry's index, or -1.
int RegisterIn(std::atomic<uint64_t>* table, int n,
               std::atomic<uint32_t>* overflow) {
  const uint64_t entry = WriterEntry(CachedPid(), CachedStartTime());
  for (int i = 0; i < n; ++i) {
    if (table[i].load(std::memory_order_relaxed) == entry) return i;
  }
  for (int pass = 0; pass < 2; ++pass) {
    for (int i = 0; i < n; ++i) {
      uint64_t cur = table[i].load(std::memory_order_relaxed);
      // Second pass: reuse the entries of processes that are gone.
      if (cur != 0 && !(pass == 1 && WriterGone(cur))) continue;
      if (table[i].compare_exchange_strong(cur, entry,
                                           std::memory_order_seq_cst)) {
        return i;
      }
    }
  }
  overflow->store(1, std::memory_order_seq_cst);
  return -1;
}

// Makes this process the one on a declared single side (`slot` is
// single_writer or single_reader); RuntimeError while another live process
// is. Returns this process's pid.
pid_t BecomeSingle(std::atomic<uint64_t>& slot, const char* side) {
  const pid_t me = CachedPid();
  const uint64_t mine = WriterEntry(me, CachedStartTime());
  uint64_t cur = slot.load(std::memory_order_acquire);
  while (cur != mine) {
    if (cur != 0 && !WriterGone(cur)) {
      throw RuntimeError(std::string("ring declared single-") + side +
                         ": process " + std::to_string(cur >> 32) +
                         " is its " + side + " (pid " + std::to_string(me) +
                         " may not be a second one)");
    }
    if (slot.compare_exchange_strong(cur, mine, std::memory_order_seq_cst)) {
      break;
    }
  }
  return me;
}

}  // namespace

SpinPolicy* SaneRingSpinPolicy(SpinPolicy* spin) {
  if (spin == nullptr ||
      spin->max_ns.load(std::memory_order_relaxed) > kMaxRingSpinNs ||
      spin->estimate_ns.load(std::memory_order_relaxed) > kMaxRingSpinNs) {
    return nullptr;
  }
  return spin;
}

// ---------------------------------------------------------------------------
// RingCore: geometry, validation, shared operations, repair.

uint32_t RingCore::StrideFor(std::size_t inline_bytes) {
  if (inline_bytes > (uint64_t{1} << 31)) {
    throw ValueError("ring: inline payload of " +
                     std::to_string(inline_bytes) + " bytes is too large");
  }
  uint64_t raw = sizeof(RingSlot) + inline_bytes;
  return static_cast<uint32_t>((raw + kRingAlign - 1) / kRingAlign *
                               kRingAlign);
}

std::size_t RingCore::BytesFor(uint32_t capacity, std::size_t inline_bytes) {
  if (capacity == 0) throw ValueError("ring: capacity must be >= 1");
  uint64_t stride = StrideFor(inline_bytes);
  if (stride * capacity / capacity != stride ||
      HeaderBytes() + stride * capacity > kMaxRingBytes) {
    throw ValueError("ring: " + std::to_string(capacity) + " slots of " +
                     std::to_string(stride) + " bytes is too large");
  }
  return HeaderBytes() + stride * capacity;
}

RingCore RingCore::Create(void* mem, std::size_t bytes, uint32_t capacity,
                          std::size_t inline_bytes,
                          const RingOptions& options) {
  std::size_t need = BytesFor(capacity, inline_bytes);
  if (bytes < need || reinterpret_cast<uintptr_t>(mem) % kRingAlign != 0) {
    throw ValueError("ring: memory too small or misaligned");
  }
  auto* d = new (mem) RingData;
  d->capacity = capacity;
  d->stride = StrideFor(inline_bytes);
  d->slots_offset = HeaderBytes();
  d->ring_bytes = need;
  d->tail.Store(RingPos(), std::memory_order_relaxed);
  d->head.Store(RingPos(), std::memory_order_relaxed);
  d->items_seq.store(0, std::memory_order_relaxed);
  d->readers_waiting.store(0, std::memory_order_relaxed);
  d->read_watch_seq.store(0, std::memory_order_relaxed);
  d->write_watch_seq.store(0, std::memory_order_relaxed);
  d->space_seq.store(0, std::memory_order_relaxed);
  d->writers_waiting.store(0, std::memory_order_relaxed);
  d->closed.store(0, std::memory_order_relaxed);
  d->close_on_writers_gone.store(0, std::memory_order_relaxed);
  d->lost.store(0, std::memory_order_relaxed);
  d->single_sides.store(0, std::memory_order_relaxed);
  d->single_writer.store(0, std::memory_order_relaxed);
  d->single_reader.store(0, std::memory_order_relaxed);
  d->writers_ever.store(0, std::memory_order_relaxed);
  d->writers_overflow.store(0, std::memory_order_relaxed);
  for (auto& w : d->writers) w.store(0, std::memory_order_relaxed);
  d->readers_overflow.store(0, std::memory_order_relaxed);
  for (auto& r : d->readers) r.store(0, std::memory_order_relaxed);
  d->read_spin.Init();
  d->write_spin.Init();
  auto* base = static_cast<std::byte*>(mem) + d->slots_offset;
  for (uint32_t i = 0; i < capacity; ++i) {
    auto* slot = new (base + uint64_t{i} * d->stride) RingSlot;
    slot->state.Store(SlotWord(), std::memory_order_relaxed);
    slot->size.store(0, std::memory_order_relaxed);
    slot->flags.store(0, std::memory_order_relaxed);
    slot->block.Clear();
  }
  std::atomic_thread_fence(std::memory_order_release);
  return Attach(mem, bytes, options);
}

RingCore RingCore::Attach(void* mem, std::size_t bytes,
                          const RingOptions& options) {
  if (mem == nullptr || reinterpret_cast<uintptr_t>(mem) % kRingAlign != 0 ||
      bytes < sizeof(RingData)) {
    throw InvalidRegion("ring: memory too small or misaligned");
  }
  auto* d = static_cast<RingData*>(mem);
  const uint32_t capacity = d->capacity;
  const uint32_t stride = d->stride;
  const uint64_t slots_offset = d->slots_offset;
  if (capacity == 0 || stride <= sizeof(RingSlot) ||
      stride % kRingAlign != 0 || slots_offset < sizeof(RingData) ||
      slots_offset % kRingAlign != 0 || slots_offset > bytes ||
      (bytes - slots_offset) / stride < capacity) {
    throw InvalidRegion("ring: corrupt geometry (capacity " +
                        std::to_string(capacity) + ", stride " +
                        std::to_string(stride) + ", " + std::to_string(bytes) +
                        " bytes available)");
  }
  RingCore core;
  core.data_ = d;
  core.slots_ = static_cast<std::byte*>(mem) + slots_offset;
  core.capacity_ = capacity;
  core.stride_ = stride;
  core.options_ = options;
  return core;
}

void RingCore::ThrowCorrupt(const char* what) const {
  throw InvalidRegion(std::string("ring: ") + what +
                      ": shared memory corrupt");
}

void RingCore::ThrowBadIndex(uint32_t index) const {
  throw InvalidRegion("ring: index " + std::to_string(index) +
                      " out of range (capacity " + std::to_string(capacity_) +
                      "): shared memory corrupt");
}

void RingCore::CheckLaps(int32_t laps_ahead, const char* index_name) const {
  // One lap behind is normal (the previous lap's item or reader is still
  // there); further behind, the index passed a position that was never
  // written or read: only a corrupt ring.
  if (laps_ahead < -1) [[unlikely]] {
    throw InvalidRegion(std::string("ring: a slot two laps behind the ") +
                        index_name + " index: shared memory corrupt");
  }
}

void RingCore::FreeBlockOf(RingSlot* slot) const {
  const BlockRef block = slot->block.Take();
  if (!block.is_none() && options_.reclaimer != nullptr) {
    options_.reclaimer->FreeBlock(block);
  }
}

void RingCore::CountLost(uint32_t flags) const {
  data_->lost.fetch_add(1, std::memory_order_relaxed);
  if (options_.reclaimer != nullptr) options_.reclaimer->ItemLost(flags);
}

namespace {

// Wakes `claimers` sleepers on `seq` if the low bits of `waiting` count any,
// and every watcher on `watch` if the high bits do (see kRingWatcher).
void WakeSide(std::atomic<uint32_t>& seq, std::atomic<uint32_t>& watch,
              const std::atomic<uint32_t>& waiting, int claimers) {
  const uint32_t w = waiting.load(std::memory_order_seq_cst);
  if (w % kRingWatcher != 0) {
    seq.fetch_add(1, std::memory_order_seq_cst);
    FutexWake(&seq, claimers);
  }
  if (w >= kRingWatcher) {
    watch.fetch_add(1, std::memory_order_seq_cst);
    FutexWake(&watch, INT_MAX);
  }
}

}  // namespace

void RingCore::WakeReaders() {
  WakeSide(data_->items_seq, data_->read_watch_seq, data_->readers_waiting, 1);
}

void RingCore::WakeWriters() {
  WakeSide(data_->space_seq, data_->write_watch_seq, data_->writers_waiting,
           1);
}

void RingCore::WakeAllWriters() {
  WakeSide(data_->space_seq, data_->write_watch_seq, data_->writers_waiting,
           INT_MAX);
}

void RingCore::WakeAllReaders() {
  WakeSide(data_->items_seq, data_->read_watch_seq, data_->readers_waiting,
           INT_MAX);
}

void RingCore::ReleaseSlot(const RingClaim& claim) {
  claim.slot->state.Exchange(SlotWord::ReleasedAt(claim.pos),
                             std::memory_order_seq_cst);
  // Sleeping writers wait for the slot at `tail` (the ring is full): only
  // the release of that very slot wakes one (see WakeNextWriter).
  if (data_->writers_waiting.load(std::memory_order_seq_cst) > 0 &&
      data_->tail.Load(std::memory_order_seq_cst) == claim.pos.NextLap()) {
    WakeWriters();
  }
}

bool RingCore::TakeOver(RingSlot* slot, SlotWord state) const {
  // Take the dead process's claim over first, so that only one survivor
  // repairs the slot and nobody touches a slot somebody else re-used.
  SlotWord expected = state;
  return slot->state.CompareExchange(expected, state.TakenOverBy(CachedPid()),
                                     std::memory_order_seq_cst);
}

bool RingCore::HolderGone(SlotWord state) const {
  const pid_t pid = state.pid();
  if (IsProcessGone(pid)) return true;
  // The pid is in use: by the holder only if that process is registered on
  // the holder's side with its own start time (see "Whose pid is it").
  const bool writing = state.is(P::kWriting);
  const std::atomic<uint32_t>& overflow =
      writing ? data_->writers_overflow : data_->readers_overflow;
  if (overflow.load(std::memory_order_acquire) != 0) return false;
  const uint64_t start = ProcessStartTime(pid);
  if (start == 0) return false;  // /proc unreadable: the pid alone
  const uint64_t entry = WriterEntry(pid, start);
  const std::atomic<uint64_t>* table = writing ? data_->writers : data_->readers;
  const int n = writing ? kRingMaxWriters : kRingMaxReaders;
  for (int i = 0; i < n; ++i) {
    if (table[i].load(std::memory_order_acquire) == entry) return false;
  }
  return true;
}

bool RingCore::RepairIfHolderGone(uint32_t index, SlotWord state) {
  if (!state.held()) return false;
  const pid_t pid = state.pid();
  if (pid == CachedPid() || !HolderGone(state)) return false;
  RingSlot* slot = SlotAt(index);
  if (!TakeOver(slot, state)) {
    return true;  // somebody else repaired it (or it moved on): retry
  }
  RepairHeld(slot, state);
  // The rest of the dead process's batch: the slots after this one it holds
  // in the same phase (bounded by the ring's size). Each is judged again
  // after its word is read: a new process with the reused pid registers
  // before it claims, so a slot it claimed after the dead run is never
  // taken for part of that run.
  for (uint32_t n = 1; n < capacity_; ++n) {
    index = index + 1 >= capacity_ ? 0 : index + 1;
    slot = SlotAt(index);
    const SlotWord next = slot->state.Load(std::memory_order_seq_cst);
    if (!next.HeldBy(pid) || next.phase() != state.phase() ||
        !HolderGone(next) || !TakeOver(slot, next)) {
      break;
    }
    RepairHeld(slot, next);
  }
  return true;
}

void RingCore::RepairHeld(RingSlot* slot, SlotWord state) {
  if (state.is(P::kWriting)) {
    // The writer died before publishing: readers will skip and count it.
    slot->size.store(0, std::memory_order_relaxed);
    slot->flags.store(
        kSlotLost | (slot->flags.load(std::memory_order_relaxed) &
                     ~kSlotRingFlags),
        std::memory_order_relaxed);
    slot->state.Exchange(state.Published(), std::memory_order_seq_cst);
    if (data_->readers_waiting.load(std::memory_order_seq_cst) > 0) {
      WakeReaders();
    }
  } else {
    // The reader died before it finished: its item is lost.
    CountLost(slot->flags.load(std::memory_order_relaxed));
    FreeBlockOf(slot);
    slot->state.Exchange(state.Released(), std::memory_order_seq_cst);
    if (data_->writers_waiting.load(std::memory_order_seq_cst) > 0) {
      WakeWriters();
    }
  }
}

bool RingCore::TakeOverReadOf(pid_t pid, uint32_t index, RingClaim* claim) {
  RingSlot* slot = SlotAt(index);
  const SlotWord state = slot->state.Load(std::memory_order_acquire);
  if (!state.is(P::kReading) || !state.HeldBy(pid)) return false;
  if (!TakeOver(slot, state)) return false;
  *claim = ClaimAt(slot, RingPos(state.lap(), index));
  return true;
}

void RingCore::FinishRepairedRead(const RingClaim& claim) {
  FreeBlockOf(claim.slot);
  claim.slot->state.Exchange(SlotWord::ReleasedAt(claim.pos),
                             std::memory_order_seq_cst);
  if (data_->writers_waiting.load(std::memory_order_seq_cst) > 0) {
    WakeWriters();
  }
}

void RingCore::WakeAfterDeath() {
  // Sleepers of a ring repaired by its owner never wake up to check on
  // others: a hand-off the dead process owed them must come from here.
  if (data_->readers_waiting.load(std::memory_order_seq_cst) > 0) {
    WakeAllReaders();
  }
  if (data_->writers_waiting.load(std::memory_order_seq_cst) > 0) {
    WakeAllWriters();
  }
}

void RingCore::Close() {
  data_->closed.store(1, std::memory_order_seq_cst);
  data_->items_seq.fetch_add(1, std::memory_order_seq_cst);
  data_->space_seq.fetch_add(1, std::memory_order_seq_cst);
  data_->read_watch_seq.fetch_add(1, std::memory_order_seq_cst);
  data_->write_watch_seq.fetch_add(1, std::memory_order_seq_cst);
  FutexWake(&data_->items_seq, INT_MAX);
  FutexWake(&data_->space_seq, INT_MAX);
  FutexWake(&data_->read_watch_seq, INT_MAX);
  FutexWake(&data_->write_watch_seq, INT_MAX);
}

bool RingCore::closed() const {
  return data_->closed.load(std::memory_order_acquire) != 0;
}

std::size_t RingCore::size() const {
  const RingPos head = data_->head.Load(std::memory_order_acquire);
  const RingPos tail = data_->tail.Load(std::memory_order_acquire);
  const int64_t n = RingPos::Distance(head, tail, capacity_);
  if (n < 0) return 0;
  if (n > capacity_) return capacity_;
  return static_cast<std::size_t>(n);
}

uint64_t RingCore::lost() const {
  return data_->lost.load(std::memory_order_relaxed);
}

// ---------------------------------------------------------------------------
// RingWriter.

Status RingWriter::TryClaimOnce(RingClaim* claim, SlotWord* blocker,
                                bool hand_on) {
  RingData* d = core_.data_;
  const bool closing_ends_writes = !core_.options_.writes_after_close;
  if (closing_ends_writes && d->closed.load(std::memory_order_acquire)) {
    return Status::kClosed;
  }
  const pid_t me = CachedPid();
  // Registered before the first claim: a waiter that finds this process's
  // pid on a slot must find it in the registry too (see "Whose pid is it").
  if (registered_.pid() != me) Register();
  if (d->single_sides.load(std::memory_order_relaxed) & kSingleWriter) {
    if (single_.pid() != me) {
      single_.set_pid(BecomeSingle(d->single_writer, "producer"));
      single_.set_next(d->tail.Load(std::memory_order_acquire));
    }
    // The cached tail: nobody else moves it.
    const RingPos pos = single_.next();
    RingSlot* slot = core_.SlotAt(pos.index());
    SlotWord state = slot->state.Load(std::memory_order_acquire);
    if (state == SlotWord::EmptyAt(pos) &&
        slot->state.CompareExchange(state, SlotWord::WritingAt(pos, me),
                                    std::memory_order_seq_cst)) {
      slot->flags.store(0, std::memory_order_relaxed);
      const RingPos next = pos.Next(core_.capacity_);
      single_.set_next(next);
      d->tail.Store(next, std::memory_order_release);
      *claim = core_.ClaimAt(slot, pos);
      if (closing_ends_writes && d->closed.load(std::memory_order_seq_cst)) {
        Abandon(*claim);
        return Status::kClosed;
      }
      return Status::kOk;
    }
    // Full, or a dead predecessor's slots: the shared path below, which
    // re-reads the tail.
  }
  // Each retry means another writer claimed a slot meanwhile; a bound keeps
  // a corrupt ring (laps that never match) from looping forever here.
  for (uint64_t tries = 0;; ++tries) {
    if (tries > core_.MaxTries()) {
      *blocker = SlotWord();
      return Status::kWouldBlock;
    }
    const RingPos pos = d->tail.Load(std::memory_order_acquire);
    RingSlot* slot = core_.SlotAt(pos.index());
    SlotWord state = slot->state.Load(std::memory_order_acquire);
    const int32_t ahead = state.LapsAheadOf(pos);
    if (ahead == 0 && state.is(P::kEmpty)) {
      if (!slot->state.CompareExchange(state, SlotWord::WritingAt(pos, me),
                                       std::memory_order_seq_cst)) {
        continue;
      }
      slot->flags.store(0, std::memory_order_relaxed);
      d->tail.Advance(pos, pos.Next(core_.capacity_));
      if (single_.pid() == me) {
        single_.set_next(d->tail.Load(std::memory_order_acquire));
      }
      *claim = core_.ClaimAt(slot, pos);
      // A Close() that raced with the claim: give the slot back as a skip
      // so a reader that already saw "closed and drained" stays right.
      if (closing_ends_writes && d->closed.load(std::memory_order_seq_cst)) {
        Abandon(*claim);
        return Status::kClosed;
      }
      if (hand_on) WakeNextWriter();
      return Status::kOk;
    }
    if (ahead >= 0) {
      // Someone already claimed position `pos`: help the index along.
      d->tail.Advance(pos, pos.Next(core_.capacity_));
      continue;
    }
    core_.CheckLaps(ahead, "writers'");
    // The previous lap's item is still in the slot: the ring is full.
    *blocker = state;
    return Status::kWouldBlock;
  }
}

Status RingWriter::Poll(SlotWord* blocker) {
  RingData* d = core_.data_;
  if (!core_.options_.writes_after_close &&
      d->closed.load(std::memory_order_acquire)) {
    return Status::kClosed;
  }
  for (uint64_t tries = 0;; ++tries) {
    if (tries > core_.MaxTries()) {
      *blocker = SlotWord();
      return Status::kWouldBlock;
    }
    const RingPos pos = d->tail.Load(std::memory_order_seq_cst);
    const SlotWord state =
        core_.SlotAt(pos.index())->state.Load(std::memory_order_seq_cst);
    const int32_t ahead = state.LapsAheadOf(pos);
    if (ahead == 0 && state.is(P::kEmpty)) return Status::kOk;
    if (ahead >= 0) {
      d->tail.Advance(pos, pos.Next(core_.capacity_));
      continue;
    }
    core_.CheckLaps(ahead, "writers'");
    *blocker = state;
    return Status::kWouldBlock;
  }
}

bool RingWriter::CheckBlocker(SlotWord blocker) {
  if (core_.options_.holder_death != HolderDeath::kRepairedByWaiters) {
    return false;
  }
  RingData* d = core_.data_;
  const RingPos pos = d->tail.Load(std::memory_order_acquire);
  return core_.RepairIfHolderGone(pos.index(), blocker);
}

Status RingWriter::TryClaim(RingClaim* claim) {
  SlotWord blocker;
  return TryClaimOnce(claim, &blocker);
}

Status RingWriter::Claim(RingClaim* claim, const Deadline& deadline) {
  RingData* d = core_.data_;
  return RingWaitLoop<Status, SlotWord>(
      d->space_seq, d->writers_waiting, &d->write_spin, deadline,
      core_.options_.holder_death == HolderDeath::kRepairedByWaiters,
      [&](SlotWord* blocker) { return TryClaimOnce(claim, blocker); },
      [&](SlotWord blocker) {
        // The slot the writer waits for is the one at `tail`.
        const RingPos pos = d->tail.Load(std::memory_order_acquire);
        return core_.RepairIfHolderGone(pos.index(), blocker);
      },
      HeldSlotSpin{});
}

inline void RingWriter::MarkFull(const RingClaim& claim, uint32_t size,
                                 uint32_t flags, std::memory_order order) {
  RingSlot* slot = claim.slot;
  slot->size.store(size, std::memory_order_relaxed);
  slot->flags.store(
      flags | (slot->flags.load(std::memory_order_relaxed) & ~kSlotRingFlags),
      std::memory_order_relaxed);
  if (order == std::memory_order_seq_cst) {
    slot->state.Exchange(SlotWord::FullAt(claim.pos), order);
  } else {
    slot->state.Store(SlotWord::FullAt(claim.pos), order);
  }
}

void RingWriter::Publish(const RingClaim& claim, uint32_t size,
                         uint32_t flags) {
  RingData* d = core_.data_;
  MarkFull(claim, size, flags, std::memory_order_seq_cst);
  // Sleeping readers wait for the slot at `head`: only its publisher wakes
  // one (a reader that takes it wakes the next one if more are waiting, see
  // WakeNextReader). Publishing behind another writer's unfinished slot
  // wakes nobody: that writer will. This keeps producers free of FUTEX_WAKE
  // while consumers are busy (a woken consumer on a shared CPU preempts the
  // producer).
  if (d->readers_waiting.load(std::memory_order_seq_cst) > 0 &&
      d->head.Load(std::memory_order_seq_cst) == claim.pos) {
    core_.WakeReaders();
  }
}

template <class Ready, class Mine, class Claimed>
void RingCore::ClaimRestOfBatch(uint32_t max, RingBatch* batch,
                                SharedRingPos& index, CachedSide& single,
                                Ready ready, Mine mine, Claimed claimed) {
  const uint32_t cap = capacity_;
  const RingPos first = batch->first;
  RingPos pos = first;
  batch->count = 1;
  // One CAS per slot even for a declared single side: threads (or two
  // handles) of that one process may claim at once, and a plain store could
  // then hand one slot to two of them.
  while (batch->count < max) {
    const RingPos next = pos.Next(cap);
    RingSlot* slot = SlotAt(next.index());
    SlotWord state = slot->state.Load(std::memory_order_acquire);
    if (state != ready(next) ||
        !slot->state.CompareExchange(state, mine(next),
                                     std::memory_order_seq_cst)) {
      break;
    }
    claimed(slot);
    pos = next;
    ++batch->count;
  }
  if (batch->count > 1) {
    AdvanceTo(index, first.Next(cap), pos.Next(cap), cap);
    if (single.pid() == CachedPid()) single.set_next(pos.Next(cap));
  }
}

Status RingWriter::TryClaimBatchOnce(uint32_t max, RingBatch* batch,
                                     SlotWord* blocker) {
  RingClaim first;
  const Status s = TryClaimOnce(&first, blocker, /*hand_on=*/false);
  if (s != Status::kOk) return s;
  RingData* d = core_.data_;
  const pid_t me = CachedPid();
  batch->first = first.pos;
  core_.ClaimRestOfBatch(
      max, batch, d->tail, single_,
      [](RingPos p) { return SlotWord::EmptyAt(p); },
      [me](RingPos p) { return SlotWord::WritingAt(p, me); },
      [](RingSlot* slot) { slot->flags.store(0, std::memory_order_relaxed); });
  // A Close() that raced with the claims (see TryClaimOnce).
  if (!core_.options_.writes_after_close &&
      d->closed.load(std::memory_order_seq_cst)) {
    PublishBatch(*batch, {});
    return Status::kClosed;
  }
  WakeNextWriter();
  return Status::kOk;
}

Status RingWriter::TryClaimBatch(uint32_t max, RingBatch* batch) {
  SlotWord blocker;
  return TryClaimBatchOnce(max == 0 ? 1 : max, batch, &blocker);
}

Status RingWriter::ClaimBatch(uint32_t max, RingBatch* batch,
                              const Deadline& deadline) {
  RingData* d = core_.data_;
  if (max == 0) max = 1;
  return RingWaitLoop<Status, SlotWord>(
      d->space_seq, d->writers_waiting, &d->write_spin, deadline,
      core_.options_.holder_death == HolderDeath::kRepairedByWaiters,
      [&](SlotWord* blocker) {
        return TryClaimBatchOnce(max, batch, blocker);
      },
      [&](SlotWord blocker) {
        const RingPos pos = d->tail.Load(std::memory_order_acquire);
        return core_.RepairIfHolderGone(pos.index(), blocker);
      },
      HeldSlotSpin{});
}

void RingWriter::PublishBatch(const RingBatch& batch,
                              std::span<const uint32_t> sizes,
                              uint32_t flags) {
  PublishRun(
      batch, static_cast<uint32_t>(sizes.size()),
      [&](uint32_t i) { return sizes[i]; }, flags);
}

void RingWriter::PublishBatch(const RingBatch& batch, uint32_t published,
                              uint32_t size, uint32_t flags) {
  PublishRun(
      batch, published, [size](uint32_t) { return size; }, flags);
}

template <class SizeOf>
void RingWriter::PublishRun(const RingBatch& batch, uint32_t published,
                            SizeOf size_of, uint32_t flags) {
  RingData* d = core_.data_;
  RingClaim claim = core_.ClaimAt(batch.first);
  for (uint32_t i = 0; i < batch.count; ++i) {
    // Release stores, and a seq_cst exchange for the last slot: it orders
    // them all before the readers_waiting load below (see Publish).
    const auto order = i + 1 == batch.count ? std::memory_order_seq_cst
                                            : std::memory_order_release;
    if (i < published) {
      MarkFull(claim, size_of(i), flags, order);
    } else {
      core_.FreeBlockOf(claim.slot);
      MarkFull(claim, 0, kSlotSkip, order);
    }
    if (i + 1 < batch.count) claim = core_.NextClaim(claim);
  }
  // Sleeping readers wait for the slot at `head`: wake one if it is one of
  // ours (it hands the wake-up on, see WakeNextReader).
  if (d->readers_waiting.load(std::memory_order_seq_cst) > 0) {
    const int64_t at = RingPos::Distance(
        batch.first, d->head.Load(std::memory_order_seq_cst), core_.capacity_);
    if (at >= 0 && at < batch.count) core_.WakeReaders();
  }
}

void RingWriter::Announce(const RingClaim& claim) {
  RingData* d = core_.data_;
  if (d->readers_waiting.load(std::memory_order_seq_cst) > 0 &&
      d->head.Load(std::memory_order_seq_cst) == claim.pos) {
    core_.WakeReaders();
  }
}

void RingWriter::Abandon(const RingClaim& claim) {
  core_.FreeBlockOf(claim.slot);
  Publish(claim, 0, kSlotSkip);
}

void RingWriter::WakeNextWriter() {
  RingData* d = core_.data_;
  // Watchers (high bits) were woken with the release; only claimers get
  // the hand-off.
  if (d->writers_waiting.load(std::memory_order_seq_cst) % kRingWatcher == 0) {
    return;
  }
  const RingPos pos = d->tail.Load(std::memory_order_seq_cst);
  if (pos.index() >= core_.capacity_) return;
  const SlotWord st =
      core_.SlotAt(pos.index())->state.Load(std::memory_order_seq_cst);
  if (st == SlotWord::EmptyAt(pos)) core_.WakeWriters();
}

void RingWriter::Register() {
  RingData* d = core_.data_;
  d->writers_ever.store(1, std::memory_order_relaxed);
  // Another handle of this process may have registered it already.
  registered_.Set(CachedPid(), RegisterIn(d->writers, kRingMaxWriters,
                                          &d->writers_overflow));
}

void RingWriter::Detach() {
  RingData* d = core_.data_;
  const int index = registered_.index();
  if (d == nullptr || registered_.pid() != CachedPid() || index < 0) {
    return;
  }
  uint64_t entry = WriterEntry(CachedPid(), CachedStartTime());
  d->writers[index].compare_exchange_strong(
      entry, 0, std::memory_order_seq_cst);
  registered_.Set(0, -1);
  if (d->readers_waiting.load(std::memory_order_seq_cst) > 0) {
    core_.WakeAllReaders();
  }
}

// ---------------------------------------------------------------------------
// RingReader.

Status RingReader::TryClaimOnce(RingClaim* claim, SlotWord* blocker,
                                bool hand_on) {
  RingData* d = core_.data_;
  const pid_t me = CachedPid();
  // As a writer: registered before the first claim (only where waiters
  // judge holders; the owner of an owner-repaired ring knows for certain).
  if (registered_.pid() != me) {
    registered_.Set(me, core_.repaired_by_waiters()
                            ? RegisterIn(d->readers, kRingMaxReaders,
                                         &d->readers_overflow)
                            : -1);
  }
  if (d->single_sides.load(std::memory_order_relaxed) & kSingleReader) {
    if (single_.pid() != me) {
      single_.set_pid(BecomeSingle(d->single_reader, "consumer"));
      single_.set_next(d->head.Load(std::memory_order_acquire));
    }
    // The cached head: nobody else moves it. Skips and losses are passed
    // over here too; anything else goes the shared way below.
    for (uint32_t n = 0; n < core_.capacity_; ++n) {
      const RingPos pos = single_.next();
      RingSlot* slot = core_.SlotAt(pos.index());
      SlotWord state = slot->state.Load(std::memory_order_acquire);
      if (state != SlotWord::FullAt(pos) ||
          !slot->state.CompareExchange(state, SlotWord::ReadingAt(pos, me),
                                       std::memory_order_seq_cst)) {
        break;
      }
      const RingPos next = pos.Next(core_.capacity_);
      single_.set_next(next);
      d->head.Store(next, std::memory_order_release);
      const uint32_t flags = slot->flags.load(std::memory_order_relaxed);
      *claim = core_.ClaimAt(slot, pos);
      if (flags & (kSlotLost | kSlotSkip)) {
        if (flags & kSlotLost) core_.CountLost(flags);
        Release(*claim);
        continue;
      }
      return Status::kOk;
    }
  }
  for (uint64_t tries = 0;; ++tries) {
    if (tries > core_.MaxTries()) {
      *blocker = SlotWord();
      return Status::kWouldBlock;
    }
    const RingPos pos = d->head.Load(std::memory_order_acquire);
    RingSlot* slot = core_.SlotAt(pos.index());
    SlotWord state = slot->state.Load(std::memory_order_acquire);
    const int32_t ahead = state.LapsAheadOf(pos);
    if (ahead == 0 && state.is(P::kFull)) {
      if (!slot->state.CompareExchange(state, SlotWord::ReadingAt(pos, me),
                                       std::memory_order_seq_cst)) {
        continue;
      }
      d->head.Advance(pos, pos.Next(core_.capacity_));
      if (single_.pid() == me) {
        single_.set_next(d->head.Load(std::memory_order_acquire));
      }
      const uint32_t flags = slot->flags.load(std::memory_order_relaxed);
      *claim = core_.ClaimAt(slot, pos);
      if (flags & (kSlotLost | kSlotSkip)) {
        if (flags & kSlotLost) core_.CountLost(flags);
        Release(*claim);
        continue;
      }
      if (hand_on) WakeNextReader();
      return Status::kOk;
    }
    if (ahead > 0 || (ahead == 0 && state.is(P::kReading))) {
      // Someone already took position `pos`: help the index along.
      d->head.Advance(pos, pos.Next(core_.capacity_));
      continue;
    }
    core_.CheckLaps(ahead, "readers'");
    // (lap, WRITING): a writer fills it. (lap, EMPTY), or the previous
    // lap's reader still holds it: nothing published here yet.
    if (!state.is(P::kWriting) &&
        d->closed.load(std::memory_order_seq_cst)) {
      // Re-read after seeing `closed`: a writer that claimed before the
      // close is still going to publish, and must be drained.
      if (slot->state.Load(std::memory_order_seq_cst) == state &&
          d->head.Load(std::memory_order_seq_cst) == pos) {
        return Status::kClosed;
      }
      continue;
    }
    *blocker = state;
    return Status::kWouldBlock;
  }
}

Status RingReader::Poll(SlotWord* blocker) {
  RingData* d = core_.data_;
  for (uint64_t tries = 0;; ++tries) {
    if (tries > core_.MaxTries()) {
      *blocker = SlotWord();
      return Status::kWouldBlock;
    }
    const RingPos pos = d->head.Load(std::memory_order_seq_cst);
    const SlotWord state =
        core_.SlotAt(pos.index())->state.Load(std::memory_order_seq_cst);
    const int32_t ahead = state.LapsAheadOf(pos);
    if (ahead == 0 && state.is(P::kFull)) return Status::kOk;
    if (ahead > 0 || (ahead == 0 && state.is(P::kReading))) {
      d->head.Advance(pos, pos.Next(core_.capacity_));
      continue;
    }
    core_.CheckLaps(ahead, "readers'");
    if (!state.is(P::kWriting) && d->closed.load(std::memory_order_seq_cst)) {
      return Status::kClosed;
    }
    *blocker = state;
    return Status::kWouldBlock;
  }
}

bool RingReader::CheckBlocker(SlotWord blocker, bool* writers_gone) {
  RingData* d = core_.data_;
  if (blocker.is(P::kEmpty)) {
    *writers_gone = d->close_on_writers_gone.load(std::memory_order_acquire) &&
                    AllWritersGone();
    return *writers_gone;
  }
  if (core_.options_.holder_death != HolderDeath::kRepairedByWaiters) {
    return false;
  }
  const RingPos pos = d->head.Load(std::memory_order_acquire);
  return core_.RepairIfHolderGone(pos.index(), blocker);
}

Status RingReader::TryClaim(RingClaim* claim) {
  SlotWord blocker;
  return TryClaimOnce(claim, &blocker);
}

Status RingReader::Claim(RingClaim* claim, const Deadline& deadline,
                         bool may_spin) {
  return ClaimWith(
      [&](SlotWord* blocker) { return TryClaimOnce(claim, blocker); },
      deadline, may_spin);
}

template <class TryOnce>
Status RingReader::ClaimWith(TryOnce try_once, const Deadline& deadline,
                             bool may_spin) {
  RingData* d = core_.data_;
  bool writers_gone = false;
  return RingWaitLoop<Status, SlotWord>(
      d->items_seq, d->readers_waiting, may_spin ? &d->read_spin : nullptr,
      deadline, core_.options_.holder_death == HolderDeath::kRepairedByWaiters,
      [&](SlotWord* blocker) {
        Status s = try_once(blocker);
        if (s == Status::kWouldBlock && writers_gone &&
            blocker->is(P::kEmpty)) {
          return Status::kClosed;  // drained, and nobody is left to write
        }
        return s;
      },
      [&](SlotWord blocker) {
        if (blocker.is(P::kEmpty)) {
          writers_gone =
              d->close_on_writers_gone.load(std::memory_order_acquire) &&
              AllWritersGone();
          return writers_gone;
        }
        const RingPos pos = d->head.Load(std::memory_order_acquire);
        return core_.RepairIfHolderGone(pos.index(), blocker);
      },
      HeldSlotSpin{});
}

Status RingReader::TryClaimBatchOnce(uint32_t max, RingBatch* batch,
                                     SlotWord* blocker) {
  RingClaim first;
  const Status s = TryClaimOnce(&first, blocker, /*hand_on=*/false);
  if (s != Status::kOk) return s;
  RingData* d = core_.data_;
  const pid_t me = CachedPid();
  batch->first = first.pos;
  core_.ClaimRestOfBatch(
      max, batch, d->head, single_,
      [](RingPos p) { return SlotWord::FullAt(p); },
      [me](RingPos p) { return SlotWord::ReadingAt(p, me); },
      [this](RingSlot* slot) {
        const uint32_t flags = slot->flags.load(std::memory_order_relaxed);
        if (flags & kSlotLost) core_.CountLost(flags);
      });
  WakeNextReader();
  return Status::kOk;
}

Status RingReader::TryClaimBatch(uint32_t max, RingBatch* batch) {
  SlotWord blocker;
  return TryClaimBatchOnce(max == 0 ? 1 : max, batch, &blocker);
}

Status RingReader::ClaimBatch(uint32_t max, RingBatch* batch,
                              const Deadline& deadline, bool may_spin) {
  if (max == 0) max = 1;
  return ClaimWith(
      [&](SlotWord* blocker) {
        return TryClaimBatchOnce(max, batch, blocker);
      },
      deadline, may_spin);
}

void RingReader::ReleaseBatch(const RingBatch& batch) {
  RingData* d = core_.data_;
  RingClaim claim = core_.ClaimAt(batch.first);
  for (uint32_t i = 0; i < batch.count; ++i) {
    core_.FreeBlockOf(claim.slot);
    const SlotWord released = SlotWord::ReleasedAt(claim.pos);
    if (i + 1 == batch.count) {
      claim.slot->state.Exchange(released, std::memory_order_seq_cst);
    } else {
      claim.slot->state.Store(released, std::memory_order_release);
      claim = core_.NextClaim(claim);
    }
  }
  // Sleeping writers wait for the slot at `tail` (see ReleaseSlot).
  if (d->writers_waiting.load(std::memory_order_seq_cst) > 0) {
    const int64_t at =
        RingPos::Distance(batch.first.NextLap(),
                          d->tail.Load(std::memory_order_seq_cst),
                          core_.capacity_);
    if (at >= 0 && at < batch.count) core_.WakeWriters();
  }
}

void RingReader::Release(const RingClaim& claim) {
  core_.FreeBlockOf(claim.slot);
  core_.ReleaseSlot(claim);
}

BlockRef RingReader::PayloadOf(const RingClaim& claim) const {
  const uint32_t flags = claim.slot->flags.load(std::memory_order_relaxed);
  if (flags & kSlotBlock) return claim.slot->block.Load();
  return BlockRef::Inline(claim.slot->size.load(std::memory_order_relaxed));
}

void RingReader::WakeNextReader() {
  RingData* d = core_.data_;
  if (d->readers_waiting.load(std::memory_order_seq_cst) % kRingWatcher == 0) {
    return;  // no sleeping claimer (watchers were woken with the publish)
  }
  const RingPos pos = d->head.Load(std::memory_order_seq_cst);
  if (pos.index() >= core_.capacity_) return;
  const SlotWord st =
      core_.SlotAt(pos.index())->state.Load(std::memory_order_seq_cst);
  if (st == SlotWord::FullAt(pos)) core_.WakeReaders();
}

bool RingReader::AllWritersGone() const {
  RingData* d = core_.data_;
  if (d->writers_ever.load(std::memory_order_acquire) == 0 ||
      d->writers_overflow.load(std::memory_order_acquire) != 0) {
    return false;
  }
  for (auto& w : d->writers) {
    uint64_t cur = w.load(std::memory_order_acquire);
    if (cur == 0) continue;
    if (!WriterGone(cur)) return false;
    w.compare_exchange_strong(cur, 0, std::memory_order_seq_cst);
  }
  return true;
}

}  // namespace shoal::internal
