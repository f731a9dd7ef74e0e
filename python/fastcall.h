// Copyright 2026 The shoal Authors.
//
// fastcall.h: the hot methods (Queue.put/get, Channel.receive/loan, ...) as
// plain METH_FASTCALL functions on the pybind11 classes.
//
// pybind11's generic dispatcher (argument casters, overload resolution, a
// type lookup per call) costs several hundred nanoseconds per call, as much
// as a whole small-item put into shared memory. These few methods bypass
// it: arguments are parsed by hand, `self` is turned into its C++ object
// through pybind11's instance layout, and exceptions are translated as the
// dispatcher would (errors.h). Everything else stays ordinary pybind11.
#ifndef SHOAL_PYTHON_FASTCALL_H_
#define SHOAL_PYTHON_FASTCALL_H_

#include <pybind11/pybind11.h>

#include <exception>
#include <initializer_list>
#include <optional>
#include <string>

#include "python/errors.h"

namespace shoal::python {

namespace py = pybind11;

// Sets the Python error for the exception being handled (call from a catch
// block): error_already_set is restored, shoal errors and std errors are
// translated as in every pybind11 method.
void SetErrorFromCurrentException();

// The C++ object of a pybind11 instance of T (or of a class derived from
// it in C++ with single inheritance).
template <class T>
T* SelfAs(PyObject* self) {
  auto* inst = reinterpret_cast<py::detail::instance*>(self);
  if (inst->simple_layout) {
    if (!inst->simple_holder_constructed) {
      Raise(PyExc_TypeError, std::string(Py_TYPE(self)->tp_name) +
                                 ": __init__ was not called");
    }
    return static_cast<T*>(inst->simple_value_holder[0]);
  }
  return py::handle(self).cast<T*>();
}

// Fills out[i] (borrowed) from positional args then keywords named
// names[i] (at most 32 names); slots not given keep their defaults.
// Raises TypeError for missing required (the first `required`) or unknown
// arguments.
void ParseArgs(const char* fn, PyObject* const* args, Py_ssize_t nargs,
               PyObject* kwnames, std::initializer_list<const char*> names,
               int required, PyObject** out);

// None -> nullopt, else a float (TypeError otherwise). Inline for the
// common None and True/False: these run on every put/get/loan/receive.
std::optional<double> TimeoutArgSlow(PyObject* o);
inline std::optional<double> TimeoutArg(PyObject* o) {
  if (o == Py_None) return std::nullopt;
  return TimeoutArgSlow(o);
}
// Python truth (raises on error).
bool BoolArgSlow(PyObject* o);
inline bool BoolArg(PyObject* o) {
  if (o == Py_True) return true;
  if (o == Py_False) return false;
  return BoolArgSlow(o);
}

// Runs body() -> py::object and returns a new reference, or nullptr with
// the Python error set.
template <class Body>
PyObject* Guarded(Body&& body) {
  try {
    return body().release().ptr();
  } catch (...) {
    SetErrorFromCurrentException();
    return nullptr;
  }
}

// Installs `def` (static storage: METH_FASTCALL | METH_KEYWORDS) as a method
// of the pybind11 class `cls`, replacing a method of the same name.
void AddFastMethod(py::handle cls, PyMethodDef* def);

}  // namespace shoal::python

#endif  // SHOAL_PYTHON_FASTCALL_H_
