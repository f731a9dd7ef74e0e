// Copyright 2026 The shoal Authors.
#include "python/errors.h"

#include <stdexcept>
#include <string_view>
#include <utility>

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

}  // namespace

// Also used by fastcall.cc.
void TranslateShoalError(std::exception_ptr p) {
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
  } catch (const shoal::WorkerLost& e) {
    py::object err =
        py::reinterpret_borrow<py::object>(g_errors.worker_lost)(e.what());
    err.attr("pid") = e.pid();
    PyErr_SetObject(g_errors.worker_lost, err.ptr());
  } catch (const shoal::RemoteError& e) {
    py::object err =
        py::reinterpret_borrow<py::object>(g_errors.remote)(e.what());
    err.attr("type_name") = e.type_name();
    err.attr("message") = e.message();
    PyErr_SetObject(g_errors.remote, err.ptr());
  } catch (const shoal::Error& e) {
    // By kind(), the stable name of the concrete class; a kind this module
    // does not know falls back to its closest known base.
    const std::string_view kind = e.kind();
    const std::pair<std::string_view, PyObject*> known[] = {
        {"Empty", g_errors.empty},
        {"Full", g_errors.full},
        {"TimeoutError", g_errors.timeout},
        {"Closed", g_errors.closed},
        {"EOFError", g_errors.eof},
        {"ValueError", g_errors.value},
        {"RuntimeError", g_errors.runtime},
        {"OwnerDied", g_errors.owner_died},
        {"BrokenBarrierError", g_errors.broken_barrier},
        {"InvalidRegion", g_errors.invalid_region},
        {"CodecError", g_errors.codec},
        {"SerializationError", g_errors.serialization},
        {"AuthenticationError", g_errors.authentication},
        {"CancelledError", g_errors.cancelled},
    };
    PyObject* cls = nullptr;
    for (const auto& [k, c] : known) {
      if (k == kind) cls = c;
    }
    if (cls == nullptr) {
      if (dynamic_cast<const shoal::ValueError*>(&e)) cls = g_errors.value;
      else if (dynamic_cast<const shoal::RuntimeError*>(&e)) cls = g_errors.runtime;
      else cls = g_errors.error;
    }
    PyErr_SetString(cls, e.what());
  } catch (const std::out_of_range& e) {
    PyErr_SetString(PyExc_IndexError, e.what());
  }
}

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
  e.eof = NewClass(m, "EOFError", "The peer of a connection left.",
                   {e.error, PyExc_EOFError});
  e.value = NewClass(m, "ValueError",
                     "A bad argument or call sequence (a ValueError).",
                     {e.error, PyExc_ValueError});
  e.closed = NewClass(
      m, "Closed",
      "The object was closed: put() after close(), or get() once a closed "
      "queue is drained (a ValueError, as multiprocessing's 'Queue is "
      "closed').",
      {e.value});
  e.runtime = NewClass(
      m, "RuntimeError",
      "A call in the wrong state: releasing an un-acquired lock, notifying "
      "without the lock, ... (a RuntimeError).",
      {e.error, PyExc_RuntimeError});
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
      {e.runtime, Attr("threading", "BrokenBarrierError")});
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
  e.authentication = NewClass(
      m, "AuthenticationError", "A connection handshake was refused.",
      {e.error, Attr("multiprocessing", "AuthenticationError")});
  e.system = NewClass(m, "SystemError",
                      "A system call failed (an OSError with errno set).",
                      {e.error, PyExc_OSError});
  e.worker_lost = NewClass(
      m, "WorkerLost",
      "The process serving the call died while it held it (.pid names it).",
      {e.error, PyExc_RuntimeError});
  e.cancelled = NewClass(
      m, "CancelledError",
      "The call's future was cancelled (a concurrent.futures."
      "CancelledError).",
      {e.error, Attr("concurrent.futures", "CancelledError")});
  e.remote = NewClass(
      m, "RemoteError",
      "A peer's handler raised an error this process cannot rebuild as its "
      "own class: .type_name names it, .message is its message.",
      {e.error});
  py::register_exception_translator(&TranslateShoalError);
}

void Raise(PyObject* cls, const std::string& message) {
  PyErr_SetString(cls, message.c_str());
  throw py::error_already_set();
}

}  // namespace shoal::python
