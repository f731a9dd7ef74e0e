// Copyright 2026 The shoal Authors.
#include "bench/shootout/runner.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/mman.h>
#include <time.h>

#include <array>
#include <cmath>
#include <cstring>
#include <mutex>
#include <sstream>
#include <thread>

#include "boost/interprocess/ipc/message_queue.hpp"
#include "boost/interprocess/sync/interprocess_mutex.hpp"
#include "boost/interprocess/sync/scoped_lock.hpp"
#include "shoal/ipc/queue.h"
#include "shoal/ipc/value.h"
#include "shoal/pool/executor.h"
#include "shoal/pool/pool.h"
#include "shoal/sync/lock.h"

extern char** environ;

namespace shoal::shootout {

namespace {

// Children alive right now (a negative value is a process group), for
// KillChildren() from a signal handler.
constexpr int kMaxLive = 64;
std::atomic<pid_t> g_live[kMaxLive];

void Track(pid_t pid) {
  for (auto& slot : g_live) {
    pid_t zero = 0;
    if (slot.compare_exchange_strong(zero, pid)) return;
  }
}
void Untrack(pid_t pid) {
  for (auto& slot : g_live) {
    pid_t p = pid;
    if (slot.compare_exchange_strong(p, 0)) return;
  }
}

void SleepUs(int us) {
  timespec ts{0, us * 1000L};
  nanosleep(&ts, nullptr);
}

std::string DescribeStatus(int status) {
  if (WIFSIGNALED(status)) {
    return std::string("killed by signal ") + std::to_string(WTERMSIG(status)) +
           " (" + strsignal(WTERMSIG(status)) + ")";
  }
  if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
  return "status " + std::to_string(status);
}

}  // namespace

const char* FamilyName(Family f) {
  switch (f) {
    case Family::kShoal:
      return "shoal";
    case Family::kOs:
      return "os";
    case Family::kLib:
      return "library";
    case Family::kPython:
      return "python";
    case Family::kFloor:
      return "floor";
    case Family::kRef:
      return "reference";
    case Family::kShoalPython:
      return "shoal-py";
  }
  return "?";
}

std::string FindOnPath(const std::string& exe) {
  const char* path = std::getenv("PATH");
  std::string p = path != nullptr ? path : "";
  p += ":/usr/bin:/usr/local/bin:/bin";
  std::stringstream ss(p);
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    if (dir.empty()) continue;
    std::string full = dir + "/" + exe;
    if (access(full.c_str(), X_OK) == 0) return full;
  }
  return "";
}

std::size_t DepthFor(std::size_t size) {
  return std::clamp<std::size_t>((std::size_t{16} << 20) / std::max<std::size_t>(size, 1),
                                 16, 1024);
}

void KillChildren() {
  for (auto& slot : g_live) {
    pid_t p = slot.load();
    if (p != 0) kill(p, SIGKILL);  // < 0: a process group
  }
}

CaseShared* NewCaseShared() {
  void* p = bench::MapShared(sizeof(CaseShared));
  std::memset(p, 0, sizeof(CaseShared));
  return new (p) CaseShared();
}

void FreeCaseShared(CaseShared* sh) {
  sh->~CaseShared();
  munmap(sh, sizeof(CaseShared));
}

double CaseTimeout(const Config& cfg) {
  if (cfg.case_timeout > 0) return cfg.case_timeout;
  return 30.0 + 4.0 * (cfg.warmup + cfg.repeats * cfg.duration);
}

pid_t SpawnChild(const Config& cfg, int cpu, bool needs_exit, char* err,
                 const std::function<void()>& body) {
  std::fflush(nullptr);
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    std::snprintf(err, 512, "fork: %s", std::strerror(errno));
    return -1;
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGPIPE, SIG_IGN);
    if (cfg.pin) {
      const long n = sysconf(_SC_NPROCESSORS_ONLN);
      bench::PinTo(n > 1 ? cpu % static_cast<int>(n) : 0);
    }
    int rc = 0;
    try {
      body();
    } catch (const std::exception& e) {
      std::snprintf(err, 512, "%s", e.what());
      rc = 1;
    } catch (...) {
      std::snprintf(err, 512, "unknown exception");
      rc = 1;
    }
    std::fflush(nullptr);
    if (needs_exit) std::exit(rc);
    _exit(rc);
  }
  Track(pid);
  return pid;
}

Outcome Skipped(std::string kind, std::string note) {
  Outcome o;
  o.status = "skipped";
  o.skip_kind = std::move(kind);
  o.note = std::move(note);
  return o;
}

bool Rendezvous(CaseShared* sh, int side) {
  const uint64_t until = bench::NowNs() + 30'000'000'000ull;
  while (sh->attached[1 - side].load(std::memory_order_acquire) == 0) {
    if (sh->abort.load() != 0 || bench::NowNs() > until) return false;
    SleepUs(50);
  }
  return true;
}

void WaitAtLeast(const std::atomic<uint64_t>& v, uint64_t n) {
  for (uint32_t i = 0; v.load(std::memory_order_acquire) < n; ++i) {
    if (i < 100000) {
      bench::Relax();
    } else {
      SleepUs(20);
    }
  }
}

void Supervise(const std::vector<pid_t>& pids, CaseShared* sh, double timeout_s,
               Outcome* out) {
  const uint64_t start = bench::NowNs();
  const uint64_t deadline = start + static_cast<uint64_t>(timeout_s * 1e9);
  std::vector<int> status(pids.size(), 0);
  std::vector<bool> done(pids.size(), false);
  for (std::size_t i = 0; i < pids.size(); ++i) {
    if (pids[i] <= 0) {
      done[i] = true;
      status[i] = 1 << 8;
    }
  }
  uint64_t driver_done_at = 0, abort_seen_at = 0;
  bool timed_out = false;
  for (;;) {
    bool all = true;
    for (std::size_t i = 0; i < pids.size(); ++i) {
      if (done[i]) continue;
      int st = 0;
      pid_t r = waitpid(pids[i], &st, WNOHANG);
      if (r == pids[i]) {
        done[i] = true;
        status[i] = st;
        Untrack(pids[i]);
        if (i == 0) driver_done_at = bench::NowNs();
        // A child that failed: the others cannot finish; stop them soon.
        if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) sh->abort.store(1);
      } else {
        all = false;
      }
    }
    if (all) break;
    const uint64_t now = bench::NowNs();
    if (abort_seen_at == 0 && sh->abort.load() != 0) abort_seen_at = now;
    const bool kill_rest =
        now > deadline ||
        (driver_done_at != 0 && now - driver_done_at > 3'000'000'000ull) ||
        (abort_seen_at != 0 && now - abort_seen_at > 1'000'000'000ull);
    if (kill_rest) {
      if (now > deadline) timed_out = true;
      for (std::size_t i = 0; i < pids.size(); ++i) {
        if (!done[i]) kill(pids[i], SIGKILL);
      }
    }
    SleepUs(now - start < 50'000'000ull ? 200 : 2000);
  }
  out->samples.assign(sh->samples, sh->samples + std::min<uint32_t>(sh->nsamples, kMaxSamples));
  out->messages = sh->messages.load();
  out->bad = sh->bad.load();
  std::string why;
  for (std::size_t i = 0; i < pids.size(); ++i) {
    const int st = status[i];
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) continue;
    const char* err = i < 2 ? sh->error[i] : "";
    std::string who = i == 0 ? "driver" : (i == 1 ? "peer" : "child");
    if (!why.empty()) why += "; ";
    why += who + ": " + (err[0] != '\0' ? std::string(err) : DescribeStatus(st));
  }
  if (timed_out) {
    out->status = "failed";
    out->note = "timed out after " + std::to_string(static_cast<int>(timeout_s)) +
                " s" + (why.empty() ? "" : " (" + why + ")");
  } else if (!why.empty() && (out->samples.empty() || !(WIFEXITED(status[0]) && WEXITSTATUS(status[0]) == 0))) {
    out->status = "failed";
    out->note = why;
  } else if (out->bad != 0) {
    out->status = "mismatch";
    out->note = std::to_string(out->bad) + " messages failed their check";
  }
}

// ------------------------------------------------------------- memcpy

Outcome RunMemcpy(const Spec& spec, const Config& cfg) {
  Outcome out;
  CaseShared* sh = NewCaseShared();
  pid_t pid = SpawnChild(cfg, 0, false, sh->error[0], [&] {
    Buffers b(spec);
    uint64_t seq = 0;
    const uint64_t batch = std::clamp<uint64_t>(65536 / spec.size, 1, 64);
    for (int rep = -1; rep < cfg.repeats; ++rep) {
      const uint64_t dur = RepeatNs(cfg, rep);
      uint64_t n = 0;
      const uint64_t t0 = bench::NowNs();
      uint64_t t;
      do {
        for (uint64_t k = 0; k < batch; ++k) {
          b.StampOut(seq);
          std::memcpy(b.in.data(), b.out.data(), b.bytes);
          asm volatile("" : : "r"(b.in.data()) : "memory");
          if (b.CheckIn(b.bytes) != seq) sh->bad.fetch_add(1);
          ++seq;
          ++n;
        }
        t = bench::NowNs();
      } while (t - t0 < dur);
      if (rep >= 0) {
        sh->samples[sh->nsamples++] = static_cast<double>(n) / ((t - t0) * 1e-9);
        sh->messages.fetch_add(n);
      }
    }
  });
  Supervise({pid}, sh, CaseTimeout(cfg), &out);
  FreeCaseShared(sh);
  return out;
}

// ------------------------------------------------------------- python

Outcome RunPython(const Config& cfg, const std::string& method,
                  const std::string& workload, std::size_t size) {
  Outcome out;
  auto fmt = [](double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.6g", v);
    return std::string(b);
  };
  std::vector<std::string> args = {
      cfg.python,           cfg.python_script,
      "--method",           method,
      "--workload",         workload,
      "--size",             std::to_string(size == 0 ? 64 : size),
      "--depth",            std::to_string(DepthFor(size == 0 ? 64 : size)),
      "--duration",         fmt(cfg.duration),
      "--warmup",           fmt(cfg.warmup),
      "--repeats",          std::to_string(cfg.repeats)};
  if (cfg.pin) args.push_back("--pin");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    out.status = "failed";
    out.note = "pipe2 failed";
    return out;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
  // Its own process group, so that a timeout or ^C takes multiprocessing's
  // children along (kill(-pgid)).
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  pid_t pid = -1;
  std::fflush(nullptr);
  int rc = posix_spawnp(&pid, cfg.python.c_str(), &fa, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    return Skipped("not-installed", cfg.python + " cannot be run (" +
                                        std::strerror(rc) +
                                        "): install the Debian package python3");
  }
  Track(-pid);  // the whole group
  std::string text;
  const uint64_t deadline = bench::NowNs() + static_cast<uint64_t>(
                                                 (CaseTimeout(cfg) + 20) * 1e9);
  bool timed_out = false;
  for (;;) {
    pollfd p{fds[0], POLLIN, 0};
    int r = poll(&p, 1, 200);
    if (r > 0) {
      char buf[4096];
      ssize_t n = read(fds[0], buf, sizeof buf);
      if (n <= 0) break;
      text.append(buf, static_cast<std::size_t>(n));
    }
    if (bench::NowNs() > deadline) {
      timed_out = true;
      kill(-pid, SIGKILL);
      break;
    }
  }
  close(fds[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  kill(-pid, SIGKILL);  // stragglers of the group, if any
  Untrack(-pid);

  const std::size_t at = text.rfind("RESULT ");
  if (timed_out || at == std::string::npos) {
    out.status = "failed";
    std::string tail = text.size() > 400 ? text.substr(text.size() - 400) : text;
    for (char& c : tail) {
      if (c == '\n' || c == '\r') c = ' ';
    }
    out.note = timed_out ? "timed out" : ("no result: " + DescribeStatus(st) + ": " + tail);
    return out;
  }
  std::istringstream line(text.substr(at + 7));
  std::string tok;
  int ok = 0;
  while (line >> tok) {
    const auto eq = tok.find('=');
    if (eq == std::string::npos) continue;
    const std::string k = tok.substr(0, eq), v = tok.substr(eq + 1);
    if (k == "ok") ok = std::atoi(v.c_str());
    if (k == "messages") out.messages = std::strtoull(v.c_str(), nullptr, 10);
    if (k == "samples") {
      std::stringstream ss(v);
      std::string x;
      while (std::getline(ss, x, ',')) {
        double d = std::strtod(x.c_str(), nullptr);
        if (workload == "rtt") d *= 1e6;              // s -> us
        if (workload == "lock-uncontended") d *= 1e9;  // s -> ns
        if (workload.rfind("pool-", 0) == 0 || workload == "executor-submit") {
          d *= workload == "pool-map" ? 1e9 : 1e6;  // s -> ns (map) or us
        }
        out.samples.push_back(d);
      }
    }
  }
  if (!ok) {
    out.status = "mismatch";
    out.bad = 1;
    out.note = "the Python peer reports a failed check";
  }
  return out;
}

// ------------------------------------------------------------- sync

namespace {

// A lock (or counter) of one kind in shared memory, with op() = one
// acquire+release (locks) or one increment under the lock (values).
struct SyncObject {
  virtual ~SyncObject() = default;
  virtual void op() = 0;
  virtual long value() { return -1; }  // the counter, when there is one
};

struct ShoalLockObj : SyncObject {
  Lock* l = bench::NewShared<Lock>();
  ~ShoalLockObj() override { bench::DestroyShared(l); }
  void op() override {
    l->acquire();
    l->release();
  }
};
struct ShoalValueObj : SyncObject {
  Value<long> v{0};
  void op() override { v.add(1); }
  long value() override { return v.load(); }
};
struct BoostMutexObj : SyncObject {
  struct Data {
    boost::interprocess::interprocess_mutex mu;
    long n = 0;
  };
  Data* d = bench::NewShared<Data>();
  ~BoostMutexObj() override { bench::DestroyShared(d); }
  void op() override {
    boost::interprocess::scoped_lock<boost::interprocess::interprocess_mutex> g(d->mu);
    ++d->n;
  }
  long value() override { return d->n; }
};
struct PthreadObj : SyncObject {
  struct Data {
    pthread_mutex_t mu;
    long n = 0;
  };
  Data* d = bench::NewShared<Data>();
  PthreadObj() {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&d->mu, &a);
    pthread_mutexattr_destroy(&a);
  }
  ~PthreadObj() override { bench::DestroyShared(d); }
  void op() override {
    pthread_mutex_lock(&d->mu);
    ++d->n;
    pthread_mutex_unlock(&d->mu);
  }
  long value() override { return d->n; }
};
struct AtomicObj : SyncObject {
  std::atomic<long>* a = bench::NewShared<std::atomic<long>>(0);
  ~AtomicObj() override { bench::DestroyShared(a); }
  void op() override { a->fetch_add(1, std::memory_order_relaxed); }
  long value() override { return a->load(); }
};

std::unique_ptr<SyncObject> MakeSync(const std::string& method) {
  if (method == "shoal.lock") return std::make_unique<ShoalLockObj>();
  if (method == "shoal.value") return std::make_unique<ShoalValueObj>();
  if (method == "boost.mutex") return std::make_unique<BoostMutexObj>();
  if (method == "floor.pthread") return std::make_unique<PthreadObj>();
  if (method == "floor.atomic") return std::make_unique<AtomicObj>();
  return nullptr;
}

struct TwoProcShared {
  alignas(64) std::atomic<uint64_t> go;
  std::atomic<uint64_t> t0;
  alignas(64) std::atomic<uint64_t> peer_done;
  std::atomic<uint64_t> peer_count;
  std::atomic<uint64_t> peer_end;
  std::atomic<uint64_t> total;
};

// Runs op() until `until`, checking the clock every 64 ops.
uint64_t LoopUntil(SyncObject* o, uint64_t start, uint64_t until, uint64_t* end) {
  while (bench::NowNs() < start) bench::Relax();
  uint64_t n = 0;
  for (;;) {
    for (int k = 0; k < 64; ++k) o->op();
    n += 64;
    const uint64_t t = bench::NowNs();
    if (t >= until) {
      *end = t;
      return n;
    }
  }
}

}  // namespace

Outcome RunSync(const Config& cfg, const std::string& workload,
                const std::string& method) {
  Outcome out;
  std::unique_ptr<SyncObject> obj = MakeSync(method);
  if (!obj) {
    out.status = "failed";
    out.note = "unknown sync method " + method;
    return out;
  }
  CaseShared* sh = NewCaseShared();
  std::vector<pid_t> pids;
  if (workload == "lock-uncontended") {
    pids.push_back(SpawnChild(cfg, 0, false, sh->error[0], [&] {
      for (int rep = -1; rep < cfg.repeats; ++rep) {
        const uint64_t t0 = bench::NowNs();
        uint64_t end = 0;
        const uint64_t n = LoopUntil(obj.get(), t0, t0 + RepeatNs(cfg, rep), &end);
        if (rep >= 0) {
          sh->samples[sh->nsamples++] = static_cast<double>(end - t0) / n;
          sh->messages.fetch_add(n);
        }
      }
    }));
  } else {
    auto* tp = bench::NewShared<TwoProcShared>();
    for (int side = 0; side < 2; ++side) {
      pids.push_back(SpawnChild(cfg, side, false, sh->error[side], [&, side] {
        sh->attached[side].store(1);
        if (!Rendezvous(sh, side)) throw std::runtime_error("the other side failed");
        for (int rep = -1; rep < cfg.repeats; ++rep) {
          const uint64_t r = static_cast<uint64_t>(rep + 2);
          uint64_t t0;
          if (side == 0) {
            t0 = bench::NowNs() + 200'000;  // both start together
            tp->t0.store(t0);
            tp->go.store(r, std::memory_order_release);
          } else {
            WaitAtLeast(tp->go, r);
            t0 = tp->t0.load();
          }
          uint64_t end = 0;
          const uint64_t n =
              LoopUntil(obj.get(), t0, t0 + RepeatNs(cfg, rep), &end);
          tp->total.fetch_add(n);
          if (side == 1) {
            tp->peer_count.store(n);
            tp->peer_end.store(end);
            tp->peer_done.store(r, std::memory_order_release);
          } else {
            WaitAtLeast(tp->peer_done, r);
            const uint64_t all = n + tp->peer_count.load();
            const uint64_t last = std::max(end, tp->peer_end.load());
            if (rep >= 0) {
              sh->samples[sh->nsamples++] = static_cast<double>(all) / ((last - t0) * 1e-9);
              sh->messages.fetch_add(all);
            }
          }
        }
      }));
    }
    Supervise(pids, sh, CaseTimeout(cfg), &out);
    const long v = obj->value();
    if (out.status == "ok" && v >= 0 && static_cast<uint64_t>(v) != tp->total.load()) {
      out.status = "mismatch";
      out.bad = 1;
      out.note = "counter " + std::to_string(v) + " != increments " +
                 std::to_string(tp->total.load());
    }
    bench::DestroyShared(tp);
    FreeCaseShared(sh);
    return out;
  }
  Supervise(pids, sh, CaseTimeout(cfg), &out);
  FreeCaseShared(sh);
  return out;
}

// ------------------------------------------------------------- pools

namespace {

int Inc(int x) { return x + 1; }

}  // namespace

Outcome RunPool(const Config& cfg, const std::string& workload) {
  Outcome out;
  CaseShared* sh = NewCaseShared();
  // The pool's workers are the child's children; pinning the child would
  // pin them all to one CPU, so this case is never pinned.
  Config unpinned = cfg;
  unpinned.pin = false;
  pid_t pid = SpawnChild(unpinned, 0, false, sh->error[0], [&] {
    constexpr int kItems = 1000;
    std::vector<int> items(kItems);
    for (int i = 0; i < kItems; ++i) items[i] = i;
    const long long expect_sum = static_cast<long long>(kItems) * (kItems + 1) / 2;
    std::optional<Pool> pool;
    std::optional<ProcessPoolExecutor> ex;
    if (workload == "executor-submit") {
      ex.emplace(2);
    } else {
      pool.emplace(2);
    }
    uint64_t seq = 0;
    for (int rep = -1; rep < cfg.repeats; ++rep) {
      const uint64_t dur = RepeatNs(cfg, rep);
      uint64_t n = 0;
      const uint64_t t0 = bench::NowNs();
      uint64_t t;
      do {
        if (workload == "pool-apply") {
          const int x = static_cast<int>(seq++ & 0xffffff);
          if (pool->apply(Inc, x) != x + 1) sh->bad.fetch_add(1);
          n += 1;
        } else if (workload == "executor-submit") {
          const int x = static_cast<int>(seq++ & 0xffffff);
          if (ex->submit(Inc, x).result() != x + 1) sh->bad.fetch_add(1);
          n += 1;
        } else if (workload == "pool-map") {
          std::vector<int> r = pool->map(Inc, items);
          if (r.size() != items.size() || r.back() != kItems) sh->bad.fetch_add(1);
          n += kItems;
        } else {  // pool-imap-unordered, chunksize 1
          auto it = pool->imap_unordered(Inc, items, 1);
          long long sum = 0;
          while (auto v = it.next()) sum += *v;
          if (sum != expect_sum) sh->bad.fetch_add(1);
          n += kItems;
        }
        t = bench::NowNs();
      } while (n < 2 || t - t0 < dur);
      if (rep >= 0) {
        const double per = static_cast<double>(t - t0) / static_cast<double>(n);
        sh->samples[sh->nsamples++] = workload == "pool-map" ? per : per / 1e3;
        sh->messages.fetch_add(n);
      }
    }
    pool.reset();
    ex.reset();
  });
  Supervise({pid}, sh, CaseTimeout(cfg) + 30, &out);
  FreeCaseShared(sh);
  return out;
}

// Pool throughput against the number of workers: Pool(N).map of a task that
// burns ~150 us of CPU, tasks per second: how throughput grows with the
// worker count. Every result is checked.
int Burn100us(int x) {
  // A fixed amount of CPU work (not a wall-clock wait: preempted tasks must
  // not count as done), about 0.15 ms on the reference machine.
  uint64_t h = static_cast<uint64_t>(x) | 1;
  for (int i = 0; i < 120000; ++i) {
    h = h * 6364136223846793005ull + 1442695040888963407ull;
    asm volatile("" : "+r"(h));  // keeps the loop from being folded away
  }
  return x;
}

Outcome RunPoolScaling(const Config& cfg, int workers) {
  Outcome out;
  CaseShared* sh = NewCaseShared();
  Config unpinned = cfg;
  unpinned.pin = false;  // the workers must be free to use every CPU
  pid_t pid = SpawnChild(unpinned, 0, false, sh->error[0], [&] {
    constexpr int kTasks = 200;
    std::vector<int> items(kTasks);
    for (int i = 0; i < kTasks; ++i) items[i] = i;
    Pool pool(static_cast<std::size_t>(workers));
    for (int rep = -1; rep < cfg.repeats; ++rep) {
      const uint64_t dur = RepeatNs(cfg, rep);
      uint64_t n = 0;
      const uint64_t t0 = bench::NowNs();
      uint64_t t;
      do {
        std::vector<int> r = pool.map(Burn100us, items, 1);
        if (r.size() != items.size() || r.back() != kTasks - 1) {
          sh->bad.fetch_add(1);
        }
        n += kTasks;
        t = bench::NowNs();
      } while (t - t0 < dur);
      if (rep >= 0) {
        sh->samples[sh->nsamples++] =
            static_cast<double>(n) / (static_cast<double>(t - t0) / 1e9);
        sh->messages.fetch_add(n);
      }
    }
  });
  Supervise({pid}, sh, CaseTimeout(cfg) + 30, &out);
  FreeCaseShared(sh);
  return out;
}

// ------------------------------------------------------------- scaling

namespace {

using Item64 = std::array<uint64_t, 8>;

struct ScaleShared {
  alignas(64) std::atomic<uint32_t> ready;
  std::atomic<uint32_t> go;
  std::atomic<uint64_t> t0;
  alignas(64) std::atomic<uint32_t> producers_done;
  alignas(64) std::atomic<uint64_t> sent, sent_sum;
  alignas(64) std::atomic<uint64_t> got, got_sum;
  alignas(64) std::atomic<uint64_t> last_end;
  alignas(64) std::atomic<uint64_t> bad;
};

struct ScaleQueue {
  virtual ~ScaleQueue() = default;
  virtual void Put(const Item64& m) = 0;
  virtual Item64 Get() = 0;
};
struct ShoalScaleQueue : ScaleQueue {
  static QueueOptions Options() {
    QueueOptions o;
    o.maxsize = 1024;
    return o;
  }
  Queue<Item64> q{Options()};
  void Put(const Item64& m) override { q.put(m); }
  Item64 Get() override { return q.get(); }
};
// poll: busy-polling try_send / try_receive (boost.mq.poll).
struct BoostScaleQueue : ScaleQueue {
  std::unique_ptr<boost::interprocess::message_queue> mq;
  bool poll;
  explicit BoostScaleQueue(bool poll_mode) : poll(poll_mode) {
    namespace bi = boost::interprocess;
    const std::string name = "shoal-shootout-scale-" + std::to_string(getpid());
    bi::message_queue::remove(name.c_str());
    mq = std::make_unique<bi::message_queue>(bi::create_only, name.c_str(), 1024,
                                             sizeof(Item64));
    bi::message_queue::remove(name.c_str());
  }
  void Put(const Item64& m) override {
    if (!poll) {
      mq->send(m.data(), sizeof m, 0);
      return;
    }
    PollWait w;
    while (!mq->try_send(m.data(), sizeof m, 0)) w.Wait();
  }
  Item64 Get() override {
    Item64 m{};
    boost::interprocess::message_queue::size_type got = 0;
    unsigned prio = 0;
    if (!poll) {
      mq->receive(m.data(), sizeof m, got, prio);
    } else {
      PollWait w;
      while (!mq->try_receive(m.data(), sizeof m, got, prio)) w.Wait();
    }
    if (got != sizeof m) m[0] = bench::kBadSeq;
    return m;
  }
};

}  // namespace

Outcome RunScaling(const Config& cfg, const std::string& method, int producers,
                   int consumers) {
  Outcome out;
  for (int rep = 0; rep < cfg.repeats; ++rep) {
    std::unique_ptr<ScaleQueue> q;
    try {
      if (method == "shoal.queue") {
        q = std::make_unique<ShoalScaleQueue>();
      } else {
        q = std::make_unique<BoostScaleQueue>(method == "boost.mq.poll");
      }
    } catch (const std::exception& e) {
      out.status = "failed";
      out.note = std::string("setup: ") + e.what();
      return out;
    }
    auto* ss = bench::NewShared<ScaleShared>();
    CaseShared* sh = NewCaseShared();
    const uint64_t dur = static_cast<uint64_t>(cfg.duration * 1e9);
    std::vector<pid_t> pids;
    // The first child is a consumer so Supervise's "driver" finishes last.
    for (int c = 0; c < consumers; ++c) {
      pids.push_back(SpawnChild(cfg, c, false, sh->error[c == 0 ? 0 : 1], [&] {
        ss->ready.fetch_add(1);
        uint64_t n = 0, sum = 0;
        for (;;) {
          Item64 m = q->Get();
          const uint64_t s = bench::Check(m.data(), m.size());
          if (s == kStopSeq) break;
          if (s == bench::kBadSeq) {
            ss->bad.fetch_add(1);
            continue;
          }
          ++n;
          sum += s;
        }
        const uint64_t end = bench::NowNs();
        uint64_t prev = ss->last_end.load();
        while (prev < end && !ss->last_end.compare_exchange_weak(prev, end)) {
        }
        ss->got.fetch_add(n);
        ss->got_sum.fetch_add(sum);
      }));
    }
    for (int p = 0; p < producers; ++p) {
      pids.push_back(SpawnChild(cfg, p + 1, false, sh->error[1], [&, p] {
        ss->ready.fetch_add(1);
        while (ss->go.load(std::memory_order_acquire) == 0) bench::Relax();
        const uint64_t t0 = ss->t0.load();
        Item64 m;
        bench::Fill(m.data(), 8);
        uint64_t n = 0, sum = 0;
        const uint64_t base = static_cast<uint64_t>(p) << 40;
        do {
          for (int k = 0; k < 32; ++k) {
            const uint64_t s = base | n;
            bench::Stamp(m.data(), 8, s);
            q->Put(m);
            ++n;
            sum += s;
          }
        } while (bench::NowNs() - t0 < dur);
        ss->sent.fetch_add(n);
        ss->sent_sum.fetch_add(sum);
        if (ss->producers_done.fetch_add(1) + 1 == static_cast<uint32_t>(producers)) {
          bench::Stamp(m.data(), 8, kStopSeq);
          for (int c = 0; c < consumers; ++c) q->Put(m);
        }
      }));
    }
    const uint64_t wait_until = bench::NowNs() + 20'000'000'000ull;
    while (ss->ready.load() < static_cast<uint32_t>(producers + consumers) &&
           bench::NowNs() < wait_until) {
      SleepUs(100);
    }
    const uint64_t t0 = bench::NowNs();
    ss->t0.store(t0);
    ss->go.store(1, std::memory_order_release);
    Outcome one;
    Supervise(pids, sh, CaseTimeout(cfg), &one);
    if (one.status != "ok") {
      out.status = one.status;
      out.note = one.note;
    } else if (ss->bad.load() != 0 || ss->sent.load() != ss->got.load() ||
               ss->sent_sum.load() != ss->got_sum.load()) {
      out.status = "mismatch";
      out.bad += 1;
      out.note = "sent " + std::to_string(ss->sent.load()) + " items, received " +
                 std::to_string(ss->got.load()) +
                 (ss->sent_sum.load() != ss->got_sum.load() ? ", checksums differ" : "");
    } else {
      const uint64_t end = ss->last_end.load();
      out.samples.push_back(static_cast<double>(ss->got.load()) /
                            ((end - t0) * 1e-9));
      out.messages += ss->got.load();
    }
    bench::DestroyShared(ss);
    FreeCaseShared(sh);
    if (out.status != "ok") break;
  }
  return out;
}

}  // namespace shoal::shootout
