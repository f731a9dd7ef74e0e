// Copyright 2026 The shoal Authors.
//
// module.h: the parts of the `shoal._shoal` extension module, each
// registered by its own file.
#ifndef SHOAL_PYTHON_MODULE_H_
#define SHOAL_PYTHON_MODULE_H_

#include <pybind11/pybind11.h>

namespace shoal::python {

namespace py = pybind11;

void RegisterQueues(py::module_& m);    // queue.cc
void RegisterChannels(py::module_& m);  // channel.cc
void RegisterBroadcast(py::module_& m);  // broadcast.cc
void RegisterLatest(py::module_& m);     // latest.cc
void RegisterService(py::module_& m);    // service.cc
void RegisterSync(py::module_& m);      // sync.cc
void RegisterValues(py::module_& m);    // values.cc

}  // namespace shoal::python

#endif  // SHOAL_PYTHON_MODULE_H_
