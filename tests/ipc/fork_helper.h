// Copyright 2026 The shoal Authors.
//
// fork_helper.h: the ipc/ tests' spelling of tests/support/fork_helpers.h
// (forked children): StartChild(fn) forks a child that _exit()s with fn()'s
// result; WaitChild(pid, timeout_s) returns its exit code, -signal, or -1000
// after killing a child that overstays. New tests include
// tests/support/fork_helpers.h directly.
#ifndef SHOAL_TESTS_IPC_FORK_HELPER_H_
#define SHOAL_TESTS_IPC_FORK_HELPER_H_

#include <chrono>

#include "tests/support/fork_helpers.h"

namespace shoal::testing {

template <class Fn>
pid_t StartChild(Fn&& fn, int timeout_s = 50) {
  return ForkChild(std::forward<Fn>(fn), static_cast<unsigned>(timeout_s));
}

inline int WaitChild(pid_t pid, int timeout_s = 60) {
  return WaitExitCode(pid, std::chrono::seconds(timeout_s));
}

}  // namespace shoal::testing

#endif  // SHOAL_TESTS_IPC_FORK_HELPER_H_
