// Copyright 2026 The shoal Authors.
//
// identity.h: who the current process is, in multiprocessing's terms
// (current_process().name, daemon, _identity; parent_process()).
//
// Written once when a process starts (in the child, right after fork() or in
// the spawned child's entry point) and read afterwards; the child counter is
// atomic.
#ifndef SHOAL_POOL_INTERNAL_IDENTITY_H_
#define SHOAL_POOL_INTERNAL_IDENTITY_H_

#include <sys/types.h>

#include <string>
#include <vector>

namespace shoal::internal {

struct Identity {
  std::string name = "MainProcess";
  bool daemon = false;
  std::vector<int> id;  // empty for the main process
  pid_t parent_pid = 0;  // 0: no shoal parent
  std::string parent_name;
};

const Identity& CurrentIdentity();
// Called in a new child before anything else reads the identity.
void BecomeChild(std::string name, bool daemon, std::vector<int> id,
                 pid_t parent_pid, std::string parent_name);
// The next child number of this process (1, 2, ...), for names like
// "Process-3" and identities.
int NextChildNumber();
// "Process-1:2" style suffix of an identity: "1:2".
std::string IdentitySuffix(const std::vector<int>& id);

}  // namespace shoal::internal

#endif  // SHOAL_POOL_INTERNAL_IDENTITY_H_
