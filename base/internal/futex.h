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
