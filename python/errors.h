// Copyright 2026 The shoal Authors.
//
// errors.h: shoal's C++ exceptions as Python exceptions.
//
// Every shoal::Error reaching Python becomes an instance of a class in the
// `shoal` module that derives from shoal.Error AND from the standard Python
// class a multiprocessing user already catches, with the C++ message:
//
//   C++                        Python (bases)
//   shoal::Empty               shoal.Empty (shoal.Error, queue.Empty)
//   shoal::Full                shoal.Full (shoal.Error, queue.Full)
//   shoal::TimeoutError        shoal.TimeoutError (shoal.Error, TimeoutError)
//   shoal::EOFError            shoal.EOFError (shoal.Error, EOFError)
//   shoal::ValueError          shoal.ValueError (shoal.Error, ValueError)
//   shoal::Closed              shoal.Closed (shoal.ValueError)
//   shoal::RuntimeError        shoal.RuntimeError (shoal.Error, RuntimeError)
//   shoal::BrokenBarrierError  shoal.BrokenBarrierError (shoal.RuntimeError,
//                                threading.BrokenBarrierError)
//   shoal::OwnerDied           shoal.OwnerDied (shoal.Error, RuntimeError)
//   shoal::AuthenticationError shoal.AuthenticationError (shoal.Error,
//                                multiprocessing.AuthenticationError)
//   shoal::InvalidRegion       shoal.InvalidRegion (shoal.Error, ValueError)
//   shoal::CodecError          shoal.CodecError (shoal.Error,
//                                pickle.UnpicklingError)
//   shoal::SerializationError  shoal.SerializationError (shoal.Error,
//                                pickle.PicklingError)
//   shoal::BufferTooShort      shoal.BufferTooShort (shoal.Error,
//                                multiprocessing.BufferTooShort)
//   shoal::SystemError         shoal.SystemError (shoal.Error, OSError),
//                                errno set
//   shoal::WorkerLost          shoal.WorkerLost (shoal.Error, RuntimeError),
//                                .pid set
//   shoal::CancelledError      shoal.CancelledError (shoal.Error,
//                                concurrent.futures.CancelledError)
//   shoal::RemoteError         shoal.RemoteError (shoal.Error), .type_name
//                                and .message set
//   any other shoal::Error     shoal.Error (Exception)
//   std::out_of_range          IndexError
//
// so `except queue.Empty` and `except shoal.Error` both work.
#ifndef SHOAL_PYTHON_ERRORS_H_
#define SHOAL_PYTHON_ERRORS_H_

#include <pybind11/pybind11.h>

#include <string>

namespace shoal::python {

namespace py = pybind11;

// The exception classes, created by RegisterErrors (borrowed references
// owned by the module).
struct ErrorClasses {
  PyObject* error = nullptr;
  PyObject* empty = nullptr;
  PyObject* full = nullptr;
  PyObject* timeout = nullptr;
  PyObject* closed = nullptr;
  PyObject* eof = nullptr;
  PyObject* value = nullptr;
  PyObject* runtime = nullptr;
  PyObject* owner_died = nullptr;
  PyObject* authentication = nullptr;
  PyObject* broken_barrier = nullptr;
  PyObject* invalid_region = nullptr;
  PyObject* codec = nullptr;
  PyObject* serialization = nullptr;
  PyObject* buffer_too_short = nullptr;
  PyObject* system = nullptr;
  PyObject* worker_lost = nullptr;
  PyObject* cancelled = nullptr;
  PyObject* remote = nullptr;
};
const ErrorClasses& Errors();

// Creates the classes in `m` and installs the C++ -> Python translator.
void RegisterErrors(py::module_& m);

// Raises `cls(message)` in Python: sets the error and throws
// py::error_already_set.
[[noreturn]] void Raise(PyObject* cls, const std::string& message);

}  // namespace shoal::python

#endif  // SHOAL_PYTHON_ERRORS_H_
