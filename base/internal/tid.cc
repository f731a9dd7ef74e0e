#include "shoal/base/internal/tid.h"

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace shoal::internal {
namespace {

void ClearTidCacheInChild() { tls_cached_tid = 0; }

}  // namespace

pid_t CurrentTidSlow() {
  // Registered before the first value is cached, so no fork() can copy a
  // cached value into a child without the handler clearing it.
  static const bool registered = [] {
    pthread_atfork(nullptr, nullptr, &ClearTidCacheInChild);
    return true;
  }();
  (void)registered;
  pid_t tid = static_cast<pid_t>(syscall(SYS_gettid));
  tls_cached_tid = tid;
  return tid;
}

}  // namespace shoal::internal
