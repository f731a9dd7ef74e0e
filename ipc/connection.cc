#include "shoal/ipc/connection.h"

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

#include "shoal/base/errors.h"

namespace shoal {
namespace {

constexpr std::size_t kHeader = sizeof(uint64_t);
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
void WriteIov(int fd, bool is_socket, iovec* iov, int iovcnt) {
  while (iovcnt > 0) {
    ssize_t n;
    if (is_socket) {
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = static_cast<size_t>(iovcnt);
      n = sendmsg(fd, &msg, MSG_NOSIGNAL);
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

Connection::Connection(int fd, bool readable, bool writable)
    : fd_(fd), readable_(readable), writable_(writable), is_socket_(IsSocket(fd)) {
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

void Connection::close() {
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
                          const void* data, std::size_t len) {
  iovec iov[2];
  iov[0].iov_base = const_cast<void*>(header);
  iov[0].iov_len = header_len;
  iov[1].iov_base = const_cast<void*>(data);
  iov[1].iov_len = len;
  int cnt = len > 0 ? 2 : 1;
  if (is_socket_) {
    WriteIov(fd_, true, iov, cnt);
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
  uint64_t header = size;
  WriteAll(&header, kHeader, buffer.data() + offset, size);
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
    ssize_t n = ::read(fd_, rbuf_.data() + rend_, rbuf_.size() - rend_);
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
  while (rend_ - rpos_ < kHeader) FillBuffer(deadline);
  uint64_t len;
  std::memcpy(&len, rbuf_.data() + rpos_, kHeader);
  rpos_ += kHeader;
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
      ssize_t n = ::read(fd_, dst + done, left);
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

std::vector<std::size_t> Wait(std::span<Connection* const> conns,
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
    if (errno != EINTR) ThrowSystemError("shoal::Wait: poll", errno);
  }
  for (std::size_t k = 0; k < fds.size(); ++k) {
    if (fds[k].revents != 0) ready.push_back(index[k]);
  }
  return ready;
}

}  // namespace shoal
