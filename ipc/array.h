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
// Errors: at()/slice()/assign() out of range → std::out_of_range (Python's
// IndexError); a corrupt region (element count not matching its size) →
// InvalidRegion at Open.
// Process death: as Value (sync/lock.h): a holder killed inside get_lock()
// makes the next acquirer get OwnerDied; slice()/assign() repair the lock
// themselves (the elements may then hold a partial update of the dead
// process, which they cannot know).
#ifndef SHOAL_IPC_ARRAY_H_
#define SHOAL_IPC_ARRAY_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

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
                "Array<T>: T must be trivially copyable (it lives in shared "
                "memory as raw bytes)");
  static_assert(alignof(T) <= 64);

 public:
  using value_type = T;

  std::size_t size() const { return size_; }
  std::span<T> span() const { return {data_, size_}; }
  T* data() const { return data_; }
  T* begin() const { return data_; }
  T* end() const { return data_ + size_; }
  T& operator[](std::size_t i) const { return data_[i]; }
  T& at(std::size_t i) const {
    if (i >= size_) {
      throw std::out_of_range("Array index " + std::to_string(i) +
                              " out of range (size " + std::to_string(size_) +
                              ")");
    }
    return data_[i];
  }

  // Copies elements [begin, end) out (under the lock, if any).
  std::vector<T> slice(std::size_t begin, std::size_t end) const {
    CheckRange(begin, end);
    auto copy = [&] { return std::vector<T>(data_ + begin, data_ + end); };
    if constexpr (kLocked) {
      RepairingGuard g(header_->lock);
      return copy();
    } else {
      return copy();
    }
  }
  std::vector<T> to_vector() const { return slice(0, size_); }
  // Copies `values` in at `offset` (under the lock, if any).
  void assign(std::size_t offset, std::span<const T> values) {
    CheckRange(offset, offset + values.size());
    auto copy = [&] {
      if (!values.empty()) {
        std::memmove(data_ + offset, values.data(), values.size_bytes());
      }
    };
    if constexpr (kLocked) {
      RepairingGuard g(header_->lock);
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

  void CheckRange(std::size_t begin, std::size_t end) const {
    if (begin > end || end > size_) {
      throw std::out_of_range("Array range [" + std::to_string(begin) + ", " +
                              std::to_string(end) + ") out of range (size " +
                              std::to_string(size_) + ")");
    }
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
