// Copyright 2026 The shoal Authors.
//
// fork_helpers.h: the sync/ tests' spelling of tests/support/fork_helpers.h
// (shared memory, forked children): WaitChild(pid, timeout) returns the
// child's wait status, or -1 after killing a child that overstays. New tests
// include tests/support/fork_helpers.h directly.
#ifndef SHOAL_TESTS_SYNC_FORK_HELPERS_H_
#define SHOAL_TESTS_SYNC_FORK_HELPERS_H_

#include "tests/support/fork_helpers.h"

namespace shoal::testing {

inline int WaitChild(pid_t pid, milliseconds timeout = milliseconds(60000)) {
  return WaitStatus(pid, timeout);
}

}  // namespace shoal::testing

#endif  // SHOAL_TESTS_SYNC_FORK_HELPERS_H_
