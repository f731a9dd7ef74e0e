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
// Timeouts: every call that takes the lock has a timed form, as Python's
// `v.get_lock().acquire(timeout=...)`: load(deadline) / store(x, deadline) /
// add(delta, deadline) / update(fn, deadline) throw shoal::TimeoutError when
// the lock is not free by then (nothing read or written), try_load(deadline)
// and try_store(x, deadline) return std::nullopt / false instead. The plain
// forms wait for as long as the holder holds. Any deadline works, from
// "don't wait" to hours::max() (base/deadline.h).
//
// Process death: a process killed while holding get_lock() makes the next
// acquirer get shoal::OwnerDied (see sync/lock.h). add()/update()/load()/
// store() handle that case themselves: the T is written with one store, so a
// dead holder either wrote it or not, and the lock is marked consistent. A
// holder that is stopped (SIGSTOP) or stuck never releases: use the timed
// forms where that matters.
//
// Bytes a peer wrote: the lock flag is read as a byte and validated (not
// 0 or 1: InvalidRegion), never as a bool. Value<bool>/RawValue<bool> read
// the value as a byte too, any non-zero byte being true (as ctypes.c_bool),
// so a stray write is never undefined behaviour. (A user struct T with bool
// members is read as it is: validate such fields yourself.)
#ifndef SHOAL_IPC_VALUE_H_
#define SHOAL_IPC_VALUE_H_

#include <atomic>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "shoal/base/deadline.h"
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
  uint8_t has_lock;  // 0 or 1; a byte, validated when read (see above)
  T value;
};

template <class T>
constexpr bool kAtomicRefOk =
    (std::is_integral_v<T> || std::is_floating_point_v<T> ||
     std::is_pointer_v<T>) &&
    std::atomic_ref<T>::is_always_lock_free;

// Takes `lock` by `deadline`, repairing it when its previous holder died
// (callers only use it around single loads and stores, which a death cannot
// tear). false: the deadline passed first (the lock is not held).
template <class L>
bool AcquireRepairing(L& lock, const Deadline& deadline) {
  switch (lock.acquire_status(deadline)) {
    case LockStatus::kTimedOut:
      return false;
    case LockStatus::kOwnerDied:
      lock.make_consistent();
      return true;
    default:
      return true;
  }
}

// Releases a lock taken with AcquireRepairing at the end of the scope.
template <class L>
class RepairingGuard {
 public:
  RepairingGuard(L& lock, std::adopt_lock_t) : lock_(lock) {}
  ~RepairingGuard() { lock_.release(); }
  RepairingGuard(const RepairingGuard&) = delete;
  RepairingGuard& operator=(const RepairingGuard&) = delete;

 private:
  L& lock_;
};

[[noreturn]] inline void ThrowLockTimeout(const char* call) {
  throw TimeoutError(std::string(call) +
                     ": the lock was not free by the deadline (another "
                     "thread or process holds it); nothing was read or "
                     "written");
}

// A T read from shared memory with the lock held (or by its only user).
// bool is read as its byte: any non-zero byte is true (ctypes.c_bool), and
// a byte other than 0/1 written by a peer is not undefined behaviour.
template <class T>
T LockedLoad(const T& v) {
  if constexpr (std::is_same_v<T, bool>) {
    unsigned char b;
    std::memcpy(&b, &v, 1);
    return b != 0;
  } else {
    return v;
  }
}

template <class T>
T PlainLoad(const T& v) {
  if constexpr (std::is_same_v<T, bool>) {
    return __atomic_load_n(reinterpret_cast<const unsigned char*>(&v),
                           __ATOMIC_ACQUIRE) != 0;
  } else if constexpr (kAtomicRefOk<T>) {
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
                "shoal::Value<T> keeps T in shared memory as raw bytes, so T "
                "must be trivially copyable: numbers, enums, and structs or "
                "std::arrays of them. For std::string, containers or classes "
                "with a serialize() member use a Queue<T> or a Pipe, which "
                "encode values");
  static_assert(!internal::HasRawAddress<T>(),
                "shoal::Value<T>: T holds a raw pointer or a view "
                "(std::string_view, std::span), which means nothing in "
                "another process; store the data or an offset instead");

 public:
  using value_type = T;

  explicit Value(T init = T{}, bool lock = true,
                 const RegionOptions& region = {})
      : data_(Shared<internal::ValueData<T>>::CreateWith(region)) {
    data_->has_lock = lock ? 1 : 0;
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
    if (!has_lock()) throw ValueError("Value: created with lock = false");
    return data_->lock;
  }
  // Throws InvalidRegion when the flag in shared memory is neither 0 nor 1.
  bool has_lock() const {
    const uint8_t flag = data_->has_lock;
    if (flag > 1) {
      throw InvalidRegion(data_.region().description() +
                          ": Value's lock flag holds " + std::to_string(flag) +
                          " (neither 0 nor 1): the region is corrupt");
    }
    return flag == 1;
  }

  // Python's `.value` read: under the lock when there is one.
  T load() const { return load(Deadline::Infinite()); }
  // Throws TimeoutError when the lock is not free by `deadline`.
  T load(const Deadline& deadline) const {
    if (std::optional<T> v = try_load(deadline)) return *v;
    internal::ThrowLockTimeout("Value.load");
  }
  // std::nullopt when the lock is not free by `deadline` (default: now).
  std::optional<T> try_load(const Deadline& deadline = Deadline::Now()) const {
    if (!has_lock()) return internal::PlainLoad(data_->value);
    if (!internal::AcquireRepairing(data_->lock, deadline)) return std::nullopt;
    internal::RepairingGuard g(data_->lock, std::adopt_lock);
    return internal::LockedLoad(data_->value);
  }
  // Python's `.value`.
  T value() const { return load(); }

  // Python's `.value = x`: under the lock when there is one.
  void store(const T& x) { store(x, Deadline::Infinite()); }
  // Throws TimeoutError (nothing written) when the lock is not free by
  // `deadline`.
  void store(const T& x, const Deadline& deadline) {
    if (!try_store(x, deadline)) internal::ThrowLockTimeout("Value.store");
  }
  // false (nothing written) when the lock is not free by `deadline`.
  bool try_store(const T& x, const Deadline& deadline = Deadline::Now()) {
    if (!has_lock()) {
      internal::PlainStore(data_->value, x);
      return true;
    }
    if (!internal::AcquireRepairing(data_->lock, deadline)) return false;
    internal::RepairingGuard g(data_->lock, std::adopt_lock);
    data_->value = x;
    return true;
  }

  // value = fn(value), under the lock; returns the new value. Throws
  // TimeoutError (fn not called) when the lock is not free by `deadline`.
  template <class F>
  T update(F&& fn, const Deadline& deadline = Deadline::Infinite()) {
    RLock& lock = get_lock();
    if (!internal::AcquireRepairing(lock, deadline)) {
      internal::ThrowLockTimeout("Value.update");
    }
    internal::RepairingGuard g(lock, std::adopt_lock);
    const T next = std::forward<F>(fn)(internal::LockedLoad(data_->value));
    data_->value = next;
    return next;
  }
  // value += delta under the lock; returns the new value. Timed as update().
  T add(const T& delta, const Deadline& deadline = Deadline::Infinite()) {
    return update([&](const T& v) { return static_cast<T>(v + delta); },
                  deadline);
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
                "shoal::RawValue<T> keeps T in shared memory as raw bytes, so "
                "T must be trivially copyable: numbers, enums, and structs or "
                "std::arrays of them");
  static_assert(!internal::HasRawAddress<T>(),
                "shoal::RawValue<T>: T holds a raw pointer or a view "
                "(std::string_view, std::span), which means nothing in "
                "another process; store the data or an offset instead");

 public:
  using value_type = T;

  explicit RawValue(T init = T{}, const RegionOptions& region = {})
      : data_(Shared<internal::ValueData<T>>::CreateWith(region)) {
    data_->has_lock = 0;
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
