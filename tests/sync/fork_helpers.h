// Copyright 2026 The shoal Authors.
//
// fork_helpers.h: shared memory and forked children for the sync/ tests.
//
// Every child runs under alarm() and exits with _exit() (never returning
// into gtest); every wait on a child is bounded. A child reports failure
// through its exit code; CHILD_CHECK prints the failed condition first.
#ifndef SHOAL_TESTS_SYNC_FORK_HELPERS_H_
#define SHOAL_TESTS_SYNC_FORK_HELPERS_H_

#include <signal.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace shoal::testing {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A MAP_SHARED anonymous mapping visible to children forked later.
inline void* MapShared(std::size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    perror("mmap");
    std::abort();
  }
  return p;
}

// Constructs a T in its own shared mapping; Destroy() runs ~T and unmaps.
template <class T, class... Args>
T* NewShared(Args&&... args) {
  return new (MapShared(sizeof(T))) T(std::forward<Args>(args)...);
}
template <class T>
void DestroyShared(T* p) {
  p->~T();
  munmap(p, sizeof(T));
}

// Plain shared scratch data (counters, flags) for a test.
template <class T>
T* NewSharedArray(std::size_t n) {
  void* p = MapShared(sizeof(T) * n);
  T* a = static_cast<T*>(p);
  for (std::size_t i = 0; i < n; ++i) new (&a[i]) T();
  return a;
}

#define CHILD_CHECK(cond)                                                   \
  do {                                                                      \
    if (!(cond)) {                                                          \
      std::fprintf(stderr, "child %d: %s:%d: CHECK failed: %s\n", getpid(), \
                   __FILE__, __LINE__, #cond);                              \
      _exit(3);                                                             \
    }                                                                       \
  } while (0)

// Forks a child that runs fn() and _exit(0)s; an exception makes it exit 2,
// a CHILD_CHECK failure 3, the alarm SIGALRM.
template <class Fn>
pid_t ForkChild(Fn&& fn, unsigned alarm_seconds = 30) {
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid < 0) {
    perror("fork");
    std::abort();
  }
  if (pid == 0) {
    alarm(alarm_seconds);
    try {
      fn();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child %d: exception: %s\n", getpid(), e.what());
      _exit(2);
    } catch (...) {
      std::fprintf(stderr, "child %d: unknown exception\n", getpid());
      _exit(2);
    }
    _exit(0);
  }
  return pid;
}

// Waits at most `timeout` for `pid`; returns its wait status, or -1 after
// killing it if it did not finish in time.
inline int WaitChild(pid_t pid, milliseconds timeout = milliseconds(30000)) {
  const auto end = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0) return -1;
    if (Clock::now() >= end) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(milliseconds(1));
  }
}

inline bool ExitedCleanly(int status) {
  return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

inline std::string DescribeStatus(int status) {
  if (status == -1) return "timed out (killed)";
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

// Spins (sleeping 1 ms) until pred() or the timeout; returns pred().
template <class Pred>
bool WaitUntil(Pred pred, milliseconds timeout = milliseconds(10000)) {
  const auto end = Clock::now() + timeout;
  while (!pred()) {
    if (Clock::now() >= end) return pred();
    std::this_thread::sleep_for(milliseconds(1));
  }
  return true;
}

// Seconds since `start` as milliseconds (double).
inline double ElapsedMs(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start)
      .count();
}

}  // namespace shoal::testing

// gtest helper: expects a child's status to be a clean exit.
#define EXPECT_CHILD_OK(status)                                  \
  EXPECT_TRUE(::shoal::testing::ExitedCleanly(status))           \
      << "child: " << ::shoal::testing::DescribeStatus(status)

#endif  // SHOAL_TESTS_SYNC_FORK_HELPERS_H_
