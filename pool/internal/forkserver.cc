// The forkserver start method's server and its client. See forkserver.h.
#include "shoal/pool/internal/forkserver.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "shoal/base/errors.h"
#include "shoal/pool/internal/spawn.h"

namespace shoal::internal {
namespace {

constexpr uint64_t kRequestMagic = 0x73686f616c2d6673ull;  // "shoal-fs"
constexpr int64_t kReady = 1;
constexpr int64_t kStarted = 2;
constexpr int64_t kExited = 3;
// Bounds a request (kind + args: names and numbers) and its descriptors.
constexpr std::size_t kMaxRequest = 64 * 1024;
constexpr std::size_t kMaxStrings = 64;
constexpr std::size_t kMaxFds = 64;
// How long the server may take to come up, and to answer one request.
constexpr int kStartLimitMs = 30'000;
constexpr int kReplyLimitMs = 30'000;

struct Msg {
  int64_t tag;
  int64_t value;
};

struct RequestHeader {
  uint64_t magic;
  uint32_t strings;
  uint32_t bytes;  // of the strings that follow: [u32 length][bytes] each
};

pid_t g_forkserver_parent = 0;  // set in a child forked by the server

int PidfdOpen(pid_t pid) {
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
}

void CloseAll(const std::vector<int>& fds) {
  for (int fd : fds) {
    if (fd >= 0) close(fd);
  }
}

// Sends `bytes` with `fds` attached (SCM_RIGHTS). False on failure (errno).
bool SendWithFds(int sock, const void* bytes, std::size_t len,
                 const std::vector<int>& fds) {
  iovec iov{const_cast<void*>(bytes), len};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  std::vector<char> control;
  if (!fds.empty()) {
    control.assign(CMSG_SPACE(sizeof(int) * fds.size()), 0);
    mh.msg_control = control.data();
    mh.msg_controllen = control.size();
    cmsghdr* c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  for (;;) {
    const ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL);
    if (n == static_cast<ssize_t>(len)) return true;
    if (n < 0 && errno == EINTR) continue;
    if (n >= 0) errno = EMSGSIZE;
    return false;
  }
}

// Receives one datagram into `buf` and its descriptors (CLOEXEC) into
// `fds`. Returns its length, 0 at end of file, -1 on error (errno). A
// truncated datagram or descriptor list is an error (EMSGSIZE), and the
// descriptors that did arrive are closed.
ssize_t RecvWithFds(int sock, void* buf, std::size_t len,
                    std::vector<int>* fds) {
  fds->clear();
  std::vector<char> control(CMSG_SPACE(sizeof(int) * (kMaxFds + 1)));
  iovec iov{buf, len};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = control.data();
  mh.msg_controllen = control.size();
  ssize_t n;
  do {
    n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return -1;
  for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c != nullptr; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    const std::size_t at = fds->size();
    fds->resize(at + count);
    std::memcpy(fds->data() + at, CMSG_DATA(c), count * sizeof(int));
  }
  if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
    CloseAll(*fds);
    fds->clear();
    errno = EMSGSIZE;
    return -1;
  }
  return n;
}

bool SendMsg(int sock, Msg m, int fd = -1) {
  std::vector<int> fds;
  if (fd >= 0) fds.push_back(fd);
  return SendWithFds(sock, &m, sizeof(m), fds);
}

// Waits up to `ms` for `fd` to poll readable. False on timeout.
bool PollIn(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  for (;;) {
    const int n = poll(&p, 1, ms);
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) return true;  // let the read report it
  }
}

// --- the server --------------------------------------------------------------

// Parses a request: false if it is not one of ours.
bool ParseRequest(const std::vector<char>& buf, std::size_t len,
                  std::vector<std::string>* strings) {
  RequestHeader h;
  if (len < sizeof(h)) return false;
  std::memcpy(&h, buf.data(), sizeof(h));
  if (h.magic != kRequestMagic || h.strings == 0 || h.strings > kMaxStrings ||
      h.bytes != len - sizeof(h)) {
    return false;
  }
  std::size_t at = sizeof(h);
  for (uint32_t i = 0; i < h.strings; ++i) {
    uint32_t n;
    if (len - at < sizeof(n)) return false;
    std::memcpy(&n, buf.data() + at, sizeof(n));
    at += sizeof(n);
    if (n > len - at) return false;
    strings->emplace_back(buf.data() + at, n);
    at += n;
  }
  return at == len;
}

// In the forked child: put `fds` at 3, 4, ..., close every other
// descriptor, run the entry, exit.
[[noreturn]] void ServedChildMain(pid_t server, const std::string& kind,
                                  const std::vector<std::string>& args,
                                  const std::vector<int>& fds) {
  g_forkserver_parent = server;
  sigset_t none;
  sigemptyset(&none);
  pthread_sigmask(SIG_SETMASK, &none, nullptr);
  signal(SIGINT, SIG_DFL);
  signal(SIGCHLD, SIG_DFL);
  const int n = static_cast<int>(fds.size());
  std::vector<int> temps;
  for (int fd : fds) {
    const int t = fcntl(fd, F_DUPFD, kFirstPassedFd + n);
    if (t < 0) _exit(72);
    temps.push_back(t);
  }
  for (int i = 0; i < n; ++i) {
    if (dup2(temps[i], kFirstPassedFd + i) < 0) _exit(72);
  }
  // Everything else (the server's socket, other children's status sockets,
  // the temporaries) goes.
  syscall(SYS_close_range, kFirstPassedFd + n, ~0U, 0);
  _exit(RunSpawnEntry(kind, args));
}

// The server: argv after the kind is [owner pid]; fd 3 is its socket.
int ForkserverMain(const std::vector<std::string>& args) {
  if (args.empty()) return 72;
  const pid_t owner = static_cast<pid_t>(ParseLong(args[0]));
  const int sock = kFirstPassedFd;
  if (getppid() != owner) return 0;  // the owner is gone already
  const int owner_fd = PidfdOpen(owner);
  if (owner_fd < 0) return 0;
  // Ctrl-C is for the program, not for its server (as Python's).
  signal(SIGINT, SIG_IGN);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  pthread_sigmask(SIG_BLOCK, &chld, nullptr);
  const int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) return 73;
  const pid_t self = getpid();
  if (!SendMsg(sock, Msg{kReady, self})) return 0;

  std::map<pid_t, int> status_of;  // child -> its status socket
  std::vector<char> buf(kMaxRequest);
  for (;;) {
    pollfd p[3] = {{sock, POLLIN, 0}, {owner_fd, POLLIN, 0}, {sfd, POLLIN, 0}};
    if (poll(p, 3, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (p[1].revents != 0) break;  // the owner has exited
    if (p[2].revents != 0) {
      signalfd_siginfo si;
      while (read(sfd, &si, sizeof(si)) == static_cast<ssize_t>(sizeof(si))) {
      }
      for (;;) {
        int status = 0;
        const pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0) break;
        auto it = status_of.find(pid);
        if (it == status_of.end()) continue;
        SendMsg(it->second, Msg{kExited, status});  // the caller may be gone
        close(it->second);
        status_of.erase(it);
      }
    }
    if (p[0].revents == 0) continue;
    std::vector<int> fds;
    const ssize_t n = RecvWithFds(sock, buf.data(), buf.size(), &fds);
    if (n == 0) break;  // the owner closed its end
    if (n < 0) {
      if (errno == EMSGSIZE) continue;
      break;
    }
    std::vector<std::string> strings;
    if (fds.empty() || fds.size() > kMaxFds + 1 ||
        !ParseRequest(buf, static_cast<std::size_t>(n), &strings)) {
      CloseAll(fds);
      continue;
    }
    const int status_sock = fds[0];
    const std::vector<int> child_fds(fds.begin() + 1, fds.end());
    const std::string kind = strings[0];
    const std::vector<std::string> child_args(strings.begin() + 1,
                                              strings.end());
    std::fflush(nullptr);
    const pid_t pid = fork();
    if (pid == 0) ServedChildMain(self, kind, child_args, child_fds);
    const int err = errno;
    CloseAll(child_fds);
    if (pid < 0) {
      SendMsg(status_sock, Msg{kStarted, -err});
      close(status_sock);
      continue;
    }
    // Not reaped before we are back in the loop, so the pidfd is the child.
    const int child_pidfd = PidfdOpen(pid);
    SendMsg(status_sock, Msg{kStarted, pid}, child_pidfd);
    if (child_pidfd >= 0) close(child_pidfd);
    status_of[pid] = status_sock;
  }
  return 0;
}

const bool kRegistered = RegisterSpawnEntry("forkserver", &ForkserverMain);

// --- the client ----------------------------------------------------------------

struct Client {
  std::mutex mu;
  pid_t owner = 0;  // the process the server below belongs to
  int sock = -1;
  pid_t pid = 0;
  int pidfd = -1;
};

Client& TheClient() {
  static Client* c = new Client;  // outlives static destruction (atexit)
  return *c;
}

// A fork()ed child must not use its parent's server (nor a lock another
// thread held at the fork): forget it, and close our copies.
void ForgetInChild() {
  Client& c = TheClient();
  new (&c.mu) std::mutex;
  if (c.sock >= 0) close(c.sock);
  if (c.pidfd >= 0) close(c.pidfd);
  c.owner = 0;
  c.sock = -1;
  c.pid = 0;
  c.pidfd = -1;
}

void StopLocked(Client& c) {
  if (c.sock >= 0) close(c.sock);
  if (c.pid > 0) {
    kill(c.pid, SIGKILL);
    int status;
    while (waitpid(c.pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  if (c.pidfd >= 0) close(c.pidfd);
  c.sock = -1;
  c.pid = 0;
  c.pidfd = -1;
  c.owner = 0;
}

// Caller holds c.mu.
void EnsureServer(Client& c) {
  (void)kRegistered;
  if (c.owner == getpid() && c.sock >= 0) {
    // Still there? (killed: start another)
    pollfd p{c.pidfd, POLLIN, 0};
    if (c.pidfd < 0 || poll(&p, 1, 0) == 0) return;
    StopLocked(c);
  }
  static std::once_flag atfork;
  std::call_once(atfork, [] { pthread_atfork(nullptr, nullptr, &ForgetInChild); });
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    ThrowSystemError("forkserver: socketpair", errno);
  }
  pid_t pid;
  try {
    pid = SpawnSelf("forkserver", {std::to_string(getpid())}, {sv[1]});
  } catch (...) {
    close(sv[0]);
    close(sv[1]);
    throw;
  }
  close(sv[1]);
  c.sock = sv[0];
  c.pid = pid;
  c.pidfd = PidfdOpen(pid);
  c.owner = getpid();
  Msg ready{};
  std::vector<int> fds;
  // Ready, or gone first (a main() without shoal::init leaves at its first
  // use of shoal, see CheckNotUninitializedSpawnChild), or too slow.
  bool readable = false;
  {
    pollfd p[2] = {{c.sock, POLLIN, 0}, {c.pidfd, POLLIN, 0}};
    const auto until = std::chrono::steady_clock::now() +
                       std::chrono::milliseconds(kStartLimitMs);
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      const int n = poll(p, c.pidfd >= 0 ? 2 : 1,
                         static_cast<int>(left.count()));
      if (n < 0 && errno == EINTR) continue;
      readable = n > 0 && (p[0].revents & POLLIN) != 0;
      break;
    }
  }
  const bool up = readable &&
                  RecvWithFds(c.sock, &ready, sizeof(ready), &fds) ==
                      static_cast<ssize_t>(sizeof(ready)) &&
                  ready.tag == kReady && ready.value == pid;
  CloseAll(fds);
  if (!up) {
    StopLocked(c);
    throw ValueError(
        "the forkserver did not start: main() must call "
        "shoal::init(argc, argv) first (start method 'forkserver')");
  }
}

std::vector<char> EncodeRequest(std::string_view kind,
                                const std::vector<std::string>& args) {
  std::vector<std::string_view> strings{kind};
  for (const auto& a : args) strings.emplace_back(a);
  std::size_t bytes = 0;
  for (auto s : strings) bytes += sizeof(uint32_t) + s.size();
  if (sizeof(RequestHeader) + bytes > kMaxRequest) {
    throw ValueError("forkserver: request too large");
  }
  std::vector<char> out(sizeof(RequestHeader) + bytes);
  const RequestHeader h{kRequestMagic, static_cast<uint32_t>(strings.size()),
                        static_cast<uint32_t>(bytes)};
  std::memcpy(out.data(), &h, sizeof(h));
  std::size_t at = sizeof(h);
  for (auto s : strings) {
    const uint32_t n = static_cast<uint32_t>(s.size());
    std::memcpy(out.data() + at, &n, sizeof(n));
    at += sizeof(n);
    std::memcpy(out.data() + at, s.data(), s.size());
    at += s.size();
  }
  return out;
}

}  // namespace

ServedChild ForkserverStart(std::string_view kind,
                            const std::vector<std::string>& args,
                            const std::vector<int>& fds) {
  if (fds.size() > kMaxFds) throw ValueError("forkserver: too many descriptors");
  const std::vector<char> request = EncodeRequest(kind, args);
  Client& c = TheClient();
  std::lock_guard<std::mutex> lock(c.mu);
  for (int attempt = 0;; ++attempt) {
    EnsureServer(c);
    int st[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, st) != 0) {
      ThrowSystemError("forkserver: socketpair", errno);
    }
    std::vector<int> pass{st[1]};
    pass.insert(pass.end(), fds.begin(), fds.end());
    const bool sent = SendWithFds(c.sock, request.data(), request.size(), pass);
    const int send_err = errno;
    close(st[1]);
    Msg reply{};
    std::vector<int> got;
    const bool answered =
        sent && PollIn(st[0], kReplyLimitMs) &&
        RecvWithFds(st[0], &reply, sizeof(reply), &got) ==
            static_cast<ssize_t>(sizeof(reply)) &&
        reply.tag == kStarted;
    if (!answered) {
      const int err = sent ? ETIMEDOUT : send_err;
      CloseAll(got);
      close(st[0]);
      // The server died under us (killed, OOM): one more try, on a new one.
      StopLocked(c);
      if (attempt == 0) continue;
      ThrowSystemError("forkserver: no answer", err);
    }
    if (reply.value < 0) {
      CloseAll(got);
      close(st[0]);
      ThrowSystemError("forkserver: fork", static_cast<int>(-reply.value));
    }
    ServedChild child;
    child.pid = static_cast<pid_t>(reply.value);
    child.pidfd = got.empty() ? -1 : got[0];
    for (std::size_t i = 1; i < got.size(); ++i) close(got[i]);
    child.status_fd = st[0];
    return child;
  }
}

int ForkserverReadStatus(int status_fd) {
  PollIn(status_fd, -1);
  Msg m{};
  std::vector<int> fds;
  const ssize_t n = RecvWithFds(status_fd, &m, sizeof(m), &fds);
  CloseAll(fds);
  if (n != static_cast<ssize_t>(sizeof(m)) || m.tag != kExited) return -1;
  return static_cast<int>(m.value);
}

pid_t ForkserverParent() { return g_forkserver_parent; }

pid_t ExpectedOsParent(pid_t shoal_parent) {
  return g_forkserver_parent != 0 ? g_forkserver_parent : shoal_parent;
}

pid_t ForkserverPid() {
  Client& c = TheClient();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.owner == getpid() ? c.pid : 0;
}

void StopForkserver() {
  Client& c = TheClient();
  std::lock_guard<std::mutex> lock(c.mu);
  if (c.owner == getpid()) StopLocked(c);
}

}  // namespace shoal::internal
