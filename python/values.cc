// Copyright 2026 The shoal Authors.
//
// values.cc: shoal.Value, shoal.Array (and RawValue/RawArray): C++
// Value<T>/RawValue<T> and Array<T>/RawArray<T> for the typecodes of
// dtypes.h, so C++ and Python share them by name.
//
// Reading or writing `.value` or an element takes the object's RLock (when
// it has one), waiting with the GIL released; a holder's death is repaired
// there (one store cannot be torn). `Array.numpy()` (and the buffer
// protocol: numpy.asarray(arr), memoryview(arr)) is a view of the shared
// elements WITHOUT the lock, as Array.get_obj() in multiprocessing: hold
// get_lock() around read-modify-write sequences.
#include <pybind11/complex.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "python/common.h"
#include "python/dtypes.h"
#include "python/errors.h"
#include "python/module.h"
#include "python/ndarray.h"
#include "python/sync.h"
#include "shoal/base/errors.h"
#include "shoal/ipc/array.h"
#include "shoal/ipc/value.h"

namespace shoal::python {
namespace {

// Python object <-> T, with multiprocessing's conventions for 'c' (bytes of
// length 1) and 'u' (str of length 1).
template <class T>
py::object ToPy(const T& v) {
  if constexpr (std::is_same_v<T, char>) {
    return py::bytes(&v, 1);
  } else if constexpr (std::is_same_v<T, wchar_t>) {
    PyObject* s = PyUnicode_FromWideChar(&v, 1);
    if (s == nullptr) throw py::error_already_set();
    return py::reinterpret_steal<py::object>(s);
  } else {
    return py::cast(v);
  }
}

template <class T>
T FromPy(py::handle o, char code) {
  if constexpr (std::is_same_v<T, char>) {
    if (PyBytes_Check(o.ptr()) && PyBytes_GET_SIZE(o.ptr()) == 1) {
      return PyBytes_AS_STRING(o.ptr())[0];
    }
    if (PyLong_Check(o.ptr())) {  // an item of a bytes initializer
      const long b = PyLong_AsLong(o.ptr());
      if (b >= 0 && b < 256) return static_cast<char>(b);
      PyErr_Clear();
    }
  } else if constexpr (std::is_same_v<T, wchar_t>) {
    if (PyUnicode_Check(o.ptr()) && PyUnicode_GetLength(o.ptr()) == 1) {
      return static_cast<wchar_t>(PyUnicode_ReadChar(o.ptr(), 0));
    }
  } else {
    try {
      return o.cast<T>();
    } catch (const py::cast_error&) {
    }
  }
  Raise(PyExc_TypeError,
        std::string("a shoal Value/Array of typecode '") + code +
            "' cannot hold " + py::repr(o).cast<std::string>());
}

char CodeOfType(py::handle t) {
  if (py::isinstance<py::str>(t)) {
    const std::string s = t.cast<std::string>();
    if (s.size() == 1) return CanonicalCode(s[0]);
  }
  // ctypes simple types (c_int, c_double, ...) carry their code in _type_.
  if (py::hasattr(t, "_type_") &&
      py::isinstance<py::str>(py::getattr(t, "_type_"))) {
    const std::string s = py::getattr(t, "_type_").cast<std::string>();
    if (s.size() == 1) return CanonicalCode(s[0]);
  }
  return CodeOfDtype(t);  // numpy.dtype-likes
}

// ------------------------------------------------------------- Value

class ValueIface {
 public:
  virtual ~ValueIface() = default;
  virtual py::object get() const = 0;
  virtual void set(py::handle v) = 0;
  virtual RLock* lock() const = 0;  // nullptr: no lock
  virtual const Region& region() const = 0;
};

template <class T>
class ValueImpl final : public ValueIface {
 public:
  ValueImpl(Value<T> v, char code) : v_(std::move(v)), code_(code) {}
  py::object get() const override {
    T x;
    if (v_.has_lock()) {
      ElementGuard g(&v_.get_lock());
      x = *v_.get();
    } else {
      x = v_.load();
    }
    return ToPy(x);
  }
  void set(py::handle o) override {
    const T x = FromPy<T>(o, code_);
    if (v_.has_lock()) {
      ElementGuard g(&v_.get_lock());
      *v_.get() = x;
    } else {
      v_.store(x);
    }
  }
  RLock* lock() const override {
    return v_.has_lock() ? &v_.get_lock() : nullptr;
  }
  const Region& region() const override { return v_.region(); }

 private:
  mutable Value<T> v_;
  char code_;
};

class PyValue {
 public:
  PyValue(std::shared_ptr<ValueIface> v, char code)
      : v_(std::move(v)), code_(code) {}
  py::object get() const { return v_->get(); }
  void set(py::handle o) { v_->set(o); }
  RLock* lock() const { return v_->lock(); }
  std::shared_ptr<void> keep() const { return v_; }
  char code() const { return code_; }
  py::tuple reduce() const {
    return py::make_tuple(
        py::module_::import("shoal").attr("_rebuild"),
        py::make_tuple("_rebuild_value", std::string(1, code_),
                       RefToBytes(v_->region().ref())));
  }
  py::object name() const { return NameOf(v_->region()); }

 private:
  std::shared_ptr<ValueIface> v_;
  char code_;
};

std::shared_ptr<ValueIface> NewValue(char code, py::handle init, bool lock,
                                     const std::optional<std::string>& name) {
  return WithType(code, "Value", true, [&](auto t) -> std::shared_ptr<ValueIface> {
    using T = typename decltype(t)::type;
    const T x = init.is_none() ? T{} : FromPy<T>(init, code);
    return std::make_shared<ValueImpl<T>>(Value<T>(x, lock, RegionFor(name)),
                                          code);
  });
}

template <class Key>
std::shared_ptr<ValueIface> OpenValue(char code, const Key& key) {
  return WithType(code, "Value", true, [&](auto t) -> std::shared_ptr<ValueIface> {
    using T = typename decltype(t)::type;
    return std::make_shared<ValueImpl<T>>(Value<T>::Open(key), code);
  });
}

// ------------------------------------------------------------- Array

class ArrayIface {
 public:
  virtual ~ArrayIface() = default;
  virtual void* data() const = 0;
  virtual std::size_t size() const = 0;
  virtual std::size_t itemsize() const = 0;
  virtual py::object get(std::size_t i) const = 0;
  virtual void set(std::size_t i, py::handle v) = 0;
  virtual RLock* lock() const = 0;
  virtual const Region& region() const = 0;
  virtual std::string format() const = 0;
};

template <class A>
class ArrayImpl final : public ArrayIface {
  using T = typename A::value_type;

 public:
  ArrayImpl(A a, char code) : a_(std::move(a)), code_(code) {}
  void* data() const override { return a_.data(); }
  std::size_t size() const override { return a_.size(); }
  std::size_t itemsize() const override { return sizeof(T); }
  py::object get(std::size_t i) const override { return ToPy(a_.data()[i]); }
  void set(std::size_t i, py::handle o) override {
    a_.data()[i] = FromPy<T>(o, code_);
  }
  RLock* lock() const override {
    if constexpr (requires { a_.get_lock(); }) {
      return &a_.get_lock();
    } else {
      return nullptr;
    }
  }
  const Region& region() const override { return a_.region(); }
  std::string format() const override {
    if constexpr (std::is_same_v<T, char>) return "c";
    else if constexpr (std::is_same_v<T, wchar_t>) return "w";
    else if constexpr (std::is_same_v<T, bool>) return "?";
    else return py::format_descriptor<T>::format();
  }

 private:
  A a_;
  char code_;
};

class PyArray {
 public:
  PyArray(std::shared_ptr<ArrayIface> a, char code, bool locked)
      : a_(std::move(a)), code_(code), locked_(locked) {}

  std::size_t size() const { return a_->size(); }

  py::object getitem(py::handle key) const {
    if (py::isinstance<py::slice>(key)) {
      std::size_t start, stop, step, n;
      if (!key.cast<py::slice>().compute(size(), &start, &stop, &step, &n)) {
        throw py::error_already_set();
      }
      py::list out(n);
      ElementGuard g(a_->lock());
      for (std::size_t k = 0; k < n; ++k, start += step) {
        out[k] = a_->get(start);
      }
      return out;
    }
    const std::size_t i = Index(key);
    ElementGuard g(a_->lock());
    return a_->get(i);
  }

  void setitem(py::handle key, py::handle value) {
    if (py::isinstance<py::slice>(key)) {
      std::size_t start, stop, step, n;
      if (!key.cast<py::slice>().compute(size(), &start, &stop, &step, &n)) {
        throw py::error_already_set();
      }
      py::sequence seq = py::reinterpret_borrow<py::sequence>(value);
      if (static_cast<std::size_t>(py::len(seq)) != n) {
        Raise(PyExc_ValueError, "can only assign a sequence of the same "
                                "length to an Array slice");
      }
      std::vector<py::object> items(seq.begin(), seq.end());
      ElementGuard g(a_->lock());
      for (std::size_t k = 0; k < n; ++k, start += step) {
        a_->set(start, items[k]);
      }
      return;
    }
    const std::size_t i = Index(key);
    ElementGuard g(a_->lock());
    a_->set(i, value);
  }

  py::object numpy(py::handle self) const {
    return ArrayView(code_, a_->data(), a_->size(), true, self);
  }

  py::buffer_info buffer() const {
    return py::buffer_info(a_->data(), static_cast<py::ssize_t>(a_->itemsize()),
                           a_->format(), 1,
                           {static_cast<py::ssize_t>(a_->size())},
                           {static_cast<py::ssize_t>(a_->itemsize())});
  }

  RLock* lock() const { return a_->lock(); }
  std::shared_ptr<void> keep() const { return a_; }
  char code() const { return code_; }
  bool locked() const { return locked_; }
  py::object name() const { return NameOf(a_->region()); }
  py::tuple reduce() const {
    return py::make_tuple(
        py::module_::import("shoal").attr("_rebuild"),
        py::make_tuple("_rebuild_array", std::string(1, code_), locked_,
                       RefToBytes(a_->region().ref())));
  }

 private:
  std::size_t Index(py::handle key) const {
    Py_ssize_t i = PyNumber_AsSsize_t(key.ptr(), PyExc_IndexError);
    if (i == -1 && PyErr_Occurred()) throw py::error_already_set();
    const auto n = static_cast<Py_ssize_t>(size());
    if (i < 0) i += n;
    if (i < 0 || i >= n) Raise(PyExc_IndexError, "Array index out of range");
    return static_cast<std::size_t>(i);
  }

  std::shared_ptr<ArrayIface> a_;
  char code_;
  bool locked_;
};

std::shared_ptr<ArrayIface> NewArray(char code, py::handle size_or_init,
                                     bool lock,
                                     const std::optional<std::string>& name) {
  return WithType(code, "Array", true, [&](auto t) -> std::shared_ptr<ArrayIface> {
    using T = typename decltype(t)::type;
    std::vector<T> init;
    std::size_t n = 0;
    if (PyIndex_Check(size_or_init.ptr())) {
      n = size_or_init.cast<std::size_t>();
    } else {
      for (py::handle item : size_or_init) init.push_back(FromPy<T>(item, code));
      n = init.size();
    }
    const RegionOptions ro = RegionFor(name);
    auto fill = [&](auto& a) {
      for (std::size_t k = 0; k < init.size(); ++k) a.data()[k] = init[k];
    };
    if (lock) {
      Array<T> a(n, ro);
      fill(a);
      return std::make_shared<ArrayImpl<Array<T>>>(std::move(a), code);
    }
    RawArray<T> a(n, ro);
    fill(a);
    return std::make_shared<ArrayImpl<RawArray<T>>>(std::move(a), code);
  });
}

template <class Key>
std::shared_ptr<ArrayIface> OpenArray(char code, bool lock, const Key& key) {
  return WithType(code, "Array", true, [&](auto t) -> std::shared_ptr<ArrayIface> {
    using T = typename decltype(t)::type;
    if (lock) {
      return std::make_shared<ArrayImpl<Array<T>>>(Array<T>::Open(key), code);
    }
    return std::make_shared<ArrayImpl<RawArray<T>>>(RawArray<T>::Open(key),
                                                    code);
  });
}

PyRLock* LockOf(RLock* l, std::shared_ptr<void> keep, const char* what) {
  if (l == nullptr) {
    Raise(Errors().value,
          std::string(what) + " was created with lock=False: it has no lock");
  }
  SyncRef<RLock> r;
  r.keep = std::move(keep);
  r.obj = l;
  return new PyRLock(std::move(r));
}

}  // namespace

void RegisterValues(py::module_& m) {
  py::class_<PyValue>(
      m, "Value",
      "Value(typecode_or_type, value=0, *, lock=True, name=None)\n\n"
      "multiprocessing.Value: one number in shared memory, guarded by a "
      "recursive lock (lock=False: none; the same region as C++ "
      "shoal::Value<T> / RawValue<T>). typecode: 'b' 'B' 'h' 'H' 'i' 'I' "
      "'l' 'L' 'q' 'Q' 'f' 'd' '?' 'c' 'u', a ctypes type, or a numpy "
      "dtype. Reading or writing .value takes the lock; for read-modify-"
      "write hold get_lock():  with v.get_lock(): v.value += 1")
      .def(py::init([](py::handle type, py::handle value, bool lock,
                       std::optional<std::string> name) {
             const char code = CodeOfType(type);
             return new PyValue(NewValue(code, value, lock, name), code);
           }),
           py::arg("typecode_or_type"), py::arg("value") = py::none(),
           py::kw_only(), py::arg("lock") = true, py::arg("name") = py::none())
      .def_static(
          "open",
          [](const std::string& name, py::handle type) {
            const char code = CodeOfType(type);
            return new PyValue(OpenValue(code, std::string_view(name)), code);
          },
          py::arg("name"), py::arg("typecode_or_type"),
          "Value.open(name, typecode): the named Value another process "
          "created.")
      .def_property("value", &PyValue::get, &PyValue::set,
                    "The number (read and written under the lock).")
      .def(
          "get_lock",
          [](const PyValue& v) { return LockOf(v.lock(), v.keep(), "Value"); },
          "The recursive lock guarding the value (a shoal.RLock).")
      .def("__enter__",
           [](const PyValue& v) {
             std::unique_ptr<PyRLock> l(LockOf(v.lock(), v.keep(), "Value"));
             return l->acquire(true, std::nullopt);
           })
      .def("__exit__",
           [](const PyValue& v, py::handle, py::handle, py::handle) {
             v.lock()->release();
             return false;
           })
      .def_property_readonly("typecode", [](const PyValue& v) {
        return std::string(1, v.code());
      })
      .def_property_readonly("name", &PyValue::name)
      .def("__reduce__", &PyValue::reduce)
      .def("__repr__", [](const PyValue& v) {
        return "<shoal.Value '" + std::string(1, v.code()) + "' " +
               py::repr(v.get()).cast<std::string>() + ">";
      });

  py::class_<PyArray>(
      m, "Array", py::buffer_protocol(),
      "Array(typecode_or_type, size_or_initializer, *, lock=True, "
      "name=None)\n\n"
      "multiprocessing.Array: a fixed number of elements in shared memory "
      "(the same region as C++ shoal::Array<T>; lock=False: RawArray<T>). "
      "a[i], a[i:j] and assignments take the lock; a.numpy() (and "
      "numpy.asarray(a), memoryview(a)) views the elements in place, "
      "without the lock.")
      .def(py::init([](py::handle type, py::handle size_or_init, bool lock,
                       std::optional<std::string> name) {
             const char code = CodeOfType(type);
             return new PyArray(NewArray(code, size_or_init, lock, name), code,
                                lock);
           }),
           py::arg("typecode_or_type"), py::arg("size_or_initializer"),
           py::kw_only(), py::arg("lock") = true, py::arg("name") = py::none())
      .def_static(
          "open",
          [](const std::string& name, py::handle type, bool lock) {
            const char code = CodeOfType(type);
            return new PyArray(OpenArray(code, lock, std::string_view(name)),
                               code, lock);
          },
          py::arg("name"), py::arg("typecode_or_type"), py::kw_only(),
          py::arg("lock") = true,
          "Array.open(name, typecode, *, lock=True): the named Array another "
          "process created (lock=False: a RawArray).")
      .def_buffer([](const PyArray& a) { return a.buffer(); })
      .def("__len__", &PyArray::size)
      .def("__getitem__", &PyArray::getitem)
      .def("__setitem__", &PyArray::setitem)
      .def(
          "numpy",
          [](py::handle self) { return self.cast<const PyArray&>().numpy(self); },
          "A writable numpy array viewing the shared elements (no lock).")
      .def(
          "tolist",
          [](const PyArray& a) {
            return a.getitem(py::slice(py::none(), py::none(), py::none()));
          },
          "The elements as a list (under the lock).")
      .def(
          "get_lock",
          [](const PyArray& a) { return LockOf(a.lock(), a.keep(), "Array"); },
          "The recursive lock guarding the elements (a shoal.RLock).")
      .def("__enter__",
           [](const PyArray& a) {
             std::unique_ptr<PyRLock> l(LockOf(a.lock(), a.keep(), "Array"));
             return l->acquire(true, std::nullopt);
           })
      .def("__exit__",
           [](const PyArray& a, py::handle, py::handle, py::handle) {
             a.lock()->release();
             return false;
           })
      .def_property_readonly("typecode", [](const PyArray& a) {
        return std::string(1, a.code());
      })
      .def_property_readonly("name", &PyArray::name)
      .def("__reduce__", &PyArray::reduce)
      .def("__repr__", [](const PyArray& a) {
        return "<shoal.Array '" + std::string(1, a.code()) +
               "' len=" + std::to_string(a.size()) + ">";
      });

  m.def("_rebuild_value", [](const std::string& code, py::bytes ref) {
    const RegionRef r = RefFromBytes(ref);
    return new PyValue(OpenValue(code.at(0), r), code.at(0));
  });
  m.def("_rebuild_array", [](const std::string& code, bool lock, py::bytes ref) {
    const RegionRef r = RefFromBytes(ref);
    return new PyArray(OpenArray(code.at(0), lock, r), code.at(0), lock);
  });
}

}  // namespace shoal::python
