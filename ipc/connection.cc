#include "shoal/ipc/connection.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>
#include <type_traits>

#include "shoal/base/errors.h"

namespace shoal {
namespace {

constexpr std::size_t kHeader = sizeof(uint64_t);
// Python framing: a 4-byte big-endian signed length; -1 announces an 8-byte
// big-endian length (messages over INT32_MAX bytes).
constexpr std::size_t kPyHeader = 4;
constexpr std::size_t kPyLongHeader = 12;
// Descriptors kept for recv_handle/recv_fd at most; later ones are closed on
// arrival (a peer cannot make us hold an unbounded number of files).
constexpr std::size_t kMaxReceivedFds = 64;
// Room for the descriptors one recvmsg may carry.
constexpr std::size_t kFdsPerRead = 16;
constexpr std::size_t kReadBuffer = 64 * 1024;
// Payloads at least this large are read straight into their destination.
constexpr std::size_t kDirectRead = 16 * 1024;
// A message's buffer grows in steps of this much as its bytes arrive, so a
// bogus length never allocates more than has actually been sent (plus this).
constexpr std::size_t kGrowStep = std::size_t{64} << 20;

int PollTimeoutMs(const Deadline& deadline) {
  if (deadline.infinite()) return -1;
  auto left = deadline.remaining();
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return ms > INT32_MAX ? INT32_MAX : static_cast<int>(ms);
}

// Writes iov fully with writev/sendmsg, retrying partial writes and EINTR.
// `pass_fd` >= 0 (sockets only) travels as SCM_RIGHTS with the first bytes.
void WriteIov(int fd, bool is_socket, iovec* iov, int iovcnt,
              int pass_fd = -1) {
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  while (iovcnt > 0) {
    ssize_t n;
    if (is_socket) {
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = static_cast<size_t>(iovcnt);
      if (pass_fd >= 0) {
        std::memset(control, 0, sizeof(control));
        msg.msg_control = control;
        msg.msg_controllen = sizeof(control);
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
      }
      n = sendmsg(fd, &msg, MSG_NOSIGNAL);
      // Once any byte went out, the descriptor went with it.
      if (n > 0) pass_fd = -1;
    } else {
      n = writev(fd, iov, iovcnt);
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      ThrowSystemError("Connection.send", errno);
    }
    auto done = static_cast<std::size_t>(n);
    while (iovcnt > 0 && done >= iov->iov_len) {
      done -= iov->iov_len;
      ++iov;
      --iovcnt;
    }
    if (iovcnt > 0) {
      iov->iov_base = static_cast<char*>(iov->iov_base) + done;
      iov->iov_len -= done;
    }
  }
}

// For pipe writes: SIGPIPE blocked in this thread for the duration, and a
// SIGPIPE raised by our own write discarded, so a dead reader gives EPIPE
// instead of killing the process. Free when SIGPIPE is already ignored.
class SigpipeGuard {
 public:
  SigpipeGuard() {
    struct sigaction current;
    if (sigaction(SIGPIPE, nullptr, &current) == 0 &&
        current.sa_handler == SIG_IGN) {
      return;
    }
    active_ = true;
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &block, &old_);
  }
  ~SigpipeGuard() {
    if (!active_) return;
    if (!was_pending_) {
      sigset_t pending;
      sigemptyset(&pending);
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        sigset_t only;
        sigemptyset(&only);
        sigaddset(&only, SIGPIPE);
        timespec zero{0, 0};
        while (sigtimedwait(&only, nullptr, &zero) < 0 && errno == EINTR) {
        }
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;

 private:
  bool active_ = false;
  bool was_pending_ = false;
  sigset_t old_;
};

bool IsSocket(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

}  // namespace

Connection::Connection(int fd, bool readable, bool writable, Framing framing)
    : fd_(fd),
      readable_(readable),
      writable_(writable),
      is_socket_(IsSocket(fd)),
      framing_(framing) {
  if (fd < 0) throw ValueError("Connection: invalid file descriptor");
  if (!readable && !writable) {
    throw ValueError("Connection: at least one of readable or writable");
  }
}

Connection::Connection(Connection&& other) noexcept { *this = std::move(other); }

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    readable_ = std::exchange(other.readable_, false);
    writable_ = std::exchange(other.writable_, false);
    is_socket_ = other.is_socket_;
    framing_ = other.framing_;
    received_fds_ = std::exchange(other.received_fds_, {});
    max_message_size_ = other.max_message_size_;
    rbuf_ = std::move(other.rbuf_);
    rpos_ = std::exchange(other.rpos_, 0);
    rend_ = std::exchange(other.rend_, 0);
    pending_len_ = std::exchange(other.pending_len_, std::nullopt);
    partial_ = std::exchange(other.partial_, {});
  }
  return *this;
}

Connection::~Connection() { close(); }

Connection::FdGuard::~FdGuard() {
  if (fd >= 0) ::close(fd);
}

void Connection::CloseReceivedFds() {
  for (int fd : received_fds_) ::close(fd);
  received_fds_.clear();
}

void Connection::close() {
  CloseReceivedFds();
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  readable_ = false;
  writable_ = false;
  rbuf_.clear();
  rbuf_.shrink_to_fit();
  rpos_ = rend_ = 0;
  pending_len_.reset();
  partial_.clear();
  partial_.shrink_to_fit();
}

int Connection::release_fd() {
  int fd = std::exchange(fd_, -1);
  readable_ = writable_ = false;
  return fd;
}

int Connection::fileno() const {
  if (fd_ < 0) throw Closed("Connection.fileno: handle is closed");
  return fd_;
}

void Connection::CheckOpen(bool for_read) const {
  if (fd_ < 0) throw Closed("Connection: handle is closed");
  if (for_read && !readable_) {
    throw ValueError("Connection: not readable (write-only end, or a message "
                     "over maxlength left the stream unusable)");
  }
  if (!for_read && !writable_) {
    throw ValueError("Connection: not writable (read-only end)");
  }
}

void Connection::WriteAll(const void* header, std::size_t header_len,
                          const void* data, std::size_t len, int pass_fd) {
  iovec iov[2];
  iov[0].iov_base = const_cast<void*>(header);
  iov[0].iov_len = header_len;
  iov[1].iov_base = const_cast<void*>(data);
  iov[1].iov_len = len;
  int cnt = len > 0 ? 2 : 1;
  if (is_socket_) {
    WriteIov(fd_, true, iov, cnt, pass_fd);
  } else {
    SigpipeGuard guard;
    WriteIov(fd_, false, iov, cnt);
  }
}

void Connection::send_bytes(std::span<const std::byte> buffer,
                            std::size_t offset, std::size_t size) {
  CheckOpen(false);
  if (offset > buffer.size()) {
    throw ValueError("Connection.send_bytes: offset " + std::to_string(offset) +
                     " is beyond the buffer (" + std::to_string(buffer.size()) +
                     " bytes)");
  }
  if (size == static_cast<std::size_t>(-1)) size = buffer.size() - offset;
  if (size > buffer.size() - offset) {
    throw ValueError("Connection.send_bytes: offset + size exceeds the buffer");
  }
  if (size > max_message_size_) {
    throw ValueError("Connection.send_bytes: message of " +
                     std::to_string(size) + " bytes exceeds max_message_size " +
                     std::to_string(max_message_size_));
  }
  if (framing_ == Framing::kNative) {
    uint64_t header = size;
    WriteAll(&header, kHeader, buffer.data() + offset, size);
    return;
  }
  unsigned char header[kPyLongHeader];
  std::size_t header_len = kPyHeader;
  if (size <= INT32_MAX) {
    uint32_t be = htobe32(static_cast<uint32_t>(size));
    std::memcpy(header, &be, 4);
  } else {
    uint32_t minus_one = 0xffffffffu;
    uint64_t be = htobe64(size);
    std::memcpy(header, &minus_one, 4);
    std::memcpy(header + 4, &be, 8);
    header_len = kPyLongHeader;
  }
  WriteAll(header, header_len, buffer.data() + offset, size);
}

bool Connection::AwaitReadable(const Deadline& deadline) {
  for (;;) {
    pollfd p{fd_, POLLIN, 0};
    int rc = ::poll(&p, 1, PollTimeoutMs(deadline));
    if (rc > 0) return true;
    if (rc == 0) {
      if (deadline.expired()) return false;
      continue;
    }
    if (errno != EINTR) ThrowSystemError("Connection.poll", errno);
  }
}

void Connection::WaitReadable(const Deadline& deadline) {
  if (!AwaitReadable(deadline)) {
    throw TimeoutError("Connection.recv: no message before the deadline");
  }
}

void Connection::FillBuffer(const Deadline& deadline) {
  if (rbuf_.size() < kReadBuffer) rbuf_.resize(kReadBuffer);
  if (rpos_ == rend_) {
    rpos_ = rend_ = 0;
  } else if (rend_ == rbuf_.size()) {
    std::memmove(rbuf_.data(), rbuf_.data() + rpos_, rend_ - rpos_);
    rend_ -= rpos_;
    rpos_ = 0;
  }
  if (!deadline.infinite()) WaitReadable(deadline);
  for (;;) {
    ssize_t n = ReadSome(rbuf_.data() + rend_, rbuf_.size() - rend_);
    if (n > 0) {
      rend_ += static_cast<std::size_t>(n);
      return;
    }
    if (n == 0) {
      bool mid_message = pending_len_.has_value() || rend_ > rpos_;
      throw EOFError(mid_message
                         ? "Connection.recv: peer closed in the middle of a "
                           "message"
                         : "Connection.recv: peer closed the connection");
    }
    if (errno == EINTR) continue;
    if (errno == ECONNRESET) {
      throw EOFError("Connection.recv: connection reset by peer");
    }
    ThrowSystemError("Connection.recv", errno);
  }
}

uint64_t Connection::ReadHeader(const Deadline& deadline) {
  if (pending_len_) return *pending_len_;
  uint64_t len;
  if (framing_ == Framing::kNative) {
    while (rend_ - rpos_ < kHeader) FillBuffer(deadline);
    std::memcpy(&len, rbuf_.data() + rpos_, kHeader);
    rpos_ += kHeader;
  } else {
    while (rend_ - rpos_ < kPyHeader) FillBuffer(deadline);
    uint32_t be;
    std::memcpy(&be, rbuf_.data() + rpos_, 4);
    const auto short_len = static_cast<int32_t>(be32toh(be));
    if (short_len >= 0) {
      len = static_cast<uint64_t>(short_len);
      rpos_ += kPyHeader;
    } else if (short_len == -1) {
      while (rend_ - rpos_ < kPyLongHeader) FillBuffer(deadline);
      uint64_t be64;
      std::memcpy(&be64, rbuf_.data() + rpos_ + kPyHeader, 8);
      len = be64toh(be64);
      rpos_ += kPyLongHeader;
    } else {
      readable_ = false;
      throw ValueError("Connection.recv: bad message length header " +
                       std::to_string(short_len) +
                       " (garbage on the stream); the connection is no "
                       "longer readable");
    }
  }
  if (len > max_message_size_) {
    readable_ = false;
    throw ValueError("Connection.recv: bad message length " +
                     std::to_string(len) + " (max_message_size " +
                     std::to_string(max_message_size_) +
                     "); the connection is no longer readable");
  }
  pending_len_ = len;
  return len;
}

std::size_t Connection::ReadExact(std::byte* dst, std::size_t len,
                                  const Deadline& deadline) {
  // A timed recv bounds the whole message, not only its first byte: a peer
  // that wrote part of a frame and stalled must not hold the caller past its
  // deadline. The bytes read so far are the caller's to keep (see partial_).
  // Past the deadline, reading stops at the first moment nothing is waiting,
  // so a peer that keeps the pipe full is not cut off, and one that stalls is.
  if (len == 0) return 0;  // dst may be null for an empty message
  std::size_t have = std::min<std::size_t>(rend_ - rpos_, len);
  if (have > 0) std::memcpy(dst, rbuf_.data() + rpos_, have);
  rpos_ += have;
  std::size_t done = have;
  bool first = true;
  while (done < len) {
    if (!deadline.infinite()) {
      if (!first && deadline.expired()) return done;
      if (!AwaitReadable(deadline)) return done;
    }
    first = false;
    std::size_t left = len - done;
    if (left >= kDirectRead) {
      ssize_t n = ReadSome(dst + done, left);
      if (n > 0) {
        done += static_cast<std::size_t>(n);
        continue;
      }
      if (n == 0) {
        throw EOFError("Connection.recv: peer closed in the middle of a message");
      }
      if (errno == EINTR) continue;
      if (errno == ECONNRESET) {
        throw EOFError("Connection.recv: connection reset by peer");
      }
      ThrowSystemError("Connection.recv", errno);
    }
    FillBuffer(Deadline());  // readable (or the deadline is infinite)
    std::size_t take = std::min(rend_ - rpos_, left);
    std::memcpy(dst + done, rbuf_.data() + rpos_, take);
    rpos_ += take;
    done += take;
  }
  return done;
}

void Connection::ThrowMidMessageTimeout(std::size_t got, uint64_t len) {
  throw TimeoutError(
      "Connection.recv: the deadline passed in the middle of a message (" +
      std::to_string(got) + " of " + std::to_string(len) +
      " bytes arrived); they are kept, and the next recv continues the same "
      "message");
}

std::vector<std::byte> Connection::recv_bytes_vector(std::size_t maxlength,
                                                     const Deadline& deadline) {
  CheckOpen(true);
  uint64_t len = ReadHeader(deadline);
  if (len > maxlength) {
    readable_ = false;
    throw ValueError("Connection.recv_bytes: bad message length " +
                     std::to_string(len) + " > maxlength " +
                     std::to_string(maxlength) +
                     "; the connection is no longer readable");
  }
  // A message an earlier timed recv left half-read continues here.
  std::vector<std::byte> out = std::exchange(partial_, {});
  // Grow with the bytes that actually arrive (see kGrowStep).
  std::size_t filled = out.size();
  while (filled < len) {
    std::size_t step = std::min<std::size_t>(len - filled, kGrowStep);
    out.resize(filled + step);
    const std::size_t got = ReadExact(out.data() + filled, step, deadline);
    filled += got;
    if (got < step) {
      out.resize(filled);
      partial_ = std::move(out);
      ThrowMidMessageTimeout(filled, len);
    }
  }
  pending_len_.reset();
  return out;
}

std::string Connection::recv_bytes(std::size_t maxlength,
                                   const Deadline& deadline) {
  std::vector<std::byte> v = recv_bytes_vector(maxlength, deadline);
  return std::string(reinterpret_cast<const char*>(v.data()), v.size());
}

std::size_t Connection::recv_bytes_into(std::span<std::byte> buffer,
                                        std::size_t offset,
                                        const Deadline& deadline) {
  CheckOpen(true);
  if (offset > buffer.size()) {
    throw ValueError("Connection.recv_bytes_into: offset " +
                     std::to_string(offset) + " is beyond the buffer (" +
                     std::to_string(buffer.size()) + " bytes)");
  }
  uint64_t len = ReadHeader(deadline);
  if (len > buffer.size() - offset) {
    throw BufferTooShort("Connection.recv_bytes_into: message of " +
                             std::to_string(len) + " bytes does not fit in " +
                             std::to_string(buffer.size() - offset) +
                             " bytes; the message is left unread",
                         len);
  }
  std::byte* dst = buffer.data() + offset;
  std::size_t filled = partial_.size();  // left by a timed-out recv
  if (filled > 0) std::memcpy(dst, partial_.data(), filled);
  partial_.clear();
  filled += ReadExact(dst + filled, len - filled, deadline);
  if (filled < len) {
    partial_.assign(dst, dst + filled);
    ThrowMidMessageTimeout(filled, len);
  }
  pending_len_.reset();
  return len;
}

bool Connection::poll(const Deadline& deadline) {
  CheckOpen(true);
  if (pending_len_ || rend_ > rpos_) return true;
  for (;;) {
    pollfd p{fd_, POLLIN, 0};
    int rc = ::poll(&p, 1, PollTimeoutMs(deadline));
    if (rc > 0) return true;  // data, or EOF/error: recv will tell which
    if (rc == 0) {
      if (deadline.expired()) return false;
      continue;
    }
    if (errno != EINTR) ThrowSystemError("Connection.poll", errno);
  }
}

ssize_t Connection::ReadSome(std::byte* dst, std::size_t len) {
  if (!is_socket_) return ::read(fd_, dst, len);
  iovec iov{dst, len};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kFdsPerRead)];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n = ::recvmsg(fd_, &msg, MSG_CMSG_CLOEXEC);
  if (n < 0) return n;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr;
       c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      if (received_fds_.size() < kMaxReceivedFds) {
        received_fds_.push_back(fd);
      } else {
        ::close(fd);
      }
    }
  }
  return n;
}

namespace {

// The one message send_handle/send_fd write: it carries one descriptor
// (SCM_RIGHTS, attached to its first bytes). Native layout: both ends run on
// one machine.
constexpr char kHandleMagic[8] = {'S', 'H', 'O', 'A', 'L', 'F', 'D', '1'};
constexpr uint32_t kHandleRegion = 1;
constexpr uint32_t kHandleRawFd = 2;

struct HandleMessage {
  char magic[8];
  uint32_t kind;
  uint32_t fd_count;
  RegionRef ref;
};
static_assert(std::is_trivially_copyable_v<HandleMessage>);
static_assert(sizeof(HandleMessage) == 16 + sizeof(RegionRef));

}  // namespace

void Connection::SendHandleMessage(uint32_t kind, const RegionRef& ref,
                                   int fd) {
  CheckOpen(false);
  if (!is_socket_) {
    throw ValueError(
        "Connection.send_handle: descriptors travel only over sockets "
        "(Pipe(duplex=true), Listener, Client), not over a pipe");
  }
  HandleMessage m{};
  std::memcpy(m.magic, kHandleMagic, sizeof(m.magic));
  m.kind = kind;
  m.fd_count = 1;
  m.ref = ref;
  uint64_t size = sizeof(m);
  if (framing_ == Framing::kNative) {
    WriteAll(&size, kHeader, &m, sizeof(m), fd);
  } else {
    uint32_t be = htobe32(static_cast<uint32_t>(size));
    WriteAll(&be, kPyHeader, &m, sizeof(m), fd);
  }
}

void Connection::SendRegion(const Region& region) {
  if (!region) throw ValueError("Connection.send_handle: empty region handle");
  if (region.kind() == RegionKind::kAnonymous || region.fd() < 0) {
    throw ValueError("Connection.send_handle: " + region.description() +
                     " has no descriptor (anonymous regions reach other "
                     "processes only through fork()); create it as a memfd "
                     "(the default) or named region");
  }
  SendHandleMessage(kHandleRegion, region.ref(), region.fd());
}

void Connection::send_fd(int fd) {
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    throw ValueError("Connection.send_fd: " + std::to_string(fd) +
                     " is not an open descriptor");
  }
  SendHandleMessage(kHandleRawFd, RegionRef{}, fd);
}

RegionRef Connection::RecvHandleMessage(uint32_t kind,
                                        const Deadline& deadline) {
  CheckOpen(true);
  std::vector<std::byte> bytes = recv_bytes_vector(kNoLimit, deadline);
  // The descriptor arrived with the message's first bytes; it is the
  // oldest one not yet taken.
  int fd = -1;
  if (!received_fds_.empty()) {
    fd = received_fds_.front();
    received_fds_.erase(received_fds_.begin());
  }
  FdGuard guard{fd};
  HandleMessage m;
  const char* what = kind == kHandleRegion ? "Connection.recv_handle"
                                           : "Connection.recv_fd";
  if (bytes.size() != sizeof(m)) {
    throw ValueError(std::string(what) + ": the message (" +
                     std::to_string(bytes.size()) +
                     " bytes) is not a handle sent with send_handle/send_fd");
  }
  std::memcpy(&m, bytes.data(), sizeof(m));
  if (std::memcmp(m.magic, kHandleMagic, sizeof(m.magic)) != 0 ||
      m.fd_count != 1) {
    throw ValueError(std::string(what) +
                     ": the message is not a handle sent with "
                     "send_handle/send_fd");
  }
  if (m.kind != kind) {
    throw ValueError(std::string(what) + ": the peer sent " +
                     (m.kind == kHandleRegion ? "a shared object (send_handle)"
                                              : "a plain descriptor (send_fd)"));
  }
  if (fd < 0) {
    throw ValueError(std::string(what) +
                     ": the handle arrived without its descriptor");
  }
  guard.fd = -1;
  m.ref.fd = fd;
  return m.ref;
}

RegionRef Connection::RecvRegionRef(const Deadline& deadline) {
  RegionRef ref = RecvHandleMessage(kHandleRegion, deadline);
  FdGuard guard{ref.fd};
  if (ref.kind != RegionKind::kMemfd && ref.kind != RegionKind::kNamed) {
    throw ValueError("Connection.recv_handle: the handle names an invalid "
                     "region kind " +
                     std::to_string(static_cast<uint32_t>(ref.kind)));
  }
  // Open through the descriptor we now hold, whatever kind the sender had:
  // no name and no /proc path is needed.
  ref.kind = RegionKind::kMemfd;
  ref.pid = getpid();
  std::memset(ref.name, 0, sizeof(ref.name));
  guard.fd = -1;
  return ref;
}

Region Connection::recv_region(const RegionLayout& expected,
                               const Deadline& deadline,
                               const OpenOptions& options) {
  RegionRef ref = RecvRegionRef(deadline);
  FdGuard guard{ref.fd};
  return Region::Open(ref, expected, options);
}

int Connection::recv_fd(const Deadline& deadline) {
  return RecvHandleMessage(kHandleRawFd, deadline).fd;
}

std::pair<Connection, Connection> Pipe(bool duplex) {
  if (duplex) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      ThrowSystemError("Pipe: socketpair", errno);
    }
    return {Connection(sv[0], true, true), Connection(sv[1], true, true)};
  }
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) ThrowSystemError("Pipe: pipe2", errno);
  return {Connection(fds[0], true, false), Connection(fds[1], false, true)};
}

namespace {

// The indices of the ready entries of `conns`, in order (see wait()).
std::vector<std::size_t> ReadyIndices(std::span<Connection* const> conns,
                                      const Deadline& deadline) {
  std::vector<std::size_t> ready;
  std::vector<pollfd> fds;
  std::vector<std::size_t> index;
  for (std::size_t i = 0; i < conns.size(); ++i) {
    Connection* c = conns[i];
    if (c == nullptr || c->closed() || !c->readable()) continue;
    if (c->poll(Deadline::Now())) {
      ready.push_back(i);
      continue;
    }
    fds.push_back(pollfd{c->fileno(), POLLIN, 0});
    index.push_back(i);
  }
  if (!ready.empty() || fds.empty()) return ready;
  for (;;) {
    int rc = ::poll(fds.data(), fds.size(), PollTimeoutMs(deadline));
    if (rc > 0) break;
    if (rc == 0) {
      if (deadline.expired()) return ready;
      continue;
    }
    if (errno != EINTR) ThrowSystemError("shoal::wait: poll", errno);
  }
  for (std::size_t k = 0; k < fds.size(); ++k) {
    if (fds[k].revents != 0) ready.push_back(index[k]);
  }
  return ready;
}

}  // namespace

std::vector<Connection*> wait(std::span<Connection* const> conns,
                              const Deadline& deadline) {
  std::vector<Connection*> ready;
  for (std::size_t i : ReadyIndices(conns, deadline)) ready.push_back(conns[i]);
  return ready;
}

std::vector<Connection*> wait(std::initializer_list<Connection*> conns,
                              const Deadline& deadline) {
  return wait(std::span<Connection* const>(conns.begin(), conns.size()),
              deadline);
}

std::vector<std::size_t> Wait(std::span<Connection* const> conns,
                              const Deadline& deadline) {
  return ReadyIndices(conns, deadline);
}

}  // namespace shoal
