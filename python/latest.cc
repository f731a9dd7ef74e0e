// Copyright 2026 The shoal Authors.
//
// latest.cc: shoal.Latest and shoal.Blackboard, latest-value state
// (ipc/latest.h, ipc/blackboard.h): writers publish, readers read the
// newest whole value without waiting for any writer.
//
//   pose = shoal.Latest('d', (3,), name='pose')   # C++ Latest<std::array<double, 3>>
//   pose.publish([1.0, 2.0, 0.5])                 # version 1
//   a, v = pose.read_versioned()                  # a copy, never torn
//   pose.wait_newer(v, timeout=1)                 # sleep until the next one
//
// Identity: a value is a numpy dtype (dtypes.h's codes) and a shape. Shape
// () is the C++ element type itself; shape (n, m, ...) is
// std::array<std::array<T, ...>, n>, the C++ type a C++ program would
// declare. The region's layout identity is computed here at run time the
// way ipc/layout.h computes it at compile time (TypeName of that type,
// sizeof, alignof: internal::LayoutHashOf), so a Python Latest('d', (3,))
// IS a C++ Latest<std::array<double, 3>>, and a Blackboard key declared
// from Python as float64 of shape (3,) is entry<std::array<double, 3>> in
// C++. _latest_identity_check() compares both computations for a few types
// (tests/python/latest_test.py). Keys of other C++ types (structs) are
// listed but not readable from Python (TypeError naming their type).
//
// Waits (a writer lock held by another writer, wait_newer, wait_changed, a
// read overtaken by writers) release the GIL and return to Python every
// kSlice for signals (wait.h), so Ctrl-C interrupts them.
#include <pybind11/complex.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <complex>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "python/common.h"
#include "python/dtypes.h"
#include "python/errors.h"
#include "python/module.h"
#include "python/ndarray.h"
#include "python/wait.h"
#include "shoal/base/errors.h"
#include "shoal/ipc/blackboard.h"
#include "shoal/ipc/latest.h"
#include "shoal/ipc/layout.h"
#include "shoal/ipc/region.h"

namespace shoal::python {
namespace {

// ----------------------------------------------------------- value types

// A value as Python declares it: an element code and a shape; and the C++
// type that is (for the layout identity and for messages).
struct ValueType {
  char code = 'd';
  std::vector<std::size_t> shape;
  std::size_t count = 1;  // elements
  std::size_t itemsize = 0;
  std::size_t align = 0;
  std::string cxx;  // "double", "std::array<double, 3>"

  std::size_t bytes() const { return count * itemsize; }
  uint64_t BoardHash() const {
    return internal::LayoutHashOf(cxx, "blackboard value", bytes(), align, 1);
  }
};

// Latest<T> is the same handle for every T, so its size and alignment (which
// enter its layout hash) do not depend on T either.
static_assert(sizeof(Latest<double>) == sizeof(Latest<std::array<char, 999>>));
static_assert(alignof(Latest<double>) ==
              alignof(Latest<std::array<std::complex<double>, 3>>));

std::string LatestTypeName(const ValueType& t) {
  return "shoal::Latest<" + t.cxx + ">";
}
uint64_t LatestHash(const ValueType& t) {
  return internal::LayoutHashOf(LatestTypeName(t), "latest",
                                sizeof(Latest<double>),
                                alignof(Latest<double>), 1);
}

std::string ShapeString(const std::vector<std::size_t>& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ",";
  return s + ")";
}

std::string Describe(const ValueType& t) {
  return py::str(DtypeOf(t.code)).cast<std::string>() + " of shape " +
         ShapeString(t.shape);
}

ValueType MakeValueType(char code, const std::vector<std::size_t>& shape,
                        const char* what) {
  ValueType t;
  t.code = CanonicalCode(code);
  t.shape = shape;
  WithType(t.code, what, false, [&](auto id) {
    using T = typename decltype(id)::type;
    t.itemsize = sizeof(T);
    t.align = alignof(T);
    t.cxx = std::string(internal::TypeName<T>());
    return 0;
  });
  for (auto it = shape.rbegin(); it != shape.rend(); ++it) {
    if (*it == 0 || t.count > internal::kMaxLatestValueSize / *it) {
      Raise(Errors().value,
            std::string(what) + ": shape " + ShapeString(shape) +
                " is not a value of 1 byte to 1 MiB");
    }
    t.count *= *it;
    t.cxx = "std::array<" + t.cxx + ", " + std::to_string(*it) + ">";
  }
  if (t.bytes() > internal::kMaxLatestValueSize) {
    Raise(Errors().value, std::string(what) + ": " + Describe(t) + " is " +
                              std::to_string(t.bytes()) +
                              " bytes; values are at most 1 MiB");
  }
  return t;
}

std::vector<std::size_t> ShapeFrom(py::handle shape) {
  std::vector<std::size_t> out;
  if (shape.is_none()) return out;
  if (PyIndex_Check(shape.ptr())) {
    out.push_back(shape.cast<std::size_t>());
    return out;
  }
  for (py::handle d : shape) out.push_back(d.cast<std::size_t>());
  return out;
}

// The numeric type a C++ type name stands for, if Python can hold it:
// "double" or "std::array<...<double, 3>..., 2>" parsed back into an element
// and a shape. The caller confirms it against the region's hash.
std::optional<ValueType> ParseCxxType(std::string_view name, const char* what) {
  std::vector<std::size_t> dims;
  constexpr std::string_view kArray = "std::array<";
  while (name.substr(0, kArray.size()) == kArray && name.back() == '>') {
    std::string_view inner =
        name.substr(kArray.size(), name.size() - kArray.size() - 1);
    const std::size_t comma = inner.rfind(", ");
    if (comma == std::string_view::npos) return std::nullopt;
    std::size_t n = 0;
    for (char c : inner.substr(comma + 2)) {
      if (c < '0' || c > '9' || n > internal::kMaxLatestValueSize) {
        return std::nullopt;
      }
      n = n * 10 + static_cast<std::size_t>(c - '0');
    }
    dims.push_back(n);  // outermost first
    name = inner.substr(0, comma);
  }
  for (const char* c = kNumericCodes; *c; ++c) {
    const bool same = WithType(*c, what, false, [&](auto id) {
      return internal::TypeName<typename decltype(id)::type>() == name;
    });
    if (!same) continue;
    for (std::size_t d : dims) {
      if (d == 0) return std::nullopt;
    }
    try {
      return MakeValueType(*c, dims, what);
    } catch (const py::error_already_set&) {
      PyErr_Clear();
    }
    return std::nullopt;
  }
  return std::nullopt;
}

// The numeric type a Blackboard table names, if Python can hold it: the
// name parsed, then confirmed by the hash and the size.
std::optional<ValueType> ParseValueType(const Blackboard::KeyType& k) {
  std::optional<ValueType> t = ParseCxxType(k.type_name, "Blackboard");
  if (t && t->BoardHash() == k.type_hash && t->bytes() == k.value_size) return t;
  return std::nullopt;
}

// ------------------------------------------------------ Python <-> bytes

bool IsNdarray(py::handle obj) {
  // Leaked on purpose: a module-lifetime reference, never released at exit.
  static PyObject* const ndarray =
      py::object(py::module_::import("numpy").attr("ndarray")).release().ptr();
  return PyObject_IsInstance(obj.ptr(), ndarray) == 1;
}

template <class T>
py::object ScalarToPy(const void* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return py::cast(v);
}

py::object ValueToPy(const ValueType& t, const void* p) {
  if (t.shape.empty()) {
    return WithType(t.code, "Latest", false, [&](auto id) {
      return ScalarToPy<typename decltype(id)::type>(p);
    });
  }
  py::object a = NewArray(t.code, t.count);
  std::memcpy(ArrayData(a), p, t.bytes());
  py::tuple shape(t.shape.size());
  for (std::size_t i = 0; i < t.shape.size(); ++i) shape[i] = t.shape[i];
  return a.attr("reshape")(shape);
}

// `obj` as exactly t.bytes() bytes of t's type in `out`. Scalars: a Python
// number the element type holds exactly (TypeError otherwise; ints out of
// range: OverflowError). Arrays: a numpy array of exactly the dtype
// (TypeError naming both, as Channel.send), or anything numpy.asarray
// turns into values of the same kind that survive the conversion; the
// shape must be the declared one (ValueError naming both).
void ValueFromPy(const ValueType& t, py::handle obj, void* out,
                 const char* what) {
  if (t.shape.empty() && !IsNdarray(obj)) {
    WithType(t.code, what, false, [&](auto id) {
      using T = typename decltype(id)::type;
      T v;
      bool ok = false;
      if constexpr (std::is_same_v<T, bool>) {
        ok = PyBool_Check(obj.ptr()) ||
             std::string_view(Py_TYPE(obj.ptr())->tp_name) == "numpy.bool_";
        if (ok) v = PyObject_IsTrue(obj.ptr()) == 1;
      } else if constexpr (std::is_integral_v<T>) {
        if (!PyFloat_Check(obj.ptr()) && !PyComplex_Check(obj.ptr()) &&
            PyIndex_Check(obj.ptr())) {
          try {
            v = obj.cast<T>();
            ok = true;
          } catch (const py::cast_error&) {
            Raise(PyExc_OverflowError,
                  std::string(what) + ": " + py::repr(obj).cast<std::string>() +
                      " does not fit " + Describe(t));
          }
        }
      } else if constexpr (std::is_floating_point_v<T>) {
        if (!PyComplex_Check(obj.ptr())) {
          try {
            v = obj.cast<T>();
            ok = true;
          } catch (const py::cast_error&) {
          }
        }
      } else {
        try {
          v = obj.cast<T>();
          ok = true;
        } catch (const py::cast_error&) {
        }
      }
      if (!ok) {
        Raise(PyExc_TypeError, std::string(what) + ": " +
                                   py::repr(obj).cast<std::string>() +
                                   " is not a value of " + Describe(t));
      }
      std::memcpy(out, &v, sizeof v);
      return 0;
    });
    return;
  }
  py::module_ np = py::module_::import("numpy");
  py::object arr;
  if (IsNdarray(obj)) {
    py::object want = DtypeOf(t.code);
    py::object got = obj.attr("dtype");
    if (!got.equal(want)) {
      Raise(PyExc_TypeError,
            std::string(what) + ": the array holds " +
                py::str(got).cast<std::string>() + " but this holds " +
                Describe(t) + " (convert with .astype(" +
                py::str(want).cast<std::string>() + "))");
    }
    arr = ContiguousOf(t.code, obj, what);
  } else {
    py::object raw = np.attr("asarray")(obj);
    py::object want = DtypeOf(t.code);
    if (!py::object(raw.attr("dtype")).equal(want)) {
      const bool kind_ok =
          np.attr("can_cast")(raw.attr("dtype"), want, "same_kind")
              .cast<bool>();
      py::object conv;
      if (kind_ok) conv = raw.attr("astype")(want);
      const std::string k = want.attr("kind").cast<std::string>();
      if (!kind_ok || ((k == "i" || k == "u" || k == "b") &&
                       !np.attr("array_equal")(conv, raw).cast<bool>())) {
        Raise(PyExc_TypeError,
              std::string(what) + ": " + py::repr(obj).cast<std::string>() +
                  " (" + py::str(raw.attr("dtype")).cast<std::string>() +
                  ") is not a value of " + Describe(t));
      }
      raw = conv;
    }
    arr = ContiguousOf(t.code, raw, what);
  }
  py::tuple shape = arr.attr("shape");
  bool same = shape.size() == t.shape.size();
  for (std::size_t i = 0; same && i < t.shape.size(); ++i) {
    same = shape[i].cast<std::size_t>() == t.shape[i];
  }
  if (!same) {
    std::vector<std::size_t> got;
    for (py::handle d : shape) got.push_back(d.cast<std::size_t>());
    Raise(Errors().value, std::string(what) + ": a value of shape " +
                              ShapeString(got) + ", but this holds " +
                              Describe(t));
  }
  std::memcpy(out, ArrayData(arr), t.bytes());
}

// ------------------------------------------------------------ one cell

// One latest-value cell: a Latest's region, or a Blackboard key.
struct CellState {
  Region region;  // keeps the mapping
  internal::LatestCell cell;
  std::optional<internal::BoardGeneration> board;  // a Blackboard key
  ValueType type;
  std::string key;  // a Blackboard key's name
};

class PyLatest {
 public:
  explicit PyLatest(std::shared_ptr<CellState> s) : s_(std::move(s)) {}

  uint64_t publish(py::handle value, std::optional<double> timeout) {
    std::vector<unsigned char> buf(s_->type.bytes());
    ValueFromPy(s_->type, value, buf.data(), Label("publish").c_str());
    uint64_t v = 0;
    Locked(timeout, "publish", [&](const Deadline& d) {
      v = s_->cell.Publish(buf.data(), d);
    });
    if (s_->board) s_->board->Bump();
    return v;
  }

  // fn(current) -> new value; arrays may instead be changed in place
  // (fn returns None). Runs under the writer lock: no other writer
  // publishes in between. An exception from fn publishes nothing.
  uint64_t update(py::handle fn, std::optional<double> timeout) {
    std::vector<unsigned char> scratch(s_->type.bytes());
    uint64_t v = 0;
    Locked(timeout, "update", [&](const Deadline& d) {
      v = s_->cell.Update(
          scratch.data(),
          [&](void* p) {
            std::optional<py::gil_scoped_acquire> gil;
            if (!PyGILState_Check()) gil.emplace();
            py::object cur = ValueToPy(s_->type, p);
            py::object next = fn(cur);
            if (next.is_none() && !s_->type.shape.empty()) next = cur;
            ValueFromPy(s_->type, next, p, Label("update").c_str());
          },
          d);
    });
    if (s_->board) s_->board->Bump();
    return v;
  }

  py::object read(std::optional<double> timeout) {
    return ReadVersioned(timeout).first;
  }
  py::tuple read_versioned(std::optional<double> timeout) {
    auto [value, v] = ReadVersioned(timeout);
    return py::make_tuple(value, v);
  }
  py::object read_if_newer(uint64_t seen) {
    if (s_->cell.version() == seen) return py::none();
    return read_versioned(std::nullopt);
  }

  bool wait_newer(uint64_t seen, std::optional<double> timeout) {
    return WaitInSlices(DeadlineFrom(timeout), [&](const Deadline& d, bool) {
      return s_->cell.WaitNewer(seen, d) != seen;
    });
  }

  uint64_t version() const { return s_->cell.version(); }
  uint64_t writer_deaths() const { return s_->cell.writer_deaths(); }
  py::object dtype() const { return DtypeOf(s_->type.code); }
  py::tuple shape() const {
    py::tuple t(s_->type.shape.size());
    for (std::size_t i = 0; i < s_->type.shape.size(); ++i) {
      t[i] = s_->type.shape[i];
    }
    return t;
  }
  std::size_t nbytes() const { return s_->type.bytes(); }
  std::string cxx_type() const { return s_->type.cxx; }
  py::object key() const {
    if (!s_->board) return py::none();
    return py::str(s_->key);
  }
  py::object name() const { return NameOf(s_->region); }

  std::string repr() const {
    std::string r = "<shoal.Latest " + Describe(s_->type);
    if (s_->board) r += " (Blackboard key '" + s_->key + "')";
    const py::object n = name();
    if (!n.is_none()) r += " name=" + py::repr(n).cast<std::string>();
    return r + " version=" + std::to_string(version()) + ">";
  }

  py::tuple reduce() const {
    py::object rebuild = py::module_::import("shoal").attr("_rebuild");
    const py::bytes ref = RefToBytes(s_->region.ref());
    if (s_->board) {
      return py::make_tuple(
          rebuild, py::make_tuple("_rebuild_board_entry", ref, s_->key));
    }
    return py::make_tuple(
        rebuild, py::make_tuple("_rebuild_latest", std::string(1, s_->type.code),
                                shape(), ref));
  }

 private:
  std::string Label(const char* call) const {
    return std::string(s_->board ? "Blackboard['" + s_->key + "']" : "Latest") +
           "." + call;
  }

  // Runs body(deadline) (which takes the writer lock) until it gets the
  // lock or `timeout` passes (shoal.TimeoutError).
  template <class Body>
  void Locked(std::optional<double> timeout, const char* call, Body&& body) {
    const bool done =
        WaitInSlices(DeadlineFrom(timeout), [&](const Deadline& d, bool) {
          try {
            body(d);
            return true;
          } catch (const TimeoutError&) {
            return false;
          }
        });
    if (!done) {
      Raise(Errors().timeout,
            Label(call) + std::string(": another writer held the lock until "
                                     "the deadline"));
    }
  }

  std::pair<py::object, uint64_t> ReadVersioned(std::optional<double> timeout) {
    const ValueType& t = s_->type;
    std::array<unsigned char, 16> small;
    std::vector<unsigned char> big;
    void* out = small.data();
    if (t.bytes() > small.size()) {
      big.resize(t.bytes());
      out = big.data();
    }
    uint64_t v = 0;
    const bool done =
        WaitInSlices(DeadlineFrom(timeout), [&](const Deadline& d, bool) {
          try {
            v = s_->cell.ReadBytes(out, d);
            return true;
          } catch (const TimeoutError&) {
            return false;
          }
        });
    if (!done) {
      Raise(Errors().timeout,
            Label("read") + std::string(": writers republished faster than "
                                       "one copy took, until the deadline"));
    }
    return {ValueToPy(t, out), v};
  }

  std::shared_ptr<CellState> s_;
};

// The cell of a Latest region (checked against t's size).
std::shared_ptr<CellState> AttachLatest(Region r, const ValueType& t) {
  auto s = std::make_shared<CellState>();
  s->cell = internal::LatestCell::Attach(
      r.payload(), r.payload_size(), t.bytes(),
      LatestTypeName(t) + " in " + r.description());
  s->region = std::move(r);
  s->type = t;
  return s;
}

std::shared_ptr<CellState> NewLatest(const ValueType& t, py::handle initial,
                                     const std::optional<std::string>& name) {
  std::vector<unsigned char> init(t.bytes(), 0);
  if (!initial.is_none()) ValueFromPy(t, initial, init.data(), "Latest");
  const std::string type_name = LatestTypeName(t);
  Region r = Region::Create(internal::LatestCellBytes(t.bytes()),
                            RegionLayout{LatestHash(t), type_name},
                            RegionFor(name));
  internal::LatestCell::Construct(r.payload(), t.bytes(), init.data());
  r.PublishReady();
  return AttachLatest(std::move(r), t);
}

Region OpenRegion(std::string_view name, const RegionLayout& l) {
  return Region::OpenNamed(name, l);
}
Region OpenRegion(const RegionRef& ref, const RegionLayout& l) {
  return Region::Open(ref, l);
}

template <class Key>
std::shared_ptr<CellState> OpenLatest(const ValueType& t, const Key& key) {
  const std::string type_name = LatestTypeName(t);
  Region r;
  try {
    r = OpenRegion(key, RegionLayout{LatestHash(t), type_name});
  } catch (const InvalidRegion& e) {
    throw InvalidRegion(std::string("Latest.open as ") + Describe(t) + " (" +
                        type_name + "): " + e.what());
  }
  return AttachLatest(std::move(r), t);
}

// The type of the named Latest, read from its region's header: what
// Latest.open(name) without a dtype opens it as. The open that follows
// checks the layout hash, so a region replaced in between is refused.
ValueType NamedLatestType(const std::string& name) {
  const std::string full = internal::NormalizeRegionName(name);
  for (const RegionInfo& info : ListRegions()) {
    if (info.name != full || info.half_made) continue;
    if (!info.valid) {
      throw InvalidRegion("Latest.open: region '" + full + "' is not a valid shoal region: " +
                          info.problem);
    }
    constexpr std::string_view kLatest = "shoal::Latest<";
    const std::string_view type = info.type_name;
    if (type.substr(0, kLatest.size()) != kLatest || type.back() != '>') {
      throw InvalidRegion("Latest.open: region '" + full + "' holds " + info.type_name +
                          ", not a shoal::Latest");
    }
    const std::string_view value =
        type.substr(kLatest.size(), type.size() - kLatest.size() - 1);
    if (std::optional<ValueType> t = ParseCxxType(value, "Latest.open")) return *t;
    Raise(PyExc_TypeError, "Latest.open: region '" + full + "' holds " + info.type_name +
                               ", whose value is not numbers or fixed-size arrays of "
                               "numbers; Python cannot read it");
  }
  throw SystemError("no region named '" + full + "'", ENOENT);
}

// ------------------------------------------------------------ Blackboard

class PyBlackboard {
 public:
  explicit PyBlackboard(Blackboard b) : b_(std::move(b)) {
    keys_ = b_.key_types();
    for (const Blackboard::KeyType& k : keys_) types_.push_back(ParseValueType(k));
  }

  PyLatest* entry(const std::string& key) { return new PyLatest(Cell(key)); }

  py::object get(const std::string& key, std::optional<double> timeout) {
    return PyLatest(Cell(key)).read(timeout);
  }
  py::tuple read_versioned(const std::string& key,
                           std::optional<double> timeout) {
    return PyLatest(Cell(key)).read_versioned(timeout);
  }
  uint64_t set(const std::string& key, py::handle v,
               std::optional<double> timeout) {
    return PyLatest(Cell(key)).publish(v, timeout);
  }
  uint64_t update(const std::string& key, py::handle fn,
                  std::optional<double> timeout) {
    return PyLatest(Cell(key)).update(fn, timeout);
  }
  uint64_t version(const std::string& key) { return Cell(key)->cell.version(); }
  bool wait_newer(const std::string& key, uint64_t seen,
                  std::optional<double> timeout) {
    return PyLatest(Cell(key)).wait_newer(seen, timeout);
  }

  std::vector<std::string> keys() const {
    std::vector<std::string> out;
    for (const auto& k : keys_) out.push_back(k.key);
    return out;
  }
  bool contains(const std::string& key) const { return Index(key) >= 0; }
  std::size_t size() const { return keys_.size(); }

  // {key: (dtype, shape)}; None for a key of a type Python cannot hold.
  py::dict types() const {
    py::dict d;
    for (std::size_t i = 0; i < keys_.size(); ++i) {
      if (!types_[i]) {
        d[py::str(keys_[i].key)] = py::none();
        continue;
      }
      py::tuple shape(types_[i]->shape.size());
      for (std::size_t j = 0; j < types_[i]->shape.size(); ++j) {
        shape[j] = types_[i]->shape[j];
      }
      d[py::str(keys_[i].key)] = py::make_tuple(DtypeOf(types_[i]->code), shape);
    }
    return d;
  }

  uint64_t generation() const { return b_.generation(); }
  bool wait_changed(uint64_t seen, std::optional<double> timeout) const {
    return WaitInSlices(DeadlineFrom(timeout), [&](const Deadline& d, bool) {
      return b_.wait_changed(seen, d);
    });
  }
  py::object name() const { return NameOf(b_.region()); }
  py::tuple reduce() const {
    return py::make_tuple(
        py::module_::import("shoal").attr("_rebuild"),
        py::make_tuple("_rebuild_blackboard", RefToBytes(b_.ref())));
  }
  std::string repr() const {
    std::string r = "<shoal.Blackboard keys=[";
    for (std::size_t i = 0; i < keys_.size(); ++i) {
      if (i) r += ", ";
      r += "'" + keys_[i].key + "'";
    }
    r += "]";
    const py::object n = name();
    if (!n.is_none()) r += " name=" + py::repr(n).cast<std::string>();
    return r + " generation=" + std::to_string(generation()) + ">";
  }

  std::shared_ptr<CellState> Cell(const std::string& key) {
    auto it = cells_.find(key);
    if (it != cells_.end()) return it->second;
    const int i = Index(key);
    if (i < 0) {
      Raise(PyExc_KeyError, key);
    }
    if (!types_[i]) {
      Raise(PyExc_TypeError, "Blackboard key '" + key + "' holds " +
                                 keys_[i].type_name +
                                 ", which has no numpy dtype (Python reads "
                                 "numbers and fixed-size arrays of them)");
    }
    auto s = std::make_shared<CellState>();
    s->cell = b_.untyped_cell(key, types_[i]->BoardHash(), types_[i]->bytes(),
                              types_[i]->cxx);
    s->board = b_.publication_hook();
    s->region = b_.region();
    s->type = *types_[i];
    s->key = key;
    cells_.emplace(key, s);
    return s;
  }

 private:
  int Index(const std::string& key) const {
    for (std::size_t i = 0; i < keys_.size(); ++i) {
      if (keys_[i].key == key) return static_cast<int>(i);
    }
    return -1;
  }

  Blackboard b_;
  std::vector<Blackboard::KeyType> keys_;
  std::vector<std::optional<ValueType>> types_;
  std::map<std::string, std::shared_ptr<CellState>> cells_;
};

Blackboard NewBlackboard(py::handle keys, const std::optional<std::string>& name) {
  py::module_ np = py::module_::import("numpy");
  py::object items = py::isinstance<py::dict>(keys)
                         ? py::object(keys.attr("items")())
                         : py::reinterpret_borrow<py::object>(keys);
  std::vector<Blackboard::KeySpec> specs;
  for (py::handle item : items) {
    const bool seq = py::isinstance<py::tuple>(item) || py::isinstance<py::list>(item);
    py::tuple pair = seq ? py::tuple(py::reinterpret_borrow<py::object>(item))
                         : py::tuple();
    if (pair.size() != 2 || !py::isinstance<py::str>(pair[0])) {
      Raise(PyExc_TypeError,
            "Blackboard: declare keys as {name: initial value} (or (name, "
            "value) pairs); the value's numpy dtype and shape are the key's "
            "type: numpy.float32(0), numpy.zeros(3), 2 (int64), 1.5 "
            "(float64)");
    }
    const std::string key = pair[0].cast<std::string>();
    py::object arr = np.attr("asarray")(pair[1]);
    const char code = CodeOfDtype(arr.attr("dtype"));
    std::vector<std::size_t> shape;
    for (py::handle d : py::tuple(arr.attr("shape"))) {
      shape.push_back(d.cast<std::size_t>());
    }
    const ValueType t = MakeValueType(code, shape, "Blackboard");
    Blackboard::KeySpec k;
    k.name = key;
    k.type_hash = t.BoardHash();
    k.type_name = t.cxx;
    k.initial.resize(t.bytes());
    ValueFromPy(t, arr, k.initial.data(), "Blackboard");
    specs.push_back(std::move(k));
  }
  return Blackboard(specs, RegionFor(name));
}

// For the tests: the identities computed here at run time against those
// ipc/layout.h computes at compile time.
py::list IdentityCheck() {
  py::list out;
  auto add = [&](auto id, char code, std::vector<std::size_t> shape) {
    using T = typename decltype(id)::type;
    const ValueType t = MakeValueType(code, shape, "check");
    out.append(py::make_tuple(LatestTypeName(t),
                              std::string(internal::TypeName<Latest<T>>()),
                              LatestHash(t) == Latest<T>::Layout().hash,
                              t.BoardHash() ==
                                  internal::BlackboardValueHash<T>()));
  };
  add(std::type_identity<double>{}, 'd', {});
  add(std::type_identity<long>{}, 'l', {});
  add(std::type_identity<std::array<double, 3>>{}, 'd', {3});
  add(std::type_identity<std::array<std::array<int16_t, 3>, 2>>{}, 'h', {2, 3});
  add(std::type_identity<std::array<unsigned long, 12>>{}, 'L', {12});
  add(std::type_identity<std::array<std::complex<float>, 1>>{}, 'F', {1});
  add(std::type_identity<std::array<bool, 5>>{}, '?', {5});
  return out;
}

constexpr char kLatestDoc[] = R"doc(Latest(dtype, shape=(), value=None, *, name=None)

One value in shared memory that writers replace and readers read without
ever waiting for a writer: "latest value wins" (C++ shoal::Latest<T>; a
shape (n, ...) is std::array<T, n>...: either end may be C++).

    pose = shoal.Latest('d', (3,))     # name='pose': Latest.open('pose')
    pose.publish([1.0, 2.0, 0.5])      # version 1 (any process)
    a = pose.read()                    # a copy of the newest whole value
    a, v = pose.read_versioned()
    pose.wait_newer(v, timeout=1)      # True once a newer one is published
    pose.update(lambda a: a * 2)       # read-modify-write, writers excluded

read() returns a number for shape (), else a new numpy array. Values are
not queued: a reader skips values published between its reads. A writer
killed at any instruction never gives a reader a torn value (readers keep
the previous one); the next writer takes over and `writer_deaths` counts
it. Reads are a copy plus a few loads; publish() takes a robust lock.
)doc";

constexpr char kBlackboardDoc[] = R"doc(Blackboard(keys, *, name=None)

A fixed set of named values in shared memory, each one "latest value wins"
like a Latest (C++ shoal::Blackboard; either end may be C++). The keys and
their types are fixed at creation: {key: initial value}, the value's numpy
dtype and shape being the key's type.

    cfg = shoal.Blackboard({'log_level': numpy.int32(2), 'rate': 100.0,
                            'gains': numpy.zeros(3)}, name='cfg')
    cfg['rate'] = 250.0                # publish (any process)
    cfg['rate']                        # 250.0, never a torn value
    g = cfg.generation                 # publications of any key
    cfg.wait_changed(g, timeout=1)     # True once any key changes
    rate = cfg.entry('rate')           # a shoal.Latest over that key

Blackboard.open(name) reads the key types from the board itself. A key of
a C++ type that is not a number or a std::array of numbers is listed but
raises TypeError when read from Python.
)doc";

}  // namespace

void RegisterLatest(py::module_& m) {
  py::class_<PyLatest> l(m, "Latest", kLatestDoc);
  l.def(py::init([](py::handle dtype, py::handle shape, py::handle value,
                    std::optional<std::string> name) {
          const ValueType t =
              MakeValueType(CodeOfDtype(dtype), ShapeFrom(shape), "Latest");
          return new PyLatest(NewLatest(t, value, name));
        }),
        py::arg("dtype"), py::arg("shape") = py::tuple(),
        py::arg("value") = py::none(), py::kw_only(),
        py::arg("name") = py::none());
  l.def_static(
       "open",
       [](const std::string& name, py::handle dtype, py::handle shape) {
         if (dtype.is_none() && !shape.is_none()) {
           Raise(PyExc_TypeError, "Latest.open: a shape needs a dtype");
         }
         const ValueType t =
             dtype.is_none()
                 ? NamedLatestType(name)
                 : MakeValueType(CodeOfDtype(dtype), ShapeFrom(shape), "Latest.open");
         return new PyLatest(OpenLatest(t, std::string_view(name)));
       },
       py::arg("name"), py::arg("dtype") = py::none(), py::arg("shape") = py::none(),
       "Latest.open(name, dtype=None, shape=None): the named Latest another "
       "process created (Python or C++). Without a dtype, its type is read "
       "from the region (numbers and fixed-size arrays of numbers; a C++ "
       "struct is a TypeError); with one, shoal.InvalidRegion naming both "
       "types when it holds another dtype or shape.")
      .def("publish", &PyLatest::publish, py::arg("value"),
           py::arg("timeout") = py::none(),
           "publish(value, timeout=None) -> version: makes value the newest. "
           "Waits only for other writers (shoal.TimeoutError).")
      .def("update", &PyLatest::update, py::arg("fn"),
           py::arg("timeout") = py::none(),
           "update(fn, timeout=None) -> version: publishes fn(current) under "
           "the writer lock (an array may be changed in place, fn returning "
           "None); an exception from fn publishes nothing.")
      .def("read", &PyLatest::read, py::arg("timeout") = py::none(),
           "read(timeout=None): a copy of the newest value (a number for "
           "shape (), else a numpy array). Never waits for a writer; retries "
           "only while writers overtake the copy (shoal.TimeoutError).")
      .def("read_versioned", &PyLatest::read_versioned,
           py::arg("timeout") = py::none(),
           "read_versioned(timeout=None) -> (value, version)")
      .def("read_if_newer", &PyLatest::read_if_newer, py::arg("seen"),
           "read_if_newer(seen) -> (value, version), or None when the "
           "version is still `seen` (one load).")
      .def("wait_newer", &PyLatest::wait_newer, py::arg("seen"),
           py::arg("timeout") = py::none(),
           "wait_newer(seen, timeout=None) -> bool: True once the version is "
           "not `seen`, False at the timeout.")
      .def_property_readonly("version", &PyLatest::version,
                             "Publications so far (0: the initial value).")
      .def_property_readonly("writer_deaths", &PyLatest::writer_deaths,
                             "Writers that died holding the writer lock.")
      .def_property_readonly("dtype", &PyLatest::dtype)
      .def_property_readonly("shape", &PyLatest::shape)
      .def_property_readonly("nbytes", &PyLatest::nbytes)
      .def_property_readonly("cxx_type", &PyLatest::cxx_type,
                             "The C++ value type, e.g. 'std::array<double, "
                             "3>'.")
      .def_property_readonly("key", &PyLatest::key,
                             "The Blackboard key it is, or None.")
      .def_property_readonly("name", &PyLatest::name)
      .def("__repr__", &PyLatest::repr)
      .def("__reduce__", &PyLatest::reduce);

  py::class_<PyBlackboard> b(m, "Blackboard", kBlackboardDoc);
  b.def(py::init([](py::handle keys, std::optional<std::string> name) {
          return new PyBlackboard(NewBlackboard(keys, name));
        }),
        py::arg("keys"), py::kw_only(), py::arg("name") = py::none());
  b.def_static(
       "open",
       [](const std::string& name) {
         return new PyBlackboard(Blackboard::Open(std::string_view(name)));
       },
       py::arg("name"),
       "Blackboard.open(name): the named board another process created "
       "(Python or C++).")
      .def("entry", &PyBlackboard::entry, py::arg("key"),
           "entry(key) -> shoal.Latest over that key (KeyError: no such key; "
           "TypeError: a type Python cannot hold).")
      .def("read", &PyBlackboard::get, py::arg("key"),
           py::arg("timeout") = py::none())
      .def("__getitem__",
           [](PyBlackboard& self, const std::string& key) {
             return self.get(key, std::nullopt);
           })
      .def("read_versioned", &PyBlackboard::read_versioned, py::arg("key"),
           py::arg("timeout") = py::none(),
           "read_versioned(key, timeout=None) -> (value, version of that key)")
      .def("publish", &PyBlackboard::set, py::arg("key"), py::arg("value"),
           py::arg("timeout") = py::none(),
           "publish(key, value, timeout=None) -> the key's new version")
      .def("__setitem__",
           [](PyBlackboard& self, const std::string& key, py::handle v) {
             self.set(key, v, std::nullopt);
           })
      .def("update", &PyBlackboard::update, py::arg("key"), py::arg("fn"),
           py::arg("timeout") = py::none())
      .def("version", &PyBlackboard::version, py::arg("key"))
      .def("wait_newer", &PyBlackboard::wait_newer, py::arg("key"),
           py::arg("seen"), py::arg("timeout") = py::none())
      .def("keys", &PyBlackboard::keys, "The keys, in declaration order.")
      .def("types", &PyBlackboard::types,
           "{key: (dtype, shape)}; None for a key Python cannot hold.")
      .def("__contains__", &PyBlackboard::contains)
      .def("__len__", &PyBlackboard::size)
      .def("__iter__",
           [](const PyBlackboard& self) {
             return py::iter(py::cast(self.keys()));
           })
      .def_property_readonly("generation", &PyBlackboard::generation,
                             "Publications of any key so far.")
      .def("wait_changed", &PyBlackboard::wait_changed, py::arg("seen"),
           py::arg("timeout") = py::none(),
           "wait_changed(seen, timeout=None) -> bool: True once generation "
           "is not `seen`.")
      .def_property_readonly("name", &PyBlackboard::name)
      .def("__repr__", &PyBlackboard::repr)
      .def("__reduce__", &PyBlackboard::reduce);

  m.def("_rebuild_latest", [](const std::string& code, py::handle shape,
                              py::bytes ref) {
    if (code.size() != 1) Raise(PyExc_ValueError, "bad Latest code");
    const ValueType t = MakeValueType(code[0], ShapeFrom(shape), "Latest");
    return new PyLatest(OpenLatest(t, RefFromBytes(ref)));
  });
  m.def("_rebuild_blackboard", [](py::bytes ref) {
    return new PyBlackboard(Blackboard::Open(RefFromBytes(ref)));
  });
  m.def("_rebuild_board_entry", [](py::bytes ref, const std::string& key) {
    PyBlackboard board(Blackboard::Open(RefFromBytes(ref)));
    return new PyLatest(board.Cell(key));
  });
  m.def("_latest_identity_check", &IdentityCheck);
}

}  // namespace shoal::python
