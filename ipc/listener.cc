// Copyright 2026 The shoal Authors.
#include "shoal/ipc/listener.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <utility>

#include "shoal/base/errors.h"
#include "shoal/ipc/internal/auth_handshake.h"
#include "shoal/ipc/region.h"

namespace shoal {
namespace {

using internal::AuthHandshake;
using Clock = Deadline::Clock;

struct UnixAddress {
  sockaddr_un sa{};
  socklen_t len = 0;
  bool abstract = false;
};

UnixAddress MakeAddress(std::string_view address, const char* who) {
  UnixAddress a;
  a.sa.sun_family = AF_UNIX;
  if (address.empty()) {
    throw ValueError(std::string(who) + ": empty address");
  }
  a.abstract = address[0] == '\0';
  if (a.abstract) {
    if (address.size() < 2) {
      throw ValueError(std::string(who) +
                       ": an abstract address needs a name after the NUL");
    }
    if (address.size() > sizeof(a.sa.sun_path)) {
      throw ValueError(std::string(who) + ": abstract address " +
                       AddressToString(address) + " is longer than " +
                       std::to_string(sizeof(a.sa.sun_path)) + " bytes");
    }
  } else {
    if (address.find('\0') != std::string_view::npos) {
      throw ValueError(std::string(who) +
                       ": a filesystem address may not contain NUL bytes");
    }
    if (address.size() >= sizeof(a.sa.sun_path)) {
      throw ValueError(std::string(who) + ": socket path '" +
                       std::string(address) + "' is longer than " +
                       std::to_string(sizeof(a.sa.sun_path) - 1) + " bytes");
    }
  }
  std::memcpy(a.sa.sun_path, address.data(), address.size());
  a.len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) +
                                 address.size() + (a.abstract ? 0 : 1));
  return a;
}

int PollMs(Clock::time_point until) {
  if (until == Clock::time_point::max()) return -1;
  auto left = until - Clock::now();
  if (left <= Clock::duration::zero()) return 0;
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return ms > INT32_MAX ? INT32_MAX : static_cast<int>(ms);
}

// A socket file of ours that nobody accepts on any more (its listener was
// killed): connecting is refused.
bool IsStaleSocket(const UnixAddress& a) {
  struct stat st;
  if (lstat(a.sa.sun_path, &st) != 0 || !S_ISSOCK(st.st_mode) ||
      st.st_uid != geteuid()) {
    return false;
  }
  int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (probe < 0) return false;
  int rc = connect(probe, reinterpret_cast<const sockaddr*>(&a.sa), a.len);
  int err = errno;
  ::close(probe);
  return rc != 0 && err == ECONNREFUSED;
}

PeerCredentials PeerOf(int fd) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  PeerCredentials p;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
    p.pid = cred.pid;
    p.uid = cred.uid;
    p.gid = cred.gid;
  }
  return p;
}

std::string DescribePeer(const PeerCredentials& p) {
  return "client pid " + std::to_string(p.pid) + " (uid " +
         std::to_string(p.uid) + ")";
}

void SetBlocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags >= 0) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
}

// Moves a handshake as far as it goes without blocking.
AuthHandshake::State Progress(int fd, AuthHandshake& hs) {
  for (;;) {
    if (hs.state() == AuthHandshake::State::kFailed) {
      // Best effort: tell the peer "#FAILURE#" so it reports a rejected
      // key rather than a closed connection.
      std::string_view out = hs.output();
      if (!out.empty()) {
        (void)!send(fd, out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      }
      return AuthHandshake::State::kFailed;
    }
    std::string_view out = hs.output();
    if (!out.empty()) {
      ssize_t n = send(fd, out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        hs.Wrote(static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return AuthHandshake::State::kRunning;
      }
      hs.FeedEof();
      continue;
    }
    if (hs.state() != AuthHandshake::State::kRunning) return hs.state();
    std::size_t want = hs.want();
    if (want == 0) return hs.state();
    char buf[AuthHandshake::kMaxMessage + 16];
    ssize_t n = recv(fd, buf, std::min(want, sizeof(buf)), MSG_DONTWAIT);
    if (n > 0) {
      hs.Feed(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) {
      hs.FeedEof();
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return AuthHandshake::State::kRunning;
    }
    hs.FeedEof();  // ECONNRESET and the like: the peer is gone
  }
}

}  // namespace

std::string AddressToString(std::string_view address) {
  if (!address.empty() && address[0] == '\0') {
    return "'\\0" + std::string(address.substr(1)) + "'";
  }
  return "'" + std::string(address) + "'";
}

struct Listener::State {
  int fd = -1;
  std::string authkey;
  ListenerOptions options;
  // Filesystem address this process bound: unlinked on close if it is still
  // our socket file.
  bool owns_path = false;
  dev_t dev = 0;
  ino_t ino = 0;
  pid_t creator = 0;

  struct Pending {
    int fd = -1;
    PeerCredentials peer;
    std::unique_ptr<AuthHandshake> hs;
    Clock::time_point expires;
    bool runnable = true;  // fresh, or poll() reported it
  };
  std::vector<Pending> pending;
  // When the last accept() returned (or threw); zero while a wait on the
  // listener serves clients (that time counts against them too).
  Clock::time_point left_accept{};

  // What the next accept() returns (fd >= 0) or throws (`refusal`): found
  // by Step() in a wait on the listener, or in accept() itself.
  struct Found {
    int fd = -1;
    PeerCredentials peer;
    std::string refusal;
  };
  std::optional<Found> found;

  // For waits (MakeWaitHook): an epoll instance over the listening socket
  // (while there is room for a handshake) and every handshake's socket (in
  // the direction it waits), so that one descriptor is readable whenever a
  // Step() may move. `watched` is what it holds (fd -> events).
  int epfd = -1;
  std::map<int, uint32_t> watched;

  ~State() { Close(); }
  void Close() {
    for (Pending& p : pending) ::close(p.fd);
    pending.clear();
    if (found && found->fd >= 0) ::close(found->fd);
    found.reset();
    if (fd >= 0) ::close(fd);
    fd = -1;
    if (epfd >= 0) ::close(epfd);
    epfd = -1;
    watched.clear();
  }

  // Adds the time since the last accept() returned to every pending
  // deadline (only time spent serving counts, see listener.h).
  void Resume() {
    const auto now = Clock::now();
    const auto away = left_accept == Clock::time_point{}
                          ? Clock::duration::zero()
                          : now - left_accept;
    for (Pending& p : pending) {
      p.expires += away;
      p.runnable = true;
    }
  }

  void Refuse(std::size_t i, std::string why) {
    Pending p = std::move(pending[i]);
    pending.erase(pending.begin() + static_cast<std::ptrdiff_t>(i));
    ::close(p.fd);
    found = Found{-1, p.peer, DescribePeer(p.peer) + " refused: " + why};
  }

  // One pass that never blocks: admits new clients while there is room,
  // moves every runnable handshake, refuses those out of time. True when
  // `found` holds the next outcome. *next: the earliest pending expiry (or
  // unchanged).
  bool Step(Clock::time_point* next) {
    if (found) return true;
    struct Sync {  // the wait descriptor follows whatever happened
      State& s;
      ~Sync() { s.SyncEpoll(); }
    } sync{*this};
    while (pending.size() < options.max_pending) {
      int c = accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (c < 0) {
        int e = errno;
        if (e == EAGAIN || e == EWOULDBLOCK) break;
        if (e == EINTR || e == ECONNABORTED || e == EPROTO) continue;
        ThrowSystemError("Listener.accept", e);
      }
      PeerCredentials peer = PeerOf(c);
      if (authkey.empty()) {
        found = Found{c, peer, {}};
        return true;
      }
      Pending p;
      p.fd = c;
      p.peer = peer;
      p.hs = std::make_unique<AuthHandshake>(AuthHandshake::Role::kServer,
                                             authkey, AuthHandshake::Random());
      p.expires = Clock::now() + options.handshake_timeout;
      pending.push_back(std::move(p));
    }
    // Move every handshake that can move.
    for (std::size_t i = 0; i < pending.size(); ++i) {
      Pending& p = pending[i];
      if (!p.runnable) continue;
      p.runnable = false;
      AuthHandshake::State st = Progress(p.fd, *p.hs);
      if (st == AuthHandshake::State::kDone) {
        Pending done = std::move(p);
        pending.erase(pending.begin() + static_cast<std::ptrdiff_t>(i));
        found = Found{done.fd, done.peer, {}};
        return true;
      }
      if (st == AuthHandshake::State::kFailed) {
        Refuse(i, p.hs->error());
        return true;
      }
    }
    // Those out of time (anything they had sent was read just above).
    const auto now = Clock::now();
    for (std::size_t i = 0; i < pending.size(); ++i) {
      if (pending[i].expires <= now) {
        Refuse(i, "no complete answer to the authentication challenge "
                  "within " +
                      std::to_string(options.handshake_timeout.count()) +
                      " ms");
        return true;
      }
      *next = std::min(*next, pending[i].expires);
    }
    return false;
  }

  // --- waits ---------------------------------------------------------------

  int WaitFd() {
    if (epfd < 0) {
      epfd = ::epoll_create1(EPOLL_CLOEXEC);
      if (epfd < 0) ThrowSystemError("Listener: epoll_create1", errno);
      SyncEpoll();
    }
    return epfd;
  }

  // Makes the epoll instance hold exactly what Step() waits for.
  void SyncEpoll() {
    if (epfd < 0) return;
    std::map<int, uint32_t> want;
    if (fd >= 0 && !found && pending.size() < options.max_pending) {
      want[fd] = EPOLLIN;
    }
    if (!found) {
      for (const Pending& p : pending) {
        want[p.fd] = p.hs->output().empty() ? EPOLLIN : EPOLLOUT;
      }
    }
    for (auto it = watched.begin(); it != watched.end();) {
      if (want.count(it->first) == 0) {
        // ENOENT/EBADF: closed already (epoll dropped it with the file).
        ::epoll_ctl(epfd, EPOLL_CTL_DEL, it->first, nullptr);
        it = watched.erase(it);
      } else {
        ++it;
      }
    }
    for (const auto& [f, events] : want) {
      auto it = watched.find(f);
      if (it != watched.end() && it->second == events) continue;
      epoll_event ev{};
      ev.events = events;
      ev.data.fd = f;
      // A number seen before may be a new socket (the old one was closed
      // and dropped): ADD when MOD finds nothing.
      int rc = -1;
      if (it != watched.end()) rc = ::epoll_ctl(epfd, EPOLL_CTL_MOD, f, &ev);
      if (rc != 0) rc = ::epoll_ctl(epfd, EPOLL_CTL_ADD, f, &ev);
      if (rc != 0 && errno == EEXIST) {
        rc = ::epoll_ctl(epfd, EPOLL_CTL_MOD, f, &ev);
      }
      if (rc != 0) ThrowSystemError("Listener: epoll_ctl", errno);
      watched[f] = events;
    }
  }
};

Listener::Listener(std::string address, std::string authkey,
                   const ListenerOptions& options)
    : state_(std::make_shared<State>()) {
  if (options.max_pending == 0) {
    throw ValueError("Listener: max_pending must be at least 1");
  }
  if (address.empty()) {
    address = AbstractAddress("shoal-listener-" + internal::RandomHex128());
  }
  UnixAddress a = MakeAddress(address, "Listener");
  State& s = *state_;
  s.authkey = std::move(authkey);
  s.options = options;
  s.creator = getpid();
  s.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s.fd < 0) ThrowSystemError("Listener: socket", errno);
  int rc = bind(s.fd, reinterpret_cast<const sockaddr*>(&a.sa), a.len);
  if (rc != 0 && errno == EADDRINUSE && !a.abstract && IsStaleSocket(a)) {
    ::unlink(a.sa.sun_path);
    rc = bind(s.fd, reinterpret_cast<const sockaddr*>(&a.sa), a.len);
  }
  if (rc != 0) {
    int e = errno;
    if (e == EADDRINUSE) {
      throw SystemError("Listener: address " + AddressToString(address) +
                            " is in use (another listener is accepting on "
                            "it)",
                        e);
    }
    ThrowSystemError("Listener: bind " + AddressToString(address), e);
  }
  if (!a.abstract) {
    struct stat st;
    // Between bind() and chmod() the file has the umask's mode; a client
    // that connects then still has to pass the handshake.
    if (chmod(a.sa.sun_path, options.mode & 0777) != 0 ||
        stat(a.sa.sun_path, &st) != 0) {
      int e = errno;
      ::unlink(a.sa.sun_path);
      ThrowSystemError("Listener: chmod " + AddressToString(address), e);
    }
    s.owns_path = true;
    s.dev = st.st_dev;
    s.ino = st.st_ino;
  }
  if (listen(s.fd, options.backlog) != 0) {
    int e = errno;
    if (s.owns_path) ::unlink(a.sa.sun_path);
    ThrowSystemError("Listener: listen", e);
  }
  address_ = std::move(address);
}

Listener::Listener(Listener&& other) noexcept { *this = std::move(other); }

Listener& Listener::operator=(Listener&& other) noexcept {
  if (this != &other) {
    close();
    address_ = std::move(other.address_);
    last_accepted_ = other.last_accepted_;
    refused_ = other.refused_;
    state_ = std::move(other.state_);
  }
  return *this;
}

Listener::~Listener() { close(); }

void Listener::close() {
  if (!state_) return;
  State& s = *state_;
  if (s.owns_path && getpid() == s.creator) {
    struct stat st;
    if (stat(address_.c_str(), &st) == 0 && st.st_dev == s.dev &&
        st.st_ino == s.ino) {
      ::unlink(address_.c_str());
    }
  }
  s.owns_path = false;
  s.Close();
}

bool Listener::closed() const { return !state_ || state_->fd < 0; }

int Listener::fileno() const {
  if (closed()) throw Closed("Listener.fileno: the listener is closed");
  return state_->fd;
}

std::size_t Listener::pending() const {
  return state_ ? state_->pending.size() : 0;
}

Connection Listener::accept(const Deadline& deadline) {
  if (closed()) throw Closed("Listener.accept: the listener is closed");
  State& s = *state_;
  // Handshakes move only inside accept() (and waits on the listener), so
  // only that time counts against a client: the time since the last call
  // returned is added to every pending deadline, and what clients sent
  // meanwhile is read before any of them is judged.
  if (!s.found) s.Resume();
  struct MarkLeft {
    State& s;
    ~MarkLeft() { s.left_accept = Clock::now(); }
  } mark_left{s};
  std::vector<pollfd> fds;
  for (;;) {
    Clock::time_point next = deadline.when();
    if (s.Step(&next)) return TakeFound();
    if (deadline.expired()) {
      throw TimeoutError("Listener.accept on " + AddressToString(address_) +
                         ": no client authenticated before the deadline");
    }
    // Sleep until a client moves, a new one arrives, or a timeout.
    fds.clear();
    const bool admit = s.pending.size() < s.options.max_pending;
    if (admit) fds.push_back(pollfd{s.fd, POLLIN, 0});
    for (const State::Pending& p : s.pending) {
      short ev = p.hs->output().empty() ? POLLIN : POLLOUT;
      fds.push_back(pollfd{p.fd, ev, 0});
    }
    int rc = ::poll(fds.data(), fds.size(), PollMs(next));
    if (rc < 0) {
      if (errno == EINTR) continue;
      ThrowSystemError("Listener.accept: poll", errno);
    }
    const std::size_t base = admit ? 1 : 0;
    for (std::size_t k = 0; k < s.pending.size(); ++k) {
      if (fds[base + k].revents != 0) s.pending[k].runnable = true;
    }
  }
}

Connection Listener::TakeFound() {
  State& s = *state_;
  State::Found f = std::move(*s.found);
  s.found.reset();
  s.SyncEpoll();
  if (f.fd < 0) {
    ++refused_;
    throw AuthenticationError("Listener.accept on " +
                              AddressToString(address_) + ": " + f.refusal);
  }
  SetBlocking(f.fd);
  last_accepted_ = f.peer;
  return Connection(f.fd, true, true, Connection::Framing::kPython);
}

// A Listener in a WaitSet (wait_hook.h): an fd hook on the listener's
// epoll instance; Ready() moves the handshakes as accept() would (without
// blocking) and says whether accept() has a connection to return or a
// refusal to report at once. Recheck(): the next handshake's expiry.
class Listener::WaitHookImpl final : public internal::WaitHook {
 public:
  WaitHookImpl(std::shared_ptr<Listener::State> state, const void* object)
      : WaitHook(object, Kind::kReadable),
        state_(std::move(state)),
        fd_(state_->WaitFd()) {}

  int fd() const override { return fd_; }
  bool Ready() override {
    Listener::State& s = *state_;
    if (s.fd < 0) return true;  // closed: accept() says so
    if (!s.found) s.Resume();
    // While a wait serves the clients, its time counts against them.
    s.left_accept = Clock::time_point{};
    Clock::time_point next = Clock::time_point::max();
    const bool ready = s.Step(&next);
    next_ = next;
    if (ready) s.left_accept = Clock::now();
    return ready;
  }
  Deadline Recheck() const override {
    if (next_ == Clock::time_point::max()) return Deadline::Infinite();
    return Deadline(next_);
  }

 private:
  std::shared_ptr<Listener::State> state_;
  int fd_;
  Clock::time_point next_ = Clock::time_point::max();
};

internal::WaitHookPtr MakeWaitHook(const Listener& listener) {
  if (listener.closed()) {
    throw Closed("shoal::wait: the listener is closed");
  }
  return std::make_shared<Listener::WaitHookImpl>(listener.state_, &listener);
}

Connection Client(std::string_view address, std::string_view authkey,
                  const Deadline& deadline) {
  UnixAddress a = MakeAddress(address, "Client");
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) ThrowSystemError("Client: socket", errno);
  struct Closer {
    int fd;
    ~Closer() {
      if (fd >= 0) ::close(fd);
    }
  } closer{fd};

  // A full backlog makes connect() wait (for a listener that is not
  // accepting); SO_SNDTIMEO bounds that wait, a non-blocking socket skips
  // it when no time is left.
  for (;;) {
    bool nonblocking = false;
    if (!deadline.infinite()) {
      auto left = std::chrono::duration_cast<std::chrono::microseconds>(
          deadline.remaining());
      if (left.count() <= 0) {
        nonblocking = true;
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
      } else {
        timeval tv{static_cast<time_t>(left.count() / 1000000),
                   static_cast<suseconds_t>(left.count() % 1000000)};
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
      }
    }
    int rc = connect(fd, reinterpret_cast<const sockaddr*>(&a.sa), a.len);
    int e = errno;
    if (nonblocking) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    if (rc == 0) break;
    if (e == EINTR) continue;
    if (e == EAGAIN || e == EINPROGRESS) {
      throw TimeoutError("Client: could not connect to " +
                         AddressToString(address) +
                         " before the deadline (its listener is not "
                         "accepting and its backlog is full)");
    }
    if (e == ENOENT || e == ECONNREFUSED) {
      throw SystemError("Client: nobody listens at " +
                            AddressToString(address) + " (" +
                            std::strerror(e) + ")",
                        e);
    }
    ThrowSystemError("Client: connect " + AddressToString(address), e);
  }
  timeval zero{0, 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &zero, sizeof(zero));

  if (!authkey.empty()) {
    AuthHandshake hs(AuthHandshake::Role::kClient, std::string(authkey),
                     AuthHandshake::Random());
    for (;;) {
      // Progress() uses MSG_DONTWAIT, so the blocking socket is fine.
      AuthHandshake::State st = Progress(fd, hs);
      if (st == AuthHandshake::State::kDone) break;
      if (st == AuthHandshake::State::kFailed) {
        throw AuthenticationError("Client: the handshake with " +
                                  AddressToString(address) +
                                  " failed: " + hs.error());
      }
      if (deadline.expired()) {
        throw TimeoutError("Client: the listener at " +
                           AddressToString(address) +
                           " did not complete the handshake before the "
                           "deadline");
      }
      pollfd p{fd, static_cast<short>(hs.output().empty() ? POLLIN : POLLOUT),
               0};
      int rc = ::poll(&p, 1, PollMs(deadline.when()));
      if (rc < 0 && errno != EINTR) ThrowSystemError("Client: poll", errno);
    }
  }
  closer.fd = -1;
  return Connection(fd, true, true, Connection::Framing::kPython);
}

}  // namespace shoal
