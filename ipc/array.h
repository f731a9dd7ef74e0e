// Copyright 2026 The shoal Authors.
//
// array.h: Array<T> and RawArray<T>, Python's multiprocessing.Array and
// RawArray: a fixed number of trivially copyable Ts in shared memory.
//
//   shoal::Array<double> a(1000);                     // zeroed, with a Lock
//   if (fork() == 0) {
//     std::lock_guard guard(a.get_lock());
//     for (double& x : a.span()) x += 1;
//     _exit(0);
//   }
//   std::vector<double> copy = a.slice(0, 10);        // copy-out, locked
//
// Contract
//   The elements live in one region (memfd by default; RegionOptions for
//   anonymous or named) shared by copies of the handle, fork()ed children,
//   and processes that Open() its ref(). The size is fixed at creation.
//   span() / operator[] touch the shared elements directly (hold get_lock()
//   for consistency across processes, as in Python); slice() copies out and
//   assign() copies in, each under the lock. RawArray<T> has no lock.
//   T must be trivially copyable (compile-time error otherwise); see
//   ipc/value.h for Python's typecodes.
//
// Indices and slices, as Python's
//   at(i)              a[i]: a negative i counts from the end (a.at(-1) is
//                      the last element); out of range: std::out_of_range
//                      (Python's IndexError). operator[] is unchecked and
//                      takes no negative index (C++'s convention).
//   slice(i, j)        a[i:j]: negative i/j count from the end, then both
//                      are clipped to [0, size()]; j <= i gives an empty
//                      vector. Never throws for any i, j (a[4:7] on 6
//                      elements is a[4:6]). Python's open ends: slice(i,
//                      PTRDIFF_MAX) is a[i:], slice(PTRDIFF_MIN, j) is a[:j].
//                      No step (a[::2]): copy out and stride.
//   assign(i, v)       a[i:i+len(v)] = v, with i a Python index (negative:
//                      from the end; clipped like a slice start). The
//                      elements must fit: otherwise ValueError, as Python's
//                      "Can only assign sequence of same size", and nothing
//                      is written.
//   to_vector()        a[:]
//
// Timeouts: slice(), assign() and to_vector() take the lock (Array); each
// has a timed form with a trailing Deadline that throws TimeoutError (nothing
// copied) when the lock is not free by then, as Python's
// `a.get_lock().acquire(timeout=...)`.
//
// Errors: a corrupt region (element count not matching its size) →
// InvalidRegion at Open. Array<bool> copies out any non-zero byte as true
// (ctypes.c_bool), never a bool load of a byte a peer set to something else
// (undefined behaviour).
// Process death: as Value (sync/lock.h): a holder killed inside get_lock()
// makes the next acquirer get OwnerDied; slice()/assign() repair the lock
// themselves (the elements may then hold a partial update of the dead
// process, which they cannot know).
#ifndef SHOAL_IPC_ARRAY_H_
#define SHOAL_IPC_ARRAY_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "shoal/base/deadline.h"
#include "shoal/base/errors.h"
#include "shoal/ipc/codec.h"
#include "shoal/ipc/internal/ref_codec.h"
#include "shoal/ipc/layout.h"
#include "shoal/ipc/region.h"
#include "shoal/ipc/value.h"
#include "shoal/sync/lock.h"
#include "shoal/sync/rlock.h"

namespace shoal {

namespace internal {

struct ArrayHeader {
  RLock lock;  // recursive, as Python's Array
  uint64_t size;
  uint32_t has_lock;
  uint32_t elem_size;
};
inline constexpr uint64_t kArrayDataOffset = 128;
static_assert(sizeof(ArrayHeader) <= kArrayDataOffset);

template <class T, bool kLocked>
class ArrayBase {
  static_assert(std::is_trivially_copyable_v<T>,
                "shoal::Array<T> keeps its elements in shared memory as raw "
                "bytes, so T must be trivially copyable: numbers, enums, and "
                "structs or std::arrays of them");
  static_assert(!internal::HasRawAddress<T>(),
                "shoal::Array<T>: T holds a raw pointer or a view "
                "(std::string_view, std::span), which means nothing in "
                "another process; store the data or an offset instead");
  static_assert(alignof(T) <= 64);

 public:
  using value_type = T;

  std::size_t size() const { return size_; }
  std::span<T> span() const { return {data_, size_}; }
  T* data() const { return data_; }
  T* begin() const { return data_; }
  T* end() const { return data_ + size_; }
  T& operator[](std::size_t i) const { return data_[i]; }
  // Python's a[i] (negative: from the end); std::out_of_range (IndexError)
  // when out of range.
  T& at(std::ptrdiff_t i) const {
    const auto n = static_cast<std::ptrdiff_t>(size_);
    if (i < -n || i >= n) {
      throw std::out_of_range("Array index " + std::to_string(i) +
                              " out of range (size " + std::to_string(size_) +
                              ")");
    }
    return data_[i < 0 ? i + n : i];
  }

  // Python's a[start:stop]: copies the elements out (under the lock, if
  // any), clipping as Python does (see the top of this file).
  std::vector<T> slice(std::ptrdiff_t start, std::ptrdiff_t stop) const {
    return slice(start, stop, Deadline::Infinite());
  }
  // Throws TimeoutError when the lock is not free by `deadline`.
  std::vector<T> slice(std::ptrdiff_t start, std::ptrdiff_t stop,
                       const Deadline& deadline) const {
    const std::size_t begin = Clip(start);
    const std::size_t end = std::max(begin, Clip(stop));
    auto copy = [&] {
      if constexpr (std::is_same_v<T, bool>) {
        std::vector<T> out;
        out.reserve(end - begin);
        for (std::size_t i = begin; i < end; ++i) {
          out.push_back(LockedLoad(data_[i]));
        }
        return out;
      } else {
        return std::vector<T>(data_ + begin, data_ + end);
      }
    };
    if constexpr (kLocked) {
      if (!AcquireRepairing(header_->lock, deadline)) {
        ThrowLockTimeout("Array.slice");
      }
      RepairingGuard g(header_->lock, std::adopt_lock);
      return copy();
    } else {
      return copy();
    }
  }
  // Python's a[:].
  std::vector<T> to_vector() const { return slice(0, PTRDIFF_MAX); }
  std::vector<T> to_vector(const Deadline& deadline) const {
    return slice(0, PTRDIFF_MAX, deadline);
  }
  // Python's a[offset:offset + len(values)] = values (under the lock, if
  // any). ValueError (nothing written) when the values do not fit.
  void assign(std::ptrdiff_t offset, std::span<const T> values) {
    assign(offset, values, Deadline::Infinite());
  }
  // Throws TimeoutError (nothing written) when the lock is not free by
  // `deadline`.
  void assign(std::ptrdiff_t offset, std::span<const T> values,
              const Deadline& deadline) {
    const std::size_t begin = Clip(offset);
    if (values.size() > size_ - begin) {
      throw ValueError("Array.assign: " + std::to_string(values.size()) +
                       " values do not fit at index " + std::to_string(offset) +
                       " of an array of " + std::to_string(size_) +
                       " (Python: can only assign a sequence of the same "
                       "size)");
    }
    auto copy = [&] {
      if (!values.empty()) {
        std::memmove(data_ + begin, values.data(), values.size_bytes());
      }
    };
    if constexpr (kLocked) {
      if (!AcquireRepairing(header_->lock, deadline)) {
        ThrowLockTimeout("Array.assign");
      }
      RepairingGuard g(header_->lock, std::adopt_lock);
      copy();
    } else {
      copy();
    }
  }

  RegionRef ref() const { return region_.ref(); }
  const Region& region() const { return region_; }

 protected:
  ArrayBase(std::size_t n, const RegionLayout& layout,
            const RegionOptions& options) {
    if (n > (kMaxRegionSize - kArrayDataOffset) / sizeof(T)) {
      throw ValueError("Array: " + std::to_string(n) + " elements is too many");
    }
    region_ = Region::Create(kArrayDataOffset + n * sizeof(T), layout, options);
    header_ = ::new (static_cast<void*>(region_.payload())) ArrayHeader;
    header_->size = n;
    header_->has_lock = kLocked;
    header_->elem_size = sizeof(T);
    region_.PublishReady();
    Bind();
  }
  explicit ArrayBase(Region region) : region_(std::move(region)) {
    header_ = region_.at<ArrayHeader>(0);
    Bind();
  }

  void Bind() {
    const uint64_t n = header_->size;
    if (header_->elem_size != sizeof(T) ||
        n > (region_.payload_size() - kArrayDataOffset) / sizeof(T)) {
      throw InvalidRegion(region_.description() + ": array of " +
                          std::to_string(n) + " elements of " +
                          std::to_string(header_->elem_size) +
                          " bytes does not fit its region");
    }
    size_ = n;
    data_ = region_.at<T>(kArrayDataOffset, n);
  }

  // A Python slice bound: negative counts from the end; clipped to
  // [0, size].
  std::size_t Clip(std::ptrdiff_t i) const {
    const auto n = static_cast<std::ptrdiff_t>(size_);
    if (i < 0) i = i < -n ? 0 : i + n;
    return static_cast<std::size_t>(std::min(i, n));
  }

  Region region_;
  ArrayHeader* header_ = nullptr;
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace internal

template <class T>
class Array : public internal::ArrayBase<T, true> {
  using Base = internal::ArrayBase<T, true>;

 public:
  // n zero-initialized elements.
  explicit Array(std::size_t n, const RegionOptions& region = {})
      : Base(n, Layout(), region) {}
  Array(std::initializer_list<T> init, const RegionOptions& region = {})
      : Array(std::span<const T>(init.begin(), init.size()), region) {}
  explicit Array(std::span<const T> init, const RegionOptions& region = {})
      : Base(init.size(), Layout(), region) {
    if (!init.empty()) std::memcpy(this->data_, init.data(), init.size_bytes());
  }
  static Array Open(const RegionRef& ref, const OpenOptions& options = {}) {
    return Array(Region::Open(ref, Layout(), options));
  }
  // Opens the named Array<T> another program created (RegionOptions kind
  // kNamed); InvalidRegion when it holds another type.
  static Array Open(std::string_view name, const OpenOptions& options = {}) {
    return Array(Region::OpenNamed(name, Layout(), options));
  }

  // The recursive lock that guards the elements (slice/assign take it too).
  RLock& get_lock() const { return this->header_->lock; }

  static RegionLayout Layout() { return LayoutOf<Array<T>>("array", 1); }

 private:
  explicit Array(Region region) : Base(std::move(region)) {}
};

template <class T>
class RawArray : public internal::ArrayBase<T, false> {
  using Base = internal::ArrayBase<T, false>;

 public:
  explicit RawArray(std::size_t n, const RegionOptions& region = {})
      : Base(n, Layout(), region) {}
  RawArray(std::initializer_list<T> init, const RegionOptions& region = {})
      : RawArray(std::span<const T>(init.begin(), init.size()), region) {}
  explicit RawArray(std::span<const T> init, const RegionOptions& region = {})
      : Base(init.size(), Layout(), region) {
    if (!init.empty()) std::memcpy(this->data_, init.data(), init.size_bytes());
  }
  static RawArray Open(const RegionRef& ref, const OpenOptions& options = {}) {
    return RawArray(Region::Open(ref, Layout(), options));
  }
  static RawArray Open(std::string_view name, const OpenOptions& options = {}) {
    return RawArray(Region::OpenNamed(name, Layout(), options));
  }

  static RegionLayout Layout() { return LayoutOf<RawArray<T>>("array", 1); }

 private:
  explicit RawArray(Region region) : Base(std::move(region)) {}
};

template <class T>
struct CodecTraits<Array<T>> : internal::RefHandleCodec<Array<T>> {};
template <class T>
struct CodecTraits<RawArray<T>> : internal::RefHandleCodec<RawArray<T>> {};

}  // namespace shoal

#endif  // SHOAL_IPC_ARRAY_H_
