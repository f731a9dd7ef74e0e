// Copyright 2026 The shoal Authors.
//
// shared.h: shoal::Shared<T>, one T in its own small shared region.
//
// Contract
//   Shared<T> is a copyable handle to a T constructed in place in a region
//   of its own (memfd-backed by default; anonymous or named on request):
//
//     auto hits = shoal::Shared<Counter>::Create(0);    // Counter(0)
//     if (fork() == 0) { hits->value.fetch_add(1); _exit(0); }
//     shoal::RegionRef ref = hits.ref();                // for another process
//     auto same = shoal::Shared<Counter>::Open(ref);    // ... there
//     // or by name: CreateWith({.kind = RegionKind::kNamed, .name = "hits"})
//     // here, shoal::Shared<Counter>::Open("hits") in any program
//
//   T must be standard-layout, non-polymorphic, aligned to at most 64, and
//   follow the shared-memory rules (no raw pointers, no std containers;
//   atomics lock-free): it is one object that several processes touch.
//   shoal's own primitives (Lock, Semaphore, ...) are such types.
//
//   The region header carries LayoutHash<T>("shoal::Shared") and the name
//   "shoal::Shared<T>", so Shared<U>::Open on a Shared<T>'s ref throws
//   InvalidRegion naming both types.
//
//   Shared<T> is Encodable (ipc/codec.h): it travels as its RegionRef, and
//   decoding opens the region, so a Shared<Lock> can be an argument to a
//   task in another process. Decoding may therefore throw InvalidRegion or
//   SystemError (as TryDecode's status) besides CodecError.
//
// Lifetime
//   T's constructor runs once, in the creating process, before any other
//   process can open the region. T's destructor runs once, in the creating
//   process, when the creator's last handle goes (handles in the creator's
//   fork()ed children and in processes that opened it never run it). So keep
//   a handle in the creator for as long as any process uses the object; the
//   memory itself stays mapped in every process that still has a handle.
//   A named region is unlinked at the same moment.
//
// Thread and process safety: the handle is like std::shared_ptr; what the
//   object allows concurrently is up to T.
// Cost: Create is a few system calls (memfd_create, ftruncate, mmap) and one
//   page; operator-> is a plain pointer.
#ifndef SHOAL_IPC_SHARED_H_
#define SHOAL_IPC_SHARED_H_

#include <new>
#include <string_view>
#include <type_traits>
#include <utility>

#include "shoal/base/errors.h"
#include "shoal/ipc/codec.h"
#include "shoal/ipc/layout.h"
#include "shoal/ipc/region.h"

namespace shoal {

template <class T>
class Shared {
  static_assert(std::is_standard_layout_v<T>,
                "Shared<T> needs a standard-layout T (it lives in shared "
                "memory)");
  static_assert(!std::is_polymorphic_v<T>);
  static_assert(alignof(T) <= 64, "the payload is aligned to 64");

 public:
  using element_type = T;

  // An empty handle.
  Shared() = default;

  // A new memfd-backed region holding T(args...).
  template <class... Args>
  static Shared Create(Args&&... args) {
    return CreateWith(RegionOptions{}, std::forward<Args>(args)...);
  }
  // Same, with the region kind/name/mode of `options`.
  template <class... Args>
  static Shared CreateWith(const RegionOptions& options, Args&&... args) {
    Region r = Region::Create(sizeof(T), Layout(), options);
    // If the constructor throws, `r` goes unpublished: openers are told the
    // creator failed, and a named region is unlinked.
    T* p =
        ::new (static_cast<void*>(r.payload())) T(std::forward<Args>(args)...);
    if constexpr (!std::is_trivially_destructible_v<T>) {
      r.SetPayloadDestructor(&DestroyPayload);
    }
    r.PublishReady();
    return Shared(std::move(r), p);
  }

  // Opens the Shared<T> that `ref` names (see Region::Open).
  static Shared Open(const RegionRef& ref, const OpenOptions& options = {}) {
    Region r = Region::Open(ref, Layout(), options);
    T* p = r.template at<T>(0);
    return Shared(std::move(r), p);
  }
  // Opens the named Shared<T> ("x" or "shoal.x") another program created
  // with CreateWith(RegionOptions{.kind = RegionKind::kNamed, .name = "x"})
  // (see Region::OpenNamed): how unrelated processes, C++ or Python, meet
  // at one Lock, Event, ... Throws InvalidRegion naming both types when it
  // holds something else.
  static Shared Open(std::string_view name, const OpenOptions& options = {}) {
    Region r = Region::OpenNamed(name, Layout(), options);
    T* p = r.template at<T>(0);
    return Shared(std::move(r), p);
  }

  // The layout a Shared<T> region carries.
  static constexpr RegionLayout Layout() {
    return RegionLayout{internal::LayoutHash<T>("shoal::Shared"),
                        internal::TypeName<Shared<T>>()};
  }

  T* get() const { return ptr_; }
  T& operator*() const { return *ptr_; }
  T* operator->() const { return ptr_; }
  explicit operator bool() const { return ptr_ != nullptr; }

  RegionRef ref() const { return region_.ref(); }
  const Region& region() const { return region_; }

 private:
  Shared(Region r, T* p) : region_(std::move(r)), ptr_(p) {}
  static void DestroyPayload(void* p) { static_cast<T*>(p)->~T(); }

  Region region_;
  T* ptr_ = nullptr;
};

// A Shared<T> travels as its RegionRef; decoding opens the region.
template <class T>
struct CodecTraits<Shared<T>> {
  static constexpr size_t kMinSize = sizeof(RegionRef);
  static size_t Size(const Shared<T>&) { return sizeof(RegionRef); }
  static void Encode(const Shared<T>& s, CodecWriter& w) {
    if (!s) throw SerializationError("cannot encode an empty Shared<T>");
    w.WriteRaw(s.ref());
  }
  static Shared<T> Decode(CodecReader& r) {
    return Shared<T>::Open(r.ReadRaw<RegionRef>());
  }
};

}  // namespace shoal

#endif  // SHOAL_IPC_SHARED_H_
