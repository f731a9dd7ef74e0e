// Copyright 2026 The shoal Authors.
//
// common.h: small helpers shared by the module's files: region options from
// Python arguments, RegionRef <-> bytes (what pickling a shoal object
// sends), and the Python-facing description of a region.
#ifndef SHOAL_PYTHON_COMMON_H_
#define SHOAL_PYTHON_COMMON_H_

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <optional>
#include <string>

#include "python/errors.h"
#include "shoal/ipc/region.h"

namespace shoal::python {

namespace py = pybind11;

// name=None: a memfd region (reaches children by fork or by pickling);
// name="x": the named region /dev/shm/shoal.x that unrelated programs open.
inline RegionOptions RegionFor(const std::optional<std::string>& name) {
  RegionOptions o;
  if (name) {
    o.kind = RegionKind::kNamed;
    o.name = *name;
  }
  return o;
}

// A RegionRef travels as its 160 bytes: a name, or a (pid, fd) pair plus
// the region's identity (see ipc/region.h).
inline py::bytes RefToBytes(const RegionRef& ref) {
  return py::bytes(reinterpret_cast<const char*>(&ref), sizeof ref);
}

inline RegionRef RefFromBytes(const py::bytes& b) {
  char* data = nullptr;
  Py_ssize_t n = 0;
  if (PyBytes_AsStringAndSize(b.ptr(), &data, &n) != 0) {
    throw py::error_already_set();
  }
  if (n != static_cast<Py_ssize_t>(sizeof(RegionRef))) {
    Raise(Errors().invalid_region,
          "not a pickled shoal object: a region reference is " +
              std::to_string(sizeof(RegionRef)) + " bytes, got " +
              std::to_string(n));
  }
  RegionRef ref;
  std::memcpy(&ref, data, sizeof ref);
  ref.name[sizeof ref.name - 1] = '\0';
  return ref;
}

// The name unrelated processes open the object by, or None.
inline py::object NameOf(const Region& r) {
  if (r.kind() != RegionKind::kNamed) return py::none();
  std::string n = r.name();
  if (n.rfind("shoal.", 0) == 0) n = n.substr(6);
  return py::str(n);
}

}  // namespace shoal::python

#endif  // SHOAL_PYTHON_COMMON_H_
