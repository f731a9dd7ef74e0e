// Copyright 2026 The shoal Authors.
//
// process.h: shoal::Process, Python's multiprocessing.Process, and the
// module-level helpers current_process(), parent_process(),
// active_children(), cpu_count().
//
//   void worker(shoal::Queue<std::string> q, int n) { q.put(std::to_string(n)); }
//
//   shoal::Queue<std::string> q;
//   shoal::Process p(worker, q, 7);      // target + arguments
//   p.start();
//   std::string s = q.get();             // "7"
//   p.join();                            // p.exitcode() == 0
//
// Contract
//   The target follows the pool's rules (pool/internal/callable.h): a
//   function pointer, a captureless lambda, or a serializable function
//   object; arguments are converted to its parameter types and must be
//   Encodable. They are encoded when the Process is constructed and decoded
//   in the child, with either start method, so what works with fork also
//   works with spawn. shoal handles travel as handles: Queue,
//   SimpleQueue, JoinableQueue, Channel (pool/handles.h), Shared<T> (so a
//   Shared<Lock>), Value, RawValue, and Connection (its descriptor is
//   passed to the child; with spawn it lands on a new number there).
//   Handles that name memfd regions are opened in the child through the
//   parent (/proc/<pid>/fd), so the parent must hold them until the child
//   has started using them (it does, as the Process keeps nothing else).
//
//   Lifecycle (Python's semantics):
//     start()          once; throws ValueError if started already, or if the
//                      caller is a daemon process (daemons cannot have
//                      children). The child runs the target and exits with
//                      0, or 1 after printing the exception to stderr.
//     join() / join(d) waits for the end (bounded form returns false on
//                      timeout); reaps the child.
//     is_alive()       started and not yet ended (reaps an ended child).
//     exitcode()       nullopt before start and while running; the exit
//                      code; or -N when killed by signal N.
//     terminate()      SIGTERM; kill(): SIGKILL. Both are no-ops once ended.
//     close()          releases the descriptor; ValueError while running.
//   The Process object is a handle: copies share the one child.
//
//   daemon: set before start(); defaults to the caller's own daemon flag.
//   A daemon child is killed (SIGKILL via PR_SET_PDEATHSIG) when its parent
//   dies, even by a crash, and is terminated and joined at the parent's
//   normal exit; non-daemon children are joined at exit (atexit), as in
//   Python. Linux caveat: the death signal fires when the THREAD that
//   started the child exits, so start daemons from a long-lived thread.
//
// Cost: a fork() (or posix_spawn + exec; or a request to the forkserver,
// which forks) plus one pidfd; joining is a poll on the pidfd (forkserver:
// on the server's status socket), no busy waiting, no SIGCHLD handler.
//
// Errors: ValueError (misuse), SystemError (fork/spawn failed),
// SerializationError (an argument that cannot travel).
#ifndef SHOAL_POOL_PROCESS_H_
#define SHOAL_POOL_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "shoal/base/deadline.h"
#include "shoal/ipc/internal/wait_hook.h"
#include "shoal/pool/context.h"
#include "shoal/pool/handles.h"
#include "shoal/pool/internal/callable.h"
#include "shoal/pool/internal/fd_passing.h"

namespace shoal {

struct ProcessOptions {
  // "" -> "Process-N" (N: this process's child counter; "Process-1:2" in a
  // child of Process-1).
  std::string name{};
  // Unset -> the daemon flag of the calling process.
  std::optional<bool> daemon{};
  // Unset -> the default context (set_start_method).
  std::optional<Context> context{};
};

namespace internal {
struct ProcessState;
// Builds the state from an encoded target; defined in process.cc.
std::shared_ptr<ProcessState> MakeProcessState(const ProcessOptions& options,
                                               const CodeRef& invoker,
                                               std::string payload,
                                               std::vector<int> fds,
                                               std::vector<int> originals);
}  // namespace internal

class Process {
 public:
  // An empty handle (not startable).
  Process() = default;

  template <class F, class... Args>
    requires(!std::is_same_v<std::decay_t<F>, ProcessOptions> &&
             !std::is_same_v<std::decay_t<F>, Process>)
  explicit Process(F target, Args&&... args)
      : Process(ProcessOptions{}, std::move(target),
                std::forward<Args>(args)...) {}

  template <class F, class... Args>
  Process(const ProcessOptions& options, F target, Args&&... args) {
    using Fn = std::decay_t<F>;
    using Raw = typename internal::RawParamsOf<Fn, Args...>::type;
    internal::CheckCall<Fn, Raw, Args...>();
    using Inv = internal::CallInvoker<Fn, Raw>;
    internal::FdCollector fds;
    Fn fn = std::move(target);
    internal::BoundCall<Fn, Raw, Inv, Args...> call(fn,
                                                   std::forward<Args>(args)...);
    std::string payload(call.size(), '\0');
    call.Write(std::as_writable_bytes(std::span<char>(payload)));
    std::vector<int> originals = fds.originals();
    state_ = internal::MakeProcessState(options, call.invoker(),
                                        std::move(payload), fds.Release(),
                                        std::move(originals));
  }

  void start();
  void join();
  bool join(const Deadline& deadline);
  bool is_alive();
  void terminate();
  void kill();
  void close();
  std::optional<int> exitcode();

  // 0 before start().
  pid_t pid() const;
  std::string name() const;
  void set_name(std::string name);
  bool daemon() const;
  void set_daemon(bool daemon);
  // A pidfd that becomes readable when the child ends (Python's sentinel);
  // -1 before start or after close.
  int sentinel() const;

  explicit operator bool() const { return state_ != nullptr; }
  friend bool operator==(const Process& a, const Process& b) {
    return a.state_ == b.state_;
  }

 private:
  friend std::vector<Process> active_children();
  explicit Process(std::shared_ptr<internal::ProcessState> s)
      : state_(std::move(s)) {}
  internal::ProcessState& state() const;

  std::shared_ptr<internal::ProcessState> state_;
};

// What current_process() / parent_process() describe.
struct ProcessInfo {
  std::string name;
  pid_t pid = 0;
  bool daemon = false;
  std::vector<int> identity;  // empty for the main process
};

// This process: "MainProcess", a Process's name, or a pool worker's
// ("ForkPoolWorker-1", ...).
ProcessInfo current_process();
// The shoal parent of this process; nullopt in a process shoal did not start.
std::optional<ProcessInfo> parent_process();
// Children started with Process that have not ended yet (ended ones are
// reaped as a side effect, as in Python).
std::vector<Process> active_children();
// CPUs in the system (Python's os.cpu_count()).
int cpu_count();
// CPUs this process may run on (sched_getaffinity; Python 3.13's
// process_cpu_count()): the default number of pool workers.
int process_cpu_count();

// shoal::wait / WaitSet (ipc/wait.h) take a Process: ready once it has
// ended (Python's wait([p.sentinel])). A Process not started yet (or
// closed) is never ready. Keep `p` alive while it is waited on.
internal::WaitHookPtr MakeWaitHook(const Process& p);

template <class F, class... Args>
shoal::Process Context::Process(F target, Args&&... args) const {
  ProcessOptions options;
  options.context = *this;
  return shoal::Process(options, std::move(target),
                        std::forward<Args>(args)...);
}

}  // namespace shoal

#endif  // SHOAL_POOL_PROCESS_H_
