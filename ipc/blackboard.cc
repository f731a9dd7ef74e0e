// Copyright 2026 The shoal Authors.
#include "shoal/ipc/blackboard.h"

#include <chrono>
#include <climits>
#include <cstring>
#include <new>
#include <set>

#include "shoal/base/internal/futex.h"

namespace shoal {
namespace internal {

void BoardGeneration::Bump() {
  const uint64_t g = d_->generation.fetch_add(1, std::memory_order_seq_cst) + 1;
  d_->generation_low.store(static_cast<uint32_t>(g), std::memory_order_seq_cst);
  // As LatestCell: the waking writer clears the sleepers' flag.
  if (d_->waiters.load(std::memory_order_seq_cst) != 0 &&
      d_->waiters.exchange(0, std::memory_order_seq_cst) != 0) {
    FutexWake(&d_->generation_low, INT_MAX);
  }
}

uint64_t BoardGeneration::WaitChanged(uint64_t seen,
                                      const Deadline& deadline) const {
  // As LatestCell::WaitNewer: a dead writer may miss its wake-up, so
  // sleepers re-check every 100 ms.
  for (;;) {
    uint64_t g = d_->generation.load(std::memory_order_acquire);
    if (g != seen || deadline.expired()) return g;
    d_->waiters.store(1, std::memory_order_seq_cst);
    g = d_->generation.load(std::memory_order_seq_cst);
    if (g == seen) {
      FutexWait(&d_->generation_low, static_cast<uint32_t>(seen),
                Deadline::Min(deadline,
                              Deadline(std::chrono::milliseconds(100))));
    }
  }
}

}  // namespace internal

namespace {

using internal::BlackboardData;
using internal::BlackboardEntryData;
using internal::kBlackboardKeyBytes;
using internal::LatestCellBytes;

constexpr uint64_t kEntriesOffset = sizeof(BlackboardData);

uint64_t AlignUp64(uint64_t n) { return (n + 63) / 64 * 64; }

}  // namespace

Blackboard::Blackboard(const std::vector<KeySpec>& keys,
                       const RegionOptions& region) {
  if (keys.empty()) throw ValueError("Blackboard: declare at least one key");
  if (keys.size() > internal::kMaxBlackboardKeys) {
    throw ValueError("Blackboard: more than " +
                     std::to_string(internal::kMaxBlackboardKeys) + " keys");
  }
  std::set<std::string> seen;
  uint64_t cells = 0;
  for (const KeySpec& k : keys) {
    if (k.name.empty() || k.name.size() >= kBlackboardKeyBytes ||
        k.name.find('\0') != std::string::npos) {
      throw ValueError("Blackboard: key '" + k.name +
                       "' must be 1 to 127 bytes without NUL");
    }
    if (!seen.insert(k.name).second) {
      throw ValueError("Blackboard: key '" + k.name + "' is declared twice");
    }
    if (k.initial.empty() || k.initial.size() > internal::kMaxLatestValueSize) {
      throw ValueError("Blackboard: key '" + k.name + "' has a value of " +
                       std::to_string(k.initial.size()) +
                       " bytes (1 byte to 1 MiB; use Blackboard::Key<T>)");
    }
    cells += LatestCellBytes(k.initial.size());
  }
  const uint64_t table = AlignUp64(kEntriesOffset +
                                   keys.size() * sizeof(BlackboardEntryData));
  Region r = Region::Create(table + cells, Layout(), region);
  std::byte* base = r.payload();
  auto* d = ::new (base) BlackboardData();
  d->key_count = static_cast<uint32_t>(keys.size());
  d->entries_offset = kEntriesOffset;
  d->generation.store(0, std::memory_order_relaxed);
  auto* entries = reinterpret_cast<BlackboardEntryData*>(base + kEntriesOffset);
  uint64_t at = table;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const KeySpec& k = keys[i];
    BlackboardEntryData* e = ::new (&entries[i]) BlackboardEntryData();
    std::memcpy(e->key, k.name.data(), k.name.size());
    const std::size_t tn =
        std::min(k.type_name.size(), internal::kBlackboardTypeNameBytes - 1);
    std::memcpy(e->type_name, k.type_name.data(), tn);
    e->type_hash = k.type_hash;
    e->value_size = k.initial.size();
    e->cell_offset = at;
    internal::LatestCell::Construct(base + at, k.initial.size(),
                                    k.initial.data());
    at += LatestCellBytes(k.initial.size());
  }
  r.PublishReady();
  region_ = std::move(r);
  data_ = d;
}

Blackboard::Blackboard(Region r) {
  if (r.payload_size() < sizeof(BlackboardData)) {
    throw InvalidRegion(r.description() + ": too small for a Blackboard");
  }
  data_ = r.at<BlackboardData>(0);
  region_ = std::move(r);
  uint32_t count;
  Entries(&count);  // validates the table header now
}

Blackboard Blackboard::Open(std::string_view name, const OpenOptions& options) {
  return Blackboard(Region::OpenNamed(name, Layout(), options));
}

Blackboard Blackboard::Open(const RegionRef& ref, const OpenOptions& options) {
  return Blackboard(Region::Open(ref, Layout(), options));
}

const BlackboardEntryData* Blackboard::Entries(uint32_t* count) const {
  if (data_ == nullptr) throw ValueError("Blackboard: empty handle");
  // Both written once by the creator; read once here and checked.
  const uint32_t n = data_->key_count;
  const uint64_t off = data_->entries_offset;
  if (n == 0 || n > internal::kMaxBlackboardKeys || off != kEntriesOffset) {
    throw InvalidRegion(region_.description() + ": Blackboard table of " +
                        std::to_string(n) + " keys at offset " +
                        std::to_string(off) + ": shared memory corrupt");
  }
  *count = n;
  return region_.at<BlackboardEntryData>(off, n);  // bounds-checked
}

std::vector<std::string> Blackboard::keys() const {
  uint32_t n;
  const BlackboardEntryData* e = Entries(&n);
  std::vector<std::string> out;
  for (uint32_t i = 0; i < n; ++i) {
    out.emplace_back(e[i].key, strnlen(e[i].key, kBlackboardKeyBytes - 1));
  }
  return out;
}

std::vector<Blackboard::KeyType> Blackboard::key_types() const {
  uint32_t n;
  const BlackboardEntryData* entries = Entries(&n);
  std::vector<KeyType> out;
  for (uint32_t i = 0; i < n; ++i) {
    BlackboardEntryData e;  // one copy: see Lookup
    std::memcpy(&e, &entries[i], sizeof(e));
    KeyType k;
    k.key.assign(e.key, strnlen(e.key, kBlackboardKeyBytes - 1));
    k.type_name.assign(
        e.type_name,
        strnlen(e.type_name, internal::kBlackboardTypeNameBytes - 1));
    k.type_hash = e.type_hash;
    k.value_size = e.value_size;
    out.push_back(std::move(k));
  }
  return out;
}

bool Blackboard::contains(std::string_view key) const {
  for (const std::string& k : keys()) {
    if (k == key) return true;
  }
  return false;
}

internal::LatestCell Blackboard::Lookup(std::string_view key,
                                        uint64_t type_hash, uint64_t size,
                                        std::string_view type_name) const {
  uint32_t n;
  const BlackboardEntryData* entries = Entries(&n);
  const uint64_t table =
      AlignUp64(kEntriesOffset + uint64_t{n} * sizeof(BlackboardEntryData));
  for (uint32_t i = 0; i < n; ++i) {
    // One copy of the entry: a peer changing it meanwhile cannot make the
    // checks and the use disagree.
    BlackboardEntryData e;
    std::memcpy(&e, &entries[i], sizeof(e));
    const std::string_view k(e.key, strnlen(e.key, kBlackboardKeyBytes - 1));
    if (k != key) continue;
    const std::string what = "Blackboard key '" + std::string(key) + "' in " +
                             region_.description();
    const std::string_view stored_type(
        e.type_name, strnlen(e.type_name, internal::kBlackboardTypeNameBytes - 1));
    if (e.type_hash != type_hash) {
      throw InvalidRegion(what + " holds " + std::string(stored_type) +
                          " but was asked for as " + std::string(type_name));
    }
    if (e.value_size != size || e.cell_offset % 64 != 0 ||
        e.cell_offset < table) {
      throw InvalidRegion(what + ": entry of " + std::to_string(e.value_size) +
                          " bytes at offset " + std::to_string(e.cell_offset) +
                          ": shared memory corrupt");
    }
    const uint64_t bytes = LatestCellBytes(size);
    std::byte* cell = region_.at<std::byte>(e.cell_offset, bytes);
    return internal::LatestCell::Attach(cell, bytes, size, what);
  }
  throw ValueError("Blackboard: no key '" + std::string(key) + "' in " +
                   region_.description());
}

}  // namespace shoal
