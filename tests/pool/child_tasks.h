// Task functions the start-method tests (context_test, forkserver_test) run
// in spawned and forkserver children: plain functions, so a child started
// from a fresh image finds them by code reference.
#ifndef SHOAL_TESTS_POOL_CHILD_TASKS_H_
#define SHOAL_TESTS_POOL_CHILD_TASKS_H_

#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

#include "shoal/pool/process.h"

namespace shoal_test {

inline int Square(int x) { return x * x; }
// shoal's name for the current process ("SpawnPoolWorker-3", ...).
inline std::string Name() { return shoal::current_process().name; }
// The pid shoal calls the parent (the process that asked for the child).
inline pid_t ShoalParent() {
  auto p = shoal::parent_process();
  return p ? p->pid : 0;
}
inline int Throw(int) { throw std::out_of_range("child out of range"); }
// Set by Init in a worker's initializer, read back by Value.
inline int g_value = 0;
inline void Init(int v) { g_value = v; }
inline int Value() { return g_value; }
// Dies by SIGKILL mid-task.
inline int Suicide() {
  kill(getpid(), SIGKILL);
  std::this_thread::sleep_for(std::chrono::seconds(10));
  return 0;
}

}  // namespace shoal_test

#endif  // SHOAL_TESTS_POOL_CHILD_TASKS_H_
