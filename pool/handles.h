// Copyright 2026 The shoal Authors.
//
// handles.h: shoal handles as task and Process arguments.
//
// Queue, SimpleQueue, JoinableQueue, Channel, Value, RawValue, Array,
// Shared<T> (so Shared<Lock>) travel as their region's RegionRef (their
// CodecTraits live in ipc/): the child or worker opens the same region. This
// header adds Connection, which is a descriptor, not a region:
//
//   void child(shoal::Connection conn) { conn.send(std::string("hi")); }
//   auto [parent_end, child_end] = shoal::Pipe();
//   shoal::Process p(child, child_end);  // the child gets its own copy
//   p.start();
//   child_end.close();                    // optional, as in Python
//   std::string s = parent_end.recv<std::string>();
//
// A Connection can only travel as an argument of a Process (both start
// methods): its descriptor is dup()ed when the Process is constructed and
// handed to the child (same number after fork; a fresh number after spawn).
// The caller keeps its own Connection (close it if the child should be the
// only holder, as in Python). Anywhere else (a pool task, a queue) encoding
// a Connection throws SerializationError: a descriptor number means nothing
// in a process that did not inherit it.
#ifndef SHOAL_POOL_HANDLES_H_
#define SHOAL_POOL_HANDLES_H_

#include <cstddef>
#include <cstdint>

#include "shoal/base/errors.h"
#include "shoal/ipc/codec.h"
#include "shoal/ipc/connection.h"
#include "shoal/pool/internal/fd_passing.h"

namespace shoal {

template <>
struct CodecTraits<Connection> {
  static constexpr size_t kMinSize = 8;
  static size_t Size(const Connection&) { return 8; }
  static void Encode(const Connection& c, CodecWriter& w) {
    internal::FdCollector* fds = internal::FdCollector::Current();
    if (fds == nullptr) {
      throw SerializationError(
          "a Connection can only be passed as an argument of a Process (its "
          "descriptor must be handed to the child)");
    }
    if (c.closed()) throw SerializationError("cannot pass a closed Connection");
    const int32_t index = fds->Add(c.fileno());
    // Bit 2: Python framing (a Listener/Client connection), kept so the
    // child speaks the same framing as the peer.
    const uint8_t flags =
        (c.readable() ? 1 : 0) | (c.writable() ? 2 : 0) |
        (c.framing() == Connection::Framing::kPython ? 4 : 0);
    const uint8_t pad[3] = {0, 0, 0};
    w.WriteRaw(index);
    w.WriteRaw(flags);
    w.Write(pad, 3);
  }
  static Connection Decode(CodecReader& r) {
    const int32_t index = r.ReadRaw<int32_t>();
    const uint8_t flags = r.ReadRaw<uint8_t>();
    r.Read(3);
    const int fd = internal::TakeReceivedFd(index);
    if (fd < 0) {
      r.Fail("no descriptor was passed for this Connection (only a Process "
             "child can receive one, once)");
    }
    return Connection(fd, (flags & 1) != 0, (flags & 2) != 0,
                      (flags & 4) != 0 ? Connection::Framing::kPython
                                       : Connection::Framing::kNative);
  }
};

}  // namespace shoal

#endif  // SHOAL_POOL_HANDLES_H_
