// Copyright 2026 The shoal Authors.
//
// sync_bench.cc: shoal's sync/ primitives next to their peers, in one binary
// and one run, so that the ratios in bench/RESULTS.md ("## sync") compare
// like with like on the same machine.
//
//   Uncontended acquire+release: shoal::Lock / RLock / Semaphore vs a raw
//     pthread normal mutex and a raw robust process-shared pthread mutex.
//   Contended (2 processes): a forked child hammers the same lock; the
//     parent's acquire+release is timed (shoal::Lock, raw pshared pthread
//     mutex, Boost.Interprocess interprocess_mutex).
//   Cross-process ping-pong round trip: parent and forked child bounce a
//     token through two semaphores: shoal::Semaphore with spinning disabled
//     (the peer always sleeps) and with its default adaptive spinning (the
//     peer is active), a raw futex pair, a raw shared-memory spin pair, a
//     pipe pair, and Boost.Interprocess interprocess_semaphore.
//
//   Paired ping-pong: the same two processes alternate between two mechanisms
//     every 32 round trips and time each separately, so both see the same
//     machine state at the same moment; the counters A_ns/B_ns are the two
//     round trips and A_over_B their ratio (the robust figure on a shared,
//     noisy machine, where separately run benchmarks drift by 10x as other
//     jobs come and go).
//
// Quick mode (the project's "main job"): --benchmark_min_time=0.05.
// Full numbers: --benchmark_repetitions=5 --benchmark_report_aggregates_only
// (see bench/RESULTS.md for the exact command).
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <utility>

#include "bench/bench_util.h"
#include "benchmark/benchmark.h"
#include "boost/interprocess/sync/interprocess_mutex.hpp"
#include "boost/interprocess/sync/interprocess_semaphore.hpp"
#include "shoal/base/internal/futex.h"
#include "shoal/sync/lock.h"
#include "shoal/sync/rlock.h"
#include "shoal/sync/semaphore.h"

namespace {

using shoal::internal::CpuRelax;

// ---------------------------------------------------------------- helpers

using shoal::bench::DestroyShared;
using shoal::bench::FutexWaitRaw;
using shoal::bench::FutexWakeRaw;
using shoal::bench::ForkPeer;
using shoal::bench::NewShared;
using shoal::bench::Reap;


// ------------------------------------------------------- uncontended

void BM_Lock_Uncontended(benchmark::State& state) {
  auto* lock = NewShared<shoal::Lock>();
  for (auto _ : state) {
    lock->acquire();
    lock->release();
  }
  DestroyShared(lock);
}
BENCHMARK(BM_Lock_Uncontended);

void BM_Lock_UncontendedStdLockGuard(benchmark::State& state) {
  auto* lock = NewShared<shoal::Lock>();
  for (auto _ : state) {
    std::lock_guard<shoal::Lock> g(*lock);
    benchmark::ClobberMemory();
  }
  DestroyShared(lock);
}
BENCHMARK(BM_Lock_UncontendedStdLockGuard);

void BM_PthreadNormalMutex_Uncontended(benchmark::State& state) {
  auto* mu = NewShared<pthread_mutex_t>();
  pthread_mutex_init(mu, nullptr);
  for (auto _ : state) {
    pthread_mutex_lock(mu);
    pthread_mutex_unlock(mu);
  }
  pthread_mutex_destroy(mu);
  DestroyShared(mu);
}
BENCHMARK(BM_PthreadNormalMutex_Uncontended);

pthread_mutex_t* NewPsharedMutex(bool robust) {
  auto* mu = NewShared<pthread_mutex_t>();
  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
  if (robust) pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
  pthread_mutex_init(mu, &a);
  pthread_mutexattr_destroy(&a);
  return mu;
}

void BM_PthreadRobustPsharedMutex_Uncontended(benchmark::State& state) {
  pthread_mutex_t* mu = NewPsharedMutex(/*robust=*/true);
  for (auto _ : state) {
    pthread_mutex_lock(mu);
    pthread_mutex_unlock(mu);
  }
  pthread_mutex_destroy(mu);
  DestroyShared(mu);
}
BENCHMARK(BM_PthreadRobustPsharedMutex_Uncontended);

void BM_RLock_Uncontended(benchmark::State& state) {
  auto* lock = NewShared<shoal::RLock>();
  for (auto _ : state) {
    lock->acquire();
    lock->release();
  }
  DestroyShared(lock);
}
BENCHMARK(BM_RLock_Uncontended);

void BM_Semaphore_Uncontended(benchmark::State& state) {
  auto* sem = NewShared<shoal::Semaphore>(1);
  for (auto _ : state) {
    sem->acquire();
    sem->release();
  }
  DestroyShared(sem);
}
BENCHMARK(BM_Semaphore_Uncontended);

void BM_BoostInterprocessMutex_Uncontended(benchmark::State& state) {
  auto* mu = NewShared<boost::interprocess::interprocess_mutex>();
  for (auto _ : state) {
    mu->lock();
    mu->unlock();
  }
  DestroyShared(mu);
}
BENCHMARK(BM_BoostInterprocessMutex_Uncontended);

// --------------------------------------------------- contended, 2 procs

// The child hammers the lock (acquire, bump a shared counter, release) until
// told to stop; the parent's acquire+release is what is timed.
template <class M, class LockFn, class UnlockFn>
void ContendedPair(benchmark::State& state, M* mu, LockFn lock, UnlockFn unlock) {
  struct Ctl {
    std::atomic<uint32_t> started{0};
    std::atomic<uint32_t> stop{0};
    uint64_t counter = 0;  // protected by the lock
  };
  auto* ctl = NewShared<Ctl>();
  pid_t pid = ForkPeer([&] {
    ctl->started.store(1);
    while (ctl->stop.load(std::memory_order_relaxed) == 0) {
      lock(mu);
      ++ctl->counter;
      unlock(mu);
    }
  });
  while (ctl->started.load() == 0) CpuRelax();
  for (auto _ : state) {
    lock(mu);
    ++ctl->counter;
    unlock(mu);
  }
  ctl->stop.store(1);
  Reap(pid);
  state.counters["peer_share"] =
      static_cast<double>(ctl->counter - state.iterations()) /
      static_cast<double>(ctl->counter);
  DestroyShared(ctl);
}

// Arg: the lock's max spin in ns (10000 is the default; 0 never spins).
void BM_Lock_Contended2Proc(benchmark::State& state) {
  auto* lock = NewShared<shoal::Lock>();
  lock->set_max_spin(std::chrono::nanoseconds(state.range(0)));
  ContendedPair(
      state, lock, [](shoal::Lock* l) { l->acquire(); },
      [](shoal::Lock* l) { l->release(); });
  DestroyShared(lock);
}
BENCHMARK(BM_Lock_Contended2Proc)
    ->Arg(shoal::internal::kDefaultMaxSpinNs)
    ->Arg(2000)
    ->Arg(0)
    ->UseRealTime();

void BM_PthreadRobustPsharedMutex_Contended2Proc(benchmark::State& state) {
  pthread_mutex_t* mu = NewPsharedMutex(/*robust=*/true);
  ContendedPair(
      state, mu, [](pthread_mutex_t* m) { pthread_mutex_lock(m); },
      [](pthread_mutex_t* m) { pthread_mutex_unlock(m); });
  DestroyShared(mu);
}
BENCHMARK(BM_PthreadRobustPsharedMutex_Contended2Proc)->UseRealTime();

void BM_PthreadPsharedMutex_Contended2Proc(benchmark::State& state) {
  pthread_mutex_t* mu = NewPsharedMutex(/*robust=*/false);
  ContendedPair(
      state, mu, [](pthread_mutex_t* m) { pthread_mutex_lock(m); },
      [](pthread_mutex_t* m) { pthread_mutex_unlock(m); });
  DestroyShared(mu);
}
BENCHMARK(BM_PthreadPsharedMutex_Contended2Proc)->UseRealTime();

void BM_BoostInterprocessMutex_Contended2Proc(benchmark::State& state) {
  using M = boost::interprocess::interprocess_mutex;
  auto* mu = NewShared<M>();
  ContendedPair(
      state, mu, [](M* m) { m->lock(); }, [](M* m) { m->unlock(); });
  DestroyShared(mu);
}
BENCHMARK(BM_BoostInterprocessMutex_Contended2Proc)->UseRealTime();

// ------------------------------------------------ ping-pong round trip

// Generic ping-pong: the parent does Ping() then WaitPong() per iteration;
// the child does WaitPing() then Pong() until the parent raises `stop` and
// pings once more. One iteration = one round trip.
template <class Channel>
void PingPong(benchmark::State& state, Channel* ch) {
  auto* stop = NewShared<std::atomic<uint32_t>>(0);
  pid_t pid = ForkPeer([&] {
    ch->ChildInit();
    for (;;) {
      ch->WaitPing();
      if (stop->load(std::memory_order_relaxed) != 0) break;
      ch->Pong();
    }
  });
  // One warm-up round trip so the child is up before timing starts.
  ch->Ping();
  ch->WaitPong();
  for (auto _ : state) {
    ch->Ping();
    ch->WaitPong();
  }
  stop->store(1);
  ch->Ping();
  Reap(pid);
  DestroyShared(stop);
}

template <class Sem>
struct SemChannel {
  explicit SemChannel(uint32_t max_spin_ns) : ping(0), pong(0) {
    ping.set_max_spin(std::chrono::nanoseconds(max_spin_ns));
    pong.set_max_spin(std::chrono::nanoseconds(max_spin_ns));
  }
  void ChildInit() {}
  void Ping() { ping.release(); }
  void WaitPing() { ping.acquire(); }
  void Pong() { pong.release(); }
  void WaitPong() { pong.acquire(); }
  Sem ping;
  Sem pong;
};

void BM_PingPong_Semaphore_PeerSleeping(benchmark::State& state) {
  auto* ch = NewShared<SemChannel<shoal::Semaphore>>(0);  // never spin
  PingPong(state, ch);
  DestroyShared(ch);
}
BENCHMARK(BM_PingPong_Semaphore_PeerSleeping)->UseRealTime();

void BM_PingPong_Semaphore_AdaptiveSpin(benchmark::State& state) {
  auto* ch = NewShared<SemChannel<shoal::Semaphore>>(
      shoal::internal::kDefaultMaxSpinNs);
  PingPong(state, ch);
  DestroyShared(ch);
}
BENCHMARK(BM_PingPong_Semaphore_AdaptiveSpin)->UseRealTime();

// The floor for sleeping peers: FUTEX_WAKE + FUTEX_WAIT on every leg, no
// user-space bookkeeping at all.
struct RawFutexChannel {
  void ChildInit() {}
  void Ping() { Post(&ping); }
  void WaitPing() { Take(&ping); }
  void Pong() { Post(&pong); }
  void WaitPong() { Take(&pong); }
  static void Post(std::atomic<uint32_t>* w) {
    w->store(1, std::memory_order_release);
    FutexWakeRaw(w);
  }
  static void Take(std::atomic<uint32_t>* w) {
    while (w->load(std::memory_order_acquire) == 0) FutexWaitRaw(w, 0);
    w->store(0, std::memory_order_relaxed);
  }
  alignas(64) std::atomic<uint32_t> ping{0};
  alignas(64) std::atomic<uint32_t> pong{0};
};

void BM_PingPong_RawFutex(benchmark::State& state) {
  auto* ch = NewShared<RawFutexChannel>();
  PingPong(state, ch);
  DestroyShared(ch);
}
BENCHMARK(BM_PingPong_RawFutex)->UseRealTime();

// The floor for active peers: both sides spin on shared words.
struct RawSpinChannel {
  void ChildInit() {}
  void Ping() { ping.store(1, std::memory_order_release); }
  void WaitPing() { Take(&ping); }
  void Pong() { pong.store(1, std::memory_order_release); }
  void WaitPong() { Take(&pong); }
  static void Take(std::atomic<uint32_t>* w) {
    while (w->load(std::memory_order_acquire) == 0) CpuRelax();
    w->store(0, std::memory_order_relaxed);
  }
  alignas(64) std::atomic<uint32_t> ping{0};
  alignas(64) std::atomic<uint32_t> pong{0};
};

void BM_PingPong_RawSpin(benchmark::State& state) {
  auto* ch = NewShared<RawSpinChannel>();
  PingPong(state, ch);
  DestroyShared(ch);
}
BENCHMARK(BM_PingPong_RawSpin)->UseRealTime();

struct PipeChannel {
  PipeChannel() {
    if (pipe(ping) != 0 || pipe(pong) != 0) std::abort();
  }
  ~PipeChannel() {
    for (int fd : {ping[0], ping[1], pong[0], pong[1]}) close(fd);
  }
  void ChildInit() {}
  void Ping() { Put(ping[1]); }
  void WaitPing() { Get(ping[0]); }
  void Pong() { Put(pong[1]); }
  void WaitPong() { Get(pong[0]); }
  static void Put(int fd) {
    char c = 1;
    if (write(fd, &c, 1) != 1) std::abort();
  }
  static void Get(int fd) {
    char c;
    if (read(fd, &c, 1) != 1) std::abort();
  }
  int ping[2];
  int pong[2];
};

void BM_PingPong_Pipe(benchmark::State& state) {
  auto* ch = NewShared<PipeChannel>();
  PingPong(state, ch);
  DestroyShared(ch);
}
BENCHMARK(BM_PingPong_Pipe)->UseRealTime();

struct BoostSemChannel {
  BoostSemChannel() : ping(0), pong(0) {}
  void ChildInit() {}
  void Ping() { ping.post(); }
  void WaitPing() { ping.wait(); }
  void Pong() { pong.post(); }
  void WaitPong() { pong.wait(); }
  boost::interprocess::interprocess_semaphore ping;
  char pad[64];
  boost::interprocess::interprocess_semaphore pong;
};

void BM_PingPong_BoostInterprocessSemaphore(benchmark::State& state) {
  auto* ch = NewShared<BoostSemChannel>();
  PingPong(state, ch);
  DestroyShared(ch);
}
BENCHMARK(BM_PingPong_BoostInterprocessSemaphore)->UseRealTime();

// ------------------------------------------- paired ping-pong (A vs B)

// Round trip k uses A when (k / kBlock) is even, B otherwise; parent and
// child follow the same schedule, so no coordination is needed.
template <class A, class B>
void PairedPingPong(benchmark::State& state, A* a, B* b) {
  constexpr uint64_t kBlock = 32;
  auto* stop = NewShared<std::atomic<uint32_t>>(0);
  pid_t pid = ForkPeer([&] {
    for (uint64_t k = 0;; ++k) {
      const bool use_a = (k / kBlock) % 2 == 0;
      if (use_a) {
        a->WaitPing();
      } else {
        b->WaitPing();
      }
      if (stop->load(std::memory_order_relaxed) != 0) break;
      if (use_a) {
        a->Pong();
      } else {
        b->Pong();
      }
    }
  });
  using Clock = std::chrono::steady_clock;
  double ns[2] = {0, 0};
  uint64_t n[2] = {0, 0};
  uint64_t k = 0;
  auto block_start = Clock::now();
  for (auto _ : state) {
    const bool use_a = (k / kBlock) % 2 == 0;
    if (use_a) {
      a->Ping();
      a->WaitPong();
    } else {
      b->Ping();
      b->WaitPong();
    }
    ++k;
    if (k % kBlock == 0) {
      const auto now = Clock::now();
      ns[use_a ? 0 : 1] +=
          std::chrono::duration<double, std::nano>(now - block_start).count();
      n[use_a ? 0 : 1] += kBlock;
      block_start = now;
    }
  }
  stop->store(1);
  if ((k / kBlock) % 2 == 0) {
    a->Ping();
  } else {
    b->Ping();
  }
  Reap(pid);
  DestroyShared(stop);
  if (n[0] > 0 && n[1] > 0) {
    const double ta = ns[0] / static_cast<double>(n[0]);
    const double tb = ns[1] / static_cast<double>(n[1]);
    state.counters["A_ns"] = ta;
    state.counters["B_ns"] = tb;
    state.counters["A_over_B"] = ta / tb;
  }
}

template <class A, class B>
void RunPaired(benchmark::State& state, A* a, B* b) {
  PairedPingPong(state, a, b);
  DestroyShared(a);
  DestroyShared(b);
}

void BM_Paired_SemaphoreSleeping_vs_RawFutex(benchmark::State& state) {
  RunPaired(state, NewShared<SemChannel<shoal::Semaphore>>(0),
            NewShared<RawFutexChannel>());
}
BENCHMARK(BM_Paired_SemaphoreSleeping_vs_RawFutex)->UseRealTime();

void BM_Paired_SemaphoreSleeping_vs_BoostSemaphore(benchmark::State& state) {
  RunPaired(state, NewShared<SemChannel<shoal::Semaphore>>(0),
            NewShared<BoostSemChannel>());
}
BENCHMARK(BM_Paired_SemaphoreSleeping_vs_BoostSemaphore)->UseRealTime();

void BM_Paired_SemaphoreSleeping_vs_Pipe(benchmark::State& state) {
  RunPaired(state, NewShared<SemChannel<shoal::Semaphore>>(0),
            NewShared<PipeChannel>());
}
BENCHMARK(BM_Paired_SemaphoreSleeping_vs_Pipe)->UseRealTime();

void BM_Paired_SemaphoreAdaptive_vs_RawFutex(benchmark::State& state) {
  RunPaired(state,
            NewShared<SemChannel<shoal::Semaphore>>(
                shoal::internal::kDefaultMaxSpinNs),
            NewShared<RawFutexChannel>());
}
BENCHMARK(BM_Paired_SemaphoreAdaptive_vs_RawFutex)->UseRealTime();

void BM_Paired_SemaphoreAdaptive_vs_RawSpin(benchmark::State& state) {
  RunPaired(state,
            NewShared<SemChannel<shoal::Semaphore>>(
                shoal::internal::kDefaultMaxSpinNs),
            NewShared<RawSpinChannel>());
}
BENCHMARK(BM_Paired_SemaphoreAdaptive_vs_RawSpin)->UseRealTime();

}  // namespace
