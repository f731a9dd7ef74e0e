#include "shoal/base/internal/process_liveness.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>

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

// Reads /proc/<pid>/stat into buf; returns bytes read or -1.
ssize_t ReadStat(pid_t pid, char* buf, size_t size) {
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/%d/stat", static_cast<int>(pid));
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n;
  do {
    n = read(fd, buf, size - 1);
  } while (n < 0 && errno == EINTR);
  close(fd);
  if (n >= 0) buf[n] = '\0';
  return n;
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
  if (ReadStat(pid, buf, sizeof(buf)) <= 0) return true;
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

uint64_t CachedStartTime() {
  static std::atomic<pid_t> for_pid{0};
  static std::atomic<uint64_t> start{0};
  const pid_t me = CachedPid();
  if (for_pid.load(std::memory_order_acquire) != me) {
    start.store(ProcessStartTime(me), std::memory_order_relaxed);
    for_pid.store(me, std::memory_order_release);
  }
  return start.load(std::memory_order_relaxed);
}

}  // namespace shoal::internal
