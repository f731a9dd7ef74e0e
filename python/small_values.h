// Copyright 2026 The shoal Authors.
//
// small_values.h: a compact encoding of the small objects queues carry
// most (None, bool, int, float, str, bytes and tuples of them), written
// straight into shared memory and read straight back, without pickle.
//
// Why: pickling an int costs a Pickler object, a memo table and a bytes
// object, unpickling an Unpickler; together they cost more than moving the
// item through shared memory. This encoding costs a type test and a few
// stores per value. Everything else (subclasses of these types too, ints
// beyond 64 bits, str with lone surrogates, deeper or bigger values) is
// pickled as before; the result of get() is the same object either way.
//
// Format (native endianness; one machine):
//   'N' None   'T' True   'F' False   'i' int64   'd' double
//   's' u32 length + UTF-8   'b' u32 length + bytes   't' u32 count + items
// Decoding checks every length against the bytes left and bounds the depth;
// garbage raises shoal.CodecError.
#ifndef SHOAL_PYTHON_SMALL_VALUES_H_
#define SHOAL_PYTHON_SMALL_VALUES_H_

#include <pybind11/pybind11.h>

#include <cstddef>
#include <span>

namespace shoal::python {

namespace py = pybind11;

// Largest encoding this path takes (larger values are pickled).
inline constexpr std::size_t kSmallValueMax = 192;

// Encodes `o` into `out` (capacity kSmallValueMax); returns the size, or 0
// when `o` is not a small value (then nothing is raised).
std::size_t EncodeSmallValue(PyObject* o, std::byte* out);

// Decodes exactly `bytes` (GIL held); CodecError on garbage.
py::object DecodeSmallValue(std::span<const std::byte> bytes);

}  // namespace shoal::python

#endif  // SHOAL_PYTHON_SMALL_VALUES_H_
