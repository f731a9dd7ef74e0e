// Copyright 2026 The shoal Authors.
//
// blackboard.h: Blackboard, a fixed set of named values in shared memory,
// each one "latest value wins": writers publish, readers read the newest
// value of a key without waiting for any writer.
//
//   // creator: the keys, their types and initial values are fixed here
//   shoal::Blackboard board({shoal::Blackboard::Key<int>("log_level", 2),
//                            shoal::Blackboard::Key<double>("rate_limit", 100.0),
//                            shoal::Blackboard::Key<Limits>("limits")},
//                           shoal::RegionOptions{.kind = shoal::RegionKind::kNamed,
//                                                .name = "plant-config"});
//   // any process:
//   auto board = shoal::Blackboard::Open("plant-config");
//   auto rate = board.entry<double>("rate_limit");   // look up once...
//   rate.publish(250.0);                             // ...writer
//   double r = rate.read();                          // ...reader: newest value
//   board.wait_changed(seen, std::chrono::seconds(1));   // any key changed
//
// Contract
//   Every key holds one trivially copyable value (1 byte to 1 MiB) of the
//   type it was declared with, and behaves exactly like a Latest<T>
//   (ipc/latest.h): read() returns a whole value some publish() wrote,
//   with a per-key version (0: the initial value); update(fn) is a
//   read-modify-write under that key's writer lock. Keys are independent:
//   writers of different keys never wait for each other, and there is no
//   snapshot across keys (put values that must change together in one
//   struct under one key). generation() counts publications of all keys,
//   for readers that wait for "anything changed" (wait_changed).
//
//   entry<T>(key) checks that the key exists (ValueError otherwise) and
//   holds a T (InvalidRegion naming both types, as for a Queue<T> opened as
//   another type), and returns a small typed handle whose calls cost what
//   Latest<T>'s do. The board-level read<T>(key) / publish(key, v) look the
//   key up on every call (a scan of the keys): keep an Entry in hot loops.
//
//   Python has no direct equivalent: the nearest is a Manager().dict()
//   (a server process and a round trip per access) or Values under locks.
//
// Process death and corruption: as Latest<T>, per key. A writer killed at
// any instruction leaves every reader with the previous value of that key;
// the next writer of that key takes the robust lock over; writer_deaths()
// counts it. generation() is bumped after the key's publication, so a
// writer killed in between leaves it one short (never ahead). The key
// table is validated when an entry is looked up (lengths, offsets, sizes);
// a corrupt table or cell gives InvalidRegion, never a crash.
//
// Performance (bench/latest_bench.cc, bench/RESULTS.md "## latest"): an
// Entry<T>::read() is Latest<T>::read(); publish() adds one atomic
// increment of the generation counter.
#ifndef SHOAL_IPC_BLACKBOARD_H_
#define SHOAL_IPC_BLACKBOARD_H_

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "shoal/base/deadline.h"
#include "shoal/base/errors.h"
#include "shoal/ipc/codec.h"
#include "shoal/ipc/internal/latest_cell.h"
#include "shoal/ipc/internal/ref_codec.h"
#include "shoal/ipc/latest.h"
#include "shoal/ipc/layout.h"
#include "shoal/ipc/region.h"

namespace shoal {

namespace internal {

inline constexpr std::size_t kBlackboardKeyBytes = 128;  // NUL included
inline constexpr std::size_t kBlackboardTypeNameBytes = 96;
inline constexpr uint32_t kMaxBlackboardKeys = 4096;

struct alignas(kCacheLine) BlackboardData {
  uint32_t key_count;       // written once by the creator
  uint32_t reserved0;
  uint64_t entries_offset;  // from the payload start; written once
  uint64_t reserved[6];
  alignas(kCacheLine) std::atomic<uint64_t> generation;
  std::atomic<uint32_t> generation_low;  // futex word of wait_changed
  std::atomic<uint32_t> waiters;  // flag: someone sleeps (writer clears it)
};
static_assert(std::is_standard_layout_v<BlackboardData>);
static_assert(sizeof(BlackboardData) == 128);

struct BlackboardEntryData {
  char key[kBlackboardKeyBytes];
  char type_name[kBlackboardTypeNameBytes];
  uint64_t type_hash;
  uint64_t value_size;
  uint64_t cell_offset;  // from the payload start, 64-byte aligned
  uint64_t reserved;
};
static_assert(std::is_standard_layout_v<BlackboardEntryData>);
static_assert(sizeof(BlackboardEntryData) == 256);

template <class T>
constexpr uint64_t BlackboardValueHash() {
  return LayoutHash<T>("blackboard value", 1);
}

// The board-wide change counter, shared by the Entry handles.
class BoardGeneration {
 public:
  BoardGeneration() = default;
  explicit BoardGeneration(BlackboardData* d) : d_(d) {}
  void Bump();
  void operator()() { Bump(); }  // LatestHandle's publication hook
  uint64_t Get() const {
    return d_->generation.load(std::memory_order_acquire);
  }
  uint64_t WaitChanged(uint64_t seen, const Deadline& deadline) const;

 private:
  BlackboardData* d_ = nullptr;
};

}  // namespace internal

class Blackboard {
 public:
  // One key as declared at creation: Blackboard::Key<T>(name, initial).
  struct KeySpec {
    std::string name;
    uint64_t type_hash = 0;
    std::string type_name;
    std::vector<unsigned char> initial;  // sizeof(T) bytes
  };
  template <class T>
  static KeySpec Key(std::string name, const T& initial = T{}) {
    static_assert(std::is_trivially_copyable_v<T>,
                  "Blackboard values must be trivially copyable");
    static_assert(sizeof(T) <= internal::kMaxLatestValueSize,
                  "Blackboard values are at most 1 MiB");
    KeySpec k;
    k.name = std::move(name);
    k.type_hash = internal::BlackboardValueHash<T>();
    k.type_name = std::string(internal::TypeName<T>());
    k.initial.resize(sizeof(T));
    std::memcpy(k.initial.data(), &initial, sizeof(T));
    return k;
  }

  // A typed handle to one key: the calls of Latest<T> (read,
  // read_versioned, read_if_newer, publish, update, version, wait_newer,
  // writer_deaths; see internal::LatestHandle in ipc/latest.h). Cheap to
  // copy; keeps the board mapped.
  template <class T>
  class Entry : public internal::LatestHandle<T, internal::BoardGeneration> {
   public:
    const std::string& key() const { return key_; }

   private:
    friend class Blackboard;
    Region region_;
    std::string key_;
  };

  // An empty handle.
  Blackboard() = default;
  // Creates a board with `keys` (at least one; names unique, 1 to 127
  // bytes, no NUL). Throws ValueError.
  explicit Blackboard(const std::vector<KeySpec>& keys,
                      const RegionOptions& region = {});

  static Blackboard Open(std::string_view name, const OpenOptions& options = {});
  static Blackboard Open(const RegionRef& ref, const OpenOptions& options = {});

  // The typed handle of `key`. Throws ValueError (no such key),
  // InvalidRegion (the key holds another type, or the table is corrupt).
  template <class T>
  Entry<T> entry(std::string_view key) const {
    Entry<T> e;
    e.cell_ = Lookup(key, internal::BlackboardValueHash<T>(), sizeof(T),
                     internal::TypeName<T>());
    e.hook_ = internal::BoardGeneration(data_);
    e.region_ = region_;
    e.key_ = std::string(key);
    return e;
  }
  // One-shot forms (a key lookup per call).
  template <class T>
  T read(std::string_view key) const {
    return entry<T>(key).read();
  }
  template <class T>
  uint64_t publish(std::string_view key, const T& value) {
    return entry<T>(key).publish(value);
  }

  // The keys, in declaration order.
  std::vector<std::string> keys() const;
  bool contains(std::string_view key) const;

  // What a key was declared with, as the table records it (the type's name
  // may be cut at 95 bytes; the hash is what entry<T> compares).
  struct KeyType {
    std::string key;
    std::string type_name;
    uint64_t type_hash = 0;
    uint64_t value_size = 0;
  };
  // Every key's declaration, in declaration order.
  std::vector<KeyType> key_types() const;

  // For bindings that know a key's type only at run time (the Python
  // module): the untyped cell of `key` after the checks of entry<T>, the
  // type given as its hash, size and name; and the hook that counts a
  // publication into generation() (call it after each LatestCell::Publish).
  internal::LatestCell untyped_cell(std::string_view key, uint64_t type_hash,
                                    uint64_t size,
                                    std::string_view type_name) const {
    return Lookup(key, type_hash, size, type_name);
  }
  internal::BoardGeneration publication_hook() const {
    return internal::BoardGeneration(data_);
  }

  // Publications of any key so far; wait_changed blocks until it moves
  // away from `seen` (true) or the deadline (false).
  uint64_t generation() const { return internal::BoardGeneration(data_).Get(); }
  bool wait_changed(uint64_t seen, const Deadline& deadline = Deadline()) const {
    return internal::BoardGeneration(data_).WaitChanged(seen, deadline) != seen;
  }

  explicit operator bool() const { return data_ != nullptr; }
  const Region& region() const { return region_; }
  RegionRef ref() const { return region_.ref(); }

  static RegionLayout Layout() { return LayoutOf<Blackboard>("blackboard", 1); }

 private:
  explicit Blackboard(Region r);
  // Validates the table header (count, offset) and returns the entries.
  const internal::BlackboardEntryData* Entries(uint32_t* count) const;
  internal::LatestCell Lookup(std::string_view key, uint64_t type_hash,
                              uint64_t size, std::string_view type_name) const;

  Region region_;
  internal::BlackboardData* data_ = nullptr;
};

// A Blackboard travels as its region's ref (Process arguments, pool tasks)
// and over a Connection with send_handle().
template <>
struct CodecTraits<Blackboard> : internal::RefHandleCodec<Blackboard> {};

}  // namespace shoal

#endif  // SHOAL_IPC_BLACKBOARD_H_
