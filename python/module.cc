// Copyright 2026 The shoal Authors.
//
// module.cc: the `shoal._shoal` extension module (the `shoal` package
// re-exports it; python/shoal/__init__.py).
#include <pybind11/pybind11.h>

#include "python/errors.h"
#include "python/message.h"
#include "python/module.h"
#include "shoal/version.h"

PYBIND11_MODULE(_shoal, m) {
  m.doc() =
      "shoal's C++ core: queues, channels, locks and shared values over "
      "shared memory (import shoal, not shoal._shoal).";
  m.attr("__version__") = SHOAL_VERSION_STRING;
  shoal::python::RegisterErrors(m);
  shoal::python::RegisterMessage(m);
  shoal::python::RegisterQueues(m);
  shoal::python::RegisterChannels(m);
  shoal::python::RegisterBroadcast(m);
  shoal::python::RegisterLatest(m);
  shoal::python::RegisterService(m);
  shoal::python::RegisterSync(m);
  shoal::python::RegisterValues(m);
}
