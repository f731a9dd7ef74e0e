#include "shoal/mpi/internal/wire.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <bit>
#include <charconv>
#include <cstdio>
#include <string>

#include "shoal/base/errors.h"

namespace shoal::mpi::internal {

std::string_view KindName(Kind k) {
  switch (k) {
    case Kind::kOpen:
      return "open";
    case Kind::kTask:
      return "task";
    case Kind::kClose:
      return "close";
    case Kind::kStop:
      return "stop";
    case Kind::kKeepalive:
      return "keepalive";
    case Kind::kResult:
      return "result";
    case Kind::kHeartbeat:
      return "heartbeat";
  }
  return "unknown";
}

Message::Message(Kind kind, uint64_t session, uint64_t task,
                 std::size_t payload_size) {
  if (payload_size > kMaxMessage - sizeof(Header)) {
    throw SerializationError(
        "shoal::mpi: a message of " + std::to_string(payload_size) +
        " bytes exceeds what one MPI message carries (2 GiB); split the "
        "work into smaller tasks or chunks");
  }
  size_ = sizeof(Header) + payload_size;
  buf_ = std::make_unique_for_overwrite<std::byte[]>(size_);
  Header h{};
  h.magic = kWireMagic;
  h.kind = static_cast<uint32_t>(kind);
  h.session = session;
  h.task = task;
  h.size = payload_size;
  std::memcpy(buf_.get(), &h, sizeof(h));
}

Parsed Parse(std::span<const std::byte> bytes, int from) {
  auto fail = [&](const std::string& why) {
    throw CodecError("shoal::mpi: a message from rank " + std::to_string(from) +
                     " is not valid (" + why + ")");
  };
  if (bytes.size() < sizeof(Header)) {
    fail(std::to_string(bytes.size()) + " bytes, shorter than a header");
  }
  Parsed p;
  std::memcpy(&p.header, bytes.data(), sizeof(Header));
  if (p.header.magic != kWireMagic) fail("bad magic");
  if (p.header.kind < static_cast<uint32_t>(Kind::kOpen) ||
      p.header.kind > static_cast<uint32_t>(Kind::kHeartbeat)) {
    fail("unknown kind " + std::to_string(p.header.kind));
  }
  if (p.header.size != bytes.size() - sizeof(Header)) {
    fail("header says " + std::to_string(p.header.size) +
         " payload bytes, " + std::to_string(bytes.size() - sizeof(Header)) +
         " arrived");
  }
  p.kind = static_cast<Kind>(p.header.kind);
  p.payload = bytes.subspan(sizeof(Header));
  return p;
}

SessionConfig ParseSessionConfig(std::span<const std::byte> payload) {
  if (payload.size() != sizeof(SessionConfig)) {
    throw CodecError("shoal::mpi: a session configuration of " +
                     std::to_string(payload.size()) + " bytes (expected " +
                     std::to_string(sizeof(SessionConfig)) + ")");
  }
  SessionConfig c;
  std::memcpy(&c, payload.data(), sizeof(c));
  if (c.processes > 4096) {
    throw CodecError("shoal::mpi: a session asks for " +
                     std::to_string(c.processes) + " local processes");
  }
  if (c.start_method > 2) throw CodecError("shoal::mpi: bad start method");
  if (c.task_timeout_ns < 0) throw CodecError("shoal::mpi: negative timeout");
  return c;
}

namespace {

std::string Hex(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

uint64_t ParseU64(std::string_view s, int base) {
  uint64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v, base);
  return v;
}

// The text that names a program: its description when it has one.
std::string ProgramOf(const Identity& id) {
  return id.program_desc.empty() ? "module " + Hex(id.program)
                                 : id.program_desc;
}

}  // namespace

Identity Identity::Here(const void* caller) {
  Identity id;
  utsname u{};
  if (uname(&u) == 0) {
    id.arch = u.machine;
    id.host = u.nodename;
  }
  id.byte_order =
      std::endian::native == std::endian::little ? "little" : "big";
  id.pointer_bits = sizeof(void*) * 8;
  try {
    id.program = shoal::internal::RefOf(caller).module;
    id.program_desc = shoal::internal::DescribeModule(id.program);
    id.library =
        shoal::internal::RefOf(reinterpret_cast<const void*>(&Identity::Here))
            .module;
  } catch (const std::exception&) {
    // Not inside a loaded module (cannot happen for code): left 0, and a
    // peer with a real value will not match.
  }
  id.pid = getpid();
  return id;
}

std::string Identity::Serialize() const {
  std::string s;
  s += "wire=" + std::to_string(wire) + "\n";
  s += "arch=" + arch + "\n";
  s += "order=" + byte_order + "\n";
  s += "bits=" + std::to_string(pointer_bits) + "\n";
  s += "program=" + Hex(program) + "\n";
  s += "library=" + Hex(library) + "\n";
  s += "host=" + host + "\n";
  s += "pid=" + std::to_string(pid) + "\n";
  // Last: the only field that may be long (a path), cut to fit.
  s += "desc=" + program_desc;
  if (s.size() > kIdentityBytes - 2) s.resize(kIdentityBytes - 2);
  s += "\n";
  return s;
}

Identity Identity::Parse(std::string_view text) {
  Identity id;
  id.wire = 0;
  while (!text.empty()) {
    const std::size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view{}
                                         : text.substr(eol + 1);
    const std::size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    const std::string_view k = line.substr(0, eq);
    const std::string_view v = line.substr(eq + 1);
    if (k == "wire") {
      id.wire = static_cast<uint32_t>(ParseU64(v, 10));
    } else if (k == "arch") {
      id.arch = v;
    } else if (k == "order") {
      id.byte_order = v;
    } else if (k == "bits") {
      id.pointer_bits = static_cast<uint32_t>(ParseU64(v, 10));
    } else if (k == "program") {
      id.program = ParseU64(v, 16);
    } else if (k == "desc") {
      id.program_desc = v;
    } else if (k == "library") {
      id.library = ParseU64(v, 16);
    } else if (k == "host") {
      id.host = v;
    } else if (k == "pid") {
      id.pid = static_cast<int64_t>(ParseU64(v, 10));
    }
  }
  return id;
}

std::string Identity::Describe() const {
  return "host " + (host.empty() ? std::string("?") : host) + ", pid " +
         std::to_string(pid) + ", " + (arch.empty() ? "?" : arch) + " " +
         (byte_order.empty() ? "?" : byte_order) + "-endian " +
         std::to_string(pointer_bits) + "-bit, " + ProgramOf(*this) +
         ", shoal wire " + std::to_string(wire);
}

std::optional<std::string> CompareIdentity(const Identity& ours, int our_rank,
                                           const Identity& theirs,
                                           int their_rank) {
  std::string what;
  if (theirs.wire != ours.wire) {
    what = "shoal wire format " + std::to_string(theirs.wire) + " vs " +
           std::to_string(ours.wire);
  } else if (theirs.arch != ours.arch) {
    what = "architecture " + theirs.arch + " vs " + ours.arch;
  } else if (theirs.byte_order != ours.byte_order) {
    what = "byte order " + theirs.byte_order + " vs " + ours.byte_order;
  } else if (theirs.pointer_bits != ours.pointer_bits) {
    what = "word size " + std::to_string(theirs.pointer_bits) + " vs " +
           std::to_string(ours.pointer_bits) + " bits";
  } else if (theirs.program != ours.program ||
             theirs.library != ours.library) {
    what = "binary " + ProgramOf(theirs) + " vs " + ProgramOf(ours);
  } else {
    return std::nullopt;
  }
  return "shoal::mpi handshake refused: rank " + std::to_string(their_rank) +
         " differs from rank " + std::to_string(our_rank) + " in " + what +
         ". rank " + std::to_string(their_rank) + ": " + theirs.Describe() +
         "; rank " + std::to_string(our_rank) + ": " + ours.Describe() +
         ". Every rank must run the same build of the program on the same "
         "architecture and byte order (tasks travel as offsets into the "
         "binary, in the native format)";
}

}  // namespace shoal::mpi::internal
