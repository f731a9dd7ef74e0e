// Copyright 2026 The shoal Authors.
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#define PY_ARRAY_UNIQUE_SYMBOL shoal_python_ARRAY_API
#include "python/ndarray.h"

#include <numpy/arrayobject.h>

#include <string>

#include "python/dtypes.h"
#include "python/errors.h"

namespace shoal::python {
namespace {

bool g_numpy_ready = false;

PyArray_Descr* Descr(char code) {
  EnsureNumpy();
  PyArray_Descr* d = nullptr;
  switch (code) {
    case 'c':
      d = PyArray_DescrNewFromType(NPY_STRING);
      if (d) d->elsize = 1;
      break;
    case 'u':
      d = PyArray_DescrNewFromType(NPY_UNICODE);
      if (d) d->elsize = sizeof(wchar_t);
      break;
    default:
      d = PyArray_DescrFromType(code);  // numpy takes its type chars
  }
  if (d == nullptr) throw py::error_already_set();
  return d;
}

}  // namespace

void EnsureNumpy() {
  if (g_numpy_ready) return;
  if (_import_array() < 0) throw py::error_already_set();
  g_numpy_ready = true;
}

char CodeOfDtype(py::handle dtype_like) {
  EnsureNumpy();
  PyArray_Descr* d = nullptr;
  if (!PyArray_DescrConverter(dtype_like.ptr(), &d)) {
    throw py::error_already_set();
  }
  py::object keep = py::reinterpret_steal<py::object>(
      reinterpret_cast<PyObject*>(d));
  if (!PyArray_ISNBO(d->byteorder)) {
    Raise(PyExc_TypeError, "shoal: only native byte order dtypes travel");
  }
  char c = d->type;
  if (d->type_num == NPY_STRING && d->elsize == 1) c = 'c';
  if (d->type_num == NPY_UNICODE && d->elsize == sizeof(wchar_t)) c = 'u';
  if (d->type_num == NPY_LONGLONG) c = 'l';
  if (d->type_num == NPY_ULONGLONG) c = 'L';
  return CanonicalCode(c);
}

py::object DtypeOf(char code) {
  return py::reinterpret_steal<py::object>(
      reinterpret_cast<PyObject*>(Descr(code)));
}

py::object ArrayView(char code, void* data, std::size_t n, bool writable,
                     py::handle base) {
  EnsureNumpy();  // as in NewArray
  npy_intp dim = static_cast<npy_intp>(n);
  PyArray_Descr* d = Descr(code);
  PyObject* a = PyArray_NewFromDescr(
      &PyArray_Type, d, 1, &dim, nullptr, data,
      NPY_ARRAY_C_CONTIGUOUS | (writable ? NPY_ARRAY_WRITEABLE : 0), nullptr);
  if (a == nullptr) throw py::error_already_set();
  py::object arr = py::reinterpret_steal<py::object>(a);
  Py_INCREF(base.ptr());
  if (PyArray_SetBaseObject(reinterpret_cast<PyArrayObject*>(a), base.ptr()) <
      0) {
    throw py::error_already_set();
  }
  return arr;
}

void SetReadOnly(py::handle array) {
  PyArray_CLEARFLAGS(reinterpret_cast<PyArrayObject*>(array.ptr()),
                     NPY_ARRAY_WRITEABLE);
}

py::object ContiguousOf(char code, py::handle obj, const char* what) {
  EnsureNumpy();
  py::object arr;
  if (PyArray_Check(obj.ptr())) {
    arr = py::reinterpret_borrow<py::object>(obj);
  } else {
    PyObject* a = PyArray_FromAny(obj.ptr(), nullptr, 0, 0, 0, nullptr);
    if (a == nullptr) throw py::error_already_set();
    arr = py::reinterpret_steal<py::object>(a);
  }
  auto* pa = reinterpret_cast<PyArrayObject*>(arr.ptr());
  PyArray_Descr* want = Descr(code);
  py::object keep = py::reinterpret_steal<py::object>(
      reinterpret_cast<PyObject*>(want));
  if (!PyArray_EquivTypes(PyArray_DESCR(pa), want)) {
    py::object got = py::reinterpret_borrow<py::object>(
        reinterpret_cast<PyObject*>(PyArray_DESCR(pa)));
    Raise(PyExc_TypeError,
          std::string(what) + ": the array holds " +
              py::str(got).cast<std::string>() + " but the channel carries " +
              py::str(keep).cast<std::string>() + " (convert with .astype(" +
              py::str(keep).cast<std::string>() + "))");
  }
  if (PyArray_IS_C_CONTIGUOUS(pa)) return arr;
  PyObject* c = PyArray_NewCopy(pa, NPY_CORDER);
  if (c == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(c);
}

void* ArrayData(py::handle array) {
  return PyArray_DATA(reinterpret_cast<PyArrayObject*>(array.ptr()));
}

std::size_t ArraySize(py::handle array) {
  return static_cast<std::size_t>(
      PyArray_SIZE(reinterpret_cast<PyArrayObject*>(array.ptr())));
}

py::object NewArray(char code, std::size_t n) {
  // Before &PyArray_Type is read (an entry of the API table): a spawned
  // child may make its first numpy call here.
  EnsureNumpy();
  npy_intp dim = static_cast<npy_intp>(n);
  PyObject* a = PyArray_NewFromDescr(&PyArray_Type, Descr(code), 1, &dim,
                                     nullptr, nullptr, 0, nullptr);
  if (a == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(a);
}

}  // namespace shoal::python
