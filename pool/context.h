// Copyright 2026 The shoal Authors.
//
// context.h: start methods, contexts and shoal::init, as in Python's
// multiprocessing (get_context, set_start_method, get_start_method).
//
// Start methods
//   kFork   fork(): the child is a copy of the caller. Fast (no exec, the
//           child has everything the parent had), and the default, as on
//           Linux in Python before 3.14. A Process is forked from the thread
//           that calls start(). A Pool's workers are forked from the pool's
//           fork server (pool/internal/fork_server.h): a single-threaded
//           copy of the parent made when the pool starts, before the pool's
//           own threads exist, so respawned workers (maxtasksperchild, after
//           a crash or a timeout) never come from a process whose threads
//           are busy, and all workers see the parent as it was when the pool
//           was created. THE THREADS CAVEAT (as in Python): only the forking
//           thread exists in the child; a lock another thread held at that
//           instant stays held forever there. malloc and stdio are safe
//           (glibc resets them); your own mutexes, and libraries' (logging,
//           gRPC, ...) are not. If the parent runs threads that hold locks
//           the tasks might need when it creates a pool or starts a process,
//           use kForkServer or kSpawn.
//   kSpawn  posix_spawn() of /proc/self/exe: a fresh process running the
//           same binary. Safe whatever threads the parent runs (posix_spawn
//           never forks a copy that could run code). The program must call
//           shoal::init(argc, argv) first thing in main() (the analogue of
//           Python's `if __name__ == "__main__"`): in a spawned child it runs
//           the worker or the Process target and exits, never returning into
//           main. Globals the parent set up at run time are not there: the
//           child starts from the program's static state. Functions travel
//           as module offsets (pool/internal/code_ref.h), so they are found
//           again in the fresh address space.
//   kForkServer  Python's "forkserver": on first use, the process spawns one
//           copy of its binary (as kSpawn; shoal::init required) that stays
//           single-threaded and never runs main(); every child is then
//           fork()ed from that server. Safe whatever threads the parent runs
//           (no child is a copy of the caller), with the child semantics of
//           kSpawn (the program's static state, functions as module
//           offsets), and cheaper than kSpawn per child: one exec in all
//           instead of one per child (bench/RESULTS.md has the figures). The
//           server belongs to the process that started it, leaves when that
//           process exits, and is replaced if it is killed; pool workers and
//           daemonic children die with it. See pool/internal/forkserver.h.
//
//   shoal::Context ctx = shoal::get_context("forkserver");  // or "spawn"
//   shoal::Pool pool(shoal::PoolOptions{.processes = 4, .context = ctx});
//   shoal::Process p = ctx.Process(fn, 1, 2);   // or ProcessOptions
//
// set_start_method() changes the default for everything created afterwards;
// like Python, it may be called once (a second call throws
// shoal::RuntimeError unless force is true).
//
// Thread safety: all functions may be called from any thread.
#ifndef SHOAL_POOL_CONTEXT_H_
#define SHOAL_POOL_CONTEXT_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shoal {

enum class StartMethod { kFork, kSpawn, kForkServer };

// "fork" / "spawn" / "forkserver".
std::string_view StartMethodName(StartMethod m);
// Parses "fork" / "spawn" / "forkserver"; throws shoal::ValueError for
// anything else.
StartMethod ParseStartMethod(std::string_view name);

class Process;

// A start method, as a value (Python's context objects). Cheap to copy.
class Context {
 public:
  constexpr Context() : method_(StartMethod::kFork), explicit_(false) {}
  constexpr explicit Context(StartMethod m) : method_(m), explicit_(true) {}

  // The method (the current default when this is the default context).
  StartMethod method() const;
  std::string_view get_start_method() const {
    return StartMethodName(method());
  }

  // ctx.Process(target, args...): a Process started with this method. (The
  // definition is in process.h.)
  template <class F, class... Args>
  shoal::Process Process(F target, Args&&... args) const;

 private:
  StartMethod method_;
  bool explicit_;
};

// Python's multiprocessing.get_context(method): "fork", "spawn" or
// "forkserver"; the empty
// name gives the default context (which follows set_start_method).
Context get_context(std::string_view method = {});
// Sets the default start method. Throws shoal::RuntimeError if one was
// already set and !force (Python's RuntimeError), shoal::ValueError for an
// unknown name.
void set_start_method(std::string_view method, bool force = false);
void set_start_method(StartMethod method, bool force = false);
// The default start method's name ("fork" unless set).
std::string get_start_method();
std::vector<std::string> get_all_start_methods();

// Call first in main(). In a process spawned by shoal (kSpawn, and the
// kForkServer server), runs the pool worker, the Process target or the
// server it was started for and exits the process (it never returns).
// Anywhere else it returns at once.
void init(int argc, char** argv);

// Python's multiprocessing.freeze_support(): a no-op, for familiarity.
inline void freeze_support() {}

}  // namespace shoal

#endif  // SHOAL_POOL_CONTEXT_H_
