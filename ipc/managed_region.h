// Copyright 2026 The shoal Authors.
//
// managed_region.h: objects placed in a shared region by name.
//
// Contract
//   A ManagedRegion is a Region (ipc/region.h) whose payload is a
//   Boost.Interprocess segment (basic_managed_external_buffer with a
//   rbtree_best_fit allocator and a name index). Processes that open the same
//   region find each other's objects by name:
//
//     auto mr = shoal::ManagedRegion::Create(1 << 20);
//     Counter* c = mr.construct<Counter>("hits")(0);      // throws if taken
//     Counter* d = mr.find_or_construct<Counter>("hits")(0);   // c == d
//     Counter* e = mr.find<Counter>("hits");              // nullptr if absent
//     mr.destroy<Counter>("hits");
//
//   Every object carries a small header with LayoutHash<T>() and TypeName<T>;
//   find<U>("hits") on a Counter throws InvalidRegion ("object 'hits' in
//   region ... is a Counter, not a U") instead of handing out a wrong pointer.
//   Objects must follow the shared-memory rules (no virtuals, no raw
//   pointers, offsets or boost::interprocess::offset_ptr only) and
//   alignof(T) <= 16; they are placed 16-byte aligned (Boost 1.74 itself
//   only guarantees 8 for named values, so the header is aligned by hand).
//   The segment manager is deliberately not exposed: a Boost container
//   allocating from it would bypass the lock described below.
//
// Locking, and what happens when a process dies
//   Boost's own interprocess mutexes are not robust: a process killed inside
//   construct() or allocate() leaves them locked and every other process
//   deadlocks. So the segment uses null_mutex_family (no locking of its own)
//   and every call here takes a shoal::Lock (sync/lock.h: process-shared,
//   robust) that lives in front of the segment. If its holder dies, the next
//   caller gets shoal::OwnerDied ("... the segment may be corrupt"), and
//   every later call gets shoal::InvalidRegion: the allocator's trees may be
//   half-updated, so the region is retired (a flag next to the lock; the
//   lock is never marked consistent again) rather than trusted. Nothing ever
//   hangs. Objects already found stay mapped and usable (their own
//   consistency is theirs).
//
//   A constructor runs under that lock, so it must not block on other
//   processes, and a process that dies inside a constructor retires the
//   region as above.
//
// Validation: the region header is validated like any region's. Boost's
//   bookkeeping inside the segment is not: a process of the same uid that
//   scribbles over the segment can crash its users. Managed regions are for
//   cooperating processes of one program.
//
// Handles: copyable (shared_ptr to the mapping and the segment object). Object
//   destructors never run implicitly: objects live as long as the region.
//
// Cost: construct/find/destroy take the lock (uncontended: ~20 ns) and do an
//   O(log n) name lookup. Allocation is Boost's best-fit.
#ifndef SHOAL_IPC_MANAGED_REGION_H_
#define SHOAL_IPC_MANAGED_REGION_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "shoal/base/errors.h"
#include "shoal/ipc/layout.h"
#include "shoal/ipc/region.h"
#include "shoal/sync/lock.h"

namespace shoal {

namespace internal {

// In front of the Boost segment, at payload offset 0.
struct alignas(64) ManagedHeader {
  Lock lock;  // guards every call into the segment
  uint64_t segment_offset;
  uint64_t segment_size;
  // Set (under the lock) by the first caller that learned that a holder
  // died: from then on the region is refused.
  std::atomic<uint32_t> retired;
};
static_assert(std::is_standard_layout_v<ManagedHeader>);
static_assert(std::atomic<uint32_t>::is_always_lock_free);

// In front of every named object.
struct alignas(16) ObjectHeader {
  uint64_t layout_hash;  // 0 until the constructor has returned
  uint64_t size;         // sizeof(T)
  char type_name[48];    // truncated, for messages
};
static_assert(sizeof(ObjectHeader) == 64);

class ManagedState;

// Holds the segment's lock; throws OwnerDied / InvalidRegion as described
// in the file comment.
class SegmentLock {
 public:
  explicit SegmentLock(const ManagedState& s);
  ~SegmentLock();
  SegmentLock(const SegmentLock&) = delete;
  SegmentLock& operator=(const SegmentLock&) = delete;

 private:
  Lock* lock_;
};

}  // namespace internal

class ManagedRegion {
 public:
  ManagedRegion() = default;

  // A new region with about `size` bytes for objects (the segment's own
  // bookkeeping takes a few hundred bytes of it). `options` as for
  // Region::Create (memfd by default).
  static ManagedRegion Create(uint64_t size, const RegionOptions& options = {});
  static ManagedRegion Open(const RegionRef& ref,
                            const OpenOptions& options = {});
  static ManagedRegion OpenNamed(std::string_view name,
                                 const OpenOptions& options = {});
  // Wraps a region opened some other way (FromFd, OpenProcFd); validates its
  // layout.
  static ManagedRegion Attach(Region region);

  // The layout every managed region's header carries.
  static RegionLayout Layout();

  template <class T>
  class ConstructProxy {
   public:
    // Constructs T(args...) under `name`.
    template <class... Args>
    T* operator()(Args&&... args) && {
      return mr_->Construct<T>(name_, find_ok_, std::forward<Args>(args)...);
    }

   private:
    friend class ManagedRegion;
    ConstructProxy(const ManagedRegion* mr, std::string_view name, bool find_ok)
        : mr_(mr), name_(name), find_ok_(find_ok) {}
    const ManagedRegion* mr_;
    std::string_view name_;
    bool find_ok_;
  };

  // construct<T>("name")(args...): throws ValueError if "name" exists,
  // SystemError(ENOMEM) if the segment is full.
  template <class T>
  ConstructProxy<T> construct(std::string_view name) const {
    return ConstructProxy<T>(this, name, false);
  }
  // find_or_construct<T>("name")(args...): the existing object (args unused)
  // or a new one. Atomic with respect to other processes.
  template <class T>
  ConstructProxy<T> find_or_construct(std::string_view name) const {
    return ConstructProxy<T>(this, name, true);
  }
  // The object named `name`, or nullptr. Throws InvalidRegion if it is not
  // a T.
  template <class T>
  T* find(std::string_view name) const {
    internal::SegmentLock lock(*state_);
    internal::ObjectHeader* h = FindLocked(name);
    return h == nullptr ? nullptr : Check<T>(h, name);
  }
  // Runs ~T and frees the object. False if there is no such object.
  template <class T>
  bool destroy(std::string_view name) const {
    internal::SegmentLock lock(*state_);
    internal::ObjectHeader* h = FindLocked(name);
    if (h == nullptr) return false;
    Check<T>(h, name)->~T();
    FreeLocked(name);
    return true;
  }

  uint64_t free_memory() const;
  uint64_t size() const;
  const Region& region() const;
  RegionRef ref() const { return region().ref(); }
  explicit operator bool() const { return state_ != nullptr; }

 private:
  template <class T>
  static void CheckType() {
    static_assert(!std::is_polymorphic_v<T>,
                  "objects in shared memory cannot have virtual functions");
    static_assert(alignof(T) <= 16, "ManagedRegion aligns objects to 16");
    static_assert(!std::is_reference_v<T> && !std::is_array_v<T>);
  }

  template <class T, class... Args>
  T* Construct(std::string_view name, bool find_ok, Args&&... args) const {
    CheckType<T>();
    internal::SegmentLock lock(*state_);
    if (internal::ObjectHeader* h = FindLocked(name)) {
      if (!find_ok) ThrowExists(name);
      return Check<T>(h, name);
    }
    internal::ObjectHeader* h = AllocateLocked(name, sizeof(T));
    T* p;
    try {
      p = ::new (static_cast<void*>(h + 1)) T(std::forward<Args>(args)...);
    } catch (...) {
      FreeLocked(name);
      throw;
    }
    // Stamped after the constructor returned: an object whose constructor
    // never finished is recognizable.
    Stamp(h, internal::LayoutHash<T>(), internal::TypeName<T>());
    return p;
  }

  template <class T>
  T* Check(internal::ObjectHeader* h, std::string_view name) const {
    CheckType<T>();
    if (h->layout_hash != internal::LayoutHash<T>() || h->size != sizeof(T)) {
      ThrowWrongType(h, name, internal::TypeName<T>());
    }
    return reinterpret_cast<T*>(h + 1);
  }

  // Implemented with Boost in managed_region.cc; call with the lock held.
  internal::ObjectHeader* FindLocked(std::string_view name) const;
  internal::ObjectHeader* AllocateLocked(std::string_view name,
                                         size_t bytes) const;
  void FreeLocked(std::string_view name) const;
  static void Stamp(internal::ObjectHeader* h, uint64_t hash,
                    std::string_view type_name);
  [[noreturn]] void ThrowExists(std::string_view name) const;
  [[noreturn]] void ThrowWrongType(const internal::ObjectHeader* h,
                                   std::string_view name,
                                   std::string_view wanted) const;

  std::shared_ptr<internal::ManagedState> state_;
};

}  // namespace shoal

#endif  // SHOAL_IPC_MANAGED_REGION_H_
