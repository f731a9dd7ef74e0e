// Copyright 2026 The shoal Authors.
//
// sync.cc: shoal.Lock, RLock, Semaphore, BoundedSemaphore, Event, Condition,
// Barrier: each a C++ Shared<T> (one object in its own region), so a C++
// program opens a Python Lock by name as shoal::Shared<shoal::Lock> and
// vice versa.
//
// Blocking calls wait with the GIL released and come back every 0.2 s for
// signals (wait.h). Barrier.wait cannot be sliced (a timed-out wait breaks
// the barrier), so it waits in a helper thread while the caller's thread
// polls for signals; on KeyboardInterrupt it aborts the barrier (the others
// get BrokenBarrierError: a party gave up) and re-raises.
#include "python/sync.h"

#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <condition_variable>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "python/common.h"
#include "python/errors.h"
#include "python/module.h"
#include "python/wait.h"
#include "shoal/base/errors.h"
#include "shoal/ipc/shared.h"
#include "shoal/sync/barrier.h"
#include "shoal/sync/condition.h"
#include "shoal/sync/event.h"
#include "shoal/sync/semaphore.h"

namespace shoal::python {
namespace {

// Kinds for pickling (the C++ type is fixed by the kind).
enum class Kind { kLock, kRLock, kSemaphore, kBoundedSemaphore, kEvent,
                  kCondition, kBarrier };

template <class T>
SyncRef<T> RefOf(Shared<T> s, Kind kind) {
  SyncRef<T> r;
  T* obj = s.get();
  auto holder = std::make_shared<Shared<T>>(std::move(s));
  r.obj = obj;
  r.reduce = [holder, kind]() {
    return py::make_tuple(py::module_::import("shoal").attr("_rebuild"),
                          py::make_tuple("_rebuild_sync", static_cast<int>(kind),
                                         RefToBytes(holder->ref())));
  };
  r.keep = std::move(holder);
  return r;
}

template <class T, class... Args>
SyncRef<T> Make(Kind kind, const std::optional<std::string>& name,
                Args&&... args) {
  return RefOf(Shared<T>::CreateWith(RegionFor(name),
                                     std::forward<Args>(args)...),
               kind);
}

template <class T>
SyncRef<T> OpenNamed(Kind kind, const std::string& name) {
  return RefOf(Shared<T>::Open(std::string_view(name)), kind);
}

template <class W>
py::tuple Reduce(const W& w) {
  if (!w.ref().reduce) {
    Raise(PyExc_TypeError,
          "this lock belongs to a Value, Array or Condition: pickle that "
          "object instead");
  }
  return w.ref().reduce();
}

// ------------------------------------------------------------- semaphores

template <class S>
class PySemaphoreT {
 public:
  explicit PySemaphoreT(SyncRef<S> r) : r_(std::move(r)) {}
  bool acquire(bool block, std::optional<double> timeout) {
    return Acquire(r_.obj, block, timeout);
  }
  void release(uint32_t n) { r_.obj->release(n); }
  uint32_t get_value() const { return r_.obj->get_value(); }
  S& get() const { return *r_.obj; }
  const SyncRef<S>& ref() const { return r_; }

 private:
  SyncRef<S> r_;
};
using PySemaphore = PySemaphoreT<Semaphore>;
using PyBoundedSemaphore = PySemaphoreT<BoundedSemaphore>;

// ------------------------------------------------------------- Event

class PyEvent {
 public:
  explicit PyEvent(SyncRef<Event> r) : r_(std::move(r)) {}
  bool wait(std::optional<double> timeout) {
    Event* e = r_.obj;
    // A set() then clear() that both fall between two slices (while this
    // thread checks for signals, ~1 us every 0.2 s) is not seen; a set()
    // at any other moment is.
    return WaitInSlices(DeadlineFrom(timeout), [e](const Deadline& d, bool gil) {
      return gil ? e->is_set() : e->wait(d);
    });
  }
  const SyncRef<Event>& ref() const { return r_; }
  Event& get() const { return *r_.obj; }

 private:
  SyncRef<Event> r_;
};

// ------------------------------------------------------------- Condition

class PyCondition {
 public:
  explicit PyCondition(SyncRef<Condition> r) : r_(std::move(r)) {}

  bool acquire(bool block, std::optional<double> timeout) {
    return Acquire(r_.obj, block, timeout);
  }
  // Slices are safe: a timed-out slice re-acquires the lock, and nobody can
  // notify while we hold it, so no notification falls between slices.
  bool wait(std::optional<double> timeout) {
    Condition* c = r_.obj;
    return WaitInSlices(
        DeadlineFrom(timeout),
        [c](const Deadline& d, bool) { return c->wait(d); },
        /*try_first=*/false);
  }
  py::object wait_for(py::function pred, std::optional<double> timeout) {
    const Deadline total = DeadlineFrom(timeout);
    py::object result = pred();
    while (!py::bool_(result)) {
      if (total.expired()) break;
      Condition* c = r_.obj;
      WaitInSlices(
          total, [c](const Deadline& d, bool) { return c->wait(d); },
          /*try_first=*/false);
      result = pred();
    }
    return result;
  }
  Condition& get() const { return *r_.obj; }
  const SyncRef<Condition>& ref() const { return r_; }
  std::shared_ptr<void> keep() const { return r_.keep; }

 private:
  SyncRef<Condition> r_;
};

// ------------------------------------------------------------- Barrier

class PyBarrier {
 public:
  PyBarrier(SyncRef<Barrier> r, py::object action,
            std::optional<double> timeout)
      : r_(std::move(r)), action_(std::move(action)), timeout_(timeout) {}

  uint32_t wait(std::optional<double> timeout) {
    Barrier* b = r_.obj;
    const Deadline deadline = DeadlineFrom(timeout ? timeout : timeout_);
    py::object action = action_;
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    uint32_t index = 0;
    std::exception_ptr error;
    std::thread waiter([&] {
      try {
        if (action.is_none()) {
          index = b->wait(deadline);
        } else {
          index = b->wait(deadline, [&] {
            py::gil_scoped_acquire gil;
            action();
          });
        }
      } catch (...) {
        error = std::current_exception();
      }
      std::lock_guard<std::mutex> g(mu);
      done = true;
      cv.notify_one();
    });
    for (;;) {
      {
        py::gil_scoped_release release;
        std::unique_lock<std::mutex> lk(mu);
        if (cv.wait_for(lk, kSlice, [&] { return done; })) break;
      }
      if (PyErr_CheckSignals() != 0) {
        // Keep the signal's exception, not the waiter's BrokenBarrierError.
        py::error_already_set interrupted;
        b->abort();  // the waiter (and every other party) is released
        {
          py::gil_scoped_release release;
          waiter.join();
        }
        throw interrupted;
      }
    }
    {
      py::gil_scoped_release release;
      waiter.join();
    }
    if (error) std::rethrow_exception(error);
    return index;
  }
  Barrier& get() const { return *r_.obj; }
  const SyncRef<Barrier>& ref() const { return r_; }
  py::object action() const { return action_; }
  std::optional<double> timeout() const { return timeout_; }

 private:
  SyncRef<Barrier> r_;
  py::object action_;
  std::optional<double> timeout_;
};

// ------------------------------------------------------------- binding

template <class C, class W>
void AddLockMethods(C& c, const char* cls) {
  c.def("acquire", &W::acquire, py::arg("block") = true,
        py::arg("timeout") = py::none(),
        "acquire(block=True, timeout=None) -> bool: True once held; False "
        "when not held at the deadline (at once with block=False). Raises "
        "shoal.OwnerDied when a previous holder died holding it: the caller "
        "then HOLDS the lock; repair, make_consistent(), release().")
      .def("release", &W::release,
           "Releases the lock (shoal.RuntimeError when this thread does not "
           "hold it).")
      .def("__enter__",
           [](W& w) {
             w.acquire(true, std::nullopt);
             return true;
           })
      .def("__exit__",
           [](W& w, py::handle, py::handle, py::handle) {
             w.release();
             return false;
           })
      .def(
          "make_consistent", [](W& w) { w.get().make_consistent(); },
          "After shoal.OwnerDied: marks the protected data as repaired. The "
          "caller must hold the lock.")
      .def_property_readonly(
          "inconsistent", [](W& w) { return w.get().inconsistent(); },
          "True while a dead holder's state is unrepaired.")
      .def(
          "locked", [](W& w) { return w.get().locked(); },
          "Some thread of some process holds it (a snapshot).")
      .def(
          "_is_owned", [](W& w) { return w.get().is_owned(); },
          "The calling thread holds it.")
      .def("__reduce__", &Reduce<W>)
      .def("__repr__", [cls](W& w) {
        return std::string("<shoal.") + cls +
               (w.get().locked() ? " locked>" : " unlocked>");
      });
}

template <class C, class W>
void AddSemaphoreMethods(C& c, const char* cls) {
  c.def("acquire", &W::acquire, py::arg("block") = true,
        py::arg("timeout") = py::none(),
        "acquire(block=True, timeout=None) -> bool: decrements the count, "
        "waiting while it is zero; False at the deadline.")
      .def("release", &W::release, py::arg("n") = 1,
           "release(n=1): adds n and wakes up to n waiters.")
      .def("get_value", &W::get_value, "The count now (a snapshot).")
      .def("__enter__",
           [](W& w) {
             w.acquire(true, std::nullopt);
             return true;
           })
      .def("__exit__",
           [](W& w, py::handle, py::handle, py::handle) {
             w.release(1);
             return false;
           })
      .def("__reduce__", &Reduce<W>)
      .def("__repr__", [cls](W& w) {
        return std::string("<shoal.") + cls +
               " value=" + std::to_string(w.get_value()) + ">";
      });
}

py::object Rebuild(int kind, py::bytes ref_bytes, py::object extra) {
  const RegionRef ref = RefFromBytes(ref_bytes);
  auto open = [&](auto t, Kind k) {
    using T = typename decltype(t)::type;
    return RefOf(Shared<T>::Open(ref), k);
  };
  switch (static_cast<Kind>(kind)) {
    case Kind::kLock:
      return py::cast(new PyLock(open(std::type_identity<Lock>{}, Kind::kLock)),
                      py::return_value_policy::take_ownership);
    case Kind::kRLock:
      return py::cast(
          new PyRLock(open(std::type_identity<RLock>{}, Kind::kRLock)),
          py::return_value_policy::take_ownership);
    case Kind::kSemaphore:
      return py::cast(new PySemaphore(open(std::type_identity<Semaphore>{},
                                           Kind::kSemaphore)),
                      py::return_value_policy::take_ownership);
    case Kind::kBoundedSemaphore:
      return py::cast(
          new PyBoundedSemaphore(open(std::type_identity<BoundedSemaphore>{},
                                      Kind::kBoundedSemaphore)),
          py::return_value_policy::take_ownership);
    case Kind::kEvent:
      return py::cast(
          new PyEvent(open(std::type_identity<Event>{}, Kind::kEvent)),
          py::return_value_policy::take_ownership);
    case Kind::kCondition:
      return py::cast(new PyCondition(open(std::type_identity<Condition>{},
                                           Kind::kCondition)),
                      py::return_value_policy::take_ownership);
    case Kind::kBarrier: {
      py::tuple t = extra.cast<py::tuple>();
      return py::cast(
          new PyBarrier(open(std::type_identity<Barrier>{}, Kind::kBarrier),
                        t[0], t[1].cast<std::optional<double>>()),
          py::return_value_policy::take_ownership);
    }
  }
  Raise(PyExc_ValueError, "not a pickled shoal primitive");
}

}  // namespace

void RegisterSync(py::module_& m) {
  // ---- Lock, RLock
  py::class_<PyLock> lock(
      m, "Lock",
      "Lock(*, name=None)\n\n"
      "multiprocessing.Lock that survives its holder's death: when a "
      "process dies holding it, the next acquirer gets shoal.OwnerDied and "
      "holds the lock. Only the holding thread may release it. C++: "
      "shoal::Shared<shoal::Lock> (open by name with "
      "Shared<Lock>::Open(name)).");
  lock.def(py::init([](std::optional<std::string> name) {
             return new PyLock(Make<Lock>(Kind::kLock, name));
           }),
           py::kw_only(), py::arg("name") = py::none())
      .def_static(
          "open",
          [](const std::string& name) {
            return new PyLock(OpenNamed<Lock>(Kind::kLock, name));
          },
          py::arg("name"), "The named Lock another process created.");
  AddLockMethods<decltype(lock), PyLock>(lock, "Lock");

  py::class_<PyRLock> rlock(
      m, "RLock",
      "RLock(*, name=None)\n\n"
      "multiprocessing.RLock: reentrant for the holding thread; survives "
      "its holder's death like Lock.");
  rlock
      .def(py::init([](std::optional<std::string> name) {
             return new PyRLock(Make<RLock>(Kind::kRLock, name));
           }),
           py::kw_only(), py::arg("name") = py::none())
      .def_static(
          "open",
          [](const std::string& name) {
            return new PyRLock(OpenNamed<RLock>(Kind::kRLock, name));
          },
          py::arg("name"), "The named RLock another process created.")
      .def(
          "_recursion_count",
          [](PyRLock& w) { return w.get().recursion_count(); },
          "How many times the calling thread holds it.");
  AddLockMethods<decltype(rlock), PyRLock>(rlock, "RLock");

  // ---- Semaphore, BoundedSemaphore
  py::class_<PySemaphore> sem(
      m, "Semaphore",
      "Semaphore(value=1, *, name=None)\n\n"
      "multiprocessing.Semaphore: a count; acquire() waits while it is "
      "zero. No owner: any process may release.");
  sem.def(py::init([](uint32_t value, std::optional<std::string> name) {
            return new PySemaphore(Make<Semaphore>(Kind::kSemaphore, name, value));
          }),
          py::arg("value") = 1, py::kw_only(), py::arg("name") = py::none())
      .def_static(
          "open",
          [](const std::string& name) {
            return new PySemaphore(OpenNamed<Semaphore>(Kind::kSemaphore, name));
          },
          py::arg("name"), "The named Semaphore another process created.");
  AddSemaphoreMethods<decltype(sem), PySemaphore>(sem, "Semaphore");

  py::class_<PyBoundedSemaphore> bsem(
      m, "BoundedSemaphore",
      "BoundedSemaphore(value=1, *, name=None)\n\n"
      "multiprocessing.BoundedSemaphore: release() beyond the initial value "
      "raises shoal.ValueError and changes nothing.");
  bsem.def(py::init([](uint32_t value, std::optional<std::string> name) {
             return new PyBoundedSemaphore(
                 Make<BoundedSemaphore>(Kind::kBoundedSemaphore, name, value));
           }),
           py::arg("value") = 1, py::kw_only(), py::arg("name") = py::none())
      .def_static(
          "open",
          [](const std::string& name) {
            return new PyBoundedSemaphore(
                OpenNamed<BoundedSemaphore>(Kind::kBoundedSemaphore, name));
          },
          py::arg("name"),
          "The named BoundedSemaphore another process created.")
      .def_property_readonly(
          "bound", [](PyBoundedSemaphore& s) { return s.get().bound(); },
          "The initial value, which is also the bound.");
  AddSemaphoreMethods<decltype(bsem), PyBoundedSemaphore>(bsem,
                                                          "BoundedSemaphore");

  // ---- Event
  py::class_<PyEvent>(
      m, "Event",
      "Event(*, name=None)\n\n"
      "multiprocessing.Event: a flag processes wait for.")
      .def(py::init([](std::optional<std::string> name) {
             return new PyEvent(Make<Event>(Kind::kEvent, name));
           }),
           py::kw_only(), py::arg("name") = py::none())
      .def_static(
          "open",
          [](const std::string& name) {
            return new PyEvent(OpenNamed<Event>(Kind::kEvent, name));
          },
          py::arg("name"), "The named Event another process created.")
      .def(
          "is_set", [](PyEvent& e) { return e.get().is_set(); },
          "True iff the flag is set.")
      .def(
          "set", [](PyEvent& e) { e.get().set(); },
          "Sets the flag and wakes every waiter.")
      .def(
          "clear", [](PyEvent& e) { e.get().clear(); }, "Clears the flag.")
      .def("wait", &PyEvent::wait, py::arg("timeout") = py::none(),
           "wait(timeout=None) -> bool: True once the flag is set (or was "
           "set while waiting), False at the deadline.")
      .def("__reduce__", &Reduce<PyEvent>)
      .def("__repr__", [](PyEvent& e) {
        return std::string("<shoal.Event ") +
               (e.get().is_set() ? "set>" : "unset>");
      });

  // ---- Condition
  py::class_<PyCondition>(
      m, "Condition",
      "Condition(lock=None, *, name=None)\n\n"
      "multiprocessing.Condition with its own lock (a shoal Lock, not an "
      "RLock; `lock` must be None). wait() releases the lock, waits for a "
      "notify, and re-acquires it; notify(n) wakes exactly min(n, waiting) "
      "waiters.")
      .def(py::init([](py::object lock, std::optional<std::string> name) {
             if (!lock.is_none()) {
               Raise(PyExc_TypeError,
                     "shoal.Condition has its own lock: pass lock=None (a "
                     "separate lock cannot be referenced from shared memory)");
             }
             return new PyCondition(Make<Condition>(Kind::kCondition, name));
           }),
           py::arg("lock") = py::none(), py::kw_only(),
           py::arg("name") = py::none())
      .def_static(
          "open",
          [](const std::string& name) {
            return new PyCondition(OpenNamed<Condition>(Kind::kCondition, name));
          },
          py::arg("name"), "The named Condition another process created.")
      .def("acquire", &PyCondition::acquire, py::arg("block") = true,
           py::arg("timeout") = py::none(), "Acquires the lock (as Lock).")
      .def(
          "release", [](PyCondition& c) { c.get().release(); },
          "Releases the lock.")
      .def("__enter__",
           [](PyCondition& c) {
             return c.acquire(true, std::nullopt);
           })
      .def("__exit__",
           [](PyCondition& c, py::handle, py::handle, py::handle) {
             c.get().release();
             return false;
           })
      .def("wait", &PyCondition::wait, py::arg("timeout") = py::none(),
           "wait(timeout=None) -> bool: the caller holds the lock; releases "
           "it, waits for a notify (True) or the deadline (False), and "
           "re-acquires it.")
      .def("wait_for", &PyCondition::wait_for, py::arg("predicate"),
           py::arg("timeout") = py::none(),
           "wait_for(predicate, timeout=None): waits until predicate() "
           "(called with the lock held) is true or the deadline passes; "
           "returns its last value.")
      .def(
          "notify", [](PyCondition& c, uint32_t n) { c.get().notify(n); },
          py::arg("n") = 1,
          "Wakes exactly min(n, waiting) waiters; the caller holds the lock.")
      .def(
          "notify_all", [](PyCondition& c) { c.get().notify_all(); },
          "Wakes every waiter; the caller holds the lock.")
      .def(
          "make_consistent",
          [](PyCondition& c) { c.get().make_consistent(); },
          "After shoal.OwnerDied: marks the protected data as repaired.")
      .def(
          "get_lock",
          [](PyCondition& c) {
            SyncRef<Lock> r;
            r.keep = c.keep();
            r.obj = &c.get().get_lock();
            return new PyLock(std::move(r));
          },
          "The Condition's own lock, as a shoal.Lock (not picklable: pickle "
          "the Condition).")
      .def("__reduce__", &Reduce<PyCondition>)
      .def("__repr__", [](PyCondition& c) {
        return "<shoal.Condition waiting=" +
               std::to_string(c.get().waiting()) + ">";
      });

  // ---- Barrier
  py::class_<PyBarrier>(
      m, "Barrier",
      "Barrier(parties, action=None, timeout=None, *, name=None)\n\n"
      "multiprocessing.Barrier: each of `parties` processes calls wait(); "
      "all are released when the last arrives. `action` runs in the last "
      "arriving process before the others are released (each process's "
      "own copy of it: pass the same callable everywhere). A timeout, "
      "abort(), or a KeyboardInterrupt in a waiter breaks the barrier: the "
      "others get shoal.BrokenBarrierError (a "
      "threading.BrokenBarrierError).")
      .def(py::init([](uint32_t parties, py::object action,
                       std::optional<double> timeout,
                       std::optional<std::string> name) {
             return new PyBarrier(Make<Barrier>(Kind::kBarrier, name, parties),
                                  std::move(action), timeout);
           }),
           py::arg("parties"), py::arg("action") = py::none(),
           py::arg("timeout") = py::none(), py::kw_only(),
           py::arg("name") = py::none())
      .def_static(
          "open",
          [](const std::string& name, py::object action,
             std::optional<double> timeout) {
            return new PyBarrier(OpenNamed<Barrier>(Kind::kBarrier, name),
                                 std::move(action), timeout);
          },
          py::arg("name"), py::arg("action") = py::none(),
          py::arg("timeout") = py::none(),
          "The named Barrier another process created.")
      .def("wait", &PyBarrier::wait, py::arg("timeout") = py::none(),
           "wait(timeout=None) -> int: waits for every party; returns this "
           "caller's arrival index (0 .. parties-1).")
      .def(
          "reset", [](PyBarrier& b) { b.get().reset(); },
          "Back to the empty, unbroken state (waiters get "
          "BrokenBarrierError).")
      .def(
          "abort", [](PyBarrier& b) { b.get().abort(); },
          "Breaks the barrier until reset().")
      .def_property_readonly("parties",
                             [](PyBarrier& b) { return b.get().parties(); })
      .def_property_readonly("n_waiting",
                             [](PyBarrier& b) { return b.get().n_waiting(); })
      .def_property_readonly("broken",
                             [](PyBarrier& b) { return b.get().broken(); })
      .def("__reduce__",
           [](PyBarrier& b) {
             py::tuple t = Reduce(b);
             py::tuple args = t[1];
             return py::make_tuple(
                 t[0], py::make_tuple(args[0], args[1], args[2],
                                      py::make_tuple(b.action(), b.timeout())));
           })
      .def("__repr__", [](PyBarrier& b) {
        return "<shoal.Barrier parties=" + std::to_string(b.get().parties()) +
               " n_waiting=" + std::to_string(b.get().n_waiting()) +
               (b.get().broken() ? " broken>" : ">");
      });

  m.def("_rebuild_sync", &Rebuild, py::arg("kind"), py::arg("ref"),
        py::arg("extra") = py::none());
}

}  // namespace shoal::python
