#include "shoal/pool/process.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "shoal/base/errors.h"
#include "shoal/ipc/codec.h"
#include "shoal/pool/internal/forkserver.h"
#include "shoal/pool/internal/identity.h"
#include "shoal/pool/internal/remote_error.h"
#include "shoal/pool/internal/spawn.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace shoal {
namespace internal {

struct ProcessState {
  std::mutex mu;
  std::string name;
  bool daemon = false;
  std::vector<int> identity;
  std::optional<Context> context;
  CodeRef invoker;
  std::string payload;
  std::vector<int> fds;  // dup()ed descriptors to pass (owned until start)
  std::vector<int> originals;  // the caller's descriptors they duplicate
  bool started = false;
  pid_t pid = 0;
  int pidfd = -1;
  // forkserver: the server's status socket (the child is not ours to wait
  // for); -1 otherwise.
  int status_fd = -1;
  std::optional<int> exitcode;
  bool closed = false;

  ~ProcessState() {
    for (int fd : fds) ::close(fd);
    if (pidfd >= 0) ::close(pidfd);
    if (status_fd >= 0) ::close(status_fd);
  }
};

namespace {

constexpr uint64_t kBootMagic = 0x73686f616c2d7072ull;  // "shoal-pr"
using Boot = std::tuple<uint64_t, std::string, bool, std::vector<int>,
                        std::string, CodeRef, std::string, uint32_t>;

int PidfdOpen(pid_t pid) {
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
}

// Children started and not yet joined (Python's _children).
struct Children {
  std::mutex mu;
  std::vector<std::shared_ptr<ProcessState>> list;
};
Children& GetChildren() {
  static Children* c = new Children;
  return *c;
}

void Forget(ProcessState* s) {
  Children& c = GetChildren();
  std::lock_guard<std::mutex> lock(c.mu);
  std::erase_if(c.list, [&](const auto& p) { return p.get() == s; });
}

// Reaps the child if it ended (without blocking when !block). Caller holds
// s.mu.
bool Reap(ProcessState& s, bool block) {
  if (s.exitcode) return true;
  if (!s.started) return false;
  if (s.status_fd >= 0) {
    pollfd p{s.status_fd, POLLIN, 0};
    if (!block && poll(&p, 1, 0) == 0) return false;
    const int status = ForkserverReadStatus(s.status_fd);
    if (status < 0) {
      s.exitcode = -1;  // the server died first: the status is lost
    } else if (WIFEXITED(status)) {
      s.exitcode = WEXITSTATUS(status);
    } else {
      s.exitcode = -WTERMSIG(status);
    }
    return true;
  }
  if (s.pidfd < 0) return false;
  siginfo_t si{};
  const int flags = WEXITED | (block ? 0 : WNOHANG);
  int rc;
  do {
    rc = waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(s.pidfd), &si,
                flags);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    // Reaped elsewhere (a waitpid(-1) in the program): the status is lost.
    s.exitcode = -1;
    return true;
  }
  if (si.si_pid == 0) return false;
  if (si.si_code == CLD_EXITED) {
    s.exitcode = si.si_status;
  } else {
    s.exitcode = -si.si_status;
  }
  return true;
}

// The child's side: run the target, print what it threw, return the code.
class PayloadIO final : public TaskIO {
 public:
  explicit PayloadIO(std::span<const std::byte> in) : in_(in) {}
  std::span<const std::byte> input() override { return in_; }
  std::span<std::byte> Reserve(std::size_t n) override {
    scratch_.resize(n);
    return {scratch_.data(), n};
  }

 private:
  std::span<const std::byte> in_;
  std::vector<std::byte> scratch_;
};

int RunTarget(const CodeRef& invoker, std::span<const std::byte> payload) {
  try {
    InvokeFn fn = ResolveInvoker(invoker);
    PayloadIO io(payload);
    fn(io);
    return 0;
  } catch (...) {
    ErrorRecord r = CaptureCurrentException();
    std::fprintf(stderr, "Process %s (pid %d):\n%s: %s\n",
                 CurrentIdentity().name.c_str(), static_cast<int>(getpid()),
                 r.type_name.c_str(), r.message.c_str());
    return 1;
  }
}

void AtExit() {
  // Python's _exit_function: terminate daemonic children, join the others.
  std::vector<std::shared_ptr<ProcessState>> list;
  {
    Children& c = GetChildren();
    std::lock_guard<std::mutex> lock(c.mu);
    list = c.list;
  }
  for (auto& s : list) {
    std::lock_guard<std::mutex> lock(s->mu);
    if (s->daemon && !s->exitcode && s->pidfd >= 0) {
      syscall(SYS_pidfd_send_signal, s->pidfd, SIGTERM, nullptr, 0);
    }
  }
  for (auto& s : list) {
    std::lock_guard<std::mutex> lock(s->mu);
    Reap(*s, /*block=*/true);
  }
}

void RegisterAtExit() {
  static std::once_flag once;
  std::call_once(once, [] { std::atexit(&AtExit); });
}

// The spawned Process child: args = [parent pid]; fd 3 holds the bootstrap,
// passed descriptors follow at 4, 5, ...
int SpawnedProcess(const std::vector<std::string>& args) {
  if (args.empty()) return 72;
  const pid_t parent = static_cast<pid_t>(ParseLong(args[0]));
  const pid_t os_parent = ExpectedOsParent(parent);  // or the forkserver
  struct stat st;
  if (fstat(kFirstPassedFd, &st) != 0 || st.st_size <= 0 ||
      st.st_size > (int64_t{1} << 32)) {
    std::fprintf(stderr, "shoal: spawned process: no bootstrap data\n");
    return 72;
  }
  std::string bytes(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t got = 0;
  while (got < bytes.size()) {
    ssize_t n = pread(kFirstPassedFd, bytes.data() + got, bytes.size() - got,
                      static_cast<off_t>(got));
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      std::fprintf(stderr, "shoal: spawned process: short bootstrap\n");
      return 72;
    }
    got += static_cast<std::size_t>(n);
  }
  ::close(kFirstPassedFd);
  Boot boot = Decode<Boot>(bytes);
  if (std::get<0>(boot) != kBootMagic) {
    std::fprintf(stderr, "shoal: spawned process: bad bootstrap\n");
    return 72;
  }
  const bool daemon = std::get<2>(boot);
  if (daemon) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != os_parent) return 0;
  }
  std::vector<int> fds;
  for (uint32_t i = 0; i < std::get<7>(boot); ++i) {
    fds.push_back(kFirstPassedFd + 1 + static_cast<int>(i));
  }
  SetReceivedFds(std::move(fds));
  BecomeChild(std::get<1>(boot), daemon, std::get<3>(boot), parent,
              std::get<4>(boot));
  const std::string& payload = std::get<6>(boot);
  const int rc = RunTarget(std::get<5>(boot),
                           std::as_bytes(std::span<const char>(payload)));
  AtExit();
  return rc;
}

const bool kRegistered = RegisterSpawnEntry("process", &SpawnedProcess);

}  // namespace

std::shared_ptr<ProcessState> MakeProcessState(const ProcessOptions& options,
                                               const CodeRef& invoker,
                                               std::string payload,
                                               std::vector<int> fds,
                                               std::vector<int> originals) {
  (void)kRegistered;
  auto s = std::make_shared<ProcessState>();
  s->daemon = options.daemon.value_or(CurrentIdentity().daemon);
  s->context = options.context;
  s->invoker = invoker;
  s->payload = std::move(payload);
  s->fds = std::move(fds);
  s->originals = std::move(originals);
  const int n = NextChildNumber();
  s->identity = CurrentIdentity().id;
  s->identity.push_back(n);
  s->name = !options.name.empty() ? options.name
                                  : "Process-" + IdentitySuffix(s->identity);
  return s;
}

}  // namespace internal

using internal::ProcessState;

ProcessState& Process::state() const {
  if (!state_) throw ValueError("an empty Process handle");
  return *state_;
}

void Process::start() {
  ProcessState& s = state();
  internal::CheckNotUninitializedSpawnChild();
  std::unique_lock<std::mutex> lock(s.mu);
  if (s.started) throw ValueError("cannot start a process twice");
  if (s.closed) throw ValueError("process object is closed");
  if (internal::CurrentIdentity().daemon) {
    throw ValueError("daemonic processes are not allowed to have children");
  }
  internal::RegisterAtExit();
  const StartMethod method = internal::EffectiveMethod(
      s.context ? &*s.context : nullptr);
  pid_t pid;
  if (method == StartMethod::kFork) {
    std::fflush(nullptr);
    pid = fork();
    if (pid < 0) ThrowSystemError("fork", errno);
    if (pid == 0) {
      if (s.daemon) prctl(PR_SET_PDEATHSIG, SIGKILL);
      const pid_t parent = getppid();
      {
        internal::Children& c = internal::GetChildren();
        // The lock may have been held by another thread at fork time: the
        // child never uses the parent's list, so replace it. Its bytes stay
        // in a global, so leak checkers (LSan at the child's exit()) still
        // see what it points to as reachable.
        alignas(internal::Children) static unsigned char parents[sizeof(c)];
        std::memcpy(parents, static_cast<const void*>(&c), sizeof(c));
        new (&c) internal::Children;
      }
      // A forked child inherited the caller's own descriptors: hand those to
      // the target (not the duplicates), so that closing a Connection in the
      // child closes its only copy, as with Python's fork.
      internal::SetReceivedFds(internal::PreferInherited(s.fds, s.originals));
      internal::BecomeChild(s.name, s.daemon, s.identity, parent,
                            internal::CurrentIdentity().name);
      const int rc = internal::RunTarget(
          s.invoker, std::as_bytes(std::span<const char>(s.payload)));
      // As Python's _bootstrap: terminate daemonic children, join the rest.
      internal::AtExit();
      std::fflush(nullptr);
      _exit(rc);
    }
  } else {
    internal::Boot boot{internal::kBootMagic,
                        s.name,
                        s.daemon,
                        s.identity,
                        internal::CurrentIdentity().name,
                        s.invoker,
                        s.payload,
                        static_cast<uint32_t>(s.fds.size())};
    const std::string bytes = Encode(boot);
    const int mfd = memfd_create("shoal-process-boot", MFD_CLOEXEC);
    if (mfd < 0) ThrowSystemError("memfd_create", errno);
    std::size_t put = 0;
    while (put < bytes.size()) {
      ssize_t n = write(mfd, bytes.data() + put, bytes.size() - put);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        const int err = errno;
        ::close(mfd);
        ThrowSystemError("writing the process bootstrap", err);
      }
      put += static_cast<std::size_t>(n);
    }
    std::vector<int> pass{mfd};
    pass.insert(pass.end(), s.fds.begin(), s.fds.end());
    // As Python does before starting any process: buffered output the
    // parent printed before start() comes out before the child's.
    std::fflush(nullptr);
    try {
      if (method == StartMethod::kForkServer) {
        const internal::ServedChild c = internal::ForkserverStart(
            "process", {std::to_string(getpid())}, pass);
        pid = c.pid;
        s.pidfd = c.pidfd;
        s.status_fd = c.status_fd;
      } else {
        pid = internal::SpawnSelf("process", {std::to_string(getpid())}, pass);
      }
    } catch (...) {
      ::close(mfd);
      throw;
    }
    ::close(mfd);
  }
  if (s.status_fd < 0) s.pidfd = internal::PidfdOpen(pid);
  if (s.pidfd < 0 && s.status_fd < 0) {
    const int err = errno;
    ::kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    ThrowSystemError("pidfd_open", err);
  }
  s.pid = pid;
  s.started = true;
  // The child has its copies now.
  for (int fd : s.fds) ::close(fd);
  s.fds.clear();
  lock.unlock();
  internal::Children& c = internal::GetChildren();
  std::lock_guard<std::mutex> clock(c.mu);
  c.list.push_back(state_);
}

bool Process::join(const Deadline& deadline) {
  ProcessState& s = state();
  std::unique_lock<std::mutex> lock(s.mu);
  if (!s.started) throw ValueError("can only join a started process");
  if (s.exitcode) return true;
  // A forkserver child ends for us when the server reports its status.
  const int fd = s.status_fd >= 0 ? s.status_fd : s.pidfd;
  lock.unlock();
  for (;;) {
    int timeout_ms = -1;
    if (!deadline.infinite()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline.remaining());
      timeout_ms = static_cast<int>(std::min<int64_t>(left.count() + 1, 1 << 30));
      if (deadline.expired()) timeout_ms = 0;
    }
    pollfd p{fd, POLLIN, 0};
    const int n = poll(&p, 1, timeout_ms);
    if (n < 0 && errno == EINTR) continue;
    if (n > 0) break;
    if (deadline.expired()) return false;
  }
  lock.lock();
  internal::Reap(s, /*block=*/true);
  lock.unlock();
  internal::Forget(&s);
  return true;
}

void Process::join() { join(Deadline::Infinite()); }

bool Process::is_alive() {
  ProcessState& s = state();
  std::unique_lock<std::mutex> lock(s.mu);
  if (!s.started) return false;
  const bool ended = internal::Reap(s, /*block=*/false);
  lock.unlock();
  if (ended) internal::Forget(&s);
  return !ended;
}

std::optional<int> Process::exitcode() {
  ProcessState& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (!s.started) return std::nullopt;
  internal::Reap(s, /*block=*/false);
  return s.exitcode;
}

namespace {
void Signal(ProcessState& s, int sig) {
  std::lock_guard<std::mutex> lock(s.mu);
  if (!s.started || s.exitcode || s.pidfd < 0) return;
  syscall(SYS_pidfd_send_signal, s.pidfd, sig, nullptr, 0);
}
}  // namespace

void Process::terminate() { Signal(state(), SIGTERM); }
void Process::kill() { Signal(state(), SIGKILL); }

void Process::close() {
  ProcessState& s = state();
  std::unique_lock<std::mutex> lock(s.mu);
  if (s.started && !internal::Reap(s, /*block=*/false)) {
    throw ValueError(
        "Cannot close a process while it is still running. You should first "
        "call join() or terminate().");
  }
  if (s.pidfd >= 0) ::close(s.pidfd);
  if (s.status_fd >= 0) ::close(s.status_fd);
  s.pidfd = -1;
  s.status_fd = -1;
  s.closed = true;
  lock.unlock();
  internal::Forget(&s);
}

pid_t Process::pid() const {
  std::lock_guard<std::mutex> lock(state().mu);
  return state_->pid;
}

std::string Process::name() const {
  std::lock_guard<std::mutex> lock(state().mu);
  return state_->name;
}

void Process::set_name(std::string name) {
  std::lock_guard<std::mutex> lock(state().mu);
  state_->name = std::move(name);
}

bool Process::daemon() const {
  std::lock_guard<std::mutex> lock(state().mu);
  return state_->daemon;
}

void Process::set_daemon(bool daemon) {
  std::lock_guard<std::mutex> lock(state().mu);
  if (state_->started) throw ValueError("process has already started");
  state_->daemon = daemon;
}

internal::WaitHookPtr MakeWaitHook(const Process& p) {
  return internal::MakeFdWaitHook(p.sentinel(), &p,
                                  internal::WaitHook::Kind::kExited);
}

int Process::sentinel() const {
  std::lock_guard<std::mutex> lock(state().mu);
  return state_->pidfd;
}

ProcessInfo current_process() {
  const internal::Identity& id = internal::CurrentIdentity();
  return ProcessInfo{id.name, getpid(), id.daemon, id.id};
}

std::optional<ProcessInfo> parent_process() {
  const internal::Identity& id = internal::CurrentIdentity();
  if (id.parent_pid == 0) return std::nullopt;
  return ProcessInfo{id.parent_name, id.parent_pid, false, {}};
}

std::vector<Process> active_children() {
  std::vector<std::shared_ptr<ProcessState>> list;
  {
    internal::Children& c = internal::GetChildren();
    std::lock_guard<std::mutex> lock(c.mu);
    list = c.list;
  }
  std::vector<Process> out;
  for (auto& s : list) {
    bool ended;
    {
      std::lock_guard<std::mutex> lock(s->mu);
      ended = internal::Reap(*s, /*block=*/false);
    }
    if (ended) {
      internal::Forget(s.get());
    } else {
      out.push_back(Process(s));
    }
  }
  return out;
}

int cpu_count() {
  const long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

int process_cpu_count() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  return cpu_count();
}

}  // namespace shoal
