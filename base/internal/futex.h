// Copyright 2026 The shoal Authors.
//
// futex.h: the two futex operations shoal's primitives sleep and wake with.
//
// Why by hand: no library exposes process-shared futexes with an absolute
// monotonic deadline. Every call uses the *shared* futex ops (never
// FUTEX_PRIVATE_FLAG): the word may be mapped at different addresses in
// different processes and the kernel keys shared futexes by (inode, offset).
//
// Callers keep a waiter count or flag beside the word and only call
// FutexWake when it says somebody sleeps: a FUTEX_WAKE with nobody waiting
// still costs a system call (~1.2 us on the reference machine).
#ifndef SHOAL_BASE_INTERNAL_FUTEX_H_
#define SHOAL_BASE_INTERNAL_FUTEX_H_

#include <atomic>
#include <cstdint>
#include <span>

#include "shoal/base/deadline.h"

namespace shoal::internal {

static_assert(std::atomic<uint32_t>::is_always_lock_free);
static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));

enum class WaitResult {
  kWoken,     // woken by FutexWake, or the word no longer held `expected`
              // (callers re-check their condition either way)
  kTimedOut,  // the deadline passed
  kInterrupted,  // a signal arrived (EINTR); callers usually loop
};

// Sleeps while `*word == expected`, until woken or `deadline`.
WaitResult FutexWait(const std::atomic<uint32_t>* word, uint32_t expected,
                     const Deadline& deadline);

// Wakes up to `count` sleepers on `word` (INT32_MAX for all). Returns how many
// were woken.
int FutexWake(const std::atomic<uint32_t>* word, int count);

// One word of a multi-word wait: sleep while `*word == expected`.
struct FutexWaitItem {
  const std::atomic<uint32_t>* word = nullptr;
  uint32_t expected = 0;
};

// The most words one FutexWaitMany call takes (the kernel's FUTEX_WAITV_MAX).
inline constexpr std::size_t kFutexWaitManyMax = 128;

// Sleeps until any of `items` is woken (or no longer holds its expected
// value), `deadline` passes, or a signal arrives. Uses futex_waitv (Linux
// 5.16+). Where the kernel (or a seccomp filter) refuses it with ENOSYS or
// EPERM, falls back for good to one helper thread per word beyond the first,
// each in a plain FUTEX_WAIT; the first to return ends the wait and the
// others are woken (a FUTEX_WAKE on their words, which other sleepers on
// those words see as a spurious wake-up and re-check). The fallback costs a
// thread start per word per call: correct, not fast. Throws ValueError for
// more than kFutexWaitManyMax items.
WaitResult FutexWaitMany(std::span<const FutexWaitItem> items,
                         const Deadline& deadline);

// Whether FutexWaitMany uses futex_waitv. Tests force the fallback with
// SetFutexWaitvForTesting(false); true restores detection.
bool FutexWaitvAvailable();
void SetFutexWaitvForTesting(bool use);

// FutexWake calls this process made (a relaxed counter; a wake is a system
// call anyway). Tests use it to prove that nobody is woken needlessly.
uint64_t FutexWakeCalls();

// A pause instruction for spin loops.
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

}  // namespace shoal::internal

#endif  // SHOAL_BASE_INTERNAL_FUTEX_H_
