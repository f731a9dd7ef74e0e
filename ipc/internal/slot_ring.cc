#include "shoal/ipc/internal/slot_ring.h"

#include <climits>
#include <new>
#include <string>

#include "shoal/base/errors.h"
#include "shoal/base/internal/futex.h"
#include "shoal/base/internal/process_liveness.h"

namespace shoal::internal {
namespace {

constexpr uint32_t kEmpty = 0;
constexpr uint32_t kWriting = 1;
constexpr uint32_t kFull = 2;
constexpr uint32_t kReading = 3;

constexpr uint64_t MakeState(uint32_t lap, uint32_t pid, uint32_t phase) {
  return (static_cast<uint64_t>(lap) << 32) |
         (static_cast<uint64_t>(pid & 0x3fffffffu) << 2) | phase;
}
constexpr uint32_t LapOf(uint64_t s) { return static_cast<uint32_t>(s >> 32); }
constexpr uint32_t PhaseOf(uint64_t s) { return static_cast<uint32_t>(s & 3); }
constexpr pid_t PidOf(uint64_t s) {
  return static_cast<pid_t>((s >> 2) & 0x3fffffffu);
}
constexpr uint32_t LapOfPos(uint64_t pos) {
  return static_cast<uint32_t>(pos >> 32);
}
constexpr uint32_t IndexOfPos(uint64_t pos) {
  return static_cast<uint32_t>(pos);
}
// Signed lap distance, correct across 32-bit wrap-around.
constexpr int32_t LapDiff(uint32_t a, uint32_t b) {
  return static_cast<int32_t>(a - b);
}

uint32_t MyPid() { return static_cast<uint32_t>(CachedPid()); }

// Moves `index` from `pos` to `next` unless somebody already did. Takes `pos`
// by value: compare_exchange overwrites its expected argument on failure.
inline void Advance(std::atomic<uint64_t>& index, uint64_t pos, uint64_t next) {
  index.compare_exchange_strong(pos, next, std::memory_order_acq_rel);
}

constexpr uint64_t kMaxRingBytes = uint64_t{1} << 40;

}  // namespace

uint32_t SlotRing::StrideFor(std::size_t inline_bytes) {
  if (inline_bytes > (uint64_t{1} << 31)) {
    throw ValueError("slot ring: inline payload of " +
                     std::to_string(inline_bytes) + " bytes is too large");
  }
  uint64_t raw = sizeof(SlotHeader) + inline_bytes;
  return static_cast<uint32_t>((raw + kRingAlign - 1) / kRingAlign *
                               kRingAlign);
}

std::size_t SlotRing::BytesFor(uint32_t capacity, std::size_t inline_bytes) {
  if (capacity == 0) throw ValueError("slot ring: capacity must be >= 1");
  uint64_t stride = StrideFor(inline_bytes);
  uint64_t header = (sizeof(RingShared) + kRingAlign - 1) / kRingAlign *
                    kRingAlign;
  if (stride * capacity / capacity != stride ||
      header + stride * capacity > kMaxRingBytes) {
    throw ValueError("slot ring: " + std::to_string(capacity) + " slots of " +
                     std::to_string(stride) + " bytes is too large");
  }
  return header + stride * capacity;
}

SlotRing SlotRing::Create(void* mem, std::size_t bytes, uint32_t capacity,
                          std::size_t inline_bytes) {
  std::size_t need = BytesFor(capacity, inline_bytes);
  if (bytes < need || reinterpret_cast<uintptr_t>(mem) % kRingAlign != 0) {
    throw ValueError("slot ring: memory too small or misaligned");
  }
  auto* shared = new (mem) RingShared;
  shared->capacity = capacity;
  shared->stride = StrideFor(inline_bytes);
  shared->slots_offset =
      (sizeof(RingShared) + kRingAlign - 1) / kRingAlign * kRingAlign;
  shared->ring_bytes = need;
  shared->tail.store(0, std::memory_order_relaxed);
  shared->head.store(0, std::memory_order_relaxed);
  shared->items_seq.store(0, std::memory_order_relaxed);
  shared->readers_waiting.store(0, std::memory_order_relaxed);
  shared->space_seq.store(0, std::memory_order_relaxed);
  shared->writers_waiting.store(0, std::memory_order_relaxed);
  shared->closed.store(0, std::memory_order_relaxed);
  shared->close_on_writers_gone.store(0, std::memory_order_relaxed);
  shared->lost.store(0, std::memory_order_relaxed);
  shared->writers_ever.store(0, std::memory_order_relaxed);
  shared->writers_overflow.store(0, std::memory_order_relaxed);
  for (auto& w : shared->writers) w.store(0, std::memory_order_relaxed);
  shared->read_spin.Init();
  shared->write_spin.Init();
  auto* base = static_cast<std::byte*>(mem) + shared->slots_offset;
  for (uint32_t i = 0; i < capacity; ++i) {
    auto* slot = new (base + uint64_t{i} * shared->stride) SlotHeader;
    slot->state.store(MakeState(0, 0, kEmpty), std::memory_order_relaxed);
    slot->size.store(0, std::memory_order_relaxed);
    slot->flags.store(0, std::memory_order_relaxed);
    slot->block.store(0, std::memory_order_relaxed);
    slot->block_len.store(0, std::memory_order_relaxed);
  }
  std::atomic_thread_fence(std::memory_order_release);
  return Attach(mem, bytes);
}

SlotRing SlotRing::Attach(void* mem, std::size_t bytes) {
  if (mem == nullptr || reinterpret_cast<uintptr_t>(mem) % kRingAlign != 0 ||
      bytes < sizeof(RingShared)) {
    throw InvalidRegion("slot ring: memory too small or misaligned");
  }
  auto* shared = static_cast<RingShared*>(mem);
  const uint32_t capacity = shared->capacity;
  const uint32_t stride = shared->stride;
  const uint64_t slots_offset = shared->slots_offset;
  if (capacity == 0 || stride <= sizeof(SlotHeader) ||
      stride % kRingAlign != 0 || slots_offset < sizeof(RingShared) ||
      slots_offset % kRingAlign != 0 || slots_offset > bytes ||
      (bytes - slots_offset) / stride < capacity) {
    throw InvalidRegion("slot ring: corrupt geometry (capacity " +
                        std::to_string(capacity) + ", stride " +
                        std::to_string(stride) + ", " + std::to_string(bytes) +
                        " bytes available)");
  }
  SlotRing ring;
  ring.shared_ = shared;
  ring.slots_ = static_cast<std::byte*>(mem) + slots_offset;
  ring.capacity_ = capacity;
  ring.stride_ = stride;
  return ring;
}

uint64_t SlotRing::MaxTries() const { return uint64_t{4} * capacity_ + 64; }

void SlotRing::ThrowCorrupt(const char* what) const {
  throw InvalidRegion(std::string("slot ring: ") + what +
                      ": shared memory corrupt");
}

SlotHeader* SlotRing::SlotAt(uint32_t index) const {
  if (index >= capacity_) {
    throw InvalidRegion("slot ring: index " + std::to_string(index) +
                        " out of range (capacity " +
                        std::to_string(capacity_) + "): shared memory corrupt");
  }
  return reinterpret_cast<SlotHeader*>(slots_ + uint64_t{index} * stride_);
}

uint64_t SlotRing::Next(uint64_t pos) const {
  uint32_t index = IndexOfPos(pos) + 1;
  if (index >= capacity_) {
    return static_cast<uint64_t>(LapOfPos(pos) + 1) << 32;
  }
  return (pos & ~uint64_t{0xffffffffu}) | index;
}

void SlotRing::FreeBlockOf(SlotHeader* slot) {
  // Clear first, then free: a process dying in between leaks the block but
  // can never cause a double free.
  if (slot->block.load(std::memory_order_relaxed) == 0) return;
  uint64_t block = slot->block.exchange(0, std::memory_order_acq_rel);
  uint64_t len = slot->block_len.load(std::memory_order_relaxed);
  if (block != 0 && free_block_ != nullptr) free_block_(free_ctx_, block - 1, len);
}

void SlotRing::WakeReaders() {
  shared_->items_seq.fetch_add(1, std::memory_order_seq_cst);
  FutexWake(&shared_->items_seq, 1);
}

void SlotRing::WakeWriters() {
  shared_->space_seq.fetch_add(1, std::memory_order_seq_cst);
  FutexWake(&shared_->space_seq, 1);
}

SlotRing::Status SlotRing::TryClaimWriteOnce(Claim* claim, uint64_t* blocker) {
  if (shared_->closed.load(std::memory_order_acquire)) return Status::kClosed;
  const uint32_t me = MyPid();
  // Each retry means another writer claimed a slot meanwhile; a bound keeps
  // a corrupt ring (laps that never match) from looping forever here.
  for (uint64_t tries = 0;; ++tries) {
    if (tries > MaxTries()) {
      *blocker = 0;
      return Status::kWouldBlock;
    }
    uint64_t pos = shared_->tail.load(std::memory_order_acquire);
    const uint32_t lap = LapOfPos(pos);
    SlotHeader* slot = SlotAt(IndexOfPos(pos));
    uint64_t state = slot->state.load(std::memory_order_acquire);
    const int32_t d = LapDiff(LapOf(state), lap);
    if (d == 0 && PhaseOf(state) == kEmpty) {
      if (slot->state.compare_exchange_strong(state, MakeState(lap, me, kWriting),
                                              std::memory_order_seq_cst)) {
        slot->flags.store(0, std::memory_order_relaxed);
        Advance(shared_->tail, pos, Next(pos));
        // A Close() that raced with the claim: give the slot back as a skip
        // so a reader that already saw "closed and drained" stays right.
        if (shared_->closed.load(std::memory_order_seq_cst)) {
          claim->slot = slot;
          claim->pos = pos;
          Abandon(*claim);
          return Status::kClosed;
        }
        claim->slot = slot;
        claim->pos = pos;
        claim->data = reinterpret_cast<std::byte*>(slot) + sizeof(SlotHeader);
        if (writer_pid_ != static_cast<pid_t>(me)) RegisterWriter();
        WakeNextWriter();
        return Status::kOk;
      }
      continue;
    }
    if (d >= 0) {
      // Someone already claimed position `pos`: help the index along.
      Advance(shared_->tail, pos, Next(pos));
      continue;
    }
    if (d < -1) ThrowCorrupt("a slot two laps behind the writers' index");
    // The previous lap's item is still in the slot: the ring is full.
    *blocker = state;
    return Status::kWouldBlock;
  }
}

SlotRing::Status SlotRing::TryClaimReadOnce(Claim* claim, uint64_t* blocker) {
  const uint32_t me = MyPid();
  for (uint64_t tries = 0;; ++tries) {
    if (tries > MaxTries()) {
      *blocker = 0;
      return Status::kWouldBlock;
    }
    uint64_t pos = shared_->head.load(std::memory_order_acquire);
    const uint32_t lap = LapOfPos(pos);
    SlotHeader* slot = SlotAt(IndexOfPos(pos));
    uint64_t state = slot->state.load(std::memory_order_acquire);
    const int32_t d = LapDiff(LapOf(state), lap);
    const uint32_t phase = PhaseOf(state);
    if (d == 0 && phase == kFull) {
      if (!slot->state.compare_exchange_strong(
              state, MakeState(lap, me, kReading), std::memory_order_seq_cst)) {
        continue;
      }
      Advance(shared_->head, pos, Next(pos));
      const uint32_t flags = slot->flags.load(std::memory_order_relaxed);
      claim->slot = slot;
      claim->pos = pos;
      claim->data = reinterpret_cast<std::byte*>(slot) + sizeof(SlotHeader);
      if (flags & (kSlotLost | kSlotSkip)) {
        if (flags & kSlotLost) {
          shared_->lost.fetch_add(1, std::memory_order_relaxed);
          if (lost_fn_ != nullptr) lost_fn_(lost_ctx_, flags);
        }
        Release(*claim);
        continue;
      }
      WakeNextReader();
      return Status::kOk;
    }
    if (d == 0 && phase == kEmpty) {
      if (shared_->closed.load(std::memory_order_seq_cst)) {
        // Re-read after seeing `closed`: a writer that claimed before the
        // close is still going to publish, and must be drained.
        uint64_t again = slot->state.load(std::memory_order_seq_cst);
        if (again == state &&
            shared_->head.load(std::memory_order_seq_cst) == pos) {
          return Status::kClosed;
        }
        continue;
      }
      *blocker = state;
      return Status::kWouldBlock;
    }
    if (d == 0 && phase == kWriting) {
      *blocker = state;
      return Status::kWouldBlock;
    }
    if (d > 0 || (d == 0 && phase == kReading)) {
      Advance(shared_->head, pos, Next(pos));
      continue;
    }
    // d == -1: a reader of the previous lap still holds the slot (the index
    // was helped past it): nothing to read here yet. Further behind, the
    // index passed a position that was never read: only a corrupt ring.
    if (d < -1) ThrowCorrupt("a slot two laps behind the readers' index");
    *blocker = state;
    return Status::kWouldBlock;
  }
}

bool SlotRing::RecoverIfOwnerGone(SlotHeader* slot, uint64_t state) {
  const uint32_t phase = PhaseOf(state);
  if (phase != kWriting && phase != kReading) return false;
  const pid_t pid = PidOf(state);
  if (pid == static_cast<pid_t>(MyPid()) || !IsProcessGone(pid)) return false;
  const uint32_t lap = LapOf(state);
  // Take the dead process's claim over first, so that only one survivor
  // repairs the slot and nobody touches a slot somebody else re-used.
  uint64_t expected = state;
  if (!slot->state.compare_exchange_strong(
          expected, MakeState(lap, MyPid(), phase), std::memory_order_seq_cst)) {
    return true;  // somebody else repaired it (or it moved on): retry
  }
  if (phase == kWriting) {
    // The writer died before publishing: readers will skip and count it.
    slot->size.store(0, std::memory_order_relaxed);
    slot->flags.store(
        kSlotLost | (slot->flags.load(std::memory_order_relaxed) & ~0xffu),
        std::memory_order_relaxed);
    slot->state.exchange(MakeState(lap, 0, kFull), std::memory_order_seq_cst);
    if (shared_->readers_waiting.load(std::memory_order_seq_cst) > 0) {
      WakeReaders();
    }
  } else {
    // The reader died before it finished: its item is lost.
    shared_->lost.fetch_add(1, std::memory_order_relaxed);
    if (lost_fn_ != nullptr) {
      lost_fn_(lost_ctx_, slot->flags.load(std::memory_order_relaxed));
    }
    FreeBlockOf(slot);
    slot->state.exchange(MakeState(lap + 1, 0, kEmpty),
                         std::memory_order_seq_cst);
    if (shared_->writers_waiting.load(std::memory_order_seq_cst) > 0) {
      WakeWriters();
    }
  }
  return true;
}

namespace {

// The shared wait loop of ClaimWrite and ClaimRead.
template <class TryOnce, class Recover>
SlotRing::Status WaitLoop(std::atomic<uint32_t>& seq,
                          std::atomic<uint32_t>& waiters, SpinPolicy& spin,
                          const Deadline& deadline, TryOnce try_once,
                          Recover recover) {
  using Status = SlotRing::Status;
  uint64_t blocker = 0;
  Status s = try_once(&blocker);
  if (s != Status::kWouldBlock) return s;
  if (!deadline.expired() && SpinUntil(spin, [&] {
        s = try_once(&blocker);
        return s != Status::kWouldBlock;
      })) {
    return s;
  }
  uint64_t last_blocker = blocker;
  auto blocked_since = Deadline::Clock::now();
  for (;;) {
    waiters.fetch_add(1, std::memory_order_seq_cst);
    const uint32_t observed = seq.load(std::memory_order_seq_cst);
    s = try_once(&blocker);
    if (s != Status::kWouldBlock) {
      waiters.fetch_sub(1, std::memory_order_seq_cst);
      return s;
    }
    if (deadline.expired()) {
      waiters.fetch_sub(1, std::memory_order_seq_cst);
      return Status::kTimedOut;
    }
    auto now = Deadline::Clock::now();
    if (blocker != last_blocker) {
      last_blocker = blocker;
      blocked_since = now;
    } else if (now - blocked_since >= SlotRing::kLivenessCheckInterval) {
      blocked_since = now;
      if (recover(blocker)) {
        waiters.fetch_sub(1, std::memory_order_seq_cst);
        continue;
      }
    }
    Deadline slice = Deadline::Min(
        deadline, Deadline(now + SlotRing::kLivenessCheckInterval));
    FutexWait(&seq, observed, slice);
    waiters.fetch_sub(1, std::memory_order_seq_cst);
  }
}

}  // namespace

SlotRing::Status SlotRing::TryClaimWrite(Claim* claim) {
  uint64_t blocker;
  return TryClaimWriteOnce(claim, &blocker);
}

SlotRing::Status SlotRing::ClaimWrite(Claim* claim, const Deadline& deadline) {
  return WaitLoop(
      shared_->space_seq, shared_->writers_waiting, shared_->write_spin, deadline,
      [&](uint64_t* blocker) { return TryClaimWriteOnce(claim, blocker); },
      [&](uint64_t blocker) {
        // The slot the writer waits for is the one at `tail`.
        uint64_t pos = shared_->tail.load(std::memory_order_acquire);
        return RecoverIfOwnerGone(SlotAt(IndexOfPos(pos)), blocker);
      });
}

SlotRing::Status SlotRing::TryClaimRead(Claim* claim) {
  uint64_t blocker;
  return TryClaimReadOnce(claim, &blocker);
}

SlotRing::Status SlotRing::ClaimRead(Claim* claim, const Deadline& deadline) {
  bool writers_gone = false;
  return WaitLoop(
      shared_->items_seq, shared_->readers_waiting, shared_->read_spin, deadline,
      [&](uint64_t* blocker) {
        Status s = TryClaimReadOnce(claim, blocker);
        if (s == Status::kWouldBlock && writers_gone &&
            PhaseOf(*blocker) == kEmpty) {
          return Status::kClosed;  // drained, and nobody is left to write
        }
        return s;
      },
      [&](uint64_t blocker) {
        if (PhaseOf(blocker) == kEmpty) {
          writers_gone =
              shared_->close_on_writers_gone.load(std::memory_order_acquire) &&
              AllWritersGone();
          return writers_gone;
        }
        uint64_t pos = shared_->head.load(std::memory_order_acquire);
        return RecoverIfOwnerGone(SlotAt(IndexOfPos(pos)), blocker);
      });
}

namespace {

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

}  // namespace

void SlotRing::RegisterWriter() {
  const pid_t me = CachedPid();
  writer_pid_ = me;
  writer_index_ = -1;
  const uint64_t entry = WriterEntry(me, CachedStartTime());
  shared_->writers_ever.store(1, std::memory_order_relaxed);
  for (int i = 0; i < kRingMaxWriters; ++i) {
    uint64_t cur = shared_->writers[i].load(std::memory_order_relaxed);
    if (cur == entry) {  // another handle of this process registered it
      writer_index_ = i;
      return;
    }
  }
  for (int pass = 0; pass < 2; ++pass) {
    for (int i = 0; i < kRingMaxWriters; ++i) {
      uint64_t cur = shared_->writers[i].load(std::memory_order_relaxed);
      // Second pass: reuse the entries of writers that are gone.
      if (cur != 0 && !(pass == 1 && WriterGone(cur))) continue;
      if (shared_->writers[i].compare_exchange_strong(
              cur, entry, std::memory_order_seq_cst)) {
        writer_index_ = i;
        return;
      }
    }
  }
  // No room: the registry can no longer tell when every writer is gone.
  shared_->writers_overflow.store(1, std::memory_order_seq_cst);
}

void SlotRing::DetachWriter() {
  if (shared_ == nullptr || writer_pid_ != CachedPid() || writer_index_ < 0) {
    return;
  }
  uint64_t entry = WriterEntry(writer_pid_, CachedStartTime());
  shared_->writers[writer_index_].compare_exchange_strong(
      entry, 0, std::memory_order_seq_cst);
  writer_pid_ = 0;
  writer_index_ = -1;
  if (shared_->readers_waiting.load(std::memory_order_seq_cst) > 0) {
    shared_->items_seq.fetch_add(1, std::memory_order_seq_cst);
    FutexWake(&shared_->items_seq, INT_MAX);
  }
}

bool SlotRing::AllWritersGone() {
  if (shared_->writers_ever.load(std::memory_order_acquire) == 0 ||
      shared_->writers_overflow.load(std::memory_order_acquire) != 0) {
    return false;
  }
  for (auto& w : shared_->writers) {
    uint64_t cur = w.load(std::memory_order_acquire);
    if (cur == 0) continue;
    if (!WriterGone(cur)) return false;
    w.compare_exchange_strong(cur, 0, std::memory_order_seq_cst);
  }
  return true;
}

void SlotRing::Publish(const Claim& claim, uint32_t size, uint32_t flags) {
  SlotHeader* slot = claim.slot;
  slot->size.store(size, std::memory_order_relaxed);
  slot->flags.store(flags | (slot->flags.load(std::memory_order_relaxed) & ~0xffu),
                    std::memory_order_relaxed);
  slot->state.exchange(MakeState(LapOfPos(claim.pos), 0, kFull),
                       std::memory_order_seq_cst);
  // Sleeping readers wait for the slot at `head`: only its publisher wakes
  // one (a reader that takes it wakes the next one if more are waiting, see
  // WakeNextReader). Publishing behind another writer's unfinished slot
  // wakes nobody: that writer will. This keeps producers free of FUTEX_WAKE
  // while consumers are busy (a woken consumer on a shared CPU preempts the
  // producer).
  if (shared_->readers_waiting.load(std::memory_order_seq_cst) > 0 &&
      shared_->head.load(std::memory_order_seq_cst) == claim.pos) {
    WakeReaders();
  }
}

void SlotRing::Abandon(const Claim& claim) {
  FreeBlockOf(claim.slot);
  Publish(claim, 0, kSlotSkip);
}

void SlotRing::Release(const Claim& claim) {
  FreeBlockOf(claim.slot);
  claim.slot->state.exchange(MakeState(LapOfPos(claim.pos) + 1, 0, kEmpty),
                             std::memory_order_seq_cst);
  // Sleeping writers wait for the slot at `tail` (the ring is full): only
  // the release of that very slot wakes one (see WakeNextWriter).
  if (shared_->writers_waiting.load(std::memory_order_seq_cst) > 0 &&
      shared_->tail.load(std::memory_order_seq_cst) ==
          ((static_cast<uint64_t>(LapOfPos(claim.pos) + 1) << 32) |
           IndexOfPos(claim.pos))) {
    WakeWriters();
  }
}

void SlotRing::WakeNextReader() {
  // Called by a reader that just took the slot at head. If readers sleep and
  // the next slot is already published, hand the wake-up on: its publisher
  // saw another head and woke nobody.
  if (shared_->readers_waiting.load(std::memory_order_seq_cst) == 0) return;
  const uint64_t pos = shared_->head.load(std::memory_order_seq_cst);
  const uint32_t index = IndexOfPos(pos);
  if (index >= capacity_) return;
  const uint64_t st = SlotAt(index)->state.load(std::memory_order_seq_cst);
  if (LapOf(st) == LapOfPos(pos) && PhaseOf(st) == kFull) WakeReaders();
}

void SlotRing::WakeNextWriter() {
  // Called by a writer that just took the slot at tail: if writers sleep and
  // the next slot is already free, hand the wake-up on.
  if (shared_->writers_waiting.load(std::memory_order_seq_cst) == 0) return;
  const uint64_t pos = shared_->tail.load(std::memory_order_seq_cst);
  const uint32_t index = IndexOfPos(pos);
  if (index >= capacity_) return;
  const uint64_t st = SlotAt(index)->state.load(std::memory_order_seq_cst);
  if (LapOf(st) == LapOfPos(pos) && PhaseOf(st) == kEmpty) WakeWriters();
}

void SlotRing::Close() {
  shared_->closed.store(1, std::memory_order_seq_cst);
  shared_->items_seq.fetch_add(1, std::memory_order_seq_cst);
  shared_->space_seq.fetch_add(1, std::memory_order_seq_cst);
  FutexWake(&shared_->items_seq, INT_MAX);
  FutexWake(&shared_->space_seq, INT_MAX);
}

bool SlotRing::closed() const {
  return shared_->closed.load(std::memory_order_acquire) != 0;
}

std::size_t SlotRing::size() const {
  uint64_t head = shared_->head.load(std::memory_order_acquire);
  uint64_t tail = shared_->tail.load(std::memory_order_acquire);
  int64_t laps = LapDiff(LapOfPos(tail), LapOfPos(head));
  int64_t n = laps * static_cast<int64_t>(capacity_) +
              static_cast<int64_t>(IndexOfPos(tail)) -
              static_cast<int64_t>(IndexOfPos(head));
  if (n < 0) return 0;
  if (n > capacity_) return capacity_;
  return static_cast<std::size_t>(n);
}

uint64_t SlotRing::lost() const {
  return shared_->lost.load(std::memory_order_relaxed);
}

}  // namespace shoal::internal
