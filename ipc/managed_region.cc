// Copyright 2026 The shoal Authors.
#include "shoal/ipc/managed_region.h"

#include <errno.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "boost/interprocess/creation_tags.hpp"
#include "boost/interprocess/exceptions.hpp"
#include "boost/interprocess/indexes/iset_index.hpp"
#include "boost/interprocess/managed_external_buffer.hpp"
#include "boost/interprocess/mem_algo/rbtree_best_fit.hpp"
#include "boost/interprocess/sync/mutex_family.hpp"
#include "boost/version.hpp"

namespace shoal {
namespace internal {
namespace {

namespace bip = boost::interprocess;

// No locking inside Boost: ManagedHeader::lock (robust) guards every call.
using Segment = bip::basic_managed_external_buffer<
    char, bip::rbtree_best_fit<bip::null_mutex_family, bip::offset_ptr<void>>,
    bip::iset_index>;

// Every object is stored as an array of these, so Boost always sees one
// type: its find<T>() only asserts (aborts) on a type mismatch, while ours
// is checked against the ObjectHeader and reported. Alignment 8 on purpose:
// Boost 1.74 places named values at 8-byte boundaries whatever alignof(T)
// says, so the ObjectHeader is aligned to 16 by hand inside the cells (one
// extra cell). Every mapping is page-aligned and the segment sits at a fixed
// offset, so the adjustment is the same in every process.
struct Cell {
  uint64_t words[2];
};
static_assert(sizeof(Cell) == 16);

ObjectHeader* AlignedHeader(Cell* cells) {
  const uintptr_t p = reinterpret_cast<uintptr_t>(cells);
  return reinterpret_cast<ObjectHeader*>((p + 15) & ~uintptr_t{15});
}

constexpr uint64_t kSegmentOffset = sizeof(ManagedHeader);
constexpr uint64_t kMinSegmentSize = 4096;
constexpr size_t kMaxObjectName = 255;

std::string NameFor(std::string_view name) {
  if (name.empty() || name.size() > kMaxObjectName ||
      name.find('\0') != std::string_view::npos) {
    throw ValueError(
        "managed object names are 1.." + std::to_string(kMaxObjectName) +
        " characters without NUL; got '" + std::string(name) + "'");
  }
  return std::string(name);
}

}  // namespace

class ManagedState {
 public:
  Region region;
  ManagedHeader* header = nullptr;
  Segment segment;
  std::string desc;
};

SegmentLock::SegmentLock(const ManagedState& s) : lock_(&s.header->lock) {
  if (lock_->acquire_status() == LockStatus::kAcquired) return;
  // kOwnerDied (we hold the lock): a holder died inside the allocator. The
  // lock is never marked consistent, so every later caller hears of it too;
  // the segment may be half-updated and is not to be trusted again. The
  // first to hear reports the death, everyone after it the retirement.
  const bool first =
      s.header->retired.exchange(1, std::memory_order_relaxed) == 0;
  lock_->release();
  if (first) {
    throw OwnerDied(s.desc +
                    ": a process died while holding the managed region's "
                    "allocator lock; the segment may be corrupt and the "
                    "region is now retired");
  }
  throw InvalidRegion(s.desc +
                      " is retired: a process died while holding its "
                      "allocator lock");
}

SegmentLock::~SegmentLock() { lock_->release(); }

}  // namespace internal

using internal::ManagedHeader;
using internal::ManagedState;
using internal::ObjectHeader;

RegionLayout ManagedRegion::Layout() {
  // The shared layout is the header plus Boost's segment format, so the
  // Boost version is part of the hash.
  static constexpr uint64_t kHash = internal::LayoutHash<ManagedHeader>(
      "shoal::ManagedRegion", BOOST_VERSION);
  return RegionLayout{kHash, "shoal::ManagedRegion"};
}

ManagedRegion ManagedRegion::Create(uint64_t size,
                                    const RegionOptions& options) {
  const uint64_t segment_size =
      std::max<uint64_t>((size + 15) / 16 * 16, internal::kMinSegmentSize);
  Region r = Region::Create(internal::kSegmentOffset + segment_size, Layout(),
                            options);
  auto state = std::make_shared<ManagedState>();
  state->header = new (r.at<ManagedHeader>(0)) ManagedHeader;
  state->header->retired.store(0, std::memory_order_relaxed);
  state->header->segment_offset = internal::kSegmentOffset;
  state->header->segment_size = segment_size;
  try {
    state->segment = internal::Segment(
        boost::interprocess::create_only,
        r.at<internal::Cell>(internal::kSegmentOffset, segment_size / 16),
        segment_size);
  } catch (const boost::interprocess::interprocess_exception& e) {
    throw ValueError(std::string("cannot create a managed segment of ") +
                     std::to_string(segment_size) + " bytes: " + e.what());
  }
  state->desc = "managed " + r.description();
  r.PublishReady();
  state->region = std::move(r);
  ManagedRegion mr;
  mr.state_ = std::move(state);
  return mr;
}

ManagedRegion ManagedRegion::Open(const RegionRef& ref,
                                  const OpenOptions& options) {
  return Attach(Region::Open(ref, Layout(), options));
}

ManagedRegion ManagedRegion::OpenNamed(std::string_view name,
                                       const OpenOptions& options) {
  return Attach(Region::OpenNamed(name, Layout(), options));
}

ManagedRegion ManagedRegion::Attach(Region r) {
  if (!r) throw ValueError("ManagedRegion::Attach: empty region handle");
  if (r.layout_hash() != Layout().hash) {
    throw InvalidRegion(r.description() + " holds " +
                        std::string(r.type_name()) +
                        " but was opened as shoal::ManagedRegion");
  }
  auto state = std::make_shared<ManagedState>();
  state->header = r.at<ManagedHeader>(0);
  const uint64_t off = state->header->segment_offset;
  const uint64_t size = state->header->segment_size;
  if (off != internal::kSegmentOffset || size > r.payload_size() ||
      off > r.payload_size() - size || size % 16 != 0) {
    throw InvalidRegion(r.description() + ": managed segment at offset " +
                        std::to_string(off) + " size " + std::to_string(size) +
                        " does not fit its payload of " +
                        std::to_string(r.payload_size()) + " bytes");
  }
  state->segment =
      internal::Segment(boost::interprocess::open_only,
                        r.at<internal::Cell>(off, size / 16), size);
  state->desc = "managed " + r.description();
  state->region = std::move(r);
  ManagedRegion mr;
  mr.state_ = std::move(state);
  return mr;
}

ObjectHeader* ManagedRegion::FindLocked(std::string_view name) const {
  const std::string n = internal::NameFor(name);
  auto [cells, count] = state_->segment.find<internal::Cell>(n.c_str());
  if (cells == nullptr) return nullptr;
  ObjectHeader* h = internal::AlignedHeader(cells);
  const uint64_t bytes = count * sizeof(internal::Cell);
  const uint64_t skew =
      reinterpret_cast<std::byte*>(h) - reinterpret_cast<std::byte*>(cells);
  if (bytes < skew + sizeof(ObjectHeader) ||
      h->size > bytes - skew - sizeof(ObjectHeader)) {
    throw InvalidRegion("object '" + n + "' in " + state_->desc +
                        " has a corrupt header (" + std::to_string(h->size) +
                        " bytes claimed in " + std::to_string(bytes) + ")");
  }
  return h;
}

ObjectHeader* ManagedRegion::AllocateLocked(std::string_view name,
                                            size_t bytes) const {
  const std::string n = internal::NameFor(name);
  const size_t cells =
      (sizeof(ObjectHeader) + bytes + sizeof(internal::Cell) - 1) /
          sizeof(internal::Cell) +
      1;  // room to align the header to 16
  internal::Cell* p = nullptr;
  try {
    p = state_->segment.construct<internal::Cell>(n.c_str())[cells]();
  } catch (const boost::interprocess::bad_alloc&) {
    throw SystemError(state_->desc + " is out of space: object '" + n +
                          "' needs " + std::to_string(bytes) + " bytes, " +
                          std::to_string(state_->segment.get_free_memory()) +
                          " are free",
                      ENOMEM);
  } catch (const boost::interprocess::interprocess_exception& e) {
    throw ValueError("cannot construct '" + n + "' in " + state_->desc + ": " +
                     e.what());
  }
  ObjectHeader* h = internal::AlignedHeader(p);
  h->size = bytes;  // layout_hash stays 0 until Stamp()
  return h;
}

void ManagedRegion::FreeLocked(std::string_view name) const {
  state_->segment.destroy<internal::Cell>(internal::NameFor(name).c_str());
}

void ManagedRegion::Stamp(ObjectHeader* h, uint64_t hash,
                          std::string_view type_name) {
  const size_t n = std::min(type_name.size(), sizeof(h->type_name) - 1);
  std::memcpy(h->type_name, type_name.data(), n);
  h->type_name[n] = '\0';
  h->layout_hash = hash;
}

void ManagedRegion::ThrowExists(std::string_view name) const {
  throw ValueError("object '" + std::string(name) + "' already exists in " +
                   state_->desc);
}

void ManagedRegion::ThrowWrongType(const ObjectHeader* h, std::string_view name,
                                   std::string_view wanted) const {
  if (h->layout_hash == 0) {
    throw InvalidRegion("object '" + std::string(name) + "' in " +
                        state_->desc +
                        " was never finished (its constructing process "
                        "died)");
  }
  const std::string held(h->type_name,
                         strnlen(h->type_name, sizeof(h->type_name)));
  throw InvalidRegion("object '" + std::string(name) + "' in " + state_->desc +
                      " is a " + held + ", not a " + std::string(wanted));
}

uint64_t ManagedRegion::free_memory() const {
  internal::SegmentLock lock(*state_);
  return state_->segment.get_free_memory();
}

uint64_t ManagedRegion::size() const { return state_->header->segment_size; }

const Region& ManagedRegion::region() const { return state_->region; }

}  // namespace shoal
