// Copyright 2026 The shoal Authors.
//
// slot_word.h: the two words a shared-memory ring is made of, as value types
// (in the spirit of iceoryx's CyclicIndex), and the atomics that hold them.
//
//   RingPos    a position in a ring of `capacity` slots: (lap, index). The
//              writers' `tail` and the readers' `head` each hold one. Next()
//              steps to the following slot and wraps to index 0 of the next
//              lap; Distance() counts the slots between two positions.
//
//   SlotWord   the state of one slot: (lap, pid, phase). A slot goes
//
//                (L, EMPTY) -> (L, WRITING, w) -> (L, FULL)
//                           -> (L, READING, r) -> (L + 1, EMPTY)
//
//              where w and r are the pids of the processes in the middle of
//              the write and the read: a peer that waits on a held slot for
//              too long asks whether that process still runs, and if not,
//              takes the slot over (TakenOverBy) and repairs it.
//
//   SharedRingPos, SharedSlotWord
//              the 64-bit atomics that hold them in shared memory, with typed
//              loads, stores, compare-exchanges and exchanges.
//
// These types are the only code in shoal that knows the bit layout of these
// words (RingPos: [lap:32][index:32]; SlotWord: [lap:32][pid:30][phase:2]).
// Rings use the named positions and transitions below and never shift or
// mask them themselves.
//
// Laps are 32-bit and compared by signed difference, so they may wrap: a
// ring only ever compares laps that are at most one or two apart. pids are
// stored in 30 bits (Linux's pid_max is at most 2^22).
//
// Everything here is constexpr, header-only and as cheap as the bit
// arithmetic it replaces.
#ifndef SHOAL_IPC_INTERNAL_SLOT_WORD_H_
#define SHOAL_IPC_INTERNAL_SLOT_WORD_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <type_traits>

namespace shoal::internal {

// A position in a ring: (lap, index), index < capacity.
class RingPos {
 public:
  constexpr RingPos() = default;
  constexpr RingPos(uint32_t lap, uint32_t index)
      : raw_((static_cast<uint64_t>(lap) << 32) | index) {}
  static constexpr RingPos FromRaw(uint64_t raw) {
    RingPos p;
    p.raw_ = raw;
    return p;
  }

  constexpr uint32_t lap() const { return static_cast<uint32_t>(raw_ >> 32); }
  // Read from shared memory: the ring range-checks it before use.
  constexpr uint32_t index() const { return static_cast<uint32_t>(raw_); }
  constexpr uint64_t raw() const { return raw_; }

  // The following position in a ring of `capacity` slots.
  constexpr RingPos Next(uint32_t capacity) const {
    return index() + 1 >= capacity ? RingPos(lap() + 1, 0)
                                   : RingPos(lap(), index() + 1);
  }
  // The same slot one lap later: where the writer that reuses a slot
  // released at this position stands.
  constexpr RingPos NextLap() const { return RingPos(lap() + 1, index()); }

  // Slots from `from` to `to` in a ring of `capacity` slots: negative when
  // `to` is behind `from`. Correct across lap wrap-around as long as the two
  // are less than 2^31 laps apart.
  static constexpr int64_t Distance(RingPos from, RingPos to,
                                    uint32_t capacity) {
    const int64_t laps = static_cast<int32_t>(to.lap() - from.lap());
    return laps * static_cast<int64_t>(capacity) +
           static_cast<int64_t>(to.index()) -
           static_cast<int64_t>(from.index());
  }

  friend constexpr bool operator==(RingPos a, RingPos b) = default;

 private:
  uint64_t raw_ = 0;
};

enum class SlotPhase : uint32_t {
  kEmpty = 0,    // free for the writer of its lap
  kWriting = 1,  // a writer (pid) fills it
  kFull = 2,     // published, for the reader of its lap
  kReading = 3,  // a reader (pid) consumes it
};

// The state of one slot: (lap, pid, phase). pid is 0 unless the phase is
// WRITING or READING (a process is in the middle of it).
class SlotWord {
 public:
  // (lap 0, EMPTY): a slot as a ring is created.
  constexpr SlotWord() = default;
  static constexpr SlotWord FromRaw(uint64_t raw) {
    SlotWord w;
    w.raw_ = raw;
    return w;
  }

  // The states a slot takes at position `p` (its lap).
  static constexpr SlotWord EmptyAt(RingPos p) {
    return Make(p.lap(), 0, SlotPhase::kEmpty);
  }
  static constexpr SlotWord WritingAt(RingPos p, pid_t writer) {
    return Make(p.lap(), writer, SlotPhase::kWriting);
  }
  static constexpr SlotWord FullAt(RingPos p) {
    return Make(p.lap(), 0, SlotPhase::kFull);
  }
  static constexpr SlotWord ReadingAt(RingPos p, pid_t reader) {
    return Make(p.lap(), reader, SlotPhase::kReading);
  }
  // A slot read at `p` and released: EMPTY for the writer one lap later.
  static constexpr SlotWord ReleasedAt(RingPos p) {
    return Make(p.lap() + 1, 0, SlotPhase::kEmpty);
  }

  constexpr uint32_t lap() const { return static_cast<uint32_t>(raw_ >> 32); }
  constexpr SlotPhase phase() const {
    return static_cast<SlotPhase>(raw_ & kPhaseMask);
  }
  // The process in the middle of a WRITING or READING slot (0 otherwise).
  // Read from shared memory: only ever used to ask whether it still runs.
  constexpr pid_t pid() const {
    return static_cast<pid_t>((raw_ >> kPidShift) & kPidMask);
  }
  constexpr uint64_t raw() const { return raw_; }

  constexpr bool is(SlotPhase p) const { return phase() == p; }
  // A process is in the middle of writing or reading this slot.
  constexpr bool held() const {
    return is(SlotPhase::kWriting) || is(SlotPhase::kReading);
  }
  // Held, by `pid` (compared in the 30 bits the word stores).
  constexpr bool HeldBy(pid_t pid) const {
    return held() && ((raw_ >> kPidShift) & kPidMask) == Truncate(pid);
  }
  // How many laps this slot is ahead of position `p` (negative: behind).
  // 0 means the slot is at p's lap; -1 that it still holds the previous
  // lap's item (the ring is full there, or its reader has not finished).
  constexpr int32_t LapsAheadOf(RingPos p) const {
    return static_cast<int32_t>(lap() - p.lap());
  }

  // The transitions of a slot from this state (the ring checks the phase
  // first and applies them with a CAS or an exchange).
  // (L, phase, p) -> (L, phase, by): a survivor takes over a dead holder's
  // claim, so that exactly one survivor repairs the slot.
  constexpr SlotWord TakenOverBy(pid_t by) const {
    return Make(lap(), by, phase());
  }
  // (L, WRITING, w) -> (L, FULL).
  constexpr SlotWord Published() const {
    return Make(lap(), 0, SlotPhase::kFull);
  }
  // (L, READING, r) -> (L + 1, EMPTY).
  constexpr SlotWord Released() const {
    return Make(lap() + 1, 0, SlotPhase::kEmpty);
  }

  friend constexpr bool operator==(SlotWord a, SlotWord b) = default;

 private:
  static constexpr uint64_t kPhaseMask = 0x3;
  static constexpr int kPidShift = 2;
  static constexpr uint64_t kPidMask = 0x3fffffff;

  static constexpr uint64_t Truncate(pid_t pid) {
    return static_cast<uint64_t>(static_cast<uint32_t>(pid)) & kPidMask;
  }
  static constexpr SlotWord Make(uint32_t lap, pid_t pid, SlotPhase phase) {
    return FromRaw((static_cast<uint64_t>(lap) << 32) |
                   (Truncate(pid) << kPidShift) |
                   static_cast<uint64_t>(phase));
  }

  uint64_t raw_ = 0;
};

// A RingPos in shared memory (a ring's head or tail).
class SharedRingPos {
 public:
  RingPos Load(std::memory_order order) const {
    return RingPos::FromRaw(raw_.load(order));
  }
  void Store(RingPos p, std::memory_order order) { raw_.store(p.raw(), order); }
  // Moves the index from `from` to `to` unless somebody already moved it
  // (anyone who sees a slot claimed helps its index along, so the claimer
  // dying right after its claim never blocks the index). True if this call
  // moved it.
  bool Advance(RingPos from, RingPos to) {
    uint64_t expected = from.raw();
    return raw_.compare_exchange_strong(expected, to.raw(),
                                        std::memory_order_acq_rel);
  }

 private:
  std::atomic<uint64_t> raw_;
};

// A SlotWord in shared memory (a slot's state).
class SharedSlotWord {
 public:
  SlotWord Load(std::memory_order order) const {
    return SlotWord::FromRaw(raw_.load(order));
  }
  void Store(SlotWord w, std::memory_order order) { raw_.store(w.raw(), order); }
  // On failure `expected` receives the current word.
  bool CompareExchange(SlotWord& expected, SlotWord desired,
                       std::memory_order order) {
    uint64_t e = expected.raw();
    const bool ok = raw_.compare_exchange_strong(e, desired.raw(), order);
    if (!ok) expected = SlotWord::FromRaw(e);
    return ok;
  }
  SlotWord Exchange(SlotWord desired, std::memory_order order) {
    return SlotWord::FromRaw(raw_.exchange(desired.raw(), order));
  }

 private:
  std::atomic<uint64_t> raw_;
};

static_assert(std::is_trivially_copyable_v<RingPos>);
static_assert(std::is_trivially_copyable_v<SlotWord>);
static_assert(std::is_standard_layout_v<SharedRingPos>);
static_assert(std::is_standard_layout_v<SharedSlotWord>);
static_assert(sizeof(SharedRingPos) == 8 && sizeof(SharedSlotWord) == 8);
static_assert(std::atomic<uint64_t>::is_always_lock_free);

}  // namespace shoal::internal

#endif  // SHOAL_IPC_INTERNAL_SLOT_WORD_H_
