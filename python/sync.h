// Copyright 2026 The shoal Authors.
//
// sync.h: the Python lock wrappers, shared with values.cc (Value.get_lock()
// and Array.get_lock() return an RLock that lives inside the value's
// region).
#ifndef SHOAL_PYTHON_SYNC_H_
#define SHOAL_PYTHON_SYNC_H_

#include <pybind11/pybind11.h>

#include <functional>
#include <memory>
#include <optional>

#include "python/wait.h"
#include "shoal/sync/lock.h"
#include "shoal/sync/rlock.h"

namespace shoal::python {

namespace py = pybind11;

// A process-shared primitive T living in a region that `keep` keeps
// mapped. `reduce` (may be empty: not picklable) gives pickle's
// (callable, args) for it.
template <class T>
struct SyncRef {
  std::shared_ptr<void> keep;
  T* obj = nullptr;
  std::function<py::tuple()> reduce;
};

// multiprocessing's acquire(block, timeout) on anything with
// try_acquire() and acquire(Deadline) (locks, semaphores, a Condition).
template <class L>
bool Acquire(L* l, bool block, std::optional<double> timeout) {
  return WaitInSlices(DeadlineFrom(block, timeout),
                      [l](const Deadline& d, bool gil) {
                        return gil ? l->try_acquire() : l->acquire(d);
                      });
}

// Python's Lock / RLock around a shoal::Lock / RLock.
template <class L>
class PyLockT {
 public:
  explicit PyLockT(SyncRef<L> r) : r_(std::move(r)) {}

  bool acquire(bool block, std::optional<double> timeout) {
    return Acquire(r_.obj, block, timeout);
  }
  void release() { r_.obj->release(); }
  L& get() const { return *r_.obj; }
  const SyncRef<L>& ref() const { return r_; }

 private:
  SyncRef<L> r_;
};

using PyLock = PyLockT<Lock>;
using PyRLock = PyLockT<RLock>;

// Holds an RLock for one load or store of a Value/Array element: waits with
// the GIL released (Ctrl-C works) and repairs after a holder's death (one
// store cannot be torn, as Value::load/store in C++).
class ElementGuard {
 public:
  explicit ElementGuard(RLock* lock) : lock_(lock) {
    if (!lock_) return;
    WaitInSlices(Deadline::Infinite(), [this](const Deadline& d, bool gil) {
      const LockStatus s =
          gil ? lock_->try_acquire_status() : lock_->acquire_status(d);
      if (s == LockStatus::kOwnerDied) lock_->make_consistent();
      return s != LockStatus::kTimedOut;
    });
  }
  ~ElementGuard() {
    if (lock_) lock_->release();
  }
  ElementGuard(const ElementGuard&) = delete;
  ElementGuard& operator=(const ElementGuard&) = delete;

 private:
  RLock* lock_;
};

}  // namespace shoal::python

#endif  // SHOAL_PYTHON_SYNC_H_
