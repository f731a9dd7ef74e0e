// Copyright 2026 The shoal Authors.
//
// broadcast_ring.h: the shared-memory ring under Broadcast<T>
// (ipc/broadcast.h): one or more writers, any number of subscribers, each
// of which sees every block.
//
// Why not the ring core (ring_core.h): there every slot goes to exactly one
// reader through one shared `head`. Here every subscriber owns a cursor, a
// slot is read by many at once, and it is reused only when nobody still
// holds it. The words are the same: a slot's state is a SlotWord (lap, pid,
// phase) over RingPos positions (slot_word.h), the wake-ups are shared
// futexes behind waiter counts, spinning is the shared SpinPolicy, and a
// holder is judged dead by the same liveness calls.
//
// Pieces
//   BroadcastData        the shared control block (geometry, the writers'
//                        `tail`, wake-up words, counters).
//   BroadcastSlotHeader  the head of each slot: its SlotWord, the payload's
//                        size and flags, then `pin_words` 64-bit words of
//                        pins (bit i: subscriber entry i reads the block in
//                        place). The payload follows at slot_header_bytes.
//   SubscriberEntry      one per subscriber (a table of max_subscribers):
//                        who it is (pid, start time, pid namespace), its
//                        policy, and its cursor.
//   BroadcastRing        the process-local view: validated geometry.
//   BroadcastWriter      claims, publishes and abandons slots.
//   BroadcastReader      one subscriber: joins, claims the block at its
//                        cursor, releases it, leaves.
//
// Algorithm
//   Blocks are numbered by a 64-bit sequence; block s lives in slot
//   s % capacity at lap s / capacity. A writer takes the sequence at `tail`
//   by moving its slot from (lap - 1, FULL) (or (0, EMPTY) on the first
//   lap) to (lap, WRITING, pid) with one CAS, then advances `tail` (anyone
//   who sees the slot claimed helps), fills the payload and publishes
//   (lap, FULL). Before the CAS it checks that the block it overwrites,
//   `old` = s - capacity, is no longer wanted:
//     * every block-the-writer subscriber's cursor is past `old`
//       (the minimum is cached per writer and rescanned when `membership`
//       changes or the cache no longer proves it), and
//     * no pin bit is set in the slot.
//   After the CAS it checks the pins once more (Dekker with the reader's
//   pin-then-check, both seq_cst) and waits for any that a reader set in
//   between; a block that is pinned is never rewritten.
//   A subscriber at cursor c reads slot c % capacity: (lap(c), FULL) is its
//   block: it sets its pin bit, re-reads the state (unchanged: the block is
//   its until it clears the bit), advances its cursor and reads in place. A
//   state one lap behind (or (0, EMPTY)) means "not published yet"; a state
//   AHEAD of lap(c) means the block was overwritten (an overwrite
//   subscriber that fell a ring behind): the cursor jumps to tail -
//   capacity, the oldest block that can still be there, and the jump is
//   added to that subscriber's missed() count, which it is told of (never
//   silently).
//
// Joining and leaving
//   A subscriber takes a free entry with one CAS (FREE -> JOINING, pid),
//   records who it is, sets its cursor to tail - history, then marks the
//   entry ACTIVE and bumps `membership` (writers rescan their cursor cache).
//   It then re-reads `tail` and moves its cursor past anything a writer that
//   had not seen the new member may still overwrite, so a block-the-writer
//   subscriber never misses a block it was promised. Leaving clears its pins
//   and frees the entry (generation + 1).
//
// Process death
//   A writer that dies in WRITING: a peer (subscriber or writer) waiting on
//   that slot for kLivenessCheckInterval checks the pid; when the process is
//   gone it takes the slot over and publishes it as LOST. Each subscriber
//   that passes it counts it in its lost(); the ring counts it once.
//   A subscriber that dies: a writer it blocks (its cursor, or a pin it
//   held) checks its identity (pid + start time + pid namespace, so a
//   reused pid is not mistaken for it) after the same interval, and evicts
//   it when proven dead: EVICTING (with the evicter's pid, so a dead evicter
//   is taken over), every pin bit cleared, the entry freed. Nobody waits on
//   a dead process for more than about one interval.
//
// Validation: the geometry is checked at Attach against the bytes mapped;
// slot indices are sequence % capacity (always in range); states more than
// one lap behind a cursor are InvalidRegion; sizes and flags are checked
// before a payload is handed out; loops over shared state are bounded by a
// try count or the caller's deadline. Garbage in pins or cursors can only
// make a writer wait, until its deadline.
#ifndef SHOAL_IPC_INTERNAL_BROADCAST_RING_H_
#define SHOAL_IPC_INTERNAL_BROADCAST_RING_H_

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>

#include "shoal/base/deadline.h"
#include "shoal/base/internal/process_liveness.h"
#include "shoal/base/internal/spin.h"
#include "shoal/ipc/internal/slot_word.h"

namespace shoal::internal {

inline constexpr uint32_t kMaxBroadcastSubscribers = 1u << 16;
inline constexpr uint32_t kMaxBroadcastSlots = 1u << 20;

// Slot flags.
inline constexpr uint32_t kBroadcastLost = 1u << 0;  // writer died: skip
inline constexpr uint32_t kBroadcastSkip = 1u << 1;  // loan abandoned: skip
inline constexpr uint32_t kBroadcastFlags = kBroadcastLost | kBroadcastSkip;

// What a subscriber does when it falls a whole ring behind.
enum class BroadcastPolicy : uint32_t {
  kBlockWriter = 0,  // writers wait for it (bounded by their deadline)
  kOverwrite = 1,    // writers go on; what it missed is counted
};

struct alignas(64) BroadcastData {
  uint32_t capacity;           // slots, >= 1
  uint32_t max_subscribers;    // entries in the subscriber table
  uint32_t pin_words;          // ceil(max_subscribers / 64)
  uint32_t history;            // most blocks a late joiner may ask for
  uint64_t block_bytes;        // payload bytes per slot
  uint64_t slot_header_bytes;  // a multiple of 64
  uint64_t stride;             // bytes per slot
  uint64_t slots_offset;       // from this struct
  uint64_t entries_offset;     // from this struct
  uint64_t total_bytes;        // this struct + slots + entries
  alignas(64) std::atomic<uint64_t> tail;  // next sequence to claim
  alignas(64) std::atomic<uint32_t> items_seq;
  std::atomic<uint32_t> readers_waiting;
  alignas(64) std::atomic<uint32_t> space_seq;
  std::atomic<uint32_t> writers_waiting;
  alignas(64) std::atomic<uint32_t> closed;
  std::atomic<uint32_t> membership;  // bumped on every join, leave, eviction
  std::atomic<uint32_t> high_water;  // entries [0, high_water) were ever used
  std::atomic<uint32_t> active;      // entries in use
  std::atomic<uint64_t> lost;        // blocks whose writer died
  std::atomic<uint64_t> evicted;     // subscribers evicted after dying
  alignas(64) SpinPolicy read_spin;
  SpinPolicy write_spin;
};
static_assert(std::is_standard_layout_v<BroadcastData>);

struct BroadcastSlotHeader {
  SharedSlotWord state;
  std::atomic<uint32_t> size;   // payload bytes
  std::atomic<uint32_t> flags;  // kBroadcast*
  // pin_words std::atomic<uint64_t> follow (see BroadcastRing::Pins).
};
static_assert(std::is_standard_layout_v<BroadcastSlotHeader>);
static_assert(sizeof(BroadcastSlotHeader) == 16);

struct alignas(64) SubscriberEntry {
  std::atomic<uint64_t> state;  // EntryWord: generation, pid, phase
  std::atomic<uint64_t> start_time;
  std::atomic<uint64_t> pid_ns;
  std::atomic<uint64_t> cursor;  // the next sequence it reads
  std::atomic<uint32_t> policy;  // BroadcastPolicy
  std::atomic<uint32_t> reserved;
  uint64_t pad[3];
};
static_assert(std::is_standard_layout_v<SubscriberEntry>);
static_assert(sizeof(SubscriberEntry) == 64);
static_assert(std::atomic<uint64_t>::is_always_lock_free);
static_assert(std::atomic<uint32_t>::is_always_lock_free);

// The state of a subscriber entry: (generation, pid, phase), as SlotWord is
// for slots. The generation grows each time the entry is freed, so a stale
// CAS never acts on the next occupant.
class EntryWord {
 public:
  enum Phase : uint32_t { kFree = 0, kJoining = 1, kActive = 2, kEvicting = 3 };
  constexpr EntryWord() = default;
  static constexpr EntryWord FromRaw(uint64_t raw) {
    EntryWord w;
    w.raw_ = raw;
    return w;
  }
  static constexpr EntryWord Make(uint32_t gen, pid_t pid, Phase phase) {
    return FromRaw(static_cast<uint64_t>(gen) << 32 |
                   (static_cast<uint64_t>(static_cast<uint32_t>(pid)) &
                    0x3fffffffu) << 2 |
                   phase);
  }
  constexpr uint32_t generation() const {
    return static_cast<uint32_t>(raw_ >> 32);
  }
  constexpr pid_t pid() const {
    return static_cast<pid_t>((raw_ >> 2) & 0x3fffffffu);
  }
  constexpr Phase phase() const { return static_cast<Phase>(raw_ & 3); }
  constexpr uint64_t raw() const { return raw_; }
  friend constexpr bool operator==(EntryWord, EntryWord) = default;

 private:
  uint64_t raw_ = 0;
};

struct BroadcastBlocker;

// A block claimed by a writer or a subscriber.
struct BroadcastClaim {
  BroadcastSlotHeader* slot = nullptr;
  uint64_t seq = 0;
  std::byte* data = nullptr;  // the payload area (block_bytes)
  uint32_t size = 0;          // subscriber: validated payload bytes
  bool pins_pending = false;  // writer: claimed, pins not yet clear
};

class BroadcastRing {
 public:
  enum class Status { kOk, kWouldBlock, kTimedOut, kClosed };

  BroadcastRing() = default;

  // Bytes for a ring of `capacity` slots of `block_bytes` each and a table
  // of `max_subscribers`. Throws ValueError on out-of-range arguments.
  static std::size_t BytesFor(uint32_t capacity, uint64_t block_bytes,
                              uint32_t max_subscribers);
  // Builds a ring in zeroed, 64-byte aligned memory of BytesFor() bytes.
  static BroadcastRing Create(void* mem, std::size_t bytes, uint32_t capacity,
                              uint64_t block_bytes, uint32_t max_subscribers,
                              uint32_t history);
  // Validates the geometry against `bytes`; throws InvalidRegion.
  static BroadcastRing Attach(void* mem, std::size_t bytes);

  void Close();
  bool closed() const {
    return data_->closed.load(std::memory_order_acquire) != 0;
  }
  uint64_t published() const {
    return data_->tail.load(std::memory_order_acquire);
  }
  uint64_t lost() const { return data_->lost.load(std::memory_order_relaxed); }
  uint64_t evicted() const {
    return data_->evicted.load(std::memory_order_relaxed);
  }
  uint32_t active_subscribers() const {
    return data_->active.load(std::memory_order_relaxed);
  }
  uint32_t capacity() const { return capacity_; }
  uint64_t block_bytes() const { return block_bytes_; }
  uint32_t history() const { return history_; }
  uint32_t max_subscribers() const { return max_subscribers_; }
  BroadcastData* data() const { return data_; }

  // Evicts every subscriber whose process is proven dead; returns how many.
  // (Writers do this on their own for the ones that block them.)
  std::size_t EvictDead();

  // The longest a claim spins before sleeping (0: never). Shared.
  void set_max_spin(std::chrono::nanoseconds max) {
    SetMaxSpin(data_->read_spin, max);
    SetMaxSpin(data_->write_spin, max);
  }

  static constexpr auto kLivenessCheckInterval = std::chrono::milliseconds(50);

 private:
  friend class BroadcastWriter;
  friend class BroadcastReader;
  friend class BroadcastWatch;

  BroadcastSlotHeader* SlotOf(uint64_t seq) const {
    return reinterpret_cast<BroadcastSlotHeader*>(slots_ +
                                                  (seq % capacity_) * stride_);
  }
  std::atomic<uint64_t>* Pins(BroadcastSlotHeader* slot) const {
    return reinterpret_cast<std::atomic<uint64_t>*>(
        reinterpret_cast<std::byte*>(slot) + sizeof(BroadcastSlotHeader));
  }
  std::byte* Payload(BroadcastSlotHeader* slot) const {
    return reinterpret_cast<std::byte*>(slot) + slot_header_bytes_;
  }
  SubscriberEntry* Entry(uint32_t i) const { return entries_ + i; }
  // Entries that may be in use (high_water, clamped to the table).
  uint32_t HighWater() const;
  static RingPos PosOf(uint64_t seq, uint32_t capacity) {
    return RingPos(static_cast<uint32_t>(seq / capacity),
                   static_cast<uint32_t>(seq % capacity));
  }
  RingPos PosOf(uint64_t seq) const { return PosOf(seq, capacity_); }

  // A slot whose writer (named in `state`) is gone becomes FULL + LOST.
  // True when the caller should look again at once.
  bool RepairIfWriterGone(BroadcastSlotHeader* slot, SlotWord state);
  // Evicts entry `i` if its process is proven dead (or finishes an eviction
  // whose evicter died). True when something changed.
  bool EvictIfDead(uint32_t i);
  // A pin bit of entry `i` on the slot of `seq` while the entry is FREE can
  // only be garbage (a subscriber clears its pins before it leaves): clear
  // it. Else as EvictIfDead.
  bool RepairPin(uint64_t seq, uint32_t i);
  void Evict(uint32_t i, EntryWord evicting);
  // Block `seq` is not published at its slot (`state`): kClosed when the
  // ring is closed and drained up to it, else kWouldBlock, with *blocker
  // naming the writer that holds the slot, if one does.
  Status NotYetPublished(uint64_t seq, SlotWord state,
                         BroadcastBlocker* blocker) const;
  void WakeReaders();
  void WakeWriters();
  [[noreturn]] void ThrowCorrupt(const char* what) const;

  BroadcastData* data_ = nullptr;
  std::byte* slots_ = nullptr;
  SubscriberEntry* entries_ = nullptr;
  uint32_t capacity_ = 0;
  uint32_t max_subscribers_ = 0;
  uint32_t pin_words_ = 0;
  uint32_t history_ = 0;
  uint64_t block_bytes_ = 0;
  uint64_t slot_header_bytes_ = 0;
  uint64_t stride_ = 0;
};

// What blocks a claim (for liveness checks while waiting).
struct BroadcastBlocker {
  enum Kind { kNone, kWriter, kEntry, kPin } kind = kNone;
  uint64_t seq = 0;    // kWriter, kPin: the sequence of the slot
  SlotWord state;      // kWriter: the held state
  uint32_t entry = 0;  // kEntry, kPin: the subscriber in the way
  friend bool operator==(const BroadcastBlocker&,
                         const BroadcastBlocker&) = default;
};

// The writer side, for one process and handle. Not thread-safe (a writer
// caches the subscribers' minimum cursor); a Broadcast handle serializes it.
class BroadcastWriter {
 public:
  using Status = BroadcastRing::Status;

  BroadcastWriter() = default;
  explicit BroadcastWriter(const BroadcastRing& ring) : ring_(ring) {}

  // kOk fills *claim (write claim->data, then Publish or Abandon). Waits
  // (spin, then futex) while the slot is still wanted, until `deadline`.
  Status Claim(BroadcastClaim* claim, const Deadline& deadline);
  void Publish(const BroadcastClaim& claim, uint32_t size);
  void Abandon(const BroadcastClaim& claim);

  BroadcastRing& ring() { return ring_; }
  const BroadcastRing& ring() const { return ring_; }

 private:
  Status TryClaimOnce(BroadcastClaim* claim, BroadcastBlocker* blocker);
  // Whether block `old` may be overwritten as far as the block-the-writer
  // cursors go; otherwise *blocker names the subscriber in the way.
  bool CursorsPast(uint64_t old, BroadcastBlocker* blocker);
  // Whether nobody pins `slot`; otherwise *blocker names one who does.
  bool Unpinned(uint64_t seq, BroadcastBlocker* blocker) const;
  void PublishFlags(const BroadcastClaim& claim, uint32_t size,
                    uint32_t flags);

  BroadcastRing ring_;
  uint64_t min_cursor_ = 0;    // cached: no block subscriber is behind it
  uint32_t membership_ = ~0u;  // the membership that cache was taken at
};

// One subscriber, for the process that joined. Not thread-safe.
class BroadcastReader {
 public:
  using Status = BroadcastRing::Status;

  BroadcastReader() = default;
  // Joins: takes an entry (evicting dead subscribers when the table is
  // full; RuntimeError when it stays full), starts `history` blocks back
  // (clamped to the ring's history and to what was published).
  BroadcastReader(const BroadcastRing& ring, BroadcastPolicy policy,
                  uint32_t history);
  BroadcastReader(const BroadcastReader&) = delete;
  BroadcastReader& operator=(const BroadcastReader&) = delete;
  ~BroadcastReader() { Leave(); }

  // kOk fills *claim: the block at the cursor, pinned; read claim->data
  // (claim->size bytes, validated), then Release. Lost and skipped blocks
  // are passed over (lost ones counted). kClosed once closed and drained.
  Status Claim(BroadcastClaim* claim, const Deadline& deadline);
  void Release(const BroadcastClaim& claim);
  // Frees the entry (idempotent; the destructor calls it).
  void Leave();

  uint64_t missed() const { return missed_; }
  uint64_t lost() const { return lost_; }
  uint64_t delivered() const { return delivered_; }
  uint64_t cursor() const { return cursor_; }
  uint32_t entry() const { return index_; }
  bool joined() const { return joined_; }
  BroadcastRing& ring() { return ring_; }
  const BroadcastRing& ring() const { return ring_; }

 private:
  friend class BroadcastWatch;
  Status TryClaimOnce(BroadcastClaim* claim, BroadcastBlocker* blocker);
  void Advance(uint64_t to);
  void CheckStillMember();

  BroadcastRing ring_;
  uint32_t index_ = 0;
  uint32_t generation_ = 0;
  pid_t pid_ = 0;
  bool joined_ = false;
  uint64_t word_ = 0;  // pins word index
  uint64_t bit_ = 0;   // pins bit mask
  uint64_t cursor_ = 0;
  uint64_t missed_ = 0;
  uint64_t lost_ = 0;
  uint64_t delivered_ = 0;
};

// A non-claiming look at one subscriber's next block, for watchers
// (ipc/wait.h: a WaitSet waiting on a Subscriber among other objects). It
// reads only shared words (the subscriber's entry, its cursor, the slots),
// never the BroadcastReader itself, so it may run in another thread while
// the subscriber receives. Watchers register in `readers_waiting` (Arm) and
// sleep on `items_seq`, which every publish, repair and close bumps and
// wakes (all sleepers: every subscriber wants every block), so a publish
// after Arm() always wakes the watcher (Dekker: publish exchange, then the
// seq_cst load of readers_waiting; Arm's fetch_add, then the seq_cst loads
// of Poll).
class BroadcastWatch {
 public:
  using Status = BroadcastRing::Status;

  BroadcastWatch() = default;
  // The subscriber `reader` as it is now (a reader that left: Poll says kOk
  // for ever, and the receive reports it).
  explicit BroadcastWatch(const BroadcastReader& reader);

  // Would a receive return at once? kOk: a block (or something it reports
  // at once: the subscriber was lapped, left or evicted, or the ring is
  // corrupt); kClosed: closed and drained; kWouldBlock: nothing yet, and
  // *blocker says whether a writer holds the next slot (kWriter) -- a
  // watcher checks that writer's liveness after kLivenessCheckInterval,
  // with CheckBlocker. Bounded by one lap of slots.
  Status Poll(BroadcastBlocker* blocker) const;
  // The slot of a writer that is gone becomes LOST (as a blocked receive
  // does); true when the caller should Poll again at once.
  bool CheckBlocker(const BroadcastBlocker& blocker);

  std::atomic<uint32_t>* seq() const { return &ring_.data()->items_seq; }
  std::atomic<uint32_t>* waiters() const {
    return &ring_.data()->readers_waiting;
  }

 private:
  BroadcastRing ring_;
  uint32_t index_ = 0;
  uint64_t entry_word_ = 0;  // the entry's state while it is this subscriber
};

}  // namespace shoal::internal

#endif  // SHOAL_IPC_INTERNAL_BROADCAST_RING_H_
