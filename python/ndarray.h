// Copyright 2026 The shoal Authors.
//
// ndarray.h: numpy arrays over memory shoal owns (a channel block, a shared
// Array), through numpy's C API (one file, ndarray.cc, includes it).
//
// The array does not own its memory: its `base` is an object that does
// (a Loan, the object holding a received block, an Array handle), so the
// memory stays mapped, and a received block stays leased, until the array
// and every view of it are gone.
#ifndef SHOAL_PYTHON_NDARRAY_H_
#define SHOAL_PYTHON_NDARRAY_H_

#include <pybind11/pybind11.h>

#include <cstddef>

namespace shoal::python {

namespace py = pybind11;

// Imports numpy's C API (once; raises ImportError without numpy).
void EnsureNumpy();

// The element code (dtypes.h) of anything numpy.dtype() accepts, in
// canonical form. TypeError for non-native byte order or structured types.
char CodeOfDtype(py::handle dtype_like);
// numpy.dtype for a code.
py::object DtypeOf(char code);

// A 1-D array of `n` elements of `code` at `data`, writable or not; `base`
// keeps the memory alive (a new reference is taken).
py::object ArrayView(char code, void* data, std::size_t n, bool writable,
                     py::handle base);

// Marks an array read-only (used when its loan is published).
void SetReadOnly(py::handle array);

// `obj` as a C-contiguous array of exactly `code`: a numpy array of another
// dtype raises TypeError naming both; other objects go through
// numpy.asarray first (and must come out as `code`). Copies only to make it
// contiguous.
py::object ContiguousOf(char code, py::handle obj, const char* what);
// Pointer and element count of an array ContiguousOf returned.
void* ArrayData(py::handle array);
std::size_t ArraySize(py::handle array);
// A new, writable, uninitialized 1-D array.
py::object NewArray(char code, std::size_t n);

}  // namespace shoal::python

#endif  // SHOAL_PYTHON_NDARRAY_H_
