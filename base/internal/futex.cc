#include "shoal/base/internal/futex.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>

#include "shoal/base/errors.h"

namespace shoal::internal {

WaitResult FutexWait(const std::atomic<uint32_t>* word, uint32_t expected,
                     const Deadline& deadline) {
  timespec ts;
  const timespec* tsp = nullptr;
  if (!deadline.infinite()) {
    if (deadline.expired()) return WaitResult::kTimedOut;
    ts = deadline.abs_timespec();
    tsp = &ts;
  }
  // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline, so a
  // retried wait never extends the caller's timeout.
  long rc = syscall(SYS_futex, reinterpret_cast<const uint32_t*>(word),
                    FUTEX_WAIT_BITSET, expected, tsp, nullptr,
                    FUTEX_BITSET_MATCH_ANY);
  if (rc == 0) return WaitResult::kWoken;
  switch (errno) {
    case EAGAIN:
      return WaitResult::kWoken;
    case ETIMEDOUT:
      return WaitResult::kTimedOut;
    case EINTR:
      return WaitResult::kInterrupted;
    default:
      ThrowSystemError("futex(FUTEX_WAIT_BITSET)", errno);
  }
}

int FutexWake(const std::atomic<uint32_t>* word, int count) {
  long rc = syscall(SYS_futex, reinterpret_cast<const uint32_t*>(word),
                    FUTEX_WAKE, count, nullptr, nullptr, 0);
  if (rc < 0) ThrowSystemError("futex(FUTEX_WAKE)", errno);
  return static_cast<int>(rc);
}

}  // namespace shoal::internal
