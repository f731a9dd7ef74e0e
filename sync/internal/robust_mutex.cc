#include "shoal/sync/internal/robust_mutex.h"

#include <errno.h>
#include <time.h>

#include <chrono>
#include <string>

#include "shoal/base/errors.h"

namespace shoal::internal {
namespace {

// See RobustMutex::Lock.
constexpr int kMaxLostRaces = 2;

// glibc's kind word of a robust, process-shared mutex of `type`, as
// pthread_mutex_init writes it: what CheckKind compares the shared word to.
int KindWordOf(int type) {
  pthread_mutexattr_t attr;
  pthread_mutex_t mu;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_settype(&attr, type);
  pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  pthread_mutex_init(&mu, &attr);
  pthread_mutexattr_destroy(&attr);
  const int kind = mu.__data.__kind;
  pthread_mutex_destroy(&mu);
  return kind;
}

const int kNormalKind = KindWordOf(PTHREAD_MUTEX_NORMAL);
const int kRecursiveKind = KindWordOf(PTHREAD_MUTEX_RECURSIVE);

}  // namespace

void RobustMutex::Init(int kind) {
  pthread_mutexattr_t attr;
  int rc = pthread_mutexattr_init(&attr);
  if (rc != 0) ThrowSystemError("pthread_mutexattr_init", rc);
  rc = pthread_mutexattr_settype(&attr, kind);
  if (rc == 0) rc = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  if (rc == 0) rc = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  if (rc == 0) rc = pthread_mutex_init(&mu_, &attr);
  pthread_mutexattr_destroy(&attr);
  if (rc != 0) ThrowSystemError("pthread_mutex_init(robust, pshared)", rc);
  inconsistent_.store(0, std::memory_order_relaxed);
  acquisitions_.store(0, std::memory_order_relaxed);
  spin_.Init();
  depth_.store(0, std::memory_order_relaxed);
}

void RobustMutex::Destroy() {
  // glibc returns EBUSY for a locked mutex; there is nothing useful to do
  // about it in a destructor, and the memory is about to go away anyway.
  (void)pthread_mutex_destroy(&mu_);
}

void RobustMutex::CheckKind() const {
  // The kind word lives in shared memory. Any other value (a priority-
  // inheritance or priority-protect kind, a non-robust one) sends glibc down
  // paths that abort the process or wait without bound on a garbage owner.
  // (A peer writing between this check and glibc's read is not covered.)
  const int kind = __atomic_load_n(&mu_.__data.__kind, __ATOMIC_RELAXED);
  if (kind != kNormalKind && kind != kRecursiveKind) [[unlikely]] {
    throw InvalidRegion("lock: the mutex's kind word holds " +
                        std::to_string(kind) +
                        ", not a robust process-shared mutex's: shared "
                        "memory corrupt");
  }
}

LockStatus RobustMutex::TryLock() {
  CheckKind();
  return Finish(pthread_mutex_trylock(&mu_), "pthread_mutex_trylock");
}

LockStatus RobustMutex::Lock(const Deadline& deadline) {
  CheckKind();
  // Straight to the CAS, as glibc does: when the lock is free but its line
  // sits in another core's cache, a load first would cost two transfers.
  // (The spin below does look before touching.)
  int rc = pthread_mutex_trylock(&mu_);
  if (rc == EBUSY) {
    if (deadline.expired()) return LockStatus::kTimedOut;
    // Spin on the lock word and take the lock the moment it is freed -- but
    // not when the lock is being hammered, where spinning only turns the
    // holders' batches into a cache-line ping-pong (measured: 2-5x lower
    // throughput than glibc's non-spinning mutex) and sleeping is what lets
    // them run at full speed:
    //   * we released it ourselves and at most one contended acquisition
    //     (the current holder's) happened since: two processes taking turns
    //     as fast as they can;
    //   * it is freed and someone else wins the race twice, or it is taken
    //     twice by contended acquirers while we spin.
    const uint32_t seen = acquisitions_.load(std::memory_order_relaxed);
    const bool ping_pong =
        tls_last_released == this && seen - tls_last_released_at <= 1;
    int lost = 0;
    if (!ping_pong) SpinUntil(spin_, [&] {
      if (OwnerTid() != 0) {
        return acquisitions_.load(std::memory_order_relaxed) - seen >=
                       kMaxLostRaces
                   ? SpinStep::kGiveUp
                   : SpinStep::kContinue;
      }
      rc = pthread_mutex_trylock(&mu_);
      if (rc != EBUSY) return SpinStep::kReady;
      return ++lost >= kMaxLostRaces ? SpinStep::kGiveUp : SpinStep::kContinue;
    });
    if (rc == EBUSY) rc = BlockingLock(deadline);
    if (rc == 0 || rc == EOWNERDEAD) {
      // Only contended acquisitions are counted: the fast path stays a bare
      // trylock, and a lock nobody waits for needs no hand-over statistics.
      acquisitions_.store(acquisitions_.load(std::memory_order_relaxed) + 1,
                          std::memory_order_relaxed);
    }
  }
  return Finish(rc, "pthread_mutex_lock");
}

int RobustMutex::BlockingLock(const Deadline& deadline) {
  if (deadline.infinite()) return pthread_mutex_lock(&mu_);
#if defined(__SANITIZE_THREAD__)
  // ThreadSanitizer (GCC 12's libtsan) does not intercept
  // pthread_mutex_clocklock, so it would not see the acquisition and would
  // then report our unlock as a bug. Its pthread_mutex_timedlock interceptor
  // does not model EOWNERDEAD either, so under TSan the timed form polls with
  // pthread_mutex_trylock (intercepted, EOWNERDEAD-aware) and short sleeps.
  // Production builds never take this path.
  for (;;) {
    int rc = pthread_mutex_trylock(&mu_);
    if (rc != EBUSY) return rc;
    if (deadline.expired()) return ETIMEDOUT;
    auto left = deadline.remaining();
    auto nap = std::chrono::microseconds(200);
    timespec ts{0, static_cast<long>(
                       std::chrono::duration_cast<std::chrono::nanoseconds>(
                           left < nap ? left : nap)
                           .count())};
    nanosleep(&ts, nullptr);
  }
#else
  // An absolute CLOCK_MONOTONIC deadline: immune to wall-clock jumps, and
  // the kernel's robust-futex path reports EOWNERDEAD here as well.
  const timespec ts = deadline.abs_timespec();
  return pthread_mutex_clocklock(&mu_, CLOCK_MONOTONIC, &ts);
#endif
}

LockStatus RobustMutex::Finish(int rc, const char* what) {
  switch (rc) {
    case 0:
      return LockStatus::kAcquired;
    case EOWNERDEAD:
      // Make the pthread mutex consistent right away: if we released it
      // without doing so it would become ENOTRECOVERABLE for everyone. Our
      // own flag carries the "data may be broken" news instead.
      inconsistent_.store(1, std::memory_order_relaxed);
      pthread_mutex_consistent(&mu_);
      return LockStatus::kOwnerDied;
    case EBUSY:
    case ETIMEDOUT:
      return LockStatus::kTimedOut;
    default:
      ThrowSystemError(what, rc);
  }
}

}  // namespace shoal::internal
