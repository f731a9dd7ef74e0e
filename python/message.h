// Copyright 2026 The shoal Authors.
//
// message.h: Python objects as queue items.
//
// A Python queue is a shoal::Queue<std::string> (or Queue<std::vector<
// std::byte>>, for a C++ peer that uses that type): every item is the
// codec encoding of a std::string, a uint64 length and then the payload.
// The payload is what a C++ peer reads as its std::string:
//
//   raw mode         the bytes themselves (bytes, bytearray, memoryview,
//                    any contiguous buffer, or str as UTF-8), so C++ and
//                    Python exchange plain bytes;
//   object mode      a Python object:
//     B5 'V' <small value>             None, bool, int, float, str, bytes
//                                      and tuples of them, small
//                                      (small_values.h): no pickling
//     B5 'P' <pickle>                  pickle protocol 5, no buffers
//     B5 'y' <bytes>                   a bytes object (no pickling)
//     B5 'a' <bytes>                   a bytearray object
//     B5 'B' 00 00 <u32 n> <u64 pickle length> <u64 length> x n
//            <pickle> <buffer 1> ... <buffer n>
//                                      pickle protocol 5 with n out-of-band
//                                      buffers (numpy arrays, PickleBuffer),
//                                      each at a 64-byte aligned offset.
//
// Copies. put() pickles with a buffer_callback, so a numpy array's data is
// not copied into the pickle: it is copied once, straight from the array
// into the queue's shared memory. get() copies the payload once out of
// shared memory into a private block (the slot must be handed back), and
// unpickles with the out-of-band buffers as writable views of that block:
// the arrays it returns own that block, no further copy. Only bytes,
// bytearray and raw items read by a consumer that had to wait are copied a
// second time (from the block into the bytes object).
//
// Every length and offset in a payload is checked against the payload size
// before use; a payload that is not ours gives shoal.CodecError naming the
// problem (a C++ std::string read by an object-mode queue: "open it with
// raw=True").
#ifndef SHOAL_PYTHON_MESSAGE_H_
#define SHOAL_PYTHON_MESSAGE_H_

#include <pybind11/pybind11.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "python/small_values.h"

namespace shoal::python {

namespace py = pybind11;

// Imports pickle and registers the private block type; called at module
// init.
void RegisterMessage(py::module_& m);

// A Python object made ready to be written into shared memory: the pieces
// it consists of. Build and destroy it with the GIL held; WriteTo() needs
// no GIL (it only copies from buffers this object keeps exported).
class Outgoing {
 public:
  Outgoing(py::handle obj, bool raw);
  ~Outgoing();
  Outgoing(const Outgoing&) = delete;
  Outgoing& operator=(const Outgoing&) = delete;

  // The size of the encoded item: 8 + payload.
  std::size_t encoded_size() const { return 8 + payload_size_; }
  // Writes the encoded item; dst.size() == encoded_size().
  void WriteTo(std::span<std::byte> dst) const;

 private:
  struct Piece {
    const std::byte* data;
    std::size_t size;
    std::size_t offset;  // in the payload
  };
  void AddBuffer(PyObject* exporter, int flags);
  void Pickle(py::handle obj);

  // Inline capacity for the common items (one piece, a small header), so a
  // small put allocates nothing here.
  absl::InlinedVector<std::byte, 32> header_;
  py::object pickled_;                      // bytes, when pickled
  absl::InlinedVector<Py_buffer, 1> views_;  // exported, released at the end
  absl::InlinedVector<Piece, 2> pieces_;     // after the header, in order
  std::byte value_[kSmallValueMax];  // a small value (small_values.h)
  std::size_t payload_size_ = 0;
};

// An item taken from a queue. Read() is called inside the queue's get with
// the item's encoded bytes and copies them out once: with the GIL held
// (the first, non-blocking attempt) a bytes item, a raw item or a
// buffer-less pickle goes straight into its Python bytes object; otherwise
// into private memory (inline when small). Take() (GIL held) makes the
// object.
class Incoming {
 public:
  void Read(std::span<const std::byte> encoded, bool raw, bool gil_held);
  py::object Take(bool raw);

 private:
  const std::byte* data() const {
    return heap_ ? heap_.get() : small_;
  }

  static constexpr std::size_t kInline = 240;
  std::byte small_[kInline];
  std::unique_ptr<std::byte[]> heap_;
  std::size_t size_ = 0;
  py::object direct_;       // a finished object, or the pickle as bytes
  bool direct_is_pickle_ = false;
};

}  // namespace shoal::python

#endif  // SHOAL_PYTHON_MESSAGE_H_
