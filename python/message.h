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

  std::vector<std::byte> header_;
  py::object pickled_;            // bytes, when pickled
  std::vector<Py_buffer> views_;  // exported buffers, released at the end
  std::vector<Piece> pieces_;     // after the header, in order
  std::size_t payload_size_ = 0;
};

// An item taken from a queue. Read() is called inside the queue's get with
// the item's encoded bytes; it copies them out (or, with the GIL held and
// for bytes-like items, makes the Python object directly).
class Incoming {
 public:
  void Read(std::span<const std::byte> encoded, bool raw, bool gil_held);
  // The object (GIL held).
  py::object Take(bool raw);

 private:
  std::unique_ptr<std::byte[]> data_;
  std::size_t size_ = 0;
  py::object direct_;
};

}  // namespace shoal::python

#endif  // SHOAL_PYTHON_MESSAGE_H_
