// Copyright 2026 The shoal Authors.
//
// bench_util.h: helpers shared by the micro-benchmarks (bench/*_bench.cc) and
// the shoot-out (bench/shootout.cc). Not part of shoal's API.
//
//   NewShared<T>/DestroyShared   a T in a MAP_SHARED|MAP_ANONYMOUS mapping,
//   MapShared, ForkPeer, Reap    visible to fork()ed children; a child that
//                                runs fn() and _exit()s, dies with its parent
//                                (PDEATHSIG) and after an alarm, so a bug
//                                never leaves it behind. These are
//                                tests/support/fork_helpers.h's.
//   Stamp/Check                  the honesty rule: every message of every
//                                method carries its sequence number in its
//                                first word, in one word per 4 KiB page and
//                                in its last word; the receiver checks them
//                                all, so no method can win by not moving the
//                                bytes.
//   SpinFlag/FutexFlag           the floor: a one-word hand-over between
//                                processes by spinning, or by FUTEX_WAIT /
//                                FUTEX_WAKE on every hand-over.
#ifndef SHOAL_BENCH_BENCH_UTIL_H_
#define SHOAL_BENCH_BENCH_UTIL_H_

#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>
#include <utility>

#include "tests/support/fork_helpers.h"

namespace shoal::bench {

inline void Relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

// Shared mappings and forked peers: the tests' helpers (one copy).
using ::shoal::testing::DestroyShared;
using ::shoal::testing::ForkPeer;
using ::shoal::testing::MapShared;
using ::shoal::testing::NewShared;
using ::shoal::testing::Reap;

inline bool PinTo(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return sched_setaffinity(0, sizeof(set), &set) == 0;
}

inline uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u +
         static_cast<uint64_t>(ts.tv_nsec);
}

// ------------------------------------------------------------ stamps

// A message of `n` 64-bit words carries `seq` in word 0, seq + k in word
// 512 k (one per 4 KiB page) and ~seq in its last word (when n > 1).
inline constexpr std::size_t kStampStride = 512;  // words: 4 KiB
inline constexpr uint64_t kBadSeq = ~uint64_t{0} - 1;
inline constexpr uint64_t kStopSeq = ~uint64_t{0};

inline void Stamp(uint64_t* w, std::size_t n, uint64_t seq) {
  w[0] = seq;
  for (std::size_t k = 1; k * kStampStride < n; ++k) w[k * kStampStride] = seq + k;
  if (n > 1) w[n - 1] = ~seq;
}

// The sequence number the message carries, or kBadSeq when a stamp is wrong.
inline uint64_t Check(const uint64_t* w, std::size_t n) {
  const uint64_t seq = w[0];
  for (std::size_t k = 1; k * kStampStride < n; ++k) {
    if (w[k * kStampStride] != seq + k) return kBadSeq;
  }
  if (n > 1 && w[n - 1] != ~seq) return kBadSeq;
  return seq;
}

// Fills a buffer with a recognizable pattern (so pages are really backed).
inline void Fill(uint64_t* w, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) w[i] = 0x9e3779b97f4a7c15ull * (i + 1);
}

// ------------------------------------------------------------ the floor

inline long FutexWaitRaw(std::atomic<uint32_t>* w, uint32_t v) {
  return syscall(SYS_futex, w, FUTEX_WAIT, v, nullptr, nullptr, 0);
}
inline long FutexWakeRaw(std::atomic<uint32_t>* w) {
  return syscall(SYS_futex, w, FUTEX_WAKE, 1, nullptr, nullptr, 0);
}

// One-word hand-over by spinning (both sides active).
struct alignas(64) SpinFlag {
  std::atomic<uint32_t> word{0};
  char pad[60];
  void Post() { word.store(1, std::memory_order_release); }
  void Take() {
    while (word.load(std::memory_order_acquire) == 0) Relax();
    word.store(0, std::memory_order_relaxed);
  }
  // Gives up (false) once *stop is set.
  bool TakeUnless(const std::atomic<uint32_t>* stop) {
    uint32_t n = 0;
    while (word.load(std::memory_order_acquire) == 0) {
      Relax();
      if ((++n & 1023) == 0 && stop->load(std::memory_order_relaxed)) {
        return false;
      }
    }
    word.store(0, std::memory_order_relaxed);
    return true;
  }
};

// One-word hand-over through the kernel every time (the peer sleeps).
struct alignas(64) FutexFlag {
  std::atomic<uint32_t> word{0};
  char pad[60];
  void Post() {
    word.store(1, std::memory_order_release);
    FutexWakeRaw(&word);
  }
  void Take() {
    while (word.load(std::memory_order_acquire) == 0) FutexWaitRaw(&word, 0);
    word.store(0, std::memory_order_relaxed);
  }
};

}  // namespace shoal::bench

#endif  // SHOAL_BENCH_BENCH_UTIL_H_
