// Copyright 2026 The shoal Authors.
//
// tid.h: the calling thread's kernel thread id, cached.
//
// Robust pthread mutexes store their owner's kernel tid in the lock word, so
// "does the calling thread own this lock?" is one load and one compare once
// the tid is known. glibc no longer caches gettid(), so it is cached here in
// a thread_local. fork() gives the child's thread a new tid: a
// pthread_atfork child handler (registered the first time the cache is
// filled) clears the cache in the child, so a forked child never sees its
// parent's tid. (Processes made with a raw clone() system call bypass
// pthread_atfork; shoal never does that.)
#ifndef SHOAL_BASE_INTERNAL_TID_H_
#define SHOAL_BASE_INTERNAL_TID_H_

#include <sys/types.h>

namespace shoal::internal {

// The slow path: asks the kernel and fills the cache.
pid_t CurrentTidSlow();

inline thread_local pid_t tls_cached_tid = 0;

// The calling thread's kernel tid (never 0). ~1 ns once cached.
inline pid_t CurrentTid() {
  pid_t tid = tls_cached_tid;
  return tid != 0 ? tid : CurrentTidSlow();
}

}  // namespace shoal::internal

#endif  // SHOAL_BASE_INTERNAL_TID_H_
