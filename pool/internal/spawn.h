// Copyright 2026 The shoal Authors.
//
// spawn.h: starting shoal children with posix_spawn(/proc/self/exe), and the
// registry shoal::init dispatches them through.
//
// A spawned child's argv is [argv0, "--shoal-spawn", kind, args...], and its
// environment carries SHOAL_SPAWNED=<kind> until shoal::init consumes it (a
// program that forgot to call shoal::init is caught when it tries to start
// processes of its own: see CheckNotUninitializedSpawnChild). The file
// descriptors in `fds` are dup2()ed to 3, 4, ... in the child; every other
// descriptor above 2 is closed (as Python's spawn does). The signal mask is
// cleared.
#ifndef SHOAL_POOL_INTERNAL_SPAWN_H_
#define SHOAL_POOL_INTERNAL_SPAWN_H_

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "shoal/pool/context.h"

namespace shoal::internal {

inline constexpr int kFirstPassedFd = 3;

// Starts a child; returns its pid. Throws shoal::SystemError.
pid_t SpawnSelf(std::string_view kind, const std::vector<std::string>& args,
                const std::vector<int>& fds);

// An entry point for spawned children of `kind`: gets the args after kind,
// returns the exit code.
using SpawnEntry = int (*)(const std::vector<std::string>& args);
// Registered from static initializers (engine.cc, process.cc): a spawned
// child runs the same binary, so it has the same registrations.
bool RegisterSpawnEntry(const char* kind, SpawnEntry entry);

// Runs the entry registered for `kind` (what shoal::init does in a spawned
// child, and the forkserver in a child it forked); returns the exit code
// (70 for an unknown kind, 71 when the entry threw, after printing it).
int RunSpawnEntry(std::string_view kind, const std::vector<std::string>& args);

// Throws shoal::ValueError in a process that was spawned by shoal but whose
// main() did not call shoal::init first (it would otherwise run main again
// and possibly spawn children of its own, forever). A pool worker exits at
// once with kSpawnedWithoutInitExitCode instead, saying nothing: the pool
// sees the code and reports the mistake once (BrokenPool), rather than every
// worker printing it.
void CheckNotUninitializedSpawnChild();
inline constexpr int kSpawnedWithoutInitExitCode = 78;

// The start method to use: `ctx`'s, or the default.
StartMethod EffectiveMethod(const Context* ctx);

// Parses a decimal int; throws ValueError.
long ParseLong(std::string_view s);

}  // namespace shoal::internal

#endif  // SHOAL_POOL_INTERNAL_SPAWN_H_
