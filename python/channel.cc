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
// Leases. receive() returns an array whose base is a capsule holding the
// C++ View: the block stays leased while the array or any view derived from
// it lives, and goes back to the writers when the last one is collected.
// A Loan's arrays have the Loan as base; an unpublished Loan that is
// collected gives its block back unseen (C++ Loan semantics). After
// publish() the Loan's array is made read-only: the block now belongs to a
// reader.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "python/common.h"
#include "python/dtypes.h"
#include "python/errors.h"
#include "python/module.h"
#include "python/ndarray.h"
#include "python/wait.h"
#include "shoal/base/errors.h"
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

class ChannelIface {
 public:
  virtual ~ChannelIface() = default;
  // nullptr: timed out. Throws Closed (closed) and ValueError (n too big).
  virtual std::unique_ptr<LoanIface> Loan(std::size_t n,
                                          const Deadline& d) = 0;
  // nullptr: timed out. Throws Closed once closed and drained.
  virtual std::unique_ptr<ViewIface> Receive(const Deadline& d) = 0;
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

  std::unique_ptr<LoanIface> Loan(std::size_t n, const Deadline& d) override {
    std::optional<typename C::Loan> l = c_.try_loan(n, d);
    if (!l) {
      if (c_.closed()) throw Closed("Channel.loan: the channel is closed");
      return nullptr;
    }
    return std::make_unique<LoanImpl>(std::move(*l));
  }
  std::unique_ptr<ViewIface> Receive(const Deadline& d) override {
    std::optional<typename C::View> v = c_.try_receive(d);
    if (!v && c_.closed()) {
      // Closed: one more look, for a block published before the close.
      v = c_.try_receive(Deadline::Now());
      if (!v) throw Closed("Channel.receive: the channel is closed and drained");
    }
    if (!v) return nullptr;
    return std::make_unique<ViewImpl>(std::move(*v));
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

class PyChannel;

// A block loaned to this process (Python's view of Channel::Loan).
class PyLoan {
 public:
  PyLoan(std::shared_ptr<ChannelIface> ch, std::unique_ptr<LoanIface> loan,
         char code)
      : ch_(std::move(ch)), loan_(std::move(loan)), code_(code),
        data_(loan_->data()), size_(loan_->size()) {}

  // The loan's numpy array (the same one while it lives).
  py::object array(py::handle self) {
    if (array_) {
      py::object a = array_();
      if (!a.is_none()) return a;
    }
    py::object a = ArrayView(code_, data_, size_, loan_ != nullptr, self);
    array_ = py::weakref(a);
    return a;
  }

  void publish(std::optional<std::size_t> n) {
    if (!loan_) {
      Raise(Errors().value, "Loan.publish: already published or abandoned");
    }
    loan_->publish(n.value_or(size_));
    loan_.reset();
    if (array_) {
      py::object a = array_();
      if (!a.is_none()) SetReadOnly(a);
    }
  }

  void abandon() {
    loan_.reset();  // given back unseen
    if (array_) {
      py::object a = array_();
      if (!a.is_none()) SetReadOnly(a);
    }
  }

  bool active() const { return loan_ != nullptr; }
  std::size_t size() const { return size_; }
  const ChannelIface* channel() const { return ch_.get(); }

 private:
  std::shared_ptr<ChannelIface> ch_;  // keeps the mapping while arrays live
  std::unique_ptr<LoanIface> loan_;
  char code_;
  void* data_;
  std::size_t size_;
  py::weakref array_;
};

void ReleaseView(PyObject* capsule) {
  delete static_cast<ViewIface*>(
      PyCapsule_GetPointer(capsule, "shoal.ChannelBlock"));
}

class PyChannel {
 public:
  PyChannel(std::shared_ptr<ChannelIface> ch, char code)
      : ch_(std::move(ch)), code_(code) {}

  PyLoan* loan(std::optional<std::size_t> n, std::optional<double> timeout) {
    const std::size_t count = n.value_or(ch_->max_elements());
    std::unique_ptr<LoanIface> l;
    const bool done = WaitInSlices(
        DeadlineFrom(timeout), [&](const Deadline& d, bool) {
          l = ch_->Loan(count, d);
          return l != nullptr;
        });
    if (!done) {
      Raise(Errors().timeout,
            "Channel.loan: every slot still in use at the deadline");
    }
    return new PyLoan(ch_, std::move(l), code_);
  }

  void publish(py::handle array, std::optional<std::size_t> n) {
    py::handle base = array.attr("base");
    if (!py::isinstance<PyLoan>(base) ||
        base.cast<PyLoan&>().channel() != ch_.get()) {
      Raise(PyExc_ValueError,
            "Channel.publish: the array is not a loan of this channel "
            "(publish the array loan(n).array returned, or call "
            "Loan.publish())");
    }
    base.cast<PyLoan&>().publish(n);
  }

  py::object receive(std::optional<double> timeout) {
    std::unique_ptr<ViewIface> v = Take(timeout, "Channel.receive");
    void* data = const_cast<void*>(v->data());
    const std::size_t size = v->size();
    py::capsule lease(v.get(), "shoal.ChannelBlock", &ReleaseView);
    v.release();  // owned by the capsule now
    return ArrayView(code_, data, size, /*writable=*/false, lease);
  }

  py::object recv(std::optional<double> timeout) {
    std::unique_ptr<ViewIface> v = Take(timeout, "Channel.recv");
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
    std::unique_ptr<LoanIface> l;
    const bool done = WaitInSlices(
        DeadlineFrom(timeout), [&](const Deadline& d, bool) {
          l = ch_->Loan(n, d);
          return l != nullptr;
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
  std::size_t max_elements() const { return ch_->max_elements(); }
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
                                         RefToBytes(ch_->region().ref())));
  }

 private:
  std::unique_ptr<ViewIface> Take(std::optional<double> timeout,
                                  const char* what) {
    std::unique_ptr<ViewIface> v;
    const bool done = WaitInSlices(
        DeadlineFrom(timeout), [&](const Deadline& d, bool) {
          v = ch_->Receive(d);
          return v != nullptr;
        });
    if (!done) {
      Raise(Errors().timeout,
            std::string(what) + ": nothing published before the deadline");
    }
    return v;
  }

  std::shared_ptr<ChannelIface> ch_;
  char code_;
};

struct PyFloatChannel : PyChannel {
  using PyChannel::PyChannel;
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
  py::class_<PyLoan>(m, "Loan",
                     "A block of a Channel loaned to this process: fill "
                     "`array` (a writable numpy view of shared memory), then "
                     "publish(). As a context manager it yields the array and "
                     "publishes on normal exit (abandons on an exception). A "
                     "Loan collected unpublished is given back unseen.")
      .def_property_readonly(
          "array", [](py::handle self) { return self.cast<PyLoan&>().array(self); },
          "The block as a writable 1-D numpy array (read-only once "
          "published).")
      .def("publish", &PyLoan::publish, py::arg("n") = py::none(),
           "publish(n=None): makes the first n elements (all by default) "
           "visible to one reader. The loan's array becomes read-only.")
      .def("abandon", &PyLoan::abandon,
           "Gives the block back unpublished (readers never see it).")
      .def_property_readonly("active", &PyLoan::active,
                             "True until published or abandoned.")
      .def("__len__", &PyLoan::size)
      .def("__enter__",
           [](py::handle self) { return self.cast<PyLoan&>().array(self); })
      .def("__exit__", [](PyLoan& l, py::handle type, py::handle, py::handle) {
        if (!l.active()) return false;
        if (type.is_none()) {
          l.publish(std::nullopt);
        } else {
          l.abandon();
        }
        return false;
      });

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
  ch.def("loan", &PyChannel::loan, py::arg("n") = py::none(),
         py::arg("timeout") = py::none(),
         "loan(n=max_elements, timeout=None) -> Loan: claims a free block "
         "for n elements, blocking while every slot is in use.")
      .def("publish", &PyChannel::publish, py::arg("array"),
           py::arg("n") = py::none(),
           "publish(array, n=None): publishes the loan `array` belongs to "
           "(the same as loan.publish(n)).")
      .def("receive", &PyChannel::receive, py::arg("timeout") = py::none(),
           "receive(timeout=None) -> numpy array: the next published block, "
           "read-only, viewed in place; leased until the array and every "
           "view of it are garbage-collected.")
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

  m.def("_rebuild_channel", [](const std::string& code, py::bytes ref) {
    if (code.size() != 1) Raise(PyExc_ValueError, "bad channel code");
    const RegionRef r = RefFromBytes(ref);
    return new PyChannel(OpenChannel(code[0], r), code[0]);
  });
}

}  // namespace shoal::python
