// Copyright 2026 The shoal Authors.
#include "python/message.h"

#include <cstring>
#include <string>

#include "python/errors.h"
#include "python/small_values.h"
#include "shoal/base/errors.h"

namespace shoal::python {
namespace {

constexpr std::byte kMagic{0xB5};
constexpr char kPickle = 'P', kPickleBuffers = 'B', kBytes = 'y',
               kByteArray = 'a', kSmallValue = 'V';
constexpr std::size_t kAlign = 64;
constexpr std::size_t kBuffersHeader = 16;

struct Pickle {
  PyObject* dumps = nullptr;
  PyObject* loads = nullptr;
  PyObject* protocol = nullptr;          // 5
  PyObject* kw_buffer_callback = nullptr;  // ("buffer_callback",)
  PyObject* kw_buffers = nullptr;          // ("buffers",)
};
Pickle g_pickle;

// A private block of bytes that exports a writable buffer: what the numpy
// arrays a get() returns view (and keep alive).
struct Block {
  std::unique_ptr<std::byte[]> data;
  std::size_t size = 0;
};

std::size_t AlignUp(std::size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// True when `o` cannot contain an object with out-of-band buffers (a
// numpy array, a PickleBuffer): pickling it needs no buffer_callback, which
// saves a list and a bound method per put of small objects.
bool IsPlain(PyObject* o, int depth) {
  PyTypeObject* t = Py_TYPE(o);
  if (o == Py_None || t == &PyLong_Type || t == &PyFloat_Type ||
      t == &PyUnicode_Type || t == &PyBool_Type || t == &PyBytes_Type ||
      t == &PyComplex_Type) {
    return true;
  }
  if (depth > 0 && t == &PyTuple_Type && PyTuple_GET_SIZE(o) <= 16) {
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(o); ++i) {
      if (!IsPlain(PyTuple_GET_ITEM(o, i), depth - 1)) return false;
    }
    return true;
  }
  return false;
}

[[noreturn]] void Garbage(const std::string& what) {
  throw CodecError(
      "shoal queue item: " + what +
      " (not an object put by shoal's Python module; a queue that carries "
      "a C++ program's plain bytes must be opened with raw=True)");
}

template <class T>
T Load(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

py::object Slice(PyObject* view, std::size_t begin, std::size_t end) {
  PyObject* s = PySequence_GetSlice(view, static_cast<Py_ssize_t>(begin),
                                    static_cast<Py_ssize_t>(end));
  if (s == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(s);
}

py::object Call(PyObject* fn, PyObject* const* args, std::size_t nargs,
                PyObject* kwnames) {
  PyObject* r = PyObject_Vectorcall(fn, args, nargs, kwnames);
  if (r == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(r);
}

}  // namespace

void RegisterMessage(py::module_& m) {
  py::module_ pickle = py::module_::import("pickle");
  g_pickle.dumps = py::object(pickle.attr("dumps")).release().ptr();
  g_pickle.loads = py::object(pickle.attr("loads")).release().ptr();
  g_pickle.protocol = py::int_(5).release().ptr();
  g_pickle.kw_buffer_callback =
      py::make_tuple("buffer_callback").release().ptr();
  g_pickle.kw_buffers = py::make_tuple("buffers").release().ptr();

  py::class_<Block>(m, "_Block", py::buffer_protocol(),
                    "Private memory holding one received queue item; the "
                    "numpy arrays unpickled from it view it.")
      .def_buffer([](Block& b) {
        return py::buffer_info(b.data.get(), 1, "B", 1,
                               {static_cast<py::ssize_t>(b.size)}, {1},
                               /*readonly=*/false);
      })
      .def("__len__", [](const Block& b) { return b.size; });
}

// ------------------------------------------------------------- Outgoing

Outgoing::Outgoing(py::handle obj, bool raw) {
  PyObject* o = obj.ptr();
  if (raw) {
    if (PyUnicode_Check(o)) {
      Py_ssize_t n = 0;
      const char* s = PyUnicode_AsUTF8AndSize(o, &n);
      if (s == nullptr) throw py::error_already_set();
      pickled_ = py::reinterpret_borrow<py::object>(obj);  // keeps s alive
      pieces_.push_back({reinterpret_cast<const std::byte*>(s),
                         static_cast<std::size_t>(n), 0});
      payload_size_ = static_cast<std::size_t>(n);
      return;
    }
    if (!PyObject_CheckBuffer(o)) {
      Raise(PyExc_TypeError,
            std::string("a raw queue carries bytes: bytes, bytearray, "
                        "memoryview, a contiguous buffer or str, not '") +
                Py_TYPE(o)->tp_name + "'");
    }
    AddBuffer(o, PyBUF_ANY_CONTIGUOUS);
    pieces_.back().offset = 0;
    payload_size_ = pieces_.back().size;
    return;
  }
  if (const std::size_t n = EncodeSmallValue(o, value_)) {
    header_ = {kMagic, std::byte(kSmallValue)};
    pieces_.push_back({value_, n, header_.size()});
    payload_size_ = header_.size() + n;
    return;
  }
  if (PyBytes_CheckExact(o) || PyByteArray_CheckExact(o)) {
    header_ = {kMagic, std::byte(PyBytes_CheckExact(o) ? kBytes : kByteArray)};
    AddBuffer(o, PyBUF_SIMPLE);
    pieces_.back().offset = header_.size();
    payload_size_ = header_.size() + pieces_.back().size;
    return;
  }
  Pickle(obj);
}

void Outgoing::AddBuffer(PyObject* exporter, int flags) {
  Py_buffer view;
  if (PyObject_GetBuffer(exporter, &view, flags) != 0) {
    throw py::error_already_set();
  }
  views_.push_back(view);
  pieces_.push_back({static_cast<const std::byte*>(view.buf),
                     static_cast<std::size_t>(view.len), 0});
}

void Outgoing::Pickle(py::handle obj) {
  PyObject* o = obj.ptr();
  if (IsPlain(o, 2)) {
    PyObject* args[] = {o, g_pickle.protocol};
    pickled_ = Call(g_pickle.dumps, args, 2, nullptr);
  } else {
    py::list buffers;
    py::object append = buffers.attr("append");
    PyObject* args[] = {o, g_pickle.protocol, append.ptr()};
    pickled_ = Call(g_pickle.dumps, args, 2, g_pickle.kw_buffer_callback);
    bool contiguous = true;
    for (py::handle b : buffers) {
      if (PyObject_GetBuffer(b.ptr(), &views_.emplace_back(),
                             PyBUF_ANY_CONTIGUOUS) != 0) {
        views_.pop_back();
        PyErr_Clear();
        contiguous = false;
        break;
      }
    }
    if (!contiguous) {  // pickle every buffer in band instead
      for (Py_buffer& v : views_) PyBuffer_Release(&v);
      views_.clear();
      PyObject* args2[] = {o, g_pickle.protocol};
      pickled_ = Call(g_pickle.dumps, args2, 2, nullptr);
    }
  }
  char* p = nullptr;
  Py_ssize_t plen = 0;
  if (PyBytes_AsStringAndSize(pickled_.ptr(), &p, &plen) != 0) {
    throw py::error_already_set();
  }
  const auto* pb = reinterpret_cast<const std::byte*>(p);
  const std::size_t n = views_.size();
  if (n == 0) {
    header_ = {kMagic, std::byte(kPickle)};
    pieces_.push_back({pb, static_cast<std::size_t>(plen), header_.size()});
    payload_size_ = header_.size() + static_cast<std::size_t>(plen);
    return;
  }
  header_.assign(kBuffersHeader + 8 * n, std::byte{0});
  header_[0] = kMagic;
  header_[1] = std::byte(kPickleBuffers);
  const uint32_t n32 = static_cast<uint32_t>(n);
  const uint64_t plen64 = static_cast<uint64_t>(plen);
  std::memcpy(header_.data() + 4, &n32, 4);
  std::memcpy(header_.data() + 8, &plen64, 8);
  std::size_t at = header_.size();
  pieces_.push_back({pb, static_cast<std::size_t>(plen), at});
  at += static_cast<std::size_t>(plen);
  for (std::size_t i = 0; i < n; ++i) {
    const uint64_t len = static_cast<uint64_t>(views_[i].len);
    std::memcpy(header_.data() + kBuffersHeader + 8 * i, &len, 8);
    at = AlignUp(at);
    pieces_.push_back({static_cast<const std::byte*>(views_[i].buf),
                       static_cast<std::size_t>(len), at});
    at += len;
  }
  payload_size_ = at;
}

Outgoing::~Outgoing() {
  for (Py_buffer& v : views_) PyBuffer_Release(&v);
}

void Outgoing::WriteTo(std::span<std::byte> dst) const {
  const uint64_t n = payload_size_;
  std::memcpy(dst.data(), &n, 8);
  std::byte* payload = dst.data() + 8;
  if (!header_.empty()) std::memcpy(payload, header_.data(), header_.size());
  std::size_t end = header_.size();
  for (const Piece& p : pieces_) {
    // Alignment padding: zeroed, so no stale shared memory is handed on.
    if (p.offset > end) std::memset(payload + end, 0, p.offset - end);
    if (p.size) std::memcpy(payload + p.offset, p.data, p.size);
    end = p.offset + p.size;
  }
}

// ------------------------------------------------------------- Incoming

void Incoming::Read(std::span<const std::byte> encoded, bool raw,
                    bool gil_held) {
  if (encoded.size() < 8) Garbage("shorter than its length prefix");
  const uint64_t n = Load<uint64_t>(encoded.data());
  if (n != encoded.size() - 8) {
    Garbage("length prefix " + std::to_string(n) + " but " +
            std::to_string(encoded.size() - 8) + " bytes");
  }
  const std::byte* p = encoded.data() + 8;
  if (gil_held) {
    // One copy, straight into the Python object.
    const char* d = reinterpret_cast<const char*>(p);
    PyObject* o = nullptr;
    if (raw) {
      o = PyBytes_FromStringAndSize(d, static_cast<Py_ssize_t>(n));
    } else if (n >= 2 && p[0] == kMagic && p[1] == std::byte(kSmallValue)) {
      // Decoding makes only ints, strs, ...: no user code runs while the
      // slot is held.
      direct_ = DecodeSmallValue({p + 2, n - 2});
      return;
    } else if (n >= 2 && p[0] == kMagic) {
      const auto len = static_cast<Py_ssize_t>(n - 2);
      if (p[1] == std::byte(kByteArray)) {
        o = PyByteArray_FromStringAndSize(d + 2, len);
      } else if (p[1] == std::byte(kBytes) || p[1] == std::byte(kPickle)) {
        o = PyBytes_FromStringAndSize(d + 2, len);
        direct_is_pickle_ = p[1] == std::byte(kPickle);
      }  // else: copied, and Take() decodes or reports it
    }
    if (o != nullptr) {
      direct_ = py::reinterpret_steal<py::object>(o);
      return;
    }
    if (PyErr_Occurred()) throw py::error_already_set();
  }
  if (n > kInline) heap_.reset(new std::byte[n]);
  if (n) std::memcpy(heap_ ? heap_.get() : small_, p, n);
  size_ = n;
}

py::object Incoming::Take(bool raw) {
  if (direct_) {
    if (!direct_is_pickle_) return std::move(direct_);
    PyObject* args[] = {direct_.ptr()};
    return Call(g_pickle.loads, args, 1, nullptr);
  }
  const std::byte* p = data();
  const std::size_t n = size_;
  if (raw) return py::bytes(reinterpret_cast<const char*>(p), n);
  if (n < 2 || p[0] != kMagic) Garbage("no shoal header");
  const char kind = static_cast<char>(p[1]);
  if (kind == kSmallValue) return DecodeSmallValue({p + 2, n - 2});
  if (kind == kBytes) return py::bytes(reinterpret_cast<const char*>(p + 2), n - 2);
  if (kind == kByteArray) {
    PyObject* o = PyByteArray_FromStringAndSize(
        reinterpret_cast<const char*>(p + 2), static_cast<Py_ssize_t>(n - 2));
    if (o == nullptr) throw py::error_already_set();
    return py::reinterpret_steal<py::object>(o);
  }
  if (kind == kPickle) {
    // A view of our private copy; pickle copies what it keeps.
    py::object view = py::reinterpret_steal<py::object>(PyMemoryView_FromMemory(
        reinterpret_cast<char*>(const_cast<std::byte*>(p + 2)),
        static_cast<Py_ssize_t>(n - 2), PyBUF_READ));
    if (!view) throw py::error_already_set();
    PyObject* args[] = {view.ptr()};
    return Call(g_pickle.loads, args, 1, nullptr);
  }
  if (kind != kPickleBuffers) Garbage("unknown kind byte");
  if (n < kBuffersHeader) Garbage("truncated header");
  const uint32_t nbuf = Load<uint32_t>(p + 4);
  const uint64_t plen = Load<uint64_t>(p + 8);
  if (nbuf == 0 || nbuf > (n - kBuffersHeader) / 8) Garbage("bad buffer count");
  std::size_t at = kBuffersHeader + 8 * std::size_t{nbuf};
  if (plen > n - at) Garbage("pickle runs past the end");
  const std::size_t pickle_at = at;
  at += plen;
  std::vector<std::pair<std::size_t, std::size_t>> ranges(nbuf);
  for (uint32_t i = 0; i < nbuf; ++i) {
    const uint64_t len = Load<uint64_t>(p + kBuffersHeader + 8 * i);
    at = AlignUp(at);
    if (at > n || len > n - at) Garbage("buffer runs past the end");
    ranges[i] = {at, at + len};
    at += len;
  }
  // The block owns the bytes from here on; every view keeps it alive
  // (16-byte aligned: operator new[]).
  if (!heap_) {
    heap_.reset(new std::byte[n]);
    std::memcpy(heap_.get(), small_, n);
  }
  py::object block = py::cast(Block{std::move(heap_), n});
  py::object view = py::reinterpret_steal<py::object>(
      PyMemoryView_FromObject(block.ptr()));
  if (!view) throw py::error_already_set();
  py::tuple buffers(nbuf);
  for (uint32_t i = 0; i < nbuf; ++i) {
    buffers[i] = Slice(view.ptr(), ranges[i].first, ranges[i].second);
  }
  py::object pickled = Slice(view.ptr(), pickle_at, pickle_at + plen);
  PyObject* args[] = {pickled.ptr(), buffers.ptr()};
  return Call(g_pickle.loads, args, 1, g_pickle.kw_buffers);
}

}  // namespace shoal::python
