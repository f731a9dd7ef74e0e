// Copyright 2026 The shoal Authors.
//
// queue.cc: shoal.Queue, shoal.JoinableQueue, shoal.SimpleQueue.
//
// Each is a C++ Queue<std::string> / JoinableQueue<std::string> (or the
// std::vector<std::byte> flavour, for C++ peers that use it) carrying the
// items of message.h. The Python classes hold a type-erased handle; the
// layout is the C++ one, so a C++ program opens a Python queue by name as
// Queue<std::string> and vice versa.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "python/common.h"
#include "python/errors.h"
#include "python/fastcall.h"
#include "python/message.h"
#include "python/module.h"
#include "python/wait.h"
#include "shoal/base/errors.h"
#include "shoal/ipc/queue.h"

namespace shoal::python {
namespace {

using Bytes = std::vector<std::byte>;
using WriteFn = absl::FunctionRef<void(std::span<std::byte>)>;
using ReadFn = absl::FunctionRef<void(std::span<const std::byte>)>;
using SizeAtFn = absl::FunctionRef<std::size_t(std::size_t)>;
using WriteAtFn = absl::FunctionRef<void(std::size_t, std::span<std::byte>)>;
using ReadAtFn = absl::FunctionRef<void(std::size_t, std::span<const std::byte>)>;

enum class Flavor { kQueue, kJoinable, kSimple };
// The C++ item type on the other side: std::string or
// std::vector<std::byte> (same bytes, different layout identity).
enum class CType { kString, kBytes };

const char* CTypeName(CType c) {
  return c == CType::kString ? "string" : "bytes";
}

CType ParseCType(const std::string& s) {
  if (s == "string" || s == "std::string") return CType::kString;
  if (s == "bytes" || s == "std::vector<std::byte>") return CType::kBytes;
  Raise(PyExc_ValueError, "ctype must be 'string' (C++ Queue<std::string>) or "
                          "'bytes' (C++ Queue<std::vector<std::byte>>), not '" +
                              s + "'");
}

class QueueIface {
 public:
  virtual ~QueueIface() = default;
  virtual QueueStatus Put(std::size_t size, WriteFn write,
                          const Deadline& d) = 0;
  virtual QueueStatus Get(ReadFn read, const Deadline& d) = 0;
  virtual QueueStatus PutMany(std::size_t n, SizeAtFn size, WriteAtFn write,
                              std::size_t* done, const Deadline& d) = 0;
  virtual QueueStatus GetMany(std::size_t max, ReadAtFn read,
                              std::size_t* done, const Deadline& d) = 0;
  virtual std::size_t qsize() const = 0;
  virtual std::size_t maxsize() const = 0;
  virtual void close() = 0;
  virtual bool closed() const = 0;
  virtual uint64_t lost() const = 0;
  virtual const Region& region() const = 0;
  // JoinableQueue only.
  virtual void task_done() { throw ValueError("not a JoinableQueue"); }
  virtual bool join(const Deadline&) { throw ValueError("not a JoinableQueue"); }
  virtual uint64_t unfinished() const { return 0; }
};

template <class Q>
class QueueImpl final : public QueueIface {
 public:
  explicit QueueImpl(Q q) : q_(std::move(q)) {}
  QueueStatus Put(std::size_t size, WriteFn write, const Deadline& d) override {
    return q_.put_encoded(size, write, d);
  }
  QueueStatus Get(ReadFn read, const Deadline& d) override {
    return q_.get_encoded(read, d);
  }
  QueueStatus PutMany(std::size_t n, SizeAtFn size, WriteAtFn write,
                      std::size_t* done, const Deadline& d) override {
    return q_.put_many_encoded(n, size, write, done, d);
  }
  QueueStatus GetMany(std::size_t max, ReadAtFn read, std::size_t* done,
                      const Deadline& d) override {
    return q_.get_many_encoded(max, read, done, d);
  }
  std::size_t qsize() const override { return q_.qsize(); }
  std::size_t maxsize() const override { return q_.maxsize(); }
  void close() override { q_.close(); }
  bool closed() const override { return q_.closed(); }
  uint64_t lost() const override { return q_.lost(); }
  const Region& region() const override { return q_.region(); }
  void task_done() override {
    if constexpr (requires { q_.task_done(); }) {
      q_.task_done();
    } else {
      QueueIface::task_done();
    }
  }
  bool join(const Deadline& d) override {
    if constexpr (requires { q_.join(d); }) {
      return q_.join(d);
    } else {
      return QueueIface::join(d);
    }
  }
  uint64_t unfinished() const override {
    if constexpr (requires { q_.unfinished_tasks(); }) {
      return q_.unfinished_tasks();
    } else {
      return 0;
    }
  }

 private:
  Q q_;
};

// The C++ queue class for a flavour and item type.
template <Flavor F, class T>
using QueueOf = std::conditional_t<F == Flavor::kJoinable, JoinableQueue<T>,
                                   Queue<T>>;

template <Flavor F>
std::shared_ptr<QueueIface> Create(CType c, const QueueOptions& o) {
  if (c == CType::kString) {
    return std::make_shared<QueueImpl<QueueOf<F, std::string>>>(
        QueueOf<F, std::string>(o));
  }
  return std::make_shared<QueueImpl<QueueOf<F, Bytes>>>(QueueOf<F, Bytes>(o));
}

// Opens by name or by ref, as `c`, or (c unset) as whichever of the two
// item types the region holds.
template <Flavor F, class Key>
std::pair<std::shared_ptr<QueueIface>, CType> Open(const Key& key,
                                                   std::optional<CType> c) {
  auto open = [&](CType t) -> std::shared_ptr<QueueIface> {
    if (t == CType::kString) {
      return std::make_shared<QueueImpl<QueueOf<F, std::string>>>(
          QueueOf<F, std::string>::Open(key));
    }
    return std::make_shared<QueueImpl<QueueOf<F, Bytes>>>(
        QueueOf<F, Bytes>::Open(key));
  };
  if (c) return {open(*c), *c};
  try {
    return {open(CType::kString), CType::kString};
  } catch (const InvalidRegion& first) {
    try {
      return {open(CType::kBytes), CType::kBytes};
    } catch (const InvalidRegion&) {
      throw first;  // names the type the region really holds
    }
  }
}

// The state of a Python queue object.
class PyQueue {
 public:
  PyQueue(std::shared_ptr<QueueIface> q, Flavor f, bool raw, CType c)
      : q_(std::move(q)), flavor_(f), raw_(raw), ctype_(c) {}

  void put(py::handle obj, bool block, std::optional<double> timeout) {
    Outgoing out(obj, raw_);
    const std::size_t size = out.encoded_size();
    QueueStatus st = QueueStatus::kTimedOut;
    auto write = [&](std::span<std::byte> dst) { out.WriteTo(dst); };
    const bool done = WaitInSlices(
        DeadlineFrom(block, timeout), [&](const Deadline& d, bool) {
          st = q_->Put(size, write, d);
          return st != QueueStatus::kTimedOut;
        });
    if (!done) Raise(Errors().full, "Queue.put: the queue is full");
    if (st == QueueStatus::kClosed) {
      Raise(Errors().closed, "Queue.put: the queue is closed");
    }
  }

  py::object get(bool block, std::optional<double> timeout) {
    Incoming in;
    QueueStatus st = QueueStatus::kTimedOut;
    bool gil = true;
    auto read = [&](std::span<const std::byte> b) { in.Read(b, raw_, gil); };
    const bool done = WaitInSlices(
        DeadlineFrom(block, timeout), [&](const Deadline& d, bool gil_held) {
          gil = gil_held;
          st = q_->Get(read, d);
          return st != QueueStatus::kTimedOut;
        });
    if (!done) Raise(Errors().empty, "Queue.get: the queue is empty");
    if (st == QueueStatus::kClosed) {
      Raise(Errors().closed, "Queue.get: the queue is closed and drained");
    }
    return in.Take(raw_);
  }

  // Puts the items of `objs` in order, in batches; returns how many went in
  // (all, unless the timeout passed or the queue was closed midway).
  std::size_t put_many(py::iterable objs, bool block,
                       std::optional<double> timeout) {
    std::vector<std::unique_ptr<Outgoing>> out;
    for (py::handle obj : objs) out.push_back(std::make_unique<Outgoing>(obj, raw_));
    const std::size_t n = out.size();
    std::size_t total = 0;
    QueueStatus st = QueueStatus::kOk;
    WaitInSlices(DeadlineFrom(block, timeout), [&](const Deadline& d, bool) {
      std::size_t done = 0;
      st = q_->PutMany(
          n - total,
          [&](std::size_t i) { return out[total + i]->encoded_size(); },
          [&](std::size_t i, std::span<std::byte> dst) {
            out[total + i]->WriteTo(dst);
          },
          &done, d);
      total += done;
      return total == n || st == QueueStatus::kClosed;
    });
    if (st == QueueStatus::kClosed && total == 0 && n > 0) {
      Raise(Errors().closed, "Queue.put_many: the queue is closed");
    }
    return total;
  }

  // Between 1 and `max` items, as a list (shoal.Empty / shoal.Closed as
  // get()).
  py::list get_many(std::size_t max, bool block,
                    std::optional<double> timeout) {
    if (max == 0) Raise(PyExc_ValueError, "Queue.get_many: max must be >= 1");
    const std::size_t cap = std::min<std::size_t>(max, 256);
    std::vector<Incoming> in(cap);
    std::size_t got = 0;
    QueueStatus st = QueueStatus::kTimedOut;
    const bool done = WaitInSlices(
        DeadlineFrom(block, timeout), [&](const Deadline& d, bool gil_held) {
          st = q_->GetMany(
              cap,
              [&](std::size_t i, std::span<const std::byte> b) {
                in[i].Read(b, raw_, gil_held);
              },
              &got, d);
          return st != QueueStatus::kTimedOut;
        });
    if (!done) Raise(Errors().empty, "Queue.get_many: the queue is empty");
    if (st == QueueStatus::kClosed) {
      Raise(Errors().closed, "Queue.get_many: the queue is closed and drained");
    }
    py::list items(got);
    for (std::size_t i = 0; i < got; ++i) {
      items[i] = in[i].Take(raw_);
    }
    return items;
  }

  void task_done() { q_->task_done(); }
  bool join(std::optional<double> timeout) {
    return WaitInSlices(DeadlineFrom(timeout),
                        [&](const Deadline& d, bool) { return q_->join(d); });
  }

  std::size_t qsize() const { return q_->qsize(); }
  bool empty() const { return q_->qsize() == 0; }
  bool full() const { return q_->qsize() >= q_->maxsize(); }
  std::size_t maxsize() const { return q_->maxsize(); }
  void close() { q_->close(); }
  bool closed() const { return q_->closed(); }
  uint64_t lost() const { return q_->lost(); }
  uint64_t unfinished() const { return q_->unfinished(); }
  py::object name() const { return NameOf(q_->region()); }
  bool raw() const { return raw_; }
  std::string ctype() const { return CTypeName(ctype_); }

  std::string repr(const char* cls) const {
    std::string s = std::string("<shoal.") + cls;
    py::object n = name();
    if (!n.is_none()) s += " name='" + n.cast<std::string>() + "'";
    s += " qsize=" + std::to_string(qsize()) +
         " maxsize=" + std::to_string(maxsize());
    if (raw_) s += std::string(" raw ctype=") + CTypeName(ctype_);
    if (closed()) s += " closed";
    return s + ">";
  }

  py::tuple reduce(py::handle self) const {
    return py::make_tuple(
        py::module_::import("shoal").attr("_rebuild"),
        py::make_tuple("_rebuild_queue", static_cast<int>(flavor_),
                       RefToBytes(q_->region().ref()), raw_,
                       std::string(CTypeName(ctype_))));
  }

 private:
  std::shared_ptr<QueueIface> q_;
  Flavor flavor_;
  bool raw_;
  CType ctype_;
};

struct PyJoinableQueue : PyQueue {
  using PyQueue::PyQueue;
};
struct PySimpleQueue : PyQueue {
  using PyQueue::PyQueue;
};

QueueOptions OptionsFor(std::size_t maxsize, const std::optional<std::string>& name,
                        std::optional<uint64_t> heap_bytes,
                        std::optional<std::size_t> inline_bytes,
                        bool close_when_writers_gone) {
  QueueOptions o;
  o.maxsize = maxsize;
  if (heap_bytes) o.heap_bytes = *heap_bytes;
  if (inline_bytes) o.inline_bytes = *inline_bytes;
  o.region = RegionFor(name);
  o.close_when_writers_gone = close_when_writers_gone;
  return o;
}

template <class P, Flavor F>
P* MakeQueue(std::size_t maxsize, std::optional<std::string> name, bool raw,
             const std::string& ctype, std::optional<uint64_t> heap_bytes,
             std::optional<std::size_t> inline_bytes,
             bool close_when_writers_gone) {
  const CType c = ParseCType(ctype);
  QueueOptions o = OptionsFor(maxsize, name, heap_bytes, inline_bytes,
                              close_when_writers_gone);
  return new P(Create<F>(c, o), F, raw, c);
}

template <class P, Flavor F>
P* OpenQueue(const std::string& name, bool raw,
             std::optional<std::string> ctype) {
  std::optional<CType> c;
  if (ctype) c = ParseCType(*ctype);
  auto [q, got] = Open<F>(std::string_view(name), c);
  return new P(std::move(q), F, raw, got);
}

py::object Rebuild(int flavor, py::bytes ref_bytes, bool raw,
                   const std::string& ctype) {
  const RegionRef ref = RefFromBytes(ref_bytes);
  const CType c = ParseCType(ctype);
  switch (static_cast<Flavor>(flavor)) {
    case Flavor::kJoinable:
      return py::cast(new PyJoinableQueue(Open<Flavor::kJoinable>(ref, c).first,
                                          Flavor::kJoinable, raw, c),
                      py::return_value_policy::take_ownership);
    case Flavor::kSimple:
      return py::cast(new PySimpleQueue(Open<Flavor::kQueue>(ref, c).first,
                                        Flavor::kSimple, raw, c),
                      py::return_value_policy::take_ownership);
    default:
      return py::cast(new PyQueue(Open<Flavor::kQueue>(ref, c).first,
                                  Flavor::kQueue, raw, c),
                      py::return_value_policy::take_ownership);
  }
}

// ------------------------------------------------------------- fast calls
// put/get through METH_FASTCALL (fastcall.h): the dispatcher of pybind11
// would cost as much as the shared-memory work of a small item.

template <class P>
PyObject* FastPut(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                  PyObject* kwnames) {
  return Guarded([&] {
    PyObject* a[3] = {nullptr, Py_True, Py_None};
    ParseArgs("put", args, nargs, kwnames, {"obj", "block", "timeout"}, 1, a);
    SelfAs<P>(self)->put(a[0], BoolArg(a[1]), TimeoutArg(a[2]));
    return py::none();
  });
}

template <class P>
PyObject* FastGet(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                  PyObject* kwnames) {
  return Guarded([&] {
    PyObject* a[2] = {Py_True, Py_None};
    ParseArgs("get", args, nargs, kwnames, {"block", "timeout"}, 0, a);
    return SelfAs<P>(self)->get(BoolArg(a[0]), TimeoutArg(a[1]));
  });
}

PyObject* FastPutNowait(PyObject* self, PyObject* const* args,
                        Py_ssize_t nargs, PyObject* kwnames) {
  return Guarded([&] {
    PyObject* a[1] = {nullptr};
    ParseArgs("put_nowait", args, nargs, kwnames, {"obj"}, 1, a);
    SelfAs<PyQueue>(self)->put(a[0], false, std::nullopt);
    return py::none();
  });
}

PyObject* FastGetNowait(PyObject* self, PyObject* const* args,
                        Py_ssize_t nargs, PyObject* kwnames) {
  return Guarded([&] {
    ParseArgs("get_nowait", args, nargs, kwnames, {}, 0, nullptr);
    return SelfAs<PyQueue>(self)->get(false, std::nullopt);
  });
}

// SimpleQueue.put(obj, timeout=None) / get(timeout=None).
PyObject* FastSimplePut(PyObject* self, PyObject* const* args,
                        Py_ssize_t nargs, PyObject* kwnames) {
  return Guarded([&] {
    PyObject* a[2] = {nullptr, Py_None};
    ParseArgs("put", args, nargs, kwnames, {"obj", "timeout"}, 1, a);
    SelfAs<PySimpleQueue>(self)->put(a[0], true, TimeoutArg(a[1]));
    return py::none();
  });
}

PyObject* FastSimpleGet(PyObject* self, PyObject* const* args,
                        Py_ssize_t nargs, PyObject* kwnames) {
  return Guarded([&] {
    PyObject* a[1] = {Py_None};
    ParseArgs("get", args, nargs, kwnames, {"timeout"}, 0, a);
    return SelfAs<PySimpleQueue>(self)->get(true, TimeoutArg(a[0]));
  });
}

#define SHOAL_FAST(name, fn, doc)                                          \
  PyMethodDef {                                                            \
    name, reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(fn)), \
        METH_FASTCALL | METH_KEYWORDS, doc                                 \
  }

PyMethodDef kQueueFast[] = {
    SHOAL_FAST("put", FastPut<PyQueue>,
               "put(obj, block=True, timeout=None)\n--\n\n"
               "Adds obj; blocks while the queue is full (shoal.Full, a "
               "queue.Full, when still full after timeout seconds, or at once "
               "with block=False); shoal.Closed after close()."),
    SHOAL_FAST("get", FastGet<PyQueue>,
               "get(block=True, timeout=None)\n--\n\n"
               "Removes and returns the oldest item; blocks while empty "
               "(shoal.Empty, a queue.Empty, after timeout seconds, or at once "
               "with block=False); shoal.Closed once a closed queue is "
               "drained."),
    SHOAL_FAST("put_nowait", FastPutNowait,
               "put_nowait(obj)\n--\n\nput(obj, block=False)."),
    SHOAL_FAST("get_nowait", FastGetNowait,
               "get_nowait()\n--\n\nget(block=False)."),
};

PyMethodDef kSimpleQueueFast[] = {
    SHOAL_FAST("put", FastSimplePut,
               "put(obj, timeout=None)\n--\n\n"
               "Adds obj, blocking while the queue is full (timeout: a shoal "
               "extension; shoal.Full when it passes)."),
    SHOAL_FAST("get", FastSimpleGet,
               "get(timeout=None)\n--\n\n"
               "Removes and returns the oldest item, blocking while empty "
               "(timeout: a shoal extension; shoal.Empty when it passes)."),
};

#undef SHOAL_FAST

constexpr char kQueueDoc[] = R"doc(Queue(maxsize=0, *, name=None, raw=False, ctype='string', heap_bytes=None, inline_bytes=None, close_when_writers_gone=False)

multiprocessing.Queue over shared memory: a bounded FIFO shared by every
process holding it (its fork()ed children, processes it is pickled to, and
unrelated programs, Python or C++, that open it by name).

Items are any picklable object (pickle protocol 5). numpy arrays and other
buffers travel out of band: copied once from the array into shared memory,
once out on get(), never through a pipe or into the pickle. bytes and
bytearray items are not pickled at all.

maxsize: most items held (0: 65536; shared memory does not grow).
name: None (the queue reaches other processes by fork or pickling), or a
    name unrelated processes open with Queue.open(name) (C++:
    shoal::Queue<std::string>::Open(name)).
raw: items are bytes, not pickled objects: put() takes bytes-like objects
    (or str, sent as UTF-8) and get() returns bytes. A C++
    Queue<std::string> / Queue<std::vector<std::byte>> on the same queue
    sees exactly those bytes.
ctype: the C++ item type a raw queue is shared with: 'string'
    (std::string) or 'bytes' (std::vector<std::byte>).
heap_bytes: shared heap for items too large for a slot (default 64 MiB);
    an item larger than the heap raises shoal.ValueError.

Blocking calls release the GIL and return to check for signals every 0.2 s,
so Ctrl-C interrupts a blocked get().

Differences from multiprocessing: close() is queue-wide (every later put()
raises shoal.Closed in every process; readers drain what is left, then get
shoal.Closed) and there is no feeder thread: put() has copied the item into
shared memory when it returns, so join_thread() has nothing to wait for.
)doc";

template <class C>
void AddQueueMethods(C& c, const char* cls_name) {
  for (PyMethodDef& def : kQueueFast) AddFastMethod(c, &def);
  c.def("qsize", &PyQueue::qsize,
           "Items in the queue now (approximate while others operate).")
      .def("empty", &PyQueue::empty, "qsize() == 0 (approximate).")
      .def("put_many", &PyQueue::put_many, py::arg("objs"),
           py::arg("block") = true, py::arg("timeout") = py::none(),
           "Adds the items of objs in order, several ring slots per claim "
           "(one wake-up per batch); returns how many went in: all, unless "
           "the timeout passed first (or the queue was closed midway). "
           "shoal.Closed if closed before any went in. A shoal extension.")
      .def("get_many", &PyQueue::get_many, py::arg("max"),
           py::arg("block") = true, py::arg("timeout") = py::none(),
           "Removes and returns between 1 and max of the oldest items, as a "
           "list (as many as are there when the first arrives); shoal.Empty "
           "/ shoal.Closed as get(). A shoal extension.")
      .def("full", &PyQueue::full, "qsize() >= maxsize (approximate).")
      .def("close", &PyQueue::close,
           "Closes the queue for every process: later puts raise "
           "shoal.Closed; gets drain what is left, then raise shoal.Closed.")
      .def(
          "join_thread", [](PyQueue&) {},
          "No-op: shoal has no feeder thread (put() has already copied the "
          "item into shared memory).")
      .def(
          "cancel_join_thread", [](PyQueue&) {}, "No-op (no feeder thread).")
      .def_property_readonly("closed", &PyQueue::closed,
                             "True once close() was called by any process.")
      .def_property_readonly("maxsize", &PyQueue::maxsize,
                             "Most items the queue holds.")
      .def_property_readonly("name", &PyQueue::name,
                             "The name unrelated processes open it by, or "
                             "None.")
      .def_property_readonly("raw", &PyQueue::raw,
                             "True: items are bytes, not pickled objects.")
      .def_property_readonly("ctype", &PyQueue::ctype,
                             "'string' or 'bytes': the C++ item type.")
      .def_property_readonly("lost", &PyQueue::lost,
                             "Items lost because the process moving them "
                             "died.")
      .def("__reduce__",
           [](const PyQueue& q) { return q.reduce(py::none()); })
      .def("__repr__", [cls_name](const PyQueue& q) { return q.repr(cls_name); });
}

}  // namespace

void RegisterQueues(py::module_& m) {
  py::class_<PyQueue> queue(m, "Queue", kQueueDoc);
  queue.def(py::init(&MakeQueue<PyQueue, Flavor::kQueue>),
            py::arg("maxsize") = 0, py::kw_only(), py::arg("name") = py::none(),
            py::arg("raw") = false, py::arg("ctype") = "string",
            py::arg("heap_bytes") = py::none(),
            py::arg("inline_bytes") = py::none(),
            py::arg("close_when_writers_gone") = false);
  queue.def_static("open", &OpenQueue<PyQueue, Flavor::kQueue>,
                   py::arg("name"), py::kw_only(), py::arg("raw") = false,
                   py::arg("ctype") = py::none(),
                   "Queue.open(name, *, raw=False, ctype=None): the named "
                   "queue another process created (Python or C++). ctype "
                   "None accepts either C++ item type.");
  AddQueueMethods(queue, "Queue");

  py::class_<PyJoinableQueue, PyQueue> jq(
      m, "JoinableQueue",
      "JoinableQueue(maxsize=0, *, name=None, raw=False, ...)\n\n"
      "multiprocessing.JoinableQueue: a Queue whose consumers call "
      "task_done() once per item, and whose join() waits until every item "
      "put so far is done. Same arguments as Queue.");
  jq.def(py::init(&MakeQueue<PyJoinableQueue, Flavor::kJoinable>),
         py::arg("maxsize") = 0, py::kw_only(), py::arg("name") = py::none(),
         py::arg("raw") = false, py::arg("ctype") = "string",
         py::arg("heap_bytes") = py::none(),
         py::arg("inline_bytes") = py::none(),
         py::arg("close_when_writers_gone") = false);
  jq.def_static("open", &OpenQueue<PyJoinableQueue, Flavor::kJoinable>,
                py::arg("name"), py::kw_only(), py::arg("raw") = false,
                py::arg("ctype") = py::none(),
                "The named JoinableQueue another process created.");
  jq.def("task_done", &PyQueue::task_done,
         "Marks one item taken with get() as done; shoal.ValueError (a "
         "ValueError) when called more often than items were put.")
      .def("join", &PyQueue::join, py::arg("timeout") = py::none(),
           "join(timeout=None): blocks until every item put so far is "
           "task_done(). Returns True then, False if items are still "
           "unfinished after timeout seconds.")
      .def_property_readonly("unfinished_tasks", &PyQueue::unfinished,
                             "Items put and not yet task_done().");
  jq.def("__repr__",
         [](const PyQueue& q) { return q.repr("JoinableQueue"); });

  py::class_<PySimpleQueue> sq(
      m, "SimpleQueue",
      "SimpleQueue(*, name=None, raw=False, ctype='string')\n\n"
      "multiprocessing.SimpleQueue: put, get, empty, close. The same engine "
      "as Queue (and the same C++ layout: a C++ SimpleQueue<std::string> "
      "or Queue<std::string> opens it).");
  sq.def(py::init([](std::optional<std::string> name, bool raw,
                     const std::string& ctype) {
           return MakeQueue<PySimpleQueue, Flavor::kSimple>(
               0, name, raw, ctype, std::nullopt, std::nullopt, false);
         }),
         py::kw_only(), py::arg("name") = py::none(), py::arg("raw") = false,
         py::arg("ctype") = "string");
  sq.def_static(
      "open",
      [](const std::string& name, bool raw, std::optional<std::string> ctype) {
        std::optional<CType> c;
        if (ctype) c = ParseCType(*ctype);
        auto [q, got] = Open<Flavor::kQueue>(std::string_view(name), c);
        return new PySimpleQueue(std::move(q), Flavor::kSimple, raw, got);
      },
      py::arg("name"), py::kw_only(), py::arg("raw") = false,
      py::arg("ctype") = py::none(), "The named queue another process created.");
  for (PyMethodDef& def : kSimpleQueueFast) AddFastMethod(sq, &def);
  sq.def("empty", &PyQueue::empty)
      .def("close", &PyQueue::close)
      .def_property_readonly("closed", &PyQueue::closed)
      .def_property_readonly("name", &PyQueue::name)
      .def_property_readonly("raw", &PyQueue::raw)
      .def("__reduce__",
           [](py::handle self) {
             return self.cast<PySimpleQueue&>().reduce(self);
           })
      .def("__repr__",
           [](const PySimpleQueue& q) { return q.repr("SimpleQueue"); });

  m.def("_rebuild_queue", &Rebuild,
        "Unpickles a queue: opens the region the reference names.");
}

}  // namespace shoal::python
