// Copyright 2026 The shoal Authors.
#include "shoal/ipc/internal/broadcast_ring.h"

#include <algorithm>
#include <bit>
#include <climits>
#include <new>
#include <string>

#include "shoal/base/errors.h"
#include "shoal/base/internal/futex.h"
#include "shoal/ipc/internal/ring_core.h"

namespace shoal::internal {
namespace {

using P = SlotPhase;
using Status = BroadcastRing::Status;

constexpr uint64_t RoundUp64(uint64_t n) { return (n + 63) / 64 * 64; }
constexpr uint64_t HeaderBytes() { return RoundUp64(sizeof(BroadcastData)); }
constexpr uint64_t kMaxBlockBytes = uint64_t{1} << 31;

uint32_t PinWords(uint32_t max_subscribers) {
  return (max_subscribers + 63) / 64;
}
uint64_t SlotHeaderBytes(uint32_t pin_words) {
  return RoundUp64(sizeof(BroadcastSlotHeader) + 8 * uint64_t{pin_words});
}

// Moves `tail` from n to n + 1 (sequence n is claimed) unless somebody
// already moved it on. `expected` is a copy on purpose: a failed
// compare_exchange overwrites it with the current tail, and a claimer that
// went on using that value as its own sequence would publish its block under
// a later sequence (a lap ahead in its slot, so block-the-writer subscribers
// counted it as overwritten and the sequence it really took was never seen).
void MoveTailPast(std::atomic<uint64_t>& tail, uint64_t n) {
  uint64_t expected = n;
  tail.compare_exchange_strong(expected, n + 1, std::memory_order_acq_rel);
}

struct Geometry {
  uint64_t slot_header_bytes, stride, slots_offset, entries_offset, total;
};
Geometry GeometryOf(uint32_t capacity, uint64_t block_bytes,
                    uint32_t max_subscribers) {
  Geometry g;
  g.slot_header_bytes = SlotHeaderBytes(PinWords(max_subscribers));
  g.stride = g.slot_header_bytes + RoundUp64(block_bytes);
  g.slots_offset = HeaderBytes();
  g.entries_offset = g.slots_offset + g.stride * capacity;
  g.total = g.entries_offset + sizeof(SubscriberEntry) * max_subscribers;
  return g;
}

}  // namespace

// ---------------------------------------------------------------------------
// BroadcastRing.

std::size_t BroadcastRing::BytesFor(uint32_t capacity, uint64_t block_bytes,
                                    uint32_t max_subscribers) {
  if (capacity == 0 || capacity > kMaxBroadcastSlots) {
    throw ValueError("Broadcast: slots must be in [1, " +
                     std::to_string(kMaxBroadcastSlots) + "], not " +
                     std::to_string(capacity));
  }
  if (block_bytes == 0 || block_bytes > kMaxBlockBytes) {
    throw ValueError("Broadcast: a block must be 1 byte to 2 GiB, not " +
                     std::to_string(block_bytes) + " bytes");
  }
  if (max_subscribers == 0 || max_subscribers > kMaxBroadcastSubscribers) {
    throw ValueError("Broadcast: max_subscribers must be in [1, " +
                     std::to_string(kMaxBroadcastSubscribers) + "], not " +
                     std::to_string(max_subscribers));
  }
  const Geometry g = GeometryOf(capacity, block_bytes, max_subscribers);
  if (g.total > (uint64_t{1} << 40)) {
    throw ValueError("Broadcast: " + std::to_string(capacity) +
                     " slots of " + std::to_string(block_bytes) +
                     " bytes is too large");
  }
  return g.total;
}

BroadcastRing BroadcastRing::Create(void* mem, std::size_t bytes,
                                    uint32_t capacity, uint64_t block_bytes,
                                    uint32_t max_subscribers,
                                    uint32_t history) {
  const std::size_t need = BytesFor(capacity, block_bytes, max_subscribers);
  if (history >= capacity) {
    throw ValueError("Broadcast: history (" + std::to_string(history) +
                     ") must be smaller than slots (" +
                     std::to_string(capacity) + ")");
  }
  if (bytes < need || reinterpret_cast<uintptr_t>(mem) % 64 != 0) {
    throw ValueError("Broadcast: memory too small or misaligned");
  }
  const Geometry g = GeometryOf(capacity, block_bytes, max_subscribers);
  auto* d = new (mem) BroadcastData;
  d->capacity = capacity;
  d->max_subscribers = max_subscribers;
  d->pin_words = PinWords(max_subscribers);
  d->history = history;
  d->block_bytes = block_bytes;
  d->slot_header_bytes = g.slot_header_bytes;
  d->stride = g.stride;
  d->slots_offset = g.slots_offset;
  d->entries_offset = g.entries_offset;
  d->total_bytes = g.total;
  d->tail.store(0, std::memory_order_relaxed);
  d->items_seq.store(0, std::memory_order_relaxed);
  d->readers_waiting.store(0, std::memory_order_relaxed);
  d->space_seq.store(0, std::memory_order_relaxed);
  d->writers_waiting.store(0, std::memory_order_relaxed);
  d->closed.store(0, std::memory_order_relaxed);
  d->membership.store(0, std::memory_order_relaxed);
  d->high_water.store(0, std::memory_order_relaxed);
  d->active.store(0, std::memory_order_relaxed);
  d->lost.store(0, std::memory_order_relaxed);
  d->evicted.store(0, std::memory_order_relaxed);
  d->read_spin.Init();
  d->write_spin.Init();
  // Slots and entries start as all-zero bytes, which is (lap 0, EMPTY), no
  // pins, and FREE generation 0: a fresh region already is that. (Openers
  // see all of it after the region's PublishReady, a release store.)
  return Attach(mem, bytes);
}

BroadcastRing BroadcastRing::Attach(void* mem, std::size_t bytes) {
  if (mem == nullptr || reinterpret_cast<uintptr_t>(mem) % 64 != 0 ||
      bytes < sizeof(BroadcastData)) {
    throw InvalidRegion("Broadcast: memory too small or misaligned");
  }
  auto* d = static_cast<BroadcastData*>(mem);
  const uint32_t capacity = d->capacity;
  const uint32_t max_subscribers = d->max_subscribers;
  const uint64_t block_bytes = d->block_bytes;
  const uint32_t history = d->history;
  const bool sane = capacity >= 1 && capacity <= kMaxBroadcastSlots &&
                    max_subscribers >= 1 &&
                    max_subscribers <= kMaxBroadcastSubscribers &&
                    block_bytes >= 1 && block_bytes <= kMaxBlockBytes &&
                    history < capacity;
  if (!sane) {
    throw InvalidRegion("Broadcast: corrupt geometry (" +
                        std::to_string(capacity) + " slots of " +
                        std::to_string(block_bytes) + " bytes, " +
                        std::to_string(max_subscribers) +
                        " subscribers, history " + std::to_string(history) +
                        "): shared memory corrupt");
  }
  const Geometry g = GeometryOf(capacity, block_bytes, max_subscribers);
  if (d->pin_words != PinWords(max_subscribers) ||
      d->slot_header_bytes != g.slot_header_bytes || d->stride != g.stride ||
      d->slots_offset != g.slots_offset ||
      d->entries_offset != g.entries_offset || d->total_bytes != g.total ||
      g.total > bytes) {
    throw InvalidRegion("Broadcast: corrupt geometry (offsets or sizes do "
                        "not match " + std::to_string(bytes) +
                        " bytes available): shared memory corrupt");
  }
  BroadcastRing r;
  r.data_ = d;
  r.slots_ = static_cast<std::byte*>(mem) + g.slots_offset;
  r.entries_ =
      reinterpret_cast<SubscriberEntry*>(static_cast<std::byte*>(mem) +
                                         g.entries_offset);
  r.capacity_ = capacity;
  r.max_subscribers_ = max_subscribers;
  r.pin_words_ = PinWords(max_subscribers);
  r.history_ = history;
  r.block_bytes_ = block_bytes;
  r.slot_header_bytes_ = g.slot_header_bytes;
  r.stride_ = g.stride;
  return r;
}

void BroadcastRing::ThrowCorrupt(const char* what) const {
  throw InvalidRegion(std::string("Broadcast: ") + what +
                      ": shared memory corrupt");
}

uint32_t BroadcastRing::HighWater() const {
  return std::min(data_->high_water.load(std::memory_order_seq_cst),
                  max_subscribers_);
}

Status BroadcastRing::NotYetPublished(uint64_t seq, SlotWord state,
                                      BroadcastBlocker* blocker) const {
  if (state.LapsAheadOf(PosOf(seq)) == 0 && state.is(P::kWriting)) {
    *blocker = BroadcastBlocker{BroadcastBlocker::kWriter, seq, state, 0};
  } else if (data_->closed.load(std::memory_order_seq_cst) &&
             data_->tail.load(std::memory_order_seq_cst) <= seq) {
    return Status::kClosed;
  }
  return Status::kWouldBlock;
}

void BroadcastRing::Close() {
  data_->closed.store(1, std::memory_order_seq_cst);
  data_->items_seq.fetch_add(1, std::memory_order_seq_cst);
  data_->space_seq.fetch_add(1, std::memory_order_seq_cst);
  FutexWake(&data_->items_seq, INT_MAX);
  FutexWake(&data_->space_seq, INT_MAX);
}

void BroadcastRing::WakeReaders() {
  if (data_->readers_waiting.load(std::memory_order_seq_cst) == 0) return;
  data_->items_seq.fetch_add(1, std::memory_order_seq_cst);
  FutexWake(&data_->items_seq, INT_MAX);
}

void BroadcastRing::WakeWriters() {
  if (data_->writers_waiting.load(std::memory_order_seq_cst) == 0) return;
  data_->space_seq.fetch_add(1, std::memory_order_seq_cst);
  FutexWake(&data_->space_seq, INT_MAX);
}

bool BroadcastRing::RepairIfWriterGone(BroadcastSlotHeader* slot,
                                       SlotWord state) {
  if (!state.is(P::kWriting)) return false;
  const pid_t pid = state.pid();
  if (pid == CachedPid() || !IsProcessGone(pid)) return false;
  SlotWord expected = state;
  if (!slot->state.CompareExchange(expected, state.TakenOverBy(CachedPid()),
                                   std::memory_order_seq_cst)) {
    return true;  // somebody else repaired it, or it moved on
  }
  slot->size.store(0, std::memory_order_relaxed);
  slot->flags.store(kBroadcastLost, std::memory_order_release);
  slot->state.Exchange(state.Published(), std::memory_order_seq_cst);
  data_->lost.fetch_add(1, std::memory_order_relaxed);
  WakeReaders();
  WakeWriters();
  return true;
}

void BroadcastRing::Evict(uint32_t i, EntryWord evicting) {
  const uint64_t word = i / 64;
  const uint64_t bit = uint64_t{1} << (i % 64);
  for (uint32_t s = 0; s < capacity_; ++s) {
    auto* slot = reinterpret_cast<BroadcastSlotHeader*>(slots_ + s * stride_);
    Pins(slot)[word].fetch_and(~bit, std::memory_order_seq_cst);
  }
  uint64_t expected = evicting.raw();
  Entry(i)->state.compare_exchange_strong(
      expected,
      EntryWord::Make(evicting.generation() + 1, 0, EntryWord::kFree).raw(),
      std::memory_order_seq_cst);
  data_->membership.fetch_add(1, std::memory_order_seq_cst);
  WakeWriters();
}

bool BroadcastRing::EvictIfDead(uint32_t i) {
  if (i >= max_subscribers_) return false;
  SubscriberEntry* e = Entry(i);
  const EntryWord w = EntryWord::FromRaw(e->state.load(std::memory_order_acquire));
  const pid_t me = CachedPid();
  if (w.phase() == EntryWord::kFree || w.pid() == me) return false;
  bool dead;
  if (w.phase() == EntryWord::kActive) {
    ProcessIdentity who;
    who.pid = w.pid();
    who.start_time = e->start_time.load(std::memory_order_relaxed);
    who.pid_ns = e->pid_ns.load(std::memory_order_relaxed);
    dead = CheckLiveness(who) == Liveness::kDead;
  } else {
    // JOINING (identity not recorded yet) or EVICTING (by another
    // process): the pid alone; a process that is gone cannot finish.
    dead = IsProcessGone(w.pid());
  }
  if (!dead) return false;
  const EntryWord mine = EntryWord::Make(w.generation(), me, EntryWord::kEvicting);
  uint64_t expected = w.raw();
  if (!e->state.compare_exchange_strong(expected, mine.raw(),
                                        std::memory_order_seq_cst)) {
    return true;  // it changed meanwhile: look again
  }
  if (w.phase() == EntryWord::kActive) {
    data_->active.fetch_sub(1, std::memory_order_relaxed);
    data_->evicted.fetch_add(1, std::memory_order_relaxed);
  }
  Evict(i, mine);
  return true;
}

bool BroadcastRing::RepairPin(uint64_t seq, uint32_t i) {
  if (i >= max_subscribers_) return false;
  std::atomic<uint64_t>& state = Entry(i)->state;
  const uint64_t before = state.load(std::memory_order_seq_cst);
  if (EntryWord::FromRaw(before).phase() != EntryWord::kFree) {
    return EvictIfDead(i);
  }
  const uint64_t bit = uint64_t{1} << (i % 64);
  std::atomic<uint64_t>& pin = Pins(SlotOf(seq))[i / 64];
  const uint64_t had = pin.fetch_and(~bit, std::memory_order_seq_cst);
  if (state.load(std::memory_order_seq_cst) != before && (had & bit) != 0) {
    // A subscriber joined on that entry meanwhile: the bit may be its.
    pin.fetch_or(bit, std::memory_order_seq_cst);
    return false;
  }
  return (had & bit) != 0;
}

std::size_t BroadcastRing::EvictDead() {
  std::size_t n = 0;
  const uint32_t hw = HighWater();
  for (uint32_t i = 0; i < hw; ++i) {
    const uint64_t before = Entry(i)->state.load(std::memory_order_acquire);
    if (EvictIfDead(i) &&
        Entry(i)->state.load(std::memory_order_acquire) != before) {
      ++n;
    }
  }
  return n;
}

// ---------------------------------------------------------------------------
// BroadcastWriter.

bool BroadcastWriter::CursorsPast(uint64_t old, BroadcastBlocker* blocker) {
  BroadcastData* d = ring_.data_;
  const uint32_t m = d->membership.load(std::memory_order_seq_cst);
  if (m == membership_ && old < min_cursor_) return true;
  uint64_t min = UINT64_MAX;
  uint32_t who = 0;
  const uint32_t hw = ring_.HighWater();
  for (uint32_t i = 0; i < hw; ++i) {
    const SubscriberEntry* e = ring_.Entry(i);
    const EntryWord w =
        EntryWord::FromRaw(e->state.load(std::memory_order_seq_cst));
    if (w.phase() != EntryWord::kActive) continue;
    if (e->policy.load(std::memory_order_relaxed) !=
        static_cast<uint32_t>(BroadcastPolicy::kBlockWriter)) {
      continue;
    }
    const uint64_t c = e->cursor.load(std::memory_order_seq_cst);
    if (c < min) {
      min = c;
      who = i;
    }
  }
  membership_ = m;
  min_cursor_ = min;
  if (old < min) return true;
  *blocker = BroadcastBlocker{BroadcastBlocker::kEntry, 0, SlotWord(), who};
  return false;
}

bool BroadcastWriter::Unpinned(uint64_t seq,
                               BroadcastBlocker* blocker) const {
  BroadcastSlotHeader* slot = ring_.SlotOf(seq);
  const uint32_t words = std::min(ring_.pin_words_, (ring_.HighWater() + 63) / 64);
  std::atomic<uint64_t>* pins = ring_.Pins(slot);
  for (uint32_t w = 0; w < words; ++w) {
    const uint64_t v = pins[w].load(std::memory_order_seq_cst);
    if (v != 0) {
      *blocker = BroadcastBlocker{
          BroadcastBlocker::kPin, seq, SlotWord(),
          w * 64 + static_cast<uint32_t>(std::countr_zero(v))};
      return false;
    }
  }
  return true;
}

Status BroadcastWriter::TryClaimOnce(BroadcastClaim* claim,
                                     BroadcastBlocker* blocker) {
  *blocker = BroadcastBlocker();
  if (claim->pins_pending) {
    if (!Unpinned(claim->seq, blocker)) return Status::kWouldBlock;
    claim->pins_pending = false;
    return Status::kOk;
  }
  BroadcastData* d = ring_.data_;
  if (d->closed.load(std::memory_order_acquire)) return Status::kClosed;
  const pid_t me = CachedPid();
  const uint32_t cap = ring_.capacity_;
  for (uint64_t tries = 0; tries < uint64_t{4} * cap + 64; ++tries) {
    const uint64_t n = d->tail.load(std::memory_order_acquire);
    const RingPos pos = ring_.PosOf(n);
    BroadcastSlotHeader* slot = ring_.SlotOf(n);
    SlotWord st = slot->state.Load(std::memory_order_acquire);
    const int32_t ahead = st.LapsAheadOf(pos);
    if (ahead > 0 || (ahead == 0 && !st.is(P::kEmpty))) {
      // Someone claimed sequence n: help `tail` along.
      MoveTailPast(d->tail, n);
      continue;
    }
    if (ahead < -1) ring_.ThrowCorrupt("a slot two laps behind the tail");
    if (ahead == -1 && st.is(P::kWriting)) {
      // The previous lap's writer still fills it (or died doing so).
      *blocker = BroadcastBlocker{BroadcastBlocker::kWriter, n - cap, st, 0};
      return Status::kWouldBlock;
    }
    if (n >= cap) {
      if (!CursorsPast(n - cap, blocker)) return Status::kWouldBlock;
      if (!Unpinned(n, blocker)) return Status::kWouldBlock;
    }
    if (!slot->state.CompareExchange(st, SlotWord::WritingAt(pos, me),
                                     std::memory_order_seq_cst)) {
      continue;
    }
    // The slot is ours at sequence n, whoever moves `tail` past it (another
    // writer that saw the slot claimed may have done so already).
    MoveTailPast(d->tail, n);
    *claim = BroadcastClaim{slot, n, ring_.Payload(slot), 0, false};
    if (d->closed.load(std::memory_order_seq_cst)) {
      // A close that raced with the claim: give it back as a skip, so a
      // subscriber that already saw "closed and drained" stays right.
      PublishFlags(*claim, 0, kBroadcastSkip);
      return Status::kClosed;
    }
    // A subscriber may have pinned the old block between the check and the
    // CAS (it saw the slot still FULL): wait for it to let go.
    if (n >= cap && !Unpinned(n, blocker)) {
      claim->pins_pending = true;
      return Status::kWouldBlock;
    }
    return Status::kOk;
  }
  return Status::kWouldBlock;  // a corrupt ring whose laps never match
}

Status BroadcastWriter::Claim(BroadcastClaim* claim, const Deadline& deadline) {
  BroadcastData* d = ring_.data_;
  claim->pins_pending = false;
  Status s = RingWaitLoop<Status, BroadcastBlocker>(
      d->space_seq, d->writers_waiting, &d->write_spin, deadline, true,
      [&](BroadcastBlocker* b) { return TryClaimOnce(claim, b); },
      [&](const BroadcastBlocker& b) {
        if (b.kind == BroadcastBlocker::kWriter) {
          return ring_.RepairIfWriterGone(ring_.SlotOf(b.seq), b.state);
        }
        if (b.kind == BroadcastBlocker::kEntry ||
            b.kind == BroadcastBlocker::kPin) {
          const bool changed = b.kind == BroadcastBlocker::kPin
                                   ? ring_.RepairPin(b.seq, b.entry)
                                   : ring_.EvictIfDead(b.entry);
          if (changed) membership_ = ~0u;
          return changed;
        }
        return false;
      });
  if (s != Status::kOk && claim->pins_pending) {
    // Timed out waiting for a reader of the old block: nothing was written
    // over it; the sequence is published as a skip.
    claim->pins_pending = false;
    PublishFlags(*claim, 0, kBroadcastSkip);
  }
  return s;
}

void BroadcastWriter::PublishFlags(const BroadcastClaim& claim, uint32_t size,
                                   uint32_t flags) {
  BroadcastSlotHeader* slot = claim.slot;
  slot->size.store(size, std::memory_order_relaxed);
  slot->flags.store(flags, std::memory_order_release);
  slot->state.Exchange(SlotWord::FullAt(ring_.PosOf(claim.seq)),
                       std::memory_order_seq_cst);
  ring_.WakeReaders();
}

void BroadcastWriter::Publish(const BroadcastClaim& claim, uint32_t size) {
  PublishFlags(claim, size, 0);
}

void BroadcastWriter::Abandon(const BroadcastClaim& claim) {
  PublishFlags(claim, 0, kBroadcastSkip);
}

// ---------------------------------------------------------------------------
// BroadcastReader.

BroadcastReader::BroadcastReader(const BroadcastRing& ring,
                                 BroadcastPolicy policy, uint32_t history)
    : ring_(ring) {
  BroadcastData* d = ring_.data_;
  const pid_t me = CachedPid();
  const ProcessIdentity self = SelfIdentity();
  bool found = false;
  for (int attempt = 0; attempt < 2 && !found; ++attempt) {
    if (attempt == 1) ring_.EvictDead();
    for (uint32_t i = 0; i < ring_.max_subscribers_ && !found; ++i) {
      SubscriberEntry* e = ring_.Entry(i);
      uint64_t raw = e->state.load(std::memory_order_acquire);
      const EntryWord w = EntryWord::FromRaw(raw);
      if (w.phase() != EntryWord::kFree) continue;
      const EntryWord joining =
          EntryWord::Make(w.generation(), me, EntryWord::kJoining);
      if (e->state.compare_exchange_strong(raw, joining.raw(),
                                           std::memory_order_seq_cst)) {
        index_ = i;
        generation_ = w.generation();
        found = true;
      }
    }
  }
  if (!found) {
    throw RuntimeError("Broadcast: all " +
                       std::to_string(ring_.max_subscribers_) +
                       " subscriber entries are in use by live processes "
                       "(BroadcastOptions::max_subscribers)");
  }
  SubscriberEntry* e = ring_.Entry(index_);
  e->start_time.store(self.start_time, std::memory_order_relaxed);
  e->pid_ns.store(self.pid_ns, std::memory_order_relaxed);
  e->policy.store(static_cast<uint32_t>(policy), std::memory_order_relaxed);
  uint32_t hw = d->high_water.load(std::memory_order_seq_cst);
  while (hw < index_ + 1 &&
         !d->high_water.compare_exchange_weak(hw, index_ + 1,
                                              std::memory_order_seq_cst)) {
  }
  const uint64_t t = d->tail.load(std::memory_order_seq_cst);
  uint64_t c = t - std::min<uint64_t>({history, ring_.history_, t});
  e->cursor.store(c, std::memory_order_seq_cst);
  e->state.store(EntryWord::Make(generation_, me, EntryWord::kActive).raw(),
                 std::memory_order_seq_cst);
  d->active.fetch_add(1, std::memory_order_relaxed);
  d->membership.fetch_add(1, std::memory_order_seq_cst);
  // A writer that has not seen the new member yet claims at most the
  // sequence at `tail` now, overwriting tail - capacity: start past it.
  const uint64_t t2 = d->tail.load(std::memory_order_seq_cst);
  if (t2 + 1 > ring_.capacity_ && c < t2 + 1 - ring_.capacity_) {
    c = t2 + 1 - ring_.capacity_;
    e->cursor.store(c, std::memory_order_seq_cst);
  }
  cursor_ = c;
  pid_ = me;
  word_ = index_ / 64;
  bit_ = uint64_t{1} << (index_ % 64);
  joined_ = true;
}

void BroadcastReader::Advance(uint64_t to) {
  cursor_ = to;
  ring_.Entry(index_)->cursor.store(to, std::memory_order_seq_cst);
  ring_.WakeWriters();
}

void BroadcastReader::CheckStillMember() {
  const EntryWord w = EntryWord::FromRaw(
      ring_.Entry(index_)->state.load(std::memory_order_acquire));
  if (!(w == EntryWord::Make(generation_, pid_, EntryWord::kActive))) {
    joined_ = false;
    throw RuntimeError(
        "Broadcast: this subscriber's entry was taken away (evicted as "
        "dead, or the shared memory was overwritten); subscribe again");
  }
}

Status BroadcastReader::TryClaimOnce(BroadcastClaim* claim,
                                     BroadcastBlocker* blocker) {
  *blocker = BroadcastBlocker();
  BroadcastData* d = ring_.data_;
  const uint32_t cap = ring_.capacity_;
  for (uint64_t tries = 0; tries < uint64_t{4} * cap + 64; ++tries) {
    const uint64_t c = cursor_;
    BroadcastSlotHeader* slot = ring_.SlotOf(c);
    const RingPos pos = ring_.PosOf(c);
    const SlotWord st = slot->state.Load(std::memory_order_acquire);
    const int32_t ahead = st.LapsAheadOf(pos);
    if (ahead == 0 && st.is(P::kFull)) {
      std::atomic<uint64_t>& pin = ring_.Pins(slot)[word_];
      pin.fetch_or(bit_, std::memory_order_seq_cst);
      // Read what describes the block before confirming that the slot still
      // holds it: a writer changes them only after taking the slot over.
      const uint32_t flags = slot->flags.load(std::memory_order_acquire);
      const uint32_t size = slot->size.load(std::memory_order_acquire);
      if (!(slot->state.Load(std::memory_order_seq_cst) == st)) {
        pin.fetch_and(~bit_, std::memory_order_seq_cst);
        ring_.WakeWriters();
        continue;  // overwritten meanwhile: look again
      }
      if ((flags & ~kBroadcastFlags) != 0 || size > ring_.block_bytes_) {
        pin.fetch_and(~bit_, std::memory_order_seq_cst);
        Advance(c + 1);
        ring_.ThrowCorrupt(
            ("a block with flags " + std::to_string(flags) + " and size " +
             std::to_string(size) + " (blocks hold at most " +
             std::to_string(ring_.block_bytes_) + " bytes)")
                .c_str());
      }
      if (flags != 0) {
        pin.fetch_and(~bit_, std::memory_order_seq_cst);
        if (flags & kBroadcastLost) ++lost_;
        Advance(c + 1);
        continue;
      }
      Advance(c + 1);
      ++delivered_;
      *claim = BroadcastClaim{slot, c, ring_.Payload(slot), size, false};
      return Status::kOk;
    }
    if (ahead > 0) {
      // Overwritten: every block before tail - capacity certainly is.
      const uint64_t t = d->tail.load(std::memory_order_acquire);
      uint64_t to = c + 1;
      if (t > cap && t - cap > to) to = t - cap;
      missed_ += to - c;
      Advance(to);
      continue;
    }
    if (ahead < -1) ring_.ThrowCorrupt("a slot two laps behind a cursor");
    return ring_.NotYetPublished(c, st, blocker);
  }
  return Status::kWouldBlock;
}

Status BroadcastReader::Claim(BroadcastClaim* claim, const Deadline& deadline) {
  if (!joined_) throw ValueError("Broadcast: this subscriber has left");
  if (CachedPid() != pid_) {
    throw ValueError(
        "Broadcast: a Subscriber belongs to the process that subscribed; "
        "subscribe again in the forked child");
  }
  BroadcastData* d = ring_.data_;
  return RingWaitLoop<Status, BroadcastBlocker>(
      d->items_seq, d->readers_waiting, &d->read_spin, deadline, true,
      [&](BroadcastBlocker* b) { return TryClaimOnce(claim, b); },
      [&](const BroadcastBlocker& b) {
        CheckStillMember();
        if (b.kind == BroadcastBlocker::kWriter) {
          return ring_.RepairIfWriterGone(ring_.SlotOf(b.seq), b.state);
        }
        return false;
      });
}

void BroadcastReader::Release(const BroadcastClaim& claim) {
  if (!joined_ || CachedPid() != pid_) return;  // left: pins already cleared
  ring_.Pins(claim.slot)[word_].fetch_and(~bit_, std::memory_order_seq_cst);
  ring_.WakeWriters();
}

void BroadcastReader::Leave() {
  if (!joined_) return;
  joined_ = false;
  if (CachedPid() != pid_) return;  // a forked child's copy: not ours
  BroadcastData* d = ring_.data_;
  for (uint32_t s = 0; s < ring_.capacity_; ++s) {
    auto* slot = reinterpret_cast<BroadcastSlotHeader*>(ring_.slots_ +
                                                        s * ring_.stride_);
    ring_.Pins(slot)[word_].fetch_and(~bit_, std::memory_order_seq_cst);
  }
  uint64_t expected = EntryWord::Make(generation_, pid_, EntryWord::kActive).raw();
  if (ring_.Entry(index_)->state.compare_exchange_strong(
          expected,
          EntryWord::Make(generation_ + 1, 0, EntryWord::kFree).raw(),
          std::memory_order_seq_cst)) {
    d->active.fetch_sub(1, std::memory_order_relaxed);
    d->membership.fetch_add(1, std::memory_order_seq_cst);
  }
  ring_.WakeWriters();
}

// ---------------------------------------------------------------------------
// BroadcastWatch.

BroadcastWatch::BroadcastWatch(const BroadcastReader& reader)
    : ring_(reader.ring_), index_(reader.index_) {
  // 0 is a FREE entry word, never an active one: a reader that left is
  // never "this subscriber".
  entry_word_ =
      reader.joined_
          ? EntryWord::Make(reader.generation_, reader.pid_, EntryWord::kActive)
                .raw()
          : 0;
}

Status BroadcastWatch::Poll(BroadcastBlocker* blocker) const {
  *blocker = BroadcastBlocker();
  const SubscriberEntry* e = ring_.Entry(index_);
  if (entry_word_ == 0 ||
      e->state.load(std::memory_order_seq_cst) != entry_word_) {
    return Status::kOk;  // left or evicted: the receive says so
  }
  const uint32_t cap = ring_.capacity_;
  uint64_t c = e->cursor.load(std::memory_order_seq_cst);
  // Skipped and lost blocks are passed over by a receive: look past them
  // (at most one lap; a ring that never ends in a block is garbage).
  for (uint32_t step = 0; step <= cap; ++step, ++c) {
    BroadcastSlotHeader* slot = ring_.SlotOf(c);
    const SlotWord st = slot->state.Load(std::memory_order_seq_cst);
    const int32_t ahead = st.LapsAheadOf(ring_.PosOf(c));
    if (ahead > 0 || ahead < -1) return Status::kOk;  // lapped, or corrupt
    if (ahead == 0 && st.is(P::kFull)) {
      const uint32_t flags = slot->flags.load(std::memory_order_acquire);
      if (flags == 0 || (flags & ~kBroadcastFlags) != 0 ||
          !(slot->state.Load(std::memory_order_seq_cst) == st)) {
        return Status::kOk;  // a block, garbage, or overwritten (lapped)
      }
      continue;  // LOST or SKIP
    }
    return ring_.NotYetPublished(c, st, blocker);
  }
  return Status::kWouldBlock;
}

bool BroadcastWatch::CheckBlocker(const BroadcastBlocker& blocker) {
  if (blocker.kind != BroadcastBlocker::kWriter) return false;
  return ring_.RepairIfWriterGone(ring_.SlotOf(blocker.seq), blocker.state);
}

}  // namespace shoal::internal
