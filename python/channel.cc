// Copyright 2026 The shoal Authors.
//
// channel.cc: shoal.Channel / shoal.FloatChannel, numpy blocks in shared
// memory, zero-copy both ways.
//
// A Python Channel of dtype D is the C++ Channel<T> for D's C++ type
// (dtypes.h): the same region layout, so either end may be C++ or Python.
//
//   writer                                   reader
//   w = ch.loan(n)  # numpy view, writable   a = ch.receive()  # read-only
//   w.array[:] = ...                         a.sum()           # view
//   w.publish()     # readers see it         del a  # block back to writers
//
// Leases. receive() returns an array whose base is a small block object
// holding the C++ View: the block stays leased while the array or any view
// derived from it lives, and goes back to the writers when the last one is
// collected.
// A Loan's arrays have the Loan as base; an unpublished Loan that is
// collected gives its block back unseen (C++ Loan semantics). After
// publish() the Loan's array is made read-only: the block now belongs to a
// reader.
//
// Cost. One Python object per block on each side (the Loan, the block
// object) with the C++ Loan/View built inside it (InlineHandle: no heap
// allocation of its own), plus the numpy array.
//
// Fork. A child forked while this process holds a loan or a received block
// inherits the objects but not the block: collecting them there gives
// nothing back (the parent still does), and publishing a parent's loan
// raises ValueError. Without this the block would be given back twice.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <utility>

#include "python/common.h"
#include "python/dtypes.h"
#include "python/errors.h"
#include "python/fastcall.h"
#include "python/module.h"
#include "python/ndarray.h"
#include "python/wait.h"
#include "shoal/base/errors.h"
#include "shoal/base/internal/process_liveness.h"
#include "shoal/ipc/channel.h"

namespace shoal::python {
namespace {

class LoanIface {
 public:
  virtual ~LoanIface() = default;  // unpublished: given back unseen
  virtual void* data() = 0;
  virtual std::size_t size() const = 0;
  virtual void publish(std::size_t n) = 0;
};

class ViewIface {
 public:
  virtual ~ViewIface() = default;  // releases the block
  virtual const void* data() const = 0;
  virtual std::size_t size() const = 0;
};

// Room for a LoanIface / ViewIface implementation inside the object that
// owns it (a Python Loan or block object, or a local), so that handing a
// block over allocates nothing but the Python objects themselves.
inline constexpr std::size_t kHandleRoom = 64;

template <class Iface>
class InlineHandle {
 public:
  InlineHandle() = default;
  ~InlineHandle() { reset(); }
  InlineHandle(const InlineHandle&) = delete;
  InlineHandle& operator=(const InlineHandle&) = delete;

  Iface* operator->() const { return p_; }
  explicit operator bool() const { return p_ != nullptr; }
  // Where ChannelIface builds the handle; set() records what it built.
  void* room() { return room_; }
  void set(Iface* p) { p_ = p; }
  // Destroys the handle: an unpublished loan is given back unseen, a view
  // released.
  void reset() {
    if (Iface* p = std::exchange(p_, nullptr)) p->~Iface();
  }
  // Drops the handle without destroying it: a forked child's copy of its
  // parent's block, which only the parent gives back.
  void forget() { p_ = nullptr; }

 private:
  alignas(std::max_align_t) unsigned char room_[kHandleRoom];
  Iface* p_ = nullptr;
};

class ChannelIface {
 public:
  virtual ~ChannelIface() = default;
  // Builds the loan in `room` (InlineHandle::room()); nullptr: timed out.
  // Throws Closed (closed) and ValueError (n too big).
  virtual LoanIface* LoanInto(void* room, std::size_t n,
                              const Deadline& d) = 0;
  // Builds the view in `room`; nullptr: timed out. Throws Closed once
  // closed and drained.
  virtual ViewIface* ReceiveInto(void* room, const Deadline& d) = 0;
  virtual std::size_t qsize() const = 0;
  virtual std::size_t max_elements() const = 0;
  virtual uint32_t slots() const = 0;
  virtual void close() = 0;
  virtual bool closed() const = 0;
  virtual uint64_t lost() const = 0;
  virtual const Region& region() const = 0;
  virtual std::size_t itemsize() const = 0;
};

template <class T>
class ChannelImpl final : public ChannelIface {
  using C = Channel<T>;

  class LoanImpl final : public LoanIface {
   public:
    explicit LoanImpl(typename C::Loan l) : l_(std::move(l)) {}
    void* data() override { return l_.data(); }
    std::size_t size() const override { return l_.size(); }
    void publish(std::size_t n) override { l_.publish(n); }

   private:
    typename C::Loan l_;
  };

  class ViewImpl final : public ViewIface {
   public:
    explicit ViewImpl(typename C::View v) : v_(std::move(v)) {}
    const void* data() const override { return v_.data(); }
    std::size_t size() const override { return v_.size(); }

   private:
    typename C::View v_;
  };

 public:
  explicit ChannelImpl(C c) : c_(std::move(c)) {}

  static_assert(sizeof(LoanImpl) <= kHandleRoom &&
                alignof(LoanImpl) <= alignof(std::max_align_t));
  static_assert(sizeof(ViewImpl) <= kHandleRoom &&
                alignof(ViewImpl) <= alignof(std::max_align_t));

  LoanIface* LoanInto(void* room, std::size_t n, const Deadline& d) override {
    std::optional<typename C::Loan> l = c_.try_loan(n, d);
    if (!l) {
      if (c_.closed()) throw Closed("Channel.loan: the channel is closed");
      return nullptr;
    }
    return new (room) LoanImpl(std::move(*l));
  }
  ViewIface* ReceiveInto(void* room, const Deadline& d) override {
    std::optional<typename C::View> v = c_.try_receive(d);
    if (!v && c_.closed()) {
      // Closed: one more look, for a block published before the close.
      v = c_.try_receive(Deadline::Now());
      if (!v) throw Closed("Channel.receive: the channel is closed and drained");
    }
    if (!v) return nullptr;
    return new (room) ViewImpl(std::move(*v));
  }
  std::size_t qsize() const override { return c_.qsize(); }
  std::size_t max_elements() const override { return c_.max_elements(); }
  uint32_t slots() const override { return c_.slots(); }
  void close() override { c_.close(); }
  bool closed() const override { return c_.closed(); }
  uint64_t lost() const override { return c_.lost(); }
  const Region& region() const override { return c_.region(); }
  std::size_t itemsize() const override { return sizeof(T); }

 private:
  mutable C c_;
};

std::shared_ptr<ChannelIface> CreateChannel(char code, std::size_t max_elements,
                                            const ChannelOptions& o) {
  return WithType(code, "Channel", false, [&](auto t) -> std::shared_ptr<ChannelIface> {
    using T = typename decltype(t)::type;
    return std::make_shared<ChannelImpl<T>>(Channel<T>(max_elements, o));
  });
}

template <class Key>
std::shared_ptr<ChannelIface> OpenChannel(char code, const Key& key) {
  return WithType(code, "Channel", false, [&](auto t) -> std::shared_ptr<ChannelIface> {
    using T = typename decltype(t)::type;
    return std::make_shared<ChannelImpl<T>>(Channel<T>::Open(key));
  });
}

// ------------------------------------------------------------- Loan
// A block loaned to this process: a plain CPython object (not a pybind11
// class), because one is made per block and pybind11's instance
// bookkeeping would cost more than the loan itself. Its arrays have it as
// `base`; it refers to its array weakly (no cycle).

struct LoanObject {
  PyObject_HEAD
  PyObject* owner;   // the Python Channel: keeps the mapping while arrays live
  ChannelIface* ch;  // owner's channel
  InlineHandle<LoanIface> loan;  // empty once published or abandoned
  char code;
  void* data;
  std::size_t size;
  PyObject* array_ref;  // a weakref to the array, or null
  pid_t pid;  // the process the block is loaned to (internal::CachedPid():
              // getpid() is a system call, and one per block showed)
};

PyTypeObject* g_loan_type = nullptr;

LoanObject* AsLoan(PyObject* o) { return reinterpret_cast<LoanObject*>(o); }

// An empty Loan of channel `owner` (a Python Channel holding `ch`): the
// loan is then claimed straight into it, and data/size set.
py::object NewLoan(PyObject* owner, ChannelIface* ch, char code) {
  PyObject* o = g_loan_type->tp_alloc(g_loan_type, 0);
  if (o == nullptr) throw py::error_already_set();
  LoanObject* l = AsLoan(o);
  Py_INCREF(owner);
  l->owner = owner;
  l->ch = ch;
  new (&l->loan) InlineHandle<LoanIface>();
  l->code = code;
  l->data = nullptr;
  l->size = 0;
  l->array_ref = nullptr;
  l->pid = internal::CachedPid();
  return py::reinterpret_steal<py::object>(o);
}

void LoanDealloc(PyObject* o) {
  LoanObject* l = AsLoan(o);
  if (l->pid != internal::CachedPid()) {
    l->loan.forget();  // a forked child's copy: the parent's block
  }
  l->loan.~InlineHandle();  // unpublished: given back unseen
  Py_XDECREF(l->owner);
  Py_XDECREF(l->array_ref);
  PyTypeObject* type = Py_TYPE(o);
  type->tp_free(o);
  Py_DECREF(type);
}

// The loan's numpy array (the same one while it lives).
py::object LoanArray(PyObject* self) {
  LoanObject* l = AsLoan(self);
  if (l->array_ref != nullptr) {
    PyObject* a = PyWeakref_GetObject(l->array_ref);
    if (a != Py_None) return py::reinterpret_borrow<py::object>(a);
    Py_CLEAR(l->array_ref);
  }
  py::object a = ArrayView(l->code, l->data, l->size, bool(l->loan),
                           self);
  l->array_ref = PyWeakref_NewRef(a.ptr(), nullptr);
  if (l->array_ref == nullptr) throw py::error_already_set();
  return a;
}

void LoanFreeze(LoanObject* l) {
  if (l->array_ref == nullptr) return;
  PyObject* a = PyWeakref_GetObject(l->array_ref);
  if (a != Py_None) SetReadOnly(a);
}

void LoanPublish(PyObject* self, std::optional<std::size_t> n) {
  LoanObject* l = AsLoan(self);
  if (!l->loan) {
    Raise(Errors().value, "Loan.publish: already published or abandoned");
  }
  if (l->pid != internal::CachedPid()) {
    Raise(Errors().value,
          "Loan.publish: the block is loaned to process " +
              std::to_string(l->pid) + ", which forked this one");
  }
  l->loan->publish(n.value_or(l->size));
  l->loan.reset();
  LoanFreeze(l);
}

void LoanAbandon(PyObject* self) {
  LoanObject* l = AsLoan(self);
  if (l->pid != internal::CachedPid()) l->loan.forget();  // the parent's block
  l->loan.reset();  // given back unseen
  LoanFreeze(l);
}

PyObject* LoanArrayGet(PyObject* self, void*) {
  return Guarded([&] { return LoanArray(self); });
}

PyObject* LoanActiveGet(PyObject* self, void*) {
  return PyBool_FromLong(bool(AsLoan(self)->loan));
}

PyObject* LoanPublishMethod(PyObject* self, PyObject* const* args,
                            Py_ssize_t nargs, PyObject* kwnames) {
  return Guarded([&] {
    PyObject* a[1] = {Py_None};
    ParseArgs("publish", args, nargs, kwnames, {"n"}, 0, a);
    std::optional<std::size_t> n;
    if (a[0] != Py_None) n = py::handle(a[0]).cast<std::size_t>();
    LoanPublish(self, n);
    return py::none();
  });
}

PyObject* LoanAbandonMethod(PyObject* self, PyObject*) {
  return Guarded([&] {
    LoanAbandon(self);
    return py::none();
  });
}

PyObject* LoanEnter(PyObject* self, PyObject*) {
  return Guarded([&] { return LoanArray(self); });
}

PyObject* LoanExit(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  return Guarded([&] {
    if (AsLoan(self)->loan) {
      if (nargs == 0 || args[0] == Py_None) {
        LoanPublish(self, std::nullopt);
      } else {
        LoanAbandon(self);
      }
    }
    return py::bool_(false);
  });
}

Py_ssize_t LoanLen(PyObject* self) {
  return static_cast<Py_ssize_t>(AsLoan(self)->size);
}

PyMethodDef kLoanMethods[] = {
    {"publish",
     reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(LoanPublishMethod)),
     METH_FASTCALL | METH_KEYWORDS,
     "publish(n=None)\n--\n\nMakes the first n elements (all by default) "
     "visible to one reader. The loan's array becomes read-only."},
    {"abandon", LoanAbandonMethod, METH_NOARGS,
     "abandon()\n--\n\nGives the block back unpublished: readers never "
     "see it (its slot is free again once a reader passes it)."},
    {"__enter__", LoanEnter, METH_NOARGS,
     "Returns the array; the block is published when the with-block ends "
     "normally, abandoned when it raises."},
    {"__exit__",
     reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(LoanExit)),
     METH_FASTCALL, nullptr},
    {nullptr, nullptr, 0, nullptr},
};

PyGetSetDef kLoanGetSet[] = {
    {"array", LoanArrayGet, nullptr,
     "The block as a writable 1-D numpy array in shared memory (read-only "
     "once published).",
     nullptr},
    {"active", LoanActiveGet, nullptr, "True until published or abandoned.",
     nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

void RegisterLoanType(py::module_& m) {
  static PyType_Slot slots[] = {
      {Py_tp_dealloc, reinterpret_cast<void*>(LoanDealloc)},
      {Py_tp_methods, kLoanMethods},
      {Py_tp_getset, kLoanGetSet},
      {Py_sq_length, reinterpret_cast<void*>(LoanLen)},
      {Py_tp_doc, const_cast<char*>(
                      "A block of a Channel loaned to this process: fill "
                      "`array` (a writable numpy view of shared memory), then "
                      "publish(). As a context manager it yields the array "
                      "and publishes on normal exit (abandons on an "
                      "exception). A Loan collected unpublished is given "
                      "back unseen.")},
      {0, nullptr},
  };
  static PyType_Spec spec = {"shoal.Loan", sizeof(LoanObject), 0,
                             Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
                             slots};
  PyObject* t = PyType_FromSpec(&spec);
  if (t == nullptr) throw py::error_already_set();
  g_loan_type = reinterpret_cast<PyTypeObject*>(t);
  m.add_object("Loan", py::reinterpret_steal<py::object>(t));
}

// A received block: the base of the arrays receive() returns. A plain
// CPython object for the same reason as Loan; it holds the C++ View, so
// the block is given back when the last array viewing it is collected.
struct BlockObject {
  PyObject_HEAD
  InlineHandle<ViewIface> view;
  pid_t pid;  // the process that received it
};

PyTypeObject* g_block_type = nullptr;

BlockObject* AsBlock(PyObject* o) { return reinterpret_cast<BlockObject*>(o); }

py::object NewBlock() {
  PyObject* o = g_block_type->tp_alloc(g_block_type, 0);
  if (o == nullptr) throw py::error_already_set();
  BlockObject* b = AsBlock(o);
  new (&b->view) InlineHandle<ViewIface>();
  b->pid = internal::CachedPid();
  return py::reinterpret_steal<py::object>(o);
}

void BlockDealloc(PyObject* o) {
  BlockObject* b = AsBlock(o);
  if (b->pid != internal::CachedPid()) {
    b->view.forget();  // a forked child's copy: the parent's block
  }
  b->view.~InlineHandle();  // releases the block
  PyTypeObject* type = Py_TYPE(o);
  type->tp_free(o);
  Py_DECREF(type);
}

void RegisterBlockType(py::module_& m) {
  static PyType_Slot slots[] = {
      {Py_tp_dealloc, reinterpret_cast<void*>(BlockDealloc)},
      {Py_tp_doc, const_cast<char*>(
                      "A block received from a Channel, leased to this "
                      "process: the base of the arrays Channel.receive() "
                      "returns. The block goes back to the writers when the "
                      "last array viewing it is garbage-collected.")},
      {0, nullptr},
  };
  static PyType_Spec spec = {"shoal.ChannelBlock", sizeof(BlockObject), 0,
                             Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
                             slots};
  PyObject* t = PyType_FromSpec(&spec);
  if (t == nullptr) throw py::error_already_set();
  g_block_type = reinterpret_cast<PyTypeObject*>(t);
  m.add_object("ChannelBlock", py::reinterpret_steal<py::object>(t));
}

class PyChannel {
 public:
  // `max_elements`: what the creator asked for (0: what the region says).
  // A handle opened from the region alone sees the block's whole capacity,
  // which may be rounded up (a slot is a multiple of 64 bytes); the one
  // asked for travels in pickles so that every process loans the same.
  PyChannel(std::shared_ptr<ChannelIface> ch, char code,
            std::size_t max_elements = 0)
      : ch_(std::move(ch)), code_(code),
        max_(max_elements != 0 && max_elements < ch_->max_elements()
                 ? max_elements
                 : ch_->max_elements()) {}

  // `self`: this channel's Python object (the Loan keeps it alive).
  py::object loan(PyObject* self, std::optional<std::size_t> n,
                  std::optional<double> timeout) {
    const std::size_t count = n.value_or(max_);
    CheckSize(count, "Channel.loan");
    py::object out = NewLoan(self, ch_.get(), code_);
    LoanObject* l = AsLoan(out.ptr());
    const bool done = WaitInSlices(
        DeadlineFrom(timeout), [&](const Deadline& d, bool) {
          l->loan.set(ch_->LoanInto(l->loan.room(), count, d));
          return bool(l->loan);
        });
    if (!done) {
      Raise(Errors().timeout,
            "Channel.loan: every slot still in use at the deadline");
    }
    l->data = l->loan->data();
    l->size = l->loan->size();
    return out;
  }

  void publish(py::handle array, std::optional<std::size_t> n) {
    py::object base = array.attr("base");
    if (!PyObject_TypeCheck(base.ptr(), g_loan_type) ||
        AsLoan(base.ptr())->ch != ch_.get()) {
      Raise(PyExc_ValueError,
            "Channel.publish: the array is not a loan of this channel "
            "(publish the array loan(n).array returned, or call "
            "Loan.publish())");
    }
    LoanPublish(base.ptr(), n);
  }

  py::object receive(std::optional<double> timeout) {
    py::object block = NewBlock();
    InlineHandle<ViewIface>& v = AsBlock(block.ptr())->view;
    Take(timeout, "Channel.receive", v);
    return ArrayView(code_, const_cast<void*>(v->data()), v->size(),
                     /*writable=*/false, block);
  }

  py::object recv(std::optional<double> timeout) {
    InlineHandle<ViewIface> v;
    Take(timeout, "Channel.recv", v);
    py::object out = NewArray(code_, v->size());
    const std::size_t bytes = v->size() * ch_->itemsize();
    if (bytes) {
      py::gil_scoped_release release;
      std::memcpy(ArrayData(out), v->data(), bytes);
    }
    return out;
  }

  void send(py::handle obj, std::optional<double> timeout) {
    py::object arr = ContiguousOf(code_, obj, "Channel.send");
    const std::size_t n = ArraySize(arr);
    CheckSize(n, "Channel.send");
    InlineHandle<LoanIface> l;
    const bool done = WaitInSlices(
        DeadlineFrom(timeout), [&](const Deadline& d, bool) {
          l.set(ch_->LoanInto(l.room(), n, d));
          return bool(l);
        });
    if (!done) {
      Raise(Errors().timeout,
            "Channel.send: every slot still in use at the deadline");
    }
    const std::size_t bytes = n * ch_->itemsize();
    const void* src = ArrayData(arr);
    if (bytes > (64 << 10)) {
      py::gil_scoped_release release;
      std::memcpy(l->data(), src, bytes);
    } else if (bytes) {
      std::memcpy(l->data(), src, bytes);
    }
    l->publish(n);
  }

  std::size_t qsize() const { return ch_->qsize(); }
  std::size_t max_elements() const { return max_; }
  uint32_t slots() const { return ch_->slots(); }
  void close() { ch_->close(); }
  bool closed() const { return ch_->closed(); }
  uint64_t lost() const { return ch_->lost(); }
  py::object name() const { return NameOf(ch_->region()); }
  py::object dtype() const { return DtypeOf(code_); }
  char code() const { return code_; }

  std::string repr(const char* cls) const {
    std::string s = std::string("<shoal.") + cls + " dtype=" +
                    py::str(dtype()).cast<std::string>();
    py::object n = name();
    if (!n.is_none()) s += " name='" + n.cast<std::string>() + "'";
    s += " max_elements=" + std::to_string(max_elements()) +
         " slots=" + std::to_string(slots()) +
         " qsize=" + std::to_string(qsize());
    if (closed()) s += " closed";
    return s + ">";
  }

  py::tuple reduce() const {
    return py::make_tuple(py::module_::import("shoal").attr("_rebuild"),
                          py::make_tuple("_rebuild_channel", std::string(1, code_),
                                         RefToBytes(ch_->region().ref()), max_));
  }

 private:
  void CheckSize(std::size_t n, const char* what) const {
    if (n > max_) {
      Raise(Errors().value, std::string(what) + ": " + std::to_string(n) +
                                " elements exceed the block size of " +
                                std::to_string(max_));
    }
  }

  // Receives the next block into `v`.
  void Take(std::optional<double> timeout, const char* what,
            InlineHandle<ViewIface>& v) {
    const bool done = WaitInSlices(
        DeadlineFrom(timeout), [&](const Deadline& d, bool) {
          v.set(ch_->ReceiveInto(v.room(), d));
          return bool(v);
        });
    if (!done) {
      Raise(Errors().timeout,
            std::string(what) + ": nothing published before the deadline");
    }
  }

  std::shared_ptr<ChannelIface> ch_;
  char code_;
  std::size_t max_;
};

struct PyFloatChannel : PyChannel {
  using PyChannel::PyChannel;
};

// loan() and receive() through METH_FASTCALL (fastcall.h): one of each per
// block.
PyObject* FastLoan(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                   PyObject* kwnames) {
  return Guarded([&] {
    PyObject* a[2] = {Py_None, Py_None};
    ParseArgs("loan", args, nargs, kwnames, {"n", "timeout"}, 0, a);
    std::optional<std::size_t> n;
    if (a[0] != Py_None) n = py::handle(a[0]).cast<std::size_t>();
    return SelfAs<PyChannel>(self)->loan(self, n, TimeoutArg(a[1]));
  });
}

PyObject* FastReceive(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                      PyObject* kwnames) {
  return Guarded([&] {
    PyObject* a[1] = {Py_None};
    ParseArgs("receive", args, nargs, kwnames, {"timeout"}, 0, a);
    return SelfAs<PyChannel>(self)->receive(TimeoutArg(a[0]));
  });
}

PyMethodDef kChannelFast[] = {
    {"loan", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(FastLoan)),
     METH_FASTCALL | METH_KEYWORDS,
     "loan(n=None, timeout=None)\n--\n\n"
     "-> Loan: claims a free block for n elements (default max_elements), "
     "blocking while every slot is in use (shoal.TimeoutError after timeout "
     "seconds)."},
    {"receive",
     reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(FastReceive)),
     METH_FASTCALL | METH_KEYWORDS,
     "receive(timeout=None)\n--\n\n"
     "-> numpy array: the next published block, read-only, viewed in place; "
     "leased until the array and every view of it are garbage-collected "
     "(shoal.TimeoutError after timeout seconds)."},
};

ChannelOptions ChannelOptionsFor(uint32_t slots,
                                 const std::optional<std::string>& name,
                                 bool close_when_writers_gone) {
  ChannelOptions o;
  o.slots = slots;
  o.region = RegionFor(name);
  o.close_when_writers_gone = close_when_writers_gone;
  return o;
}

constexpr char kChannelDoc[] = R"doc(Channel(dtype, max_elements, *, slots=2, name=None, close_when_writers_gone=False)

Blocks of up to max_elements numpy elements of `dtype`, handed between
processes through shared memory: a ring of `slots` blocks. The same region
as C++ shoal::Channel<T> (T: the dtype's C++ type, e.g. float64 = double),
so either end may be C++.

Zero copy:
    with ch.loan(n) as a:      # a: writable numpy array IN shared memory
        a[:] = ...             # published when the block ends
    a = ch.receive()           # read-only numpy view of the block; the
    a.sum()                    # block is leased until `a` and every view
    del a                      # of it are garbage-collected
Copying: ch.send(array) (one copy in), ch.recv() (one copy out, a new
writable array).

Blocks are 1-D; send() flattens in C order. Timeouts raise shoal.TimeoutError
(a TimeoutError); after close() writers get shoal.Closed, readers drain, then
get shoal.Closed. A process killed while holding a loan or a received block
costs that one block: the others reclaim it (lost counts it).
)doc";

}  // namespace

void RegisterChannels(py::module_& m) {
  RegisterLoanType(m);
  RegisterBlockType(m);

  py::class_<PyChannel> ch(m, "Channel", kChannelDoc);
  ch.def(py::init([](py::handle dtype, std::size_t max_elements,
                     uint32_t slots, std::optional<std::string> name,
                     bool close_when_writers_gone) {
           const char code = CodeOfDtype(dtype);
           return new PyChannel(
               CreateChannel(code, max_elements,
                             ChannelOptionsFor(slots, name,
                                               close_when_writers_gone)),
               code);
         }),
         py::arg("dtype"), py::arg("max_elements"), py::kw_only(),
         py::arg("slots") = 2, py::arg("name") = py::none(),
         py::arg("close_when_writers_gone") = false);
  ch.def_static(
      "open",
      [](const std::string& name, py::handle dtype) {
        const char code = CodeOfDtype(dtype);
        return new PyChannel(OpenChannel(code, std::string_view(name)), code);
      },
      py::arg("name"), py::arg("dtype"),
      "Channel.open(name, dtype): the named channel another process "
      "created (Python, or C++ Channel<T> with RegionKind::kNamed). A dtype "
      "that does not match raises shoal.InvalidRegion naming both types.");
  for (PyMethodDef& def : kChannelFast) AddFastMethod(ch, &def);
  ch.def("publish", &PyChannel::publish, py::arg("array"),
           py::arg("n") = py::none(),
           "publish(array, n=None): publishes the loan `array` belongs to "
           "(the same as loan.publish(n)).")
      .def("recv", &PyChannel::recv, py::arg("timeout") = py::none(),
           "recv(timeout=None) -> numpy array: the next block, copied into a "
           "new writable array; the block goes back at once.")
      .def("send", &PyChannel::send, py::arg("array"),
           py::arg("timeout") = py::none(),
           "send(array, timeout=None): copies array (exactly this dtype, at "
           "most max_elements elements, flattened in C order) into a block "
           "and publishes it.")
      .def("qsize", &PyChannel::qsize, "Published blocks not yet received.")
      .def("close", &PyChannel::close,
           "Closes the channel for every process (writers get shoal.Closed; "
           "readers drain, then get shoal.Closed).")
      .def_property_readonly("closed", &PyChannel::closed)
      .def_property_readonly("lost", &PyChannel::lost,
                             "Blocks lost because the process holding them "
                             "died.")
      .def_property_readonly("max_elements", &PyChannel::max_elements)
      .def_property_readonly("slots", &PyChannel::slots)
      .def_property_readonly("dtype", &PyChannel::dtype)
      .def_property_readonly("name", &PyChannel::name)
      .def("__reduce__", &PyChannel::reduce)
      .def("__repr__", [](const PyChannel& c) { return c.repr("Channel"); });

  py::class_<PyFloatChannel, PyChannel>(
      m, "FloatChannel",
      "FloatChannel(max_elements, *, slots=2, name=None)\n\n"
      "Channel('float64', ...): the FloatChannel of the multiprocessing "
      "tour, zero-copy; C++ shoal::FloatChannel (Channel<double>).")
      .def(py::init([](std::size_t max_elements, uint32_t slots,
                       std::optional<std::string> name,
                       bool close_when_writers_gone) {
             return new PyFloatChannel(
                 CreateChannel('d', max_elements,
                               ChannelOptionsFor(slots, name,
                                                 close_when_writers_gone)),
                 'd');
           }),
           py::arg("max_elements"), py::kw_only(), py::arg("slots") = 2,
           py::arg("name") = py::none(),
           py::arg("close_when_writers_gone") = false)
      .def_static(
          "open",
          [](const std::string& name) {
            return new PyFloatChannel(OpenChannel('d', std::string_view(name)),
                                      'd');
          },
          py::arg("name"), "The named float64 channel another process created.")
      .def("__repr__",
           [](const PyChannel& c) { return c.repr("FloatChannel"); });

  m.def(
      "_rebuild_channel",
      [](const std::string& code, py::bytes ref, std::size_t max_elements) {
        if (code.size() != 1) Raise(PyExc_ValueError, "bad channel code");
        const RegionRef r = RefFromBytes(ref);
        return new PyChannel(OpenChannel(code[0], r), code[0], max_elements);
      },
      py::arg("code"), py::arg("ref"), py::arg("max_elements") = 0);
}

}  // namespace shoal::python
