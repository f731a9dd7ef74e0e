// Copyright 2026 The shoal Authors.
//
// value.h: Value<T> and RawValue<T>, Python's multiprocessing.Value and
// RawValue: one trivially copyable T in shared memory.
//
//   shoal::Value<long> counter(0);                 // with a Lock
//   // in each of 4 processes:
//   for (int i = 0; i < 100000; ++i) {
//     std::lock_guard guard(counter.get_lock());   // or counter.add(1)
//     counter.store(counter.load() + 1);
//   }
//
// Contract
//   Value<T> holds a T and a recursive shoal::RLock (as Python's Value) in
//   one small region (memfd by default; RegionOptions for anonymous or
//   named). Copies of the handle,
//   fork()ed children and processes that Open() its ref() all see the same T.
//   As in Python, load()/store() each take the lock when the Value has one
//   (lock = true, the default), so a single read or write is never torn; a
//   read-modify-write needs the lock held around it, which get_lock() or
//   the helpers add()/update() give you. The lock is recursive, so load()
//   and store() also work while the caller holds get_lock().
//
//   Value(init, lock = false) and RawValue<T> have no lock: load()/store()
//   are plain (atomic for integral and pointer-sized T through
//   std::atomic_ref, so there are no torn reads), and RawValue<T> offers
//   fetch_add for integral T.
//
//   Python typecodes and their C++ types:
//     'b' int8_t  'B' uint8_t  'h' int16_t  'H' uint16_t  'i' int32_t
//     'I' uint32_t  'l' long  'L' unsigned long  'q' int64_t  'Q' uint64_t
//     'f' float  'd' double  'c' char  '?' bool  'u' wchar_t
//   Any other trivially copyable struct works too (a compile-time error for
//   anything else).
//
// Process death: a process killed while holding get_lock() makes the next
// acquirer get shoal::OwnerDied (see sync/lock.h). add()/update()/load()/
// store() handle that case themselves: the T is written with one store, so a
// dead holder either wrote it or not, and the lock is marked consistent.
#ifndef SHOAL_IPC_VALUE_H_
#define SHOAL_IPC_VALUE_H_

#include <atomic>
#include <string_view>
#include <type_traits>
#include <utility>

#include "shoal/base/errors.h"
#include "shoal/ipc/codec.h"
#include "shoal/ipc/internal/ref_codec.h"
#include "shoal/ipc/region.h"
#include "shoal/ipc/shared.h"
#include "shoal/sync/lock.h"
#include "shoal/sync/rlock.h"

namespace shoal {

namespace internal {

template <class T>
struct ValueData {
  RLock lock;
  bool has_lock;
  T value;
};

template <class T>
constexpr bool kAtomicRefOk =
    (std::is_integral_v<T> || std::is_floating_point_v<T> ||
     std::is_pointer_v<T>) &&
    std::atomic_ref<T>::is_always_lock_free;

// Holds `lock` for the scope, repairing it when its previous holder died
// (callers only use it around single loads and stores, which a death cannot
// tear).
template <class L>
class RepairingGuard {
 public:
  explicit RepairingGuard(L& lock) : lock_(lock) {
    if (lock_.acquire_status(Deadline::Infinite()) == LockStatus::kOwnerDied) {
      lock_.make_consistent();
    }
  }
  ~RepairingGuard() { lock_.release(); }
  RepairingGuard(const RepairingGuard&) = delete;
  RepairingGuard& operator=(const RepairingGuard&) = delete;

 private:
  L& lock_;
};

template <class T>
T PlainLoad(const T& v) {
  if constexpr (kAtomicRefOk<T>) {
    return std::atomic_ref<T>(const_cast<T&>(v)).load(std::memory_order_acquire);
  } else {
    return v;
  }
}

template <class T>
void PlainStore(T& v, const T& x) {
  if constexpr (kAtomicRefOk<T>) {
    std::atomic_ref<T>(v).store(x, std::memory_order_release);
  } else {
    v = x;
  }
}

}  // namespace internal

template <class T>
class Value {
  static_assert(std::is_trivially_copyable_v<T>,
                "Value<T>: T must be trivially copyable (it lives in shared "
                "memory as raw bytes)");

 public:
  using value_type = T;

  explicit Value(T init = T{}, bool lock = true,
                 const RegionOptions& region = {})
      : data_(Shared<internal::ValueData<T>>::CreateWith(region)) {
    data_->has_lock = lock;
    data_->value = init;
  }
  static Value Open(const RegionRef& ref, const OpenOptions& options = {}) {
    return Value(Shared<internal::ValueData<T>>::Open(ref, options));
  }
  // Opens the named Value<T> another program created (RegionOptions kind
  // kNamed); InvalidRegion when it holds another type.
  static Value Open(std::string_view name, const OpenOptions& options = {}) {
    return Value(Shared<internal::ValueData<T>>::Open(name, options));
  }

  // The (recursive) lock that guards the value. Throws ValueError for a
  // lock-less Value (Python's Value(lock=False) has no get_lock either).
  RLock& get_lock() const {
    if (!data_->has_lock) throw ValueError("Value: created with lock = false");
    return data_->lock;
  }
  bool has_lock() const { return data_->has_lock; }

  T load() const {
    if (!data_->has_lock) return internal::PlainLoad(data_->value);
    internal::RepairingGuard g(data_->lock);
    return data_->value;
  }
  void store(const T& x) {
    if (!data_->has_lock) return internal::PlainStore(data_->value, x);
    internal::RepairingGuard g(data_->lock);
    data_->value = x;
  }
  // Python's `.value`.
  T value() const { return load(); }

  // value = fn(value), under the lock; returns the new value.
  template <class F>
  T update(F&& fn) {
    internal::RepairingGuard g(get_lock());
    data_->value = std::forward<F>(fn)(data_->value);
    return data_->value;
  }
  // value += delta under the lock; returns the new value.
  T add(const T& delta) {
    return update([&](const T& v) { return static_cast<T>(v + delta); });
  }

  // The T itself, for code that holds get_lock().
  T* get() const { return &data_->value; }

  RegionRef ref() const { return data_.ref(); }
  const Region& region() const { return data_.region(); }

 private:
  explicit Value(Shared<internal::ValueData<T>> d) : data_(std::move(d)) {}
  Shared<internal::ValueData<T>> data_;
};

// Python's RawValue: a T with no lock.
template <class T>
class RawValue {
  static_assert(std::is_trivially_copyable_v<T>,
                "RawValue<T>: T must be trivially copyable");

 public:
  using value_type = T;

  explicit RawValue(T init = T{}, const RegionOptions& region = {})
      : data_(Shared<internal::ValueData<T>>::CreateWith(region)) {
    data_->has_lock = false;
    data_->value = init;
  }
  static RawValue Open(const RegionRef& ref, const OpenOptions& options = {}) {
    return RawValue(Shared<internal::ValueData<T>>::Open(ref, options));
  }
  static RawValue Open(std::string_view name, const OpenOptions& options = {}) {
    return RawValue(Shared<internal::ValueData<T>>::Open(name, options));
  }

  T load() const { return internal::PlainLoad(data_->value); }
  void store(const T& x) { internal::PlainStore(data_->value, x); }
  T value() const { return load(); }
  // Atomic read-modify-write, for integral T.
  T fetch_add(T delta) requires std::is_integral_v<T> {
    return std::atomic_ref<T>(data_->value).fetch_add(delta);
  }
  T* get() const { return &data_->value; }

  RegionRef ref() const { return data_.ref(); }
  const Region& region() const { return data_.region(); }

 private:
  explicit RawValue(Shared<internal::ValueData<T>> d) : data_(std::move(d)) {}
  Shared<internal::ValueData<T>> data_;
};

// Value and RawValue travel to other processes as their region's ref.
template <class T>
struct CodecTraits<Value<T>> : internal::RefHandleCodec<Value<T>> {};
template <class T>
struct CodecTraits<RawValue<T>> : internal::RefHandleCodec<RawValue<T>> {};

}  // namespace shoal

#endif  // SHOAL_IPC_VALUE_H_
