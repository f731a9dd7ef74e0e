// Copyright 2026 The shoal Authors.
#include "python/errors.h"

#include <stdexcept>

#include "shoal/base/errors.h"

namespace shoal::python {
namespace {

ErrorClasses g_errors;

PyObject* Attr(const char* module, const char* name) {
  return py::object(py::module_::import(module).attr(name)).release().ptr();
}

// A new class shoal.<name>(bases...) added to `m`.
PyObject* NewClass(py::module_& m, const char* name, const char* doc,
                   std::initializer_list<PyObject*> bases) {
  py::tuple b(bases.size());
  std::size_t i = 0;
  for (PyObject* base : bases) b[i++] = py::reinterpret_borrow<py::object>(base);
  const std::string qualified = std::string("shoal.") + name;
  PyObject* cls = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, b.ptr(),
                                            nullptr);
  if (cls == nullptr) throw py::error_already_set();
  m.add_object(name, py::reinterpret_borrow<py::object>(cls));
  return cls;  // the module holds a reference; so does this process
}

void Translate(std::exception_ptr p) {
  try {
    if (p) std::rethrow_exception(p);
  } catch (const shoal::SystemError& e) {
    py::object err = py::reinterpret_borrow<py::object>(g_errors.system)(
        e.error_code(), e.what());
    PyErr_SetObject(g_errors.system, err.ptr());
  } catch (const shoal::BufferTooShort& e) {
    py::object err = py::reinterpret_borrow<py::object>(
        g_errors.buffer_too_short)(e.what());
    err.attr("needed") = e.needed();
    PyErr_SetObject(g_errors.buffer_too_short, err.ptr());
  } catch (const shoal::Error& e) {
    const std::string_view kind = e.kind();
    PyObject* cls = g_errors.error;
    if (kind == "Empty") cls = g_errors.empty;
    else if (kind == "Full") cls = g_errors.full;
    else if (kind == "TimeoutError") cls = g_errors.timeout;
    else if (kind == "Closed") cls = g_errors.closed;
    else if (kind == "EOFError") cls = g_errors.eof;
    else if (kind == "ValueError") cls = g_errors.value;
    else if (kind == "OwnerDied") cls = g_errors.owner_died;
    else if (kind == "BrokenBarrierError") cls = g_errors.broken_barrier;
    else if (kind == "InvalidRegion") cls = g_errors.invalid_region;
    else if (kind == "CodecError") cls = g_errors.codec;
    else if (kind == "SerializationError") cls = g_errors.serialization;
    PyErr_SetString(cls, e.what());
  } catch (const std::out_of_range& e) {
    PyErr_SetString(PyExc_IndexError, e.what());
  }
}

}  // namespace

const ErrorClasses& Errors() { return g_errors; }

void RegisterErrors(py::module_& m) {
  ErrorClasses& e = g_errors;
  e.error = NewClass(m, "Error", "The root of shoal's exceptions.",
                     {PyExc_Exception});
  e.empty = NewClass(m, "Empty",
                     "get() found the queue empty (a queue.Empty).",
                     {e.error, Attr("queue", "Empty")});
  e.full = NewClass(m, "Full", "put() found the queue full (a queue.Full).",
                    {e.error, Attr("queue", "Full")});
  e.timeout = NewClass(m, "TimeoutError",
                       "A timed call ran out of time (a TimeoutError).",
                       {e.error, PyExc_TimeoutError});
  e.closed = NewClass(
      m, "Closed",
      "The object was closed: put() after close(), or get() once a closed "
      "queue is drained (a ValueError, as multiprocessing's 'Queue is "
      "closed').",
      {e.error, PyExc_ValueError});
  e.eof = NewClass(m, "EOFError", "The peer of a connection left.",
                   {e.error, PyExc_EOFError});
  e.value = NewClass(m, "ValueError",
                     "A bad argument or call sequence (a ValueError).",
                     {e.error, PyExc_ValueError});
  e.owner_died = NewClass(
      m, "OwnerDied",
      "The holder of a Lock/RLock died while holding it. The caller now "
      "HOLDS the lock: repair the data it protects, call make_consistent(), "
      "then release().",
      {e.error, PyExc_RuntimeError});
  e.broken_barrier = NewClass(
      m, "BrokenBarrierError",
      "The barrier was aborted, reset, or timed out (a "
      "threading.BrokenBarrierError).",
      {e.error, Attr("threading", "BrokenBarrierError")});
  e.invalid_region = NewClass(
      m, "InvalidRegion",
      "Shared memory that is not the shoal object expected (wrong type, "
      "corrupt, or not shoal's).",
      {e.error, PyExc_ValueError});
  e.codec = NewClass(m, "CodecError",
                     "Bytes that do not decode (a pickle.UnpicklingError).",
                     {e.error, Attr("pickle", "UnpicklingError")});
  e.serialization = NewClass(
      m, "SerializationError",
      "A value that cannot be sent (a pickle.PicklingError).",
      {e.error, Attr("pickle", "PicklingError")});
  e.buffer_too_short = NewClass(
      m, "BufferTooShort",
      "The caller's buffer is smaller than the message; .needed is its size.",
      {e.error, Attr("multiprocessing", "BufferTooShort")});
  e.system = NewClass(m, "SystemError",
                      "A system call failed (an OSError with errno set).",
                      {e.error, PyExc_OSError});
  py::register_exception_translator(&Translate);
}

void Raise(PyObject* cls, const std::string& message) {
  PyErr_SetString(cls, message.c_str());
  throw py::error_already_set();
}

}  // namespace shoal::python
