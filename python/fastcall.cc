// Copyright 2026 The shoal Authors.
#include "python/fastcall.h"

#include <cstdint>
#include <cstring>

namespace shoal::python {

void TranslateShoalError(std::exception_ptr p);  // errors.cc

void SetErrorFromCurrentException() {
  try {
    throw;
  } catch (py::error_already_set& e) {
    e.restore();
  } catch (const py::builtin_exception& e) {
    e.set_error();
  } catch (...) {
    try {
      TranslateShoalError(std::current_exception());
    } catch (const std::exception& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    } catch (...) {
      PyErr_SetString(PyExc_RuntimeError, "shoal: unknown C++ exception");
    }
  }
}

void ParseArgs(const char* fn, PyObject* const* args, Py_ssize_t nargs,
               PyObject* kwnames, std::initializer_list<const char*> names,
               int required, PyObject** out) {
  const auto n = static_cast<Py_ssize_t>(names.size());
  if (nargs > n) {
    Raise(PyExc_TypeError, std::string(fn) + "() takes at most " +
                               std::to_string(n) + " arguments (" +
                               std::to_string(nargs) + " given)");
  }
  for (Py_ssize_t i = 0; i < nargs; ++i) out[i] = args[i];
  // The common call passes everything by position: nothing to look up.
  if (kwnames == nullptr && nargs >= required) return;
  // Which slots were given, as bits (every caller has a handful of names).
  uint32_t given = nargs >= 32 ? ~uint32_t{0}
                               : (uint32_t{1} << nargs) - 1;
  const Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
  for (Py_ssize_t k = 0; k < nkw; ++k) {
    const char* key = PyUnicode_AsUTF8(PyTuple_GET_ITEM(kwnames, k));
    if (key == nullptr) throw py::error_already_set();
    Py_ssize_t slot = -1;
    Py_ssize_t i = 0;
    for (const char* name : names) {
      if (std::strcmp(name, key) == 0) slot = i;
      ++i;
    }
    if (slot < 0) {
      Raise(PyExc_TypeError, std::string(fn) +
                                 "() got an unexpected keyword argument '" +
                                 key + "'");
    }
    if (given & (uint32_t{1} << slot)) {
      Raise(PyExc_TypeError, std::string(fn) +
                                 "() got multiple values for argument '" +
                                 key + "'");
    }
    out[slot] = args[nargs + k];
    given |= uint32_t{1} << slot;
  }
  for (int i = 0; i < required; ++i) {
    if (!(given & (uint32_t{1} << i))) {
      Raise(PyExc_TypeError, std::string(fn) +
                                 "() missing required argument '" +
                                 *(names.begin() + i) + "'");
    }
  }
}

std::optional<double> TimeoutArgSlow(PyObject* o) {
  const double t = PyFloat_AsDouble(o);
  if (t == -1.0 && PyErr_Occurred()) throw py::error_already_set();
  return t;
}

bool BoolArgSlow(PyObject* o) {
  const int r = PyObject_IsTrue(o);
  if (r < 0) throw py::error_already_set();
  return r != 0;
}

void AddFastMethod(py::handle cls, PyMethodDef* def) {
  PyObject* descr = PyDescr_NewMethod(
      reinterpret_cast<PyTypeObject*>(cls.ptr()), def);
  if (descr == nullptr) throw py::error_already_set();
  const int rc = PyObject_SetAttrString(cls.ptr(), def->ml_name, descr);
  Py_DECREF(descr);
  if (rc != 0) throw py::error_already_set();
}

}  // namespace shoal::python
