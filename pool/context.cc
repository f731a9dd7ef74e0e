#include "shoal/pool/context.h"

#include <atomic>
#include <string>
#include <vector>

#include "shoal/base/errors.h"

namespace shoal {
namespace {

// -1: never set (fork); else a StartMethod.
std::atomic<int> g_default_method{-1};

}  // namespace

std::string_view StartMethodName(StartMethod m) {
  switch (m) {
    case StartMethod::kFork:
      return "fork";
    case StartMethod::kSpawn:
      return "spawn";
    case StartMethod::kForkServer:
      return "forkserver";
  }
  return "invalid";
}

StartMethod ParseStartMethod(std::string_view name) {
  if (name == "fork") return StartMethod::kFork;
  if (name == "spawn") return StartMethod::kSpawn;
  if (name == "forkserver") return StartMethod::kForkServer;
  throw ValueError("cannot find context for '" + std::string(name) +
                   "' (shoal has 'fork', 'spawn' and 'forkserver')");
}

StartMethod Context::method() const {
  if (explicit_) return method_;
  const int m = g_default_method.load(std::memory_order_acquire);
  return m < 0 ? StartMethod::kFork : static_cast<StartMethod>(m);
}

Context get_context(std::string_view method) {
  if (method.empty()) return Context();
  return Context(ParseStartMethod(method));
}

void set_start_method(StartMethod method, bool force) {
  int expected = -1;
  const int want = static_cast<int>(method);
  if (force) {
    g_default_method.store(want, std::memory_order_release);
    return;
  }
  if (!g_default_method.compare_exchange_strong(expected, want,
                                                std::memory_order_acq_rel)) {
    throw RuntimeError("context has already been set (pass force=true)");
  }
}

void set_start_method(std::string_view method, bool force) {
  set_start_method(ParseStartMethod(method), force);
}

std::string get_start_method() {
  return std::string(StartMethodName(Context().method()));
}

std::vector<std::string> get_all_start_methods() {
  return {"fork", "spawn", "forkserver"};
}

}  // namespace shoal
