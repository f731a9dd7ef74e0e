// Copyright 2026 The shoal Authors.
//
// broadcast.cc: shoal.Broadcast, publish/subscribe of numpy blocks: every
// subscriber sees every block, read in place.
//
// A Python Broadcast of dtype D is the C++ Broadcast<T> for D's C++ type
// (dtypes.h): the same region layout, so publishers and subscribers may be
// C++ or Python.
//
//   bus = shoal.Broadcast('d', 4096, slots=8, history=4, name='imu')
//   bus.send(samples)                    # publisher: one copy in
//   sub = shoal.Broadcast.open('imu', 'd').subscribe(overwrite=True)
//   a = sub.receive(timeout=1)           # read-only view, in place
//   sub.missed                           # blocks it missed (overwrite)
//
// Leases: as Channel.receive(), the array's base is a capsule holding the
// C++ View; the block stays pinned for this subscriber until the array and
// every view of it are collected. A subscriber belongs to the process that
// subscribed: a forked child's copy of its arrays gives nothing back.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <unistd.h>

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
#include "shoal/base/internal/process_liveness.h"
#include "shoal/ipc/broadcast.h"

namespace shoal::python {
namespace {

class BlockIface {
 public:
  virtual ~BlockIface() = default;  // releases (unpins) the block
  virtual const void* data() const = 0;
  virtual std::size_t size() const = 0;
  virtual uint64_t seq() const = 0;
  virtual uint64_t missed_before() const = 0;
};

class SubscriberIface {
 public:
  virtual ~SubscriberIface() = default;  // leaves once its blocks are gone
  // nullptr: timed out. Throws Closed once closed and drained.
  virtual std::unique_ptr<BlockIface> Receive(const Deadline& d) = 0;
  virtual uint64_t missed() const = 0;
  virtual uint64_t lost() const = 0;
  virtual uint64_t delivered() const = 0;
  virtual uint64_t cursor() const = 0;
  virtual void leave() = 0;
};

class BroadcastIface {
 public:
  virtual ~BroadcastIface() = default;
  // false: timed out. Throws Closed.
  virtual bool Send(const void* src, std::size_t n, const Deadline& d) = 0;
  virtual std::unique_ptr<SubscriberIface> Subscribe(bool overwrite,
                                                     uint32_t history) = 0;
  virtual std::size_t max_elements() const = 0;
  virtual uint32_t slots() const = 0;
  virtual uint32_t history() const = 0;
  virtual void close() = 0;
  virtual bool closed() const = 0;
  virtual uint64_t published() const = 0;
  virtual uint64_t lost() const = 0;
  virtual uint64_t evicted() const = 0;
  virtual uint32_t subscribers() const = 0;
  virtual const Region& region() const = 0;
  virtual std::size_t itemsize() const = 0;
};

template <class T>
class BroadcastImpl final : public BroadcastIface {
  using B = Broadcast<T>;

  class BlockImpl final : public BlockIface {
   public:
    explicit BlockImpl(typename B::View v) : v_(std::move(v)) {}
    const void* data() const override { return v_.data(); }
    std::size_t size() const override { return v_.size(); }
    uint64_t seq() const override { return v_.seq(); }
    uint64_t missed_before() const override { return v_.missed_before(); }

   private:
    typename B::View v_;
  };

  class SubscriberImpl final : public SubscriberIface {
   public:
    explicit SubscriberImpl(typename B::Subscriber s) : s_(std::move(s)) {}
    std::unique_ptr<BlockIface> Receive(const Deadline& d) override {
      std::optional<typename B::View> v = s_.try_receive(d);
      if (!v) return nullptr;
      return std::make_unique<BlockImpl>(std::move(*v));
    }
    uint64_t missed() const override { return s_.missed(); }
    uint64_t lost() const override { return s_.lost(); }
    uint64_t delivered() const override { return s_.delivered(); }
    uint64_t cursor() const override { return s_.cursor(); }
    void leave() override { s_.leave(); }

   private:
    typename B::Subscriber s_;
  };

 public:
  explicit BroadcastImpl(B b) : b_(std::move(b)) {}

  bool Send(const void* src, std::size_t n, const Deadline& d) override {
    std::optional<typename B::Loan> l = b_.try_loan(n, d);
    if (!l) {
      if (b_.closed()) throw Closed("Broadcast.send: closed");
      return false;
    }
    if (n) std::memcpy(l->data(), src, n * sizeof(T));
    l->publish();
    return true;
  }
  std::unique_ptr<SubscriberIface> Subscribe(bool overwrite,
                                             uint32_t history) override {
    return std::make_unique<SubscriberImpl>(b_.subscribe(
        {.when_behind = overwrite ? WhenBehind::kOverwrite
                                  : WhenBehind::kBlockWriter,
         .history = history}));
  }
  std::size_t max_elements() const override { return b_.max_elements(); }
  uint32_t slots() const override { return b_.slots(); }
  uint32_t history() const override { return b_.history(); }
  void close() override { b_.close(); }
  bool closed() const override { return b_.closed(); }
  uint64_t published() const override { return b_.published(); }
  uint64_t lost() const override { return b_.lost(); }
  uint64_t evicted() const override { return b_.evicted(); }
  uint32_t subscribers() const override { return b_.subscribers(); }
  const Region& region() const override { return b_.region(); }
  std::size_t itemsize() const override { return sizeof(T); }

 private:
  mutable B b_;
};

std::shared_ptr<BroadcastIface> CreateBroadcast(char code,
                                                std::size_t max_elements,
                                                const BroadcastOptions& o) {
  return WithType(code, "Broadcast", false,
                  [&](auto t) -> std::shared_ptr<BroadcastIface> {
                    using T = typename decltype(t)::type;
                    return std::make_shared<BroadcastImpl<T>>(
                        Broadcast<T>(max_elements, o));
                  });
}

template <class Key>
std::shared_ptr<BroadcastIface> OpenBroadcast(char code, const Key& key) {
  return WithType(code, "Broadcast", false,
                  [&](auto t) -> std::shared_ptr<BroadcastIface> {
                    using T = typename decltype(t)::type;
                    return std::make_shared<BroadcastImpl<T>>(
                        Broadcast<T>::Open(key));
                  });
}

struct BlockLease {
  std::shared_ptr<BroadcastIface> bus;  // keeps the mapping while it lives
  std::unique_ptr<BlockIface> block;
  pid_t pid;
};

void ReleaseBlock(PyObject* capsule) {
  auto* lease = static_cast<BlockLease*>(
      PyCapsule_GetPointer(capsule, "shoal.BroadcastBlock"));
  if (lease->pid != internal::CachedPid()) {
    (void)lease->block.release();  // a forked child's copy: not its pin
  }
  delete lease;
}

class PySubscriber {
 public:
  PySubscriber(std::shared_ptr<BroadcastIface> bus,
               std::unique_ptr<SubscriberIface> sub, char code)
      : bus_(std::move(bus)), sub_(std::move(sub)), code_(code),
        pid_(internal::CachedPid()) {}
  ~PySubscriber() {
    if (pid_ != internal::CachedPid()) (void)sub_.release();  // the parent's subscriber
  }

  py::object receive(std::optional<double> timeout) {
    std::unique_ptr<BlockIface> b = Take(timeout, "Subscriber.receive");
    void* data = const_cast<void*>(b->data());
    const std::size_t size = b->size();
    auto owned =
        std::make_unique<BlockLease>(BlockLease{bus_, std::move(b), internal::CachedPid()});
    py::capsule lease(owned.get(), "shoal.BroadcastBlock", &ReleaseBlock);
    (void)owned.release();  // the capsule's now
    return ArrayView(code_, data, size, /*writable=*/false, lease);
  }

  py::object recv(std::optional<double> timeout) {
    std::unique_ptr<BlockIface> b = Take(timeout, "Subscriber.recv");
    py::object out = NewArray(code_, b->size());
    const std::size_t bytes = b->size() * bus_->itemsize();
    if (bytes) {
      py::gil_scoped_release release;
      std::memcpy(ArrayData(out), b->data(), bytes);
    }
    return out;
  }

  uint64_t missed() const { return sub_->missed(); }
  uint64_t lost() const { return sub_->lost(); }
  uint64_t delivered() const { return sub_->delivered(); }
  uint64_t cursor() const { return sub_->cursor(); }
  void leave() { sub_->leave(); }

 private:
  std::unique_ptr<BlockIface> Take(std::optional<double> timeout,
                                   const char* what) {
    std::unique_ptr<BlockIface> b;
    const bool done = WaitInSlices(
        DeadlineFrom(timeout), [&](const Deadline& d, bool) {
          b = sub_->Receive(d);
          if (b == nullptr && bus_->closed()) {
            // Closed: one more look for a block published before it.
            b = sub_->Receive(Deadline::Now());
            if (b == nullptr) {
              throw Closed(std::string(what) +
                           ": the broadcast is closed and drained");
            }
          }
          return b != nullptr;
        });
    if (!done) {
      Raise(Errors().timeout,
            std::string(what) + ": nothing published before the deadline");
    }
    return b;
  }

  std::shared_ptr<BroadcastIface> bus_;
  std::unique_ptr<SubscriberIface> sub_;
  char code_;
  pid_t pid_;
};

class PyBroadcast {
 public:
  PyBroadcast(std::shared_ptr<BroadcastIface> bus, char code)
      : bus_(std::move(bus)), code_(code) {}

  void send(py::handle obj, std::optional<double> timeout) {
    py::object arr = ContiguousOf(code_, obj, "Broadcast.send");
    const std::size_t n = ArraySize(arr);
    if (n > bus_->max_elements()) {
      Raise(Errors().value, "Broadcast.send: " + std::to_string(n) +
                                " elements exceed the block size of " +
                                std::to_string(bus_->max_elements()));
    }
    const void* src = ArrayData(arr);
    const bool done = WaitInSlices(
        DeadlineFrom(timeout),
        [&](const Deadline& d, bool) { return bus_->Send(src, n, d); });
    if (!done) {
      Raise(Errors().timeout,
            "Broadcast.send: a subscriber still needed the oldest block at "
            "the deadline");
    }
  }

  PySubscriber* subscribe(bool overwrite, uint32_t history) {
    return new PySubscriber(bus_, bus_->Subscribe(overwrite, history), code_);
  }

  std::size_t max_elements() const { return bus_->max_elements(); }
  uint32_t slots() const { return bus_->slots(); }
  uint32_t history() const { return bus_->history(); }
  void close() { bus_->close(); }
  bool closed() const { return bus_->closed(); }
  uint64_t published() const { return bus_->published(); }
  uint64_t lost() const { return bus_->lost(); }
  uint64_t evicted() const { return bus_->evicted(); }
  uint32_t subscribers() const { return bus_->subscribers(); }
  py::object name() const { return NameOf(bus_->region()); }
  py::object dtype() const { return DtypeOf(code_); }

  py::tuple reduce() const {
    return py::make_tuple(
        py::module_::import("shoal").attr("_rebuild"),
        py::make_tuple("_rebuild_broadcast", std::string(1, code_),
                       RefToBytes(bus_->region().ref())));
  }

 private:
  std::shared_ptr<BroadcastIface> bus_;
  char code_;
};

constexpr char kBroadcastDoc[] = R"doc(Broadcast(dtype, max_elements, *, slots=8, history=0, max_subscribers=256, name=None)

Publish/subscribe of numpy blocks through shared memory: every subscriber
sees every block (C++ shoal::Broadcast<T>; either end may be C++).

    bus.send(array)                    # publisher: one copy into a block
    sub = bus.subscribe()              # any process (Broadcast.open(name,
    a = sub.receive(timeout=1)         # dtype), or a pickled bus)
    a.sum()                            # read-only view, in place; pinned
    del a                              # until it and its views are gone

subscribe(overwrite=False): publishers wait for this subscriber when it
falls `slots` blocks behind (bounded by their timeout). overwrite=True:
they go on, and `missed` counts the blocks it lost that way. history=K:
start with up to K of the latest blocks (K <= the history the broadcast
was created with). A subscriber killed at any point is evicted by the
publisher it holds up within ~50 ms; a publisher killed mid-block costs
that block (`lost`).
)doc";

}  // namespace

void RegisterBroadcast(py::module_& m) {
  py::class_<PySubscriber> sub(
      m, "Subscriber",
      "One subscriber of a Broadcast (Broadcast.subscribe()): its cursor, "
      "policy and counts. It belongs to the process that subscribed.");
  sub.def("receive", &PySubscriber::receive, py::arg("timeout") = py::none(),
          "receive(timeout=None) -> numpy array: the next block, read-only, "
          "in place; pinned until the array and its views are collected "
          "(shoal.TimeoutError after timeout seconds, shoal.Closed once "
          "closed and drained).")
      .def("recv", &PySubscriber::recv, py::arg("timeout") = py::none(),
           "recv(timeout=None) -> numpy array: the next block, copied.")
      .def("leave", &PySubscriber::leave,
           "Leaves now (arrays still held are unpinned).")
      .def_property_readonly("missed", &PySubscriber::missed,
                             "Blocks overwritten before it reached them.")
      .def_property_readonly("lost", &PySubscriber::lost,
                             "Blocks whose publisher died mid-block.")
      .def_property_readonly("delivered", &PySubscriber::delivered)
      .def_property_readonly("cursor", &PySubscriber::cursor);

  py::class_<PyBroadcast> b(m, "Broadcast", kBroadcastDoc);
  b.def(py::init([](py::handle dtype, std::size_t max_elements,
                    uint32_t slots, uint32_t history, uint32_t max_subscribers,
                    std::optional<std::string> name) {
          const char code = CodeOfDtype(dtype);
          BroadcastOptions o;
          o.slots = slots;
          o.history = history;
          o.max_subscribers = max_subscribers;
          o.region = RegionFor(name);
          return new PyBroadcast(CreateBroadcast(code, max_elements, o), code);
        }),
        py::arg("dtype"), py::arg("max_elements"), py::kw_only(),
        py::arg("slots") = 8, py::arg("history") = 0,
        py::arg("max_subscribers") = 256, py::arg("name") = py::none());
  b.def_static(
       "open",
       [](const std::string& name, py::handle dtype) {
         const char code = CodeOfDtype(dtype);
         return new PyBroadcast(OpenBroadcast(code, std::string_view(name)),
                                code);
       },
       py::arg("name"), py::arg("dtype"),
       "Broadcast.open(name, dtype): the named broadcast another process "
       "created (Python or C++).")
      .def("send", &PyBroadcast::send, py::arg("array"),
           py::arg("timeout") = py::none(),
           "send(array, timeout=None): copies array into a block and "
           "publishes it to every subscriber.")
      .def("subscribe", &PyBroadcast::subscribe, py::kw_only(),
           py::arg("overwrite") = false, py::arg("history") = 0,
           "subscribe(*, overwrite=False, history=0) -> Subscriber")
      .def("close", &PyBroadcast::close,
           "Publishers then get shoal.Closed; subscribers drain, then get "
           "shoal.Closed.")
      .def_property_readonly("closed", &PyBroadcast::closed)
      .def_property_readonly("published", &PyBroadcast::published)
      .def_property_readonly("lost", &PyBroadcast::lost)
      .def_property_readonly("evicted", &PyBroadcast::evicted)
      .def_property_readonly("subscribers", &PyBroadcast::subscribers)
      .def_property_readonly("max_elements", &PyBroadcast::max_elements)
      .def_property_readonly("slots", &PyBroadcast::slots)
      .def_property_readonly("history", &PyBroadcast::history)
      .def_property_readonly("dtype", &PyBroadcast::dtype)
      .def_property_readonly("name", &PyBroadcast::name)
      .def("__reduce__", &PyBroadcast::reduce);

  m.def(
      "_rebuild_broadcast",
      [](const std::string& code, py::bytes ref) {
        if (code.size() != 1) Raise(PyExc_ValueError, "bad broadcast code");
        return new PyBroadcast(OpenBroadcast(code[0], RefFromBytes(ref)),
                               code[0]);
      },
      py::arg("code"), py::arg("ref"));
}

}  // namespace shoal::python
