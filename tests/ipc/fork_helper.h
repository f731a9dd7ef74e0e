// Copyright 2026 The shoal Authors.
//
// fork_helper.h: run a lambda in a fork()ed child, bounded, for ipc tests.
//
// The child arms alarm() so a bug makes it die instead of hang, runs the
// lambda, and leaves with _exit() (never returning into gtest). The parent
// waits with a bound as well and SIGKILLs a child that overstays.
#ifndef SHOAL_TESTS_IPC_FORK_HELPER_H_
#define SHOAL_TESTS_IPC_FORK_HELPER_H_

#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <functional>

namespace shoal::testing {

// Exit code (0..255) of `pid`, -signal if it was killed, or -1000 if it did
// not end within `timeout_s` seconds (it is then SIGKILLed and reaped).
inline int WaitChild(pid_t pid, int timeout_s = 30) {
  timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      if (WIFSIGNALED(status)) return -WTERMSIG(status);
      return -2000;
    }
    if (r < 0) return -3000;
    timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec - start.tv_sec > timeout_s) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1000;
    }
    timespec ts{0, 1000 * 1000};
    nanosleep(&ts, nullptr);
  }
}

// Forks; the child runs `fn` and _exit()s with its return value (100 if it
// threw, after printing what()). Returns immediately with the child's pid.
inline pid_t StartChild(const std::function<int()>& fn, int timeout_s = 20) {
  fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    alarm(static_cast<unsigned>(timeout_s));
    int rc = 1;
    try {
      rc = fn();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child %d threw: %s\n", getpid(), e.what());
      rc = 100;
    } catch (...) {
      rc = 101;
    }
    _exit(rc);
  }
  return pid;
}

// StartChild + WaitChild.
inline int RunInChild(const std::function<int()>& fn, int timeout_s = 20) {
  pid_t pid = StartChild(fn, timeout_s);
  if (pid < 0) return -4000;
  return WaitChild(pid, timeout_s + 10);
}

}  // namespace shoal::testing

#endif  // SHOAL_TESTS_IPC_FORK_HELPER_H_
