// Copyright 2026 The shoal Authors.
#include "python/small_values.h"

#include <cstdint>
#include <cstring>
#include <string>

#include "shoal/base/errors.h"

namespace shoal::python {
namespace {

constexpr int kMaxDepth = 4;
constexpr uint32_t kMaxTuple = 32;

struct Writer {
  std::byte* p;
  std::size_t left;
  bool Put(const void* src, std::size_t n) {
    if (n > left) return false;
    std::memcpy(p, src, n);
    p += n;
    left -= n;
    return true;
  }
  bool Tag(char c) { return Put(&c, 1); }
};

bool Encode(PyObject* o, Writer& w, int depth) {
  PyTypeObject* t = Py_TYPE(o);
  if (o == Py_None) return w.Tag('N');
  if (o == Py_True) return w.Tag('T');
  if (o == Py_False) return w.Tag('F');
  if (t == &PyLong_Type) {
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow != 0 || (v == -1 && PyErr_Occurred())) {
      PyErr_Clear();
      return false;
    }
    const int64_t x = v;
    return w.Tag('i') && w.Put(&x, 8);
  }
  if (t == &PyFloat_Type) {
    const double d = PyFloat_AS_DOUBLE(o);
    return w.Tag('d') && w.Put(&d, 8);
  }
  if (t == &PyUnicode_Type) {
    Py_ssize_t n = 0;
    const char* s = PyUnicode_AsUTF8AndSize(o, &n);
    if (s == nullptr) {  // lone surrogates: pickle keeps them
      PyErr_Clear();
      return false;
    }
    const auto n32 = static_cast<uint32_t>(n);
    return w.Tag('s') && w.Put(&n32, 4) && w.Put(s, static_cast<std::size_t>(n));
  }
  if (t == &PyBytes_Type) {
    const auto n32 = static_cast<uint32_t>(PyBytes_GET_SIZE(o));
    return w.Tag('b') && w.Put(&n32, 4) && w.Put(PyBytes_AS_STRING(o), n32);
  }
  if (t == &PyTuple_Type && depth < kMaxDepth &&
      PyTuple_GET_SIZE(o) <= static_cast<Py_ssize_t>(kMaxTuple)) {
    const auto n32 = static_cast<uint32_t>(PyTuple_GET_SIZE(o));
    if (!(w.Tag('t') && w.Put(&n32, 4))) return false;
    for (uint32_t i = 0; i < n32; ++i) {
      if (!Encode(PyTuple_GET_ITEM(o, i), w, depth + 1)) return false;
    }
    return true;
  }
  return false;
}

struct Reader {
  const std::byte* p;
  std::size_t left;
  [[noreturn]] static void Fail(const char* what) {
    throw CodecError(std::string("shoal queue item: small value ") + what);
  }
  const std::byte* Take(std::size_t n) {
    if (n > left) Fail("truncated");
    const std::byte* at = p;
    p += n;
    left -= n;
    return at;
  }
  template <class T>
  T Get() {
    T v;
    std::memcpy(&v, Take(sizeof v), sizeof v);
    return v;
  }
};

py::object Decode(Reader& r, int depth) {
  const char tag = static_cast<char>(*r.Take(1));
  PyObject* o = nullptr;
  switch (tag) {
    case 'N':
      return py::none();
    case 'T':
      return py::bool_(true);
    case 'F':
      return py::bool_(false);
    case 'i':
      o = PyLong_FromLongLong(r.Get<int64_t>());
      break;
    case 'd':
      o = PyFloat_FromDouble(r.Get<double>());
      break;
    case 's': {
      const uint32_t n = r.Get<uint32_t>();
      const char* s = reinterpret_cast<const char*>(r.Take(n));
      o = PyUnicode_DecodeUTF8(s, n, "strict");
      break;
    }
    case 'b': {
      const uint32_t n = r.Get<uint32_t>();
      o = PyBytes_FromStringAndSize(reinterpret_cast<const char*>(r.Take(n)),
                                    n);
      break;
    }
    case 't': {
      const uint32_t n = r.Get<uint32_t>();
      if (depth >= kMaxDepth || n > kMaxTuple || n > r.left) {
        Reader::Fail("tuple out of bounds");
      }
      py::tuple t(n);
      for (uint32_t i = 0; i < n; ++i) {
        PyTuple_SET_ITEM(t.ptr(), i, Decode(r, depth + 1).release().ptr());
      }
      return t;
    }
    default:
      Reader::Fail("with an unknown tag");
  }
  if (o == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(o);
}

}  // namespace

std::size_t EncodeSmallValue(PyObject* o, std::byte* out) {
  Writer w{out, kSmallValueMax};
  if (!Encode(o, w, 0)) return 0;
  return kSmallValueMax - w.left;
}

py::object DecodeSmallValue(std::span<const std::byte> bytes) {
  Reader r{bytes.data(), bytes.size()};
  py::object o = Decode(r, 0);
  if (r.left != 0) Reader::Fail("followed by stray bytes");
  return o;
}

}  // namespace shoal::python
