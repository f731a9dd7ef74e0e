#include "shoal/base/internal/process_liveness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace shoal::internal {
namespace {

std::atomic<pid_t> g_pid{0};

void RefreshPid() { g_pid.store(getpid(), std::memory_order_relaxed); }

struct PidCacheInit {
  PidCacheInit() {
    RefreshPid();
    pthread_atfork(nullptr, nullptr, &RefreshPid);
  }
};

// Reads a small /proc file into buf (NUL-terminated); returns bytes read or
// -1, with the open's or read's errno in *error (when given).
ssize_t ReadSmall(const char* path, char* buf, size_t size,
                  int* error = nullptr) {
  int fd;
  do {
    fd = open(path, O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    if (error != nullptr) *error = errno;
    return -1;
  }
  ssize_t n;
  do {
    n = read(fd, buf, size - 1);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && error != nullptr) *error = errno;  // before close() can clobber it
  close(fd);
  if (n >= 0) buf[n] = '\0';
  return n;
}

// Reads /proc/<pid>/stat into buf; returns bytes read or -1 (errno in
// *error when given).
ssize_t ReadStat(pid_t pid, char* buf, size_t size, int* error = nullptr) {
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/%d/stat", static_cast<int>(pid));
  return ReadSmall(path, buf, size, error);
}

// Field 22 (starttime) of a /proc/<pid>/stat line, or 0.
uint64_t StartTimeField(const char* buf) {
  const char* p = std::strrchr(buf, ')');
  if (p == nullptr) return 0;
  // After ')' come fields 3.. separated by single spaces; starttime is 22.
  int field = 2;
  for (; *p != '\0'; ++p) {
    if (*p == ' ') {
      ++field;
      if (field == 22) return std::strtoull(p + 1, nullptr, 10);
    }
  }
  return 0;
}

// The pid namespace of the process /proc/<dir> names ("self", "1234"), or 0.
uint64_t PidNamespaceAt(const char* dir) {
  char path[320];
  std::snprintf(path, sizeof(path), "/proc/%s/ns/pid", dir);
  struct stat st;
  if (stat(path, &st) != 0) return 0;
  return static_cast<uint64_t>(st.st_ino);
}

// The initial pid namespace's inode (PROC_PID_INIT_INO): a /proc of that
// namespace shows every task on the machine.
constexpr uint64_t kInitPidNamespace = 0xEFFFFFFCu;

// True when /proc/<pid> means our pid `pid`: /proc was mounted for our pid
// namespace (in a container that shares its host's /proc it is not, and
// /proc/<pid> is another process).
bool ProcIsOurs() {
  char buf[32];
  ssize_t n = readlink("/proc/self", buf, sizeof(buf) - 1);
  if (n <= 0) return false;
  buf[n] = '\0';
  return std::strtol(buf, nullptr, 10) == static_cast<long>(getpid());
}

}  // namespace

pid_t CachedPid() {
  static PidCacheInit init;
  pid_t p = g_pid.load(std::memory_order_relaxed);
  return p != 0 ? p : getpid();
}

bool IsProcessGone(pid_t pid) {
  if (pid <= 0) return false;
  if (kill(pid, 0) != 0 && errno == ESRCH) return true;
  char buf[512];
  int error = 0;
  const ssize_t n = ReadStat(pid, buf, sizeof(buf), &error);
  if (n < 0) {
    // Only "no such process" proves it gone: no /proc/<pid> (ENOENT), or a
    // task reaped between the open and the read (ESRCH). Anything else
    // (EMFILE, ENFILE, ENOMEM, EACCES, ...) says nothing about the process,
    // and a "gone" there would let a peer repair the slot of a live writer
    // or evict a live subscriber: it is not gone, the next check asks again.
    return error == ENOENT || error == ESRCH;
  }
  if (n == 0) return false;  // nothing to judge by: not proven gone
  // The command name (field 2) may contain spaces and parentheses: the state
  // follows the last ')'.
  const char* close_paren = std::strrchr(buf, ')');
  if (close_paren == nullptr || close_paren[1] == '\0') return false;
  char state = close_paren[2];
  return state == 'Z' || state == 'X' || state == 'x';
}

uint64_t ProcessStartTime(pid_t pid) {
  char buf[1024];
  if (ReadStat(pid, buf, sizeof(buf)) <= 0) return 0;
  return StartTimeField(buf);
}

uint64_t CachedStartTime() { return SelfIdentity().start_time; }

ProcessIdentity SelfIdentity() {
  // Recomputed when the pid changes (a fork()ed child). The mutex only
  // orders the first computation per pid; afterwards it is uncontended.
  static std::mutex mu;
  static ProcessIdentity cached;
  const pid_t me = CachedPid();
  std::lock_guard<std::mutex> lock(mu);
  if (cached.pid != me) {
    ProcessIdentity id;
    id.pid = me;
    char buf[1024];
    // /proc/self, not /proc/<me>: where /proc belongs to another pid
    // namespace, /proc/<me> is somebody else.
    if (ReadSmall("/proc/self/stat", buf, sizeof(buf)) > 0) {
      id.start_time = StartTimeField(buf);
    }
    id.pid_ns = PidNamespaceAt("self");
    cached = id;
  }
  return cached;
}

namespace {

// Another pid namespace: search /proc for the task that is `who.pid` in
// `who.pid_ns` (the last entry of NSpid in its status).
Liveness CheckForeign(const ProcessIdentity& who) {
  DIR* d = opendir("/proc");
  if (d == nullptr) return Liveness::kUnknown;
  bool ns_seen = false;
  bool found = false;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
    if (PidNamespaceAt(e->d_name) != who.pid_ns) continue;
    ns_seen = true;
    char path[320];
    std::snprintf(path, sizeof(path), "/proc/%s/status", e->d_name);
    char buf[4096];
    if (ReadSmall(path, buf, sizeof(buf)) <= 0) continue;
    const char* ns = std::strstr(buf, "\nNSpid:");
    if (ns == nullptr) continue;
    const char* end = std::strchr(ns + 1, '\n');
    // The last number on the line: the pid in the task's own namespace.
    long last = -1;
    for (const char* p = ns + 8; p < (end ? end : ns + std::strlen(ns)); ++p) {
      if (*p >= '0' && *p <= '9' && (p[-1] == '\t' || p[-1] == ' ')) {
        last = std::strtol(p, nullptr, 10);
      }
    }
    if (last != who.pid) continue;
    // Its state: a zombie is gone. (Start times are not compared across
    // namespaces: a time namespace shifts them, and a wrong "reused" would
    // remove what a live process holds.)
    std::snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
    if (ReadSmall(path, buf, sizeof(buf)) > 0) {
      const char* cp = std::strrchr(buf, ')');
      if (cp != nullptr && cp[1] == ' ' &&
          (cp[2] == 'Z' || cp[2] == 'X' || cp[2] == 'x')) {
        continue;
      }
    }
    found = true;
    break;
  }
  closedir(d);
  if (found) return Liveness::kAlive;
  // The namespace is visible from here, so all of its tasks are: the pid is
  // not among them.
  if (ns_seen) return Liveness::kDead;
  // Nothing of that namespace: seen from the initial namespace (which sees
  // every task), it has no task left; from anywhere else it may simply be
  // out of sight.
  const uint64_t proc_ns = ProcIsOurs() ? SelfIdentity().pid_ns
                                        : PidNamespaceAt("1");
  if (proc_ns == kInitPidNamespace) return Liveness::kDead;
  return Liveness::kUnknown;
}

}  // namespace

Liveness CheckLiveness(const ProcessIdentity& who) {
  if (who.pid <= 0) return Liveness::kUnknown;
  const ProcessIdentity self = SelfIdentity();
  if (who.pid_ns != 0 && self.pid_ns != 0 && who.pid_ns != self.pid_ns) {
    return CheckForeign(who);
  }
  if (!ProcIsOurs()) {
    // /proc shows another namespace's numbering: kill(2) still speaks ours.
    if (kill(who.pid, 0) != 0 && errno == ESRCH) return Liveness::kDead;
    return Liveness::kUnknown;
  }
  if (IsProcessGone(who.pid)) return Liveness::kDead;
  if (who.start_time != 0) {
    const uint64_t now = ProcessStartTime(who.pid);
    if (now != 0 && now != who.start_time) return Liveness::kDead;  // reused
  }
  return Liveness::kAlive;
}

}  // namespace shoal::internal
