// Copyright 2026 The shoal Authors.
//
// connection.h: Pipe() and Connection, Python's multiprocessing.Pipe in C++.
//
//   auto [parent, child] = shoal::Pipe();          // duplex: a socketpair
//   if (fork() == 0) { child.send(std::string("hi")); _exit(0); }
//   std::string s = parent.recv<std::string>();    // "hi"
//
// Contract
//   A Connection is one end of a byte stream (a socketpair end, or one end of
//   a pipe2() pair when not duplex) carrying length-framed messages: an 8-byte
//   native length, then the payload. Messages of any size up to
//   `max_message_size()` (default 4 GiB) travel whole; partial reads and
//   writes and EINTR are handled inside. `send(obj)`/`recv<T>()` go through
//   the codec (ipc/codec.h); `send_bytes`/`recv_bytes` move raw bytes.
//
// Failure
//   - The peer closed or died: recv* throws shoal::EOFError once everything
//     it sent has been read; it never hangs on a dead peer. A message cut
//     short by the peer's death is EOFError too.
//   - send* to a peer that is gone throws shoal::SystemError (EPIPE). It
//     never kills the process with SIGPIPE: sockets send with MSG_NOSIGNAL;
//     pipe writes block SIGPIPE for the calling thread and discard it.
//   - recv_bytes(maxlength) on a longer message throws shoal::ValueError and
//     the connection stops being readable (as in Python: the stream position
//     is inside a message nobody will read). recv_bytes_into() on a buffer
//     too small throws shoal::BufferTooShort carrying the needed size, and
//     leaves the message unread, so the caller can retry with a larger one.
//   - Bytes that do not decode as T: shoal::CodecError; the message is gone,
//     the connection stays usable.
//   - A timed recv bounds the whole message, not only its first byte: when
//     the peer sent part of a frame and stalls, recv*(timeout) throws
//     shoal::TimeoutError within its bound; the bytes that arrived are kept
//     and the next recv* continues the same message, so the stream stays in
//     step. (Untimed forms wait for the whole message, or EOF.)
//
// Framing: kNative (Pipe()): an 8-byte native length. kPython (Listener,
// Client; ipc/listener.h): Python's multiprocessing.connection framing, a
// 4-byte big-endian signed length, or -1 followed by an 8-byte big-endian
// length for messages over 2 GiB - 1, so bytes sent with send_bytes() reach a
// Python peer's recv_bytes() and back.
//
// Shared objects and descriptors (sockets only)
//   send_handle(obj) passes a shoal object that lives in a memfd or named
//   region (Queue, SimpleQueue, JoinableQueue, Channel, Value, Array,
//   Shared<T>, Latest, Blackboard, ...) to the peer together with the
//   region's file descriptor (SCM_RIGHTS); recv_handle<H>() maps that
//   descriptor and validates the region (header, layout hash: InvalidRegion
//   when it is not an H), so two unrelated processes share memory without
//   agreeing on a name and without /proc access. send_fd()/recv_fd() pass
//   a plain descriptor (Python's multiprocessing.reduction.send_handle and
//   recv_handle). Descriptors that arrive are kept in arrival order until a
//   recv_handle()/recv_fd() takes them, at most 64 (more are closed on
//   arrival); close() closes those never taken. Anonymous regions have no
//   descriptor and cannot be sent (ValueError).
//
// Cost: one write (sendmsg/writev) per send and usually one read per recv for
// messages that fit the 64 KiB receive buffer; larger payloads are read
// straight into their destination.
//
// Processes and threads: a Connection is move-only; after fork() parent and
// child each hold a copy of the descriptor, as with Python. One reader and
// one writer at a time per end (like Python, no internal locking).
#ifndef SHOAL_IPC_CONNECTION_H_
#define SHOAL_IPC_CONNECTION_H_

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "shoal/base/deadline.h"
#include "shoal/ipc/codec.h"
#include "shoal/ipc/region.h"

namespace shoal {

class Connection {
 public:
  static constexpr uint64_t kDefaultMaxMessageSize = uint64_t{4} << 30;

  // How messages are delimited on the wire (see the file comment).
  enum class Framing : uint8_t { kNative, kPython };

  Connection() = default;
  // Takes ownership of `fd`.
  Connection(int fd, bool readable, bool writable,
             Framing framing = Framing::kNative);
  Connection(Connection&& other) noexcept;
  Connection& operator=(Connection&& other) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // Encodes `value` with the codec and sends it as one message.
  template <class T>
  void send(const T& value) {
    static_assert(internal::CheckEncodable<T, /*kEncodeOnly=*/true>());
    if constexpr (internal::CanEncode<T>) {
      std::string bytes = Encode(value);
      send_bytes(std::as_bytes(std::span<const char>(bytes)));
    }
  }

  // Receives one message and decodes it as T. Throws EOFError, CodecError,
  // TimeoutError (timed form).
  template <class T>
  T recv(const Deadline& deadline = Deadline()) {
    static_assert(internal::CheckEncodable<T>());
    std::vector<std::byte> bytes = recv_bytes_vector(kNoLimit, deadline);
    return internal::QuietDecode<T>(std::span<const std::byte>(bytes));
  }

  // Sends bytes [offset, offset + size) of `buffer` as one message
  // (size == npos: to the end).
  void send_bytes(std::span<const std::byte> buffer, std::size_t offset = 0,
                  std::size_t size = static_cast<std::size_t>(-1));
  void send_bytes(std::string_view buffer) {
    send_bytes(std::as_bytes(std::span<const char>(buffer)));
  }

  // Receives one message as a string. Throws ValueError (and stops being
  // readable) when it is longer than `maxlength`.
  std::string recv_bytes(std::size_t maxlength = kNoLimit,
                         const Deadline& deadline = Deadline());
  std::vector<std::byte> recv_bytes_vector(
      std::size_t maxlength = kNoLimit, const Deadline& deadline = Deadline());

  // Receives one message into buffer[offset..]; returns its size. Throws
  // BufferTooShort (message left unread) when it does not fit.
  std::size_t recv_bytes_into(std::span<std::byte> buffer,
                              std::size_t offset = 0,
                              const Deadline& deadline = Deadline());

  // Sends `obj` (a shoal object in a memfd or named region: anything with
  // region() and a static Open(const RegionRef&, const OpenOptions&)) with
  // its region's descriptor. The peer's recv_handle<H>() gets a handle to
  // the same object. Throws ValueError (not a socket; an anonymous region),
  // SystemError (peer gone).
  template <class H>
  void send_handle(const H& obj) {
    SendRegion(obj.region());
  }
  void send_handle(const Region& region) { SendRegion(region); }

  // Receives what send_handle() sent and opens it as an H. Throws
  // ValueError (the next message is not a handle, or came without its
  // descriptor; it is consumed), InvalidRegion (the region is not an H, or
  // is corrupt), EOFError, TimeoutError. Cost: one message, plus mapping and
  // validating the region (a few system calls) the first time this process
  // sees it; a region it already maps is reused.
  template <class H>
  H recv_handle(const Deadline& deadline = Deadline(),
                const OpenOptions& options = {}) {
    RegionRef ref = RecvRegionRef(deadline);
    FdGuard guard{ref.fd};
    return H::Open(ref, options);
  }
  // The same for a bare Region expected to hold `expected`.
  Region recv_region(const RegionLayout& expected,
                     const Deadline& deadline = Deadline(),
                     const OpenOptions& options = {});

  // Sends a duplicate of descriptor `fd` (the caller keeps `fd`).
  void send_fd(int fd);
  // Receives a descriptor sent with send_fd(); the caller owns it
  // (close-on-exec). Throws like recv_handle.
  int recv_fd(const Deadline& deadline = Deadline());

  // True when a recv would not block: a message (or EOF) is waiting.
  // poll() with no argument does not block; poll(timeout) waits up to it.
  bool poll(const Deadline& deadline = Deadline::Now());

  int fileno() const;
  Framing framing() const { return framing_; }
  void close();
  bool closed() const { return fd_ < 0; }
  bool readable() const { return readable_; }
  bool writable() const { return writable_; }

  uint64_t max_message_size() const { return max_message_size_; }
  void set_max_message_size(uint64_t n) { max_message_size_ = n; }

  // Gives up ownership of the descriptor (for passing it to another process).
  int release_fd();

  static constexpr std::size_t kNoLimit = static_cast<std::size_t>(-1);

 private:
  struct FdGuard {
    int fd;
    ~FdGuard();
  };
  void SendRegion(const Region& region);
  // Sends one handle message with `fd` attached (kind: region or raw fd).
  void SendHandleMessage(uint32_t kind, const RegionRef& ref, int fd);
  // Receives one handle message of `kind`; returns its ref with `fd` set to
  // the descriptor that came with it (owned by the caller).
  RegionRef RecvHandleMessage(uint32_t kind, const Deadline& deadline);
  RegionRef RecvRegionRef(const Deadline& deadline);
  // One read from the fd (recvmsg on sockets, keeping any descriptors that
  // arrive). Returns what read() returns; errno on failure.
  ssize_t ReadSome(std::byte* dst, std::size_t len);
  void CloseReceivedFds();
  void CheckOpen(bool for_read) const;
  // Makes sure the 8-byte header of the next message is parsed into
  // pending_len_. Throws EOFError / TimeoutError.
  uint64_t ReadHeader(const Deadline& deadline);
  // Reads payload bytes of the current message into `dst` until `len` have
  // arrived or `deadline` passes; returns how many arrived.
  std::size_t ReadExact(std::byte* dst, std::size_t len,
                        const Deadline& deadline);
  [[noreturn]] static void ThrowMidMessageTimeout(std::size_t got,
                                                  uint64_t len);
  // Reads at least once into the receive buffer (waiting up to `deadline`
  // first). Throws EOFError, TimeoutError.
  void FillBuffer(const Deadline& deadline);
  void WaitReadable(const Deadline& deadline);
  // False when `deadline` passed with nothing to read.
  bool AwaitReadable(const Deadline& deadline);
  void WriteAll(const void* header, std::size_t header_len, const void* data,
                std::size_t len, int pass_fd = -1);

  int fd_ = -1;
  bool readable_ = false;
  bool writable_ = false;
  bool is_socket_ = false;
  Framing framing_ = Framing::kNative;
  uint64_t max_message_size_ = kDefaultMaxMessageSize;
  // Bytes read from the fd and not consumed yet: rbuf_[rpos_, rend_).
  std::vector<std::byte> rbuf_;
  std::size_t rpos_ = 0;
  std::size_t rend_ = 0;
  std::optional<uint64_t> pending_len_;  // header of the next message, parsed
  // Payload bytes of that message a timed recv received before its deadline
  // passed; the next recv continues from here.
  std::vector<std::byte> partial_;
  // Descriptors received (SCM_RIGHTS) and not yet taken, oldest first.
  std::vector<int> received_fds_;
};

// Python's multiprocessing.Pipe(duplex). Duplex: a socketpair, both ends read
// and write. Not duplex: pipe2(); first end receives only, second sends only.
// Descriptors are close-on-exec.
std::pair<Connection, Connection> Pipe(bool duplex = true);

// Python's multiprocessing.connection.wait(object_list, timeout): the
// connections of `conns` that are ready to read -- a message is waiting, or
// the peer closed or died (recv then throws EOFError) -- in the order given,
// waiting up to `deadline` for at least one; empty when the deadline passes
// first (Python's []). nullptr, closed and write-only entries are never
// ready. Cost: one poll() over the descriptors (none when one is ready at
// once).
//
//   auto ready = shoal::wait({&from_a, &from_b}, std::chrono::seconds(1));
//   for (shoal::Connection* c : ready) handle(c->recv<Msg>());
//
// Connections only for now (Python also takes sockets and process
// sentinels).
std::vector<Connection*> wait(std::span<Connection* const> conns,
                              const Deadline& deadline = Deadline());
std::vector<Connection*> wait(std::initializer_list<Connection*> conns,
                              const Deadline& deadline = Deadline());

// The former spelling, kept for one release: the indices (into `conns`) of
// the ready connections.
[[deprecated("use shoal::wait, which returns the ready connections")]]
std::vector<std::size_t> Wait(std::span<Connection* const> conns,
                              const Deadline& deadline = Deadline());

}  // namespace shoal

#endif  // SHOAL_IPC_CONNECTION_H_
