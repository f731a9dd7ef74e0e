#include "shoal/base/internal/futex.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <climits>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "shoal/base/errors.h"

namespace shoal::internal {
namespace {

// What a failed futex wait's errno means (anything else is a bug: thrown).
WaitResult ResultOf(int err, const char* what) {
  switch (err) {
    case EAGAIN:  // the word no longer held the expected value
      return WaitResult::kWoken;
    case ETIMEDOUT:
      return WaitResult::kTimedOut;
    case EINTR:
      return WaitResult::kInterrupted;
    default:
      ThrowSystemError(what, err);
  }
}

}  // namespace

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
  return ResultOf(errno, "futex(FUTEX_WAIT_BITSET)");
}

namespace {
std::atomic<uint64_t> wake_calls{0};
}  // namespace

uint64_t FutexWakeCalls() { return wake_calls.load(std::memory_order_relaxed); }

int FutexWake(const std::atomic<uint32_t>* word, int count) {
  wake_calls.fetch_add(1, std::memory_order_relaxed);
  long rc = syscall(SYS_futex, reinterpret_cast<const uint32_t*>(word),
                    FUTEX_WAKE, count, nullptr, nullptr, 0);
  if (rc < 0) ThrowSystemError("futex(FUTEX_WAKE)", errno);
  return static_cast<int>(rc);
}

namespace {

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif

// The kernel's struct futex_waitv (linux/futex.h, 5.16+), spelled here so
// that older headers build.
struct KernelFutexWaitv {
  uint64_t val;
  uint64_t uaddr;
  uint32_t flags;
  uint32_t reserved;
};
constexpr uint32_t kFutex2SizeU32 = 2;  // FUTEX_32; shared (no FUTEX2_PRIVATE)

// 1: futex_waitv works, 0: it does not (fallback), -1: not tried yet.
std::atomic<int> waitv_state{-1};

WaitResult WaitManyThreads(std::span<const FutexWaitItem> items,
                           const Deadline& deadline) {
  // Helper i sleeps on items[i] (i >= 1); the caller on items[0] plus
  // `done`, which it cannot wait on together: so the caller sleeps on
  // `done` only and a helper covers items[0] too.
  struct Shared {
    std::atomic<uint32_t> done{0};
    std::atomic<uint32_t> exited{0};
    std::atomic<bool> cancel{false};
  };
  auto shared = std::make_shared<Shared>();
  std::vector<std::thread> helpers;
  helpers.reserve(items.size());
  for (const FutexWaitItem& item : items) {
    helpers.emplace_back([shared, item, deadline] {
      while (!shared->cancel.load(std::memory_order_acquire)) {
        const WaitResult r = FutexWait(item.word, item.expected, deadline);
        if (r == WaitResult::kInterrupted) continue;
        break;
      }
      if (shared->done.exchange(1, std::memory_order_seq_cst) == 0) {
        FutexWake(&shared->done, 1);
      }
      shared->exited.fetch_add(1, std::memory_order_seq_cst);
      FutexWake(&shared->exited, 1);
    });
  }
  WaitResult result = WaitResult::kWoken;
  while (shared->done.load(std::memory_order_seq_cst) == 0) {
    if (FutexWait(&shared->done, 0, deadline) == WaitResult::kTimedOut) {
      result = shared->done.load() ? WaitResult::kWoken : WaitResult::kTimedOut;
      break;
    }
  }
  // Get every helper out of its wait: a helper may be about to sleep on a
  // word that did not change, so wake until each has left (each round is
  // bounded; the helpers' loops check `cancel` before sleeping again).
  shared->cancel.store(true, std::memory_order_seq_cst);
  const uint32_t n = static_cast<uint32_t>(helpers.size());
  for (;;) {
    const uint32_t gone = shared->exited.load(std::memory_order_seq_cst);
    if (gone == n) break;
    for (const FutexWaitItem& item : items) FutexWake(item.word, INT_MAX);
    FutexWait(&shared->exited, gone,
              Deadline(std::chrono::milliseconds(1)));
  }
  for (std::thread& t : helpers) t.join();
  return result;
}

}  // namespace

bool FutexWaitvAvailable() {
  int state = waitv_state.load(std::memory_order_relaxed);
  if (state < 0) {
    // A probe that returns at once: one word whose value differs.
    std::atomic<uint32_t> word{1};
    KernelFutexWaitv w{0, reinterpret_cast<uint64_t>(&word), kFutex2SizeU32,
                       0};
    long rc = syscall(SYS_futex_waitv, &w, 1, 0, nullptr, CLOCK_MONOTONIC);
    state = (rc < 0 && (errno == ENOSYS || errno == EPERM)) ? 0 : 1;
    waitv_state.store(state, std::memory_order_relaxed);
  }
  return state == 1;
}

void SetFutexWaitvForTesting(bool use) {
  waitv_state.store(use ? -1 : 0, std::memory_order_relaxed);
}

WaitResult FutexWaitMany(std::span<const FutexWaitItem> items,
                         const Deadline& deadline) {
  if (items.size() > kFutexWaitManyMax) {
    throw ValueError("FutexWaitMany: " + std::to_string(items.size()) +
                     " words, at most " + std::to_string(kFutexWaitManyMax));
  }
  if (items.empty()) {
    // Nothing to wake us: sleep until the deadline on a private word.
    std::atomic<uint32_t> never{0};
    while (FutexWait(&never, 0, deadline) != WaitResult::kTimedOut) {
    }
    return WaitResult::kTimedOut;
  }
  if (items.size() == 1) {
    return FutexWait(items[0].word, items[0].expected, deadline);
  }
  if (deadline.expired()) return WaitResult::kTimedOut;
  if (!FutexWaitvAvailable()) return WaitManyThreads(items, deadline);
  KernelFutexWaitv w[kFutexWaitManyMax];
  for (std::size_t i = 0; i < items.size(); ++i) {
    w[i] = {items[i].expected, reinterpret_cast<uint64_t>(items[i].word),
            kFutex2SizeU32, 0};
  }
  timespec ts;
  const timespec* tsp = nullptr;
  if (!deadline.infinite()) {
    ts = deadline.abs_timespec();
    tsp = &ts;
  }
  long rc = syscall(SYS_futex_waitv, w, static_cast<unsigned>(items.size()),
                    0, tsp, CLOCK_MONOTONIC);
  if (rc >= 0) return WaitResult::kWoken;
  const int err = errno;
  if (err == ENOSYS || err == EPERM) {
    waitv_state.store(0, std::memory_order_relaxed);
    return WaitManyThreads(items, deadline);
  }
  return ResultOf(err, "futex_waitv");
}

}  // namespace shoal::internal
