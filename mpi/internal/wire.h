// Copyright 2026 The shoal Authors.
//
// wire.h: what travels between ranks, and the start-up identity check.
//
// Every message is one MPI message of bytes: a fixed Header, then `size`
// payload bytes. Rank 0 sends on kTagDown (tasks and control), workers
// answer on kTagUp (results and heartbeats); one tag per direction keeps
// MPI's non-overtaking order between a session's kOpen and its tasks.
//
//   kind        direction  header fields used          payload
//   ----------  ---------  --------------------------  ------------------------
//   kOpen       0 -> r     session                     SessionConfig
//   kTask       0 -> r     session, task, invoker,     [callable][arguments]
//                          arg = time limit (ns, 0:    (pool/internal/
//                          none)                       callable.h)
//   kClose      0 -> r     session                     -
//   kStop       0 -> r     arg = 1: call MPI_Finalize  -
//   kKeepalive  0 -> r     -                           -
//   kResult     r -> 0     session, task, arg = 0 ok,  the encoded result, or
//                          1 error                     an encoded ErrorRecord
//   kHeartbeat  r -> 0     -                           -
//
// The format is native (byte order, widths, function offsets): the
// start-up handshake (Identity below) makes sure every rank runs the same
// binary on the same architecture before anything else is exchanged, and
// refuses the job otherwise, naming both sides. Parse() still validates
// every header it reads (magic, kind, sizes), so a stray or garbage message
// is a clear CodecError, never a crash.
//
// Thread safety: plain values and pure functions.
#ifndef SHOAL_MPI_INTERNAL_WIRE_H_
#define SHOAL_MPI_INTERNAL_WIRE_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "shoal/pool/internal/code_ref.h"

namespace shoal::mpi::internal {

using shoal::internal::CodeRef;

inline constexpr uint32_t kWireMagic = 0x504d4853;  // "SHMP"
inline constexpr uint32_t kWireVersion = 1;
inline constexpr int kTagDown = 7301;  // rank 0 -> worker
inline constexpr int kTagUp = 7302;    // worker -> rank 0
// MPI counts are ints: a message (header + payload) must fit.
inline constexpr std::size_t kMaxMessage = 0x7fffffff;

enum class Kind : uint32_t {
  kOpen = 1,
  kTask = 2,
  kClose = 3,
  kStop = 4,
  kKeepalive = 5,
  kResult = 6,
  kHeartbeat = 7,
};
std::string_view KindName(Kind k);

struct Header {
  uint32_t magic;
  uint32_t kind;
  uint64_t session;
  uint64_t task;
  CodeRef invoker;
  int64_t arg;
  uint64_t size;  // payload bytes after the header
};
static_assert(std::is_standard_layout_v<Header>);
static_assert(std::is_trivially_copyable_v<Header>);
static_assert(sizeof(Header) == 56);

// One message in one heap buffer: [Header][payload].
class Message {
 public:
  Message() = default;
  // Throws shoal::SerializationError when header + payload exceed what one
  // MPI message can carry.
  Message(Kind kind, uint64_t session, uint64_t task, std::size_t payload_size);

  Header& header() { return *reinterpret_cast<Header*>(buf_.get()); }
  const Header& header() const {
    return *reinterpret_cast<const Header*>(buf_.get());
  }
  std::span<std::byte> payload() {
    return {buf_.get() + sizeof(Header), size_ - sizeof(Header)};
  }
  std::byte* data() { return buf_.get(); }
  std::size_t size() const { return size_; }
  explicit operator bool() const { return buf_ != nullptr; }

 private:
  std::unique_ptr<std::byte[]> buf_;
  std::size_t size_ = 0;
};

// Past this size MPI libraries stop sending eagerly (Open MPI's shared-memory
// transport: 4 KiB): the rest of the message moves only while the sender
// keeps calling into MPI, so an MPI thread with such a send pending stays
// busy (polls without sleeping) until it completed. Smaller sends complete
// on their own; waiting for them must not keep a thread spinning.
inline constexpr std::size_t kEagerBytes = 4096;

template <class Sends>
bool LargeSendPending(const Sends& sends) {
  for (const auto& s : sends) {
    if constexpr (requires { s.message; }) {
      if (s.message.size() > kEagerBytes) return true;
    } else {
      if (s.size() > kEagerBytes) return true;
    }
  }
  return false;
}

// A received message: its validated header and a view of its payload.
struct Parsed {
  Header header;
  Kind kind;
  std::span<const std::byte> payload;
};
// Validates `bytes` as a message (magic, a known kind, size equal to what
// arrived). Throws shoal::CodecError naming the problem and `from`.
Parsed Parse(std::span<const std::byte> bytes, int from);

// What a kOpen asks a worker rank to set up for a session.
struct SessionConfig {
  // 0: run tasks in the rank's own task thread; > 0: a local shoal Pool of
  // this many processes (hierarchical mode).
  uint32_t processes = 0;
  // Local pool start method: 0 fork, 1 spawn, 2 forkserver.
  uint32_t start_method = 0;
  uint64_t max_tasks_per_child = 0;
  int64_t task_timeout_ns = 0;
};
static_assert(std::is_trivially_copyable_v<SessionConfig>);
// Throws CodecError when a field is out of range.
SessionConfig ParseSessionConfig(std::span<const std::byte> payload);

// Who a rank is, for the start-up handshake. Sent as text so that ranks of
// a different byte order or word size can still read it and say so.
struct Identity {
  uint32_t wire = kWireVersion;
  std::string arch;        // "x86_64", "aarch64", ...
  std::string byte_order;  // "little" / "big"
  uint32_t pointer_bits = 0;
  uint64_t program = 0;    // check value of the module that called init()
  std::string program_desc;  // "module /path (build-id ...)"
  uint64_t library = 0;    // check value of the module holding shoal::mpi
  std::string host;
  int64_t pid = 0;

  // This process (`caller`: an address inside the program that called
  // init()).
  static Identity Here(const void* caller);
  std::string Serialize() const;  // "key=value\n" lines
  // Unknown keys are ignored (a newer peer); missing ones stay empty.
  static Identity Parse(std::string_view text);
  // "host vm, pid 12, x86_64 little-endian 64-bit, module /p (build-id ..)"
  std::string Describe() const;
};

// nullopt when `theirs` may work with `ours`; else what differs, naming
// both sides: "rank 2 (host ..) runs .. but rank 0 (host ..) runs ..".
std::optional<std::string> CompareIdentity(const Identity& ours, int our_rank,
                                           const Identity& theirs,
                                           int their_rank);

// The fixed size of an identity in the handshake's MPI_Gather.
inline constexpr std::size_t kIdentityBytes = 1024;

}  // namespace shoal::mpi::internal

#endif  // SHOAL_MPI_INTERNAL_WIRE_H_
