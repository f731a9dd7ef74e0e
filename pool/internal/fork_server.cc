#include "shoal/pool/internal/fork_server.h"

#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <utility>

#include "shoal/base/errors.h"

namespace shoal::internal {
namespace {

constexpr int64_t kSpawn = 1;
constexpr int64_t kReap = 2;
// Sent by Stop(). End of file alone is not enough: a fork server started
// later (another pool's) inherits our end of the socket, so closing it here
// does not close it everywhere.
constexpr int64_t kExit = 3;

struct Msg {
  int64_t a;
  int64_t b;
};

bool WriteMsg(int fd, Msg m) {
  for (;;) {
    ssize_t n = send(fd, &m, sizeof(m), MSG_NOSIGNAL);
    if (n == static_cast<ssize_t>(sizeof(m))) return true;
    if (n < 0 && errno == EINTR) continue;
    return false;
  }
}

bool ReadMsg(int fd, Msg* m) {
  for (;;) {
    ssize_t n = recv(fd, m, sizeof(*m), 0);
    if (n == static_cast<ssize_t>(sizeof(*m))) return true;
    if (n < 0 && errno == EINTR) continue;
    return false;
  }
}

[[noreturn]] void ServerMain(int fd, pid_t parent,
                             const std::function<void(uint32_t, pid_t)>& body) {
  sigset_t none;
  sigemptyset(&none);
  pthread_sigmask(SIG_SETMASK, &none, nullptr);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(0);
  Msg m;
  while (ReadMsg(fd, &m)) {
    if (m.a == kExit) break;
    Msg reply{0, 0};
    if (m.a == kSpawn) {
      std::fflush(nullptr);
      const pid_t self = getpid();
      const pid_t pid = fork();
      if (pid == 0) {
        close(fd);
        body(static_cast<uint32_t>(m.b), self);
        _exit(70);  // body must not return
      }
      reply.a = pid < 0 ? -errno : pid;
    } else if (m.a == kReap) {
      int status = 0;
      pid_t r;
      do {
        r = waitpid(static_cast<pid_t>(m.b), &status, 0);
      } while (r < 0 && errno == EINTR);
      reply.a = r < 0 ? -1 : status;
    }
    if (!WriteMsg(fd, reply)) break;
  }
  // The pool is gone: so are we (workers follow by their death signal).
  _exit(0);
}

}  // namespace

ForkServer::~ForkServer() { Stop(); }

void ForkServer::Start(std::function<void(uint32_t, pid_t)> body) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    ThrowSystemError("fork server: socketpair", errno);
  }
  const pid_t parent = getpid();
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) {
    const int err = errno;
    close(sv[0]);
    close(sv[1]);
    ThrowSystemError("fork server: fork", err);
  }
  if (pid == 0) {
    close(sv[0]);
    ServerMain(sv[1], parent, body);
  }
  close(sv[1]);
  fd_ = sv[0];
  pid_ = pid;
}

int64_t ForkServer::Call(int64_t op, int64_t arg) {
  if (fd_ < 0) ThrowSystemError("fork server: not running", ESRCH);
  Msg reply;
  if (!WriteMsg(fd_, Msg{op, arg}) || !ReadMsg(fd_, &reply)) {
    const int err = errno != 0 ? errno : EPIPE;
    Stop();
    ThrowSystemError("fork server: gone", err);
  }
  return reply.a;
}

pid_t ForkServer::Spawn(uint32_t w) {
  const int64_t r = Call(kSpawn, w);
  if (r < 0) ThrowSystemError("fork server: fork", static_cast<int>(-r));
  return static_cast<pid_t>(r);
}

int ForkServer::Reap(pid_t pid) {
  try {
    return static_cast<int>(Call(kReap, pid));
  } catch (const SystemError&) {
    return -1;
  }
}

void ForkServer::Stop() {
  if (fd_ >= 0) {
    WriteMsg(fd_, Msg{kExit, 0});  // fails harmlessly if it is gone
    close(fd_);
    fd_ = -1;
  }
  if (pid_ > 0) {
    int status;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = 0;
  }
}

}  // namespace shoal::internal
