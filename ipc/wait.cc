// Copyright 2026 The shoal Authors.
#include "shoal/ipc/wait.h"

#include <errno.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <map>
#include <new>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "shoal/base/internal/process_liveness.h"
#include "shoal/ipc/internal/ring_core.h"

namespace shoal {
namespace internal {
namespace {

using Clock = Deadline::Clock;

// One side of a ring. Arm/Disarm follow ring_core.h's watcher protocol; the
// liveness bookkeeping (which slot blocks us, since when) is what a blocked
// claimer keeps in its WaitLoop, shared by the caller's and the helper's
// checks under a small lock.
class RingWaitHook final : public WaitHook {
 public:
  RingWaitHook(std::shared_ptr<const void> keep, const RingCore& ring,
               bool writable, const void* object)
      : WaitHook(object, writable ? Kind::kWritable : Kind::kReadable),
        keep_(std::move(keep)),
        writer_(ring),
        reader_(ring),
        writable_(writable) {
    RingData* d = ring.data();
    waiting_ = writable ? &d->writers_waiting : &d->readers_waiting;
    watch_ = writable ? &d->write_watch_seq : &d->read_watch_seq;
  }

  bool futex_based() const override { return true; }

  FutexWaitItem Arm() override {
    waiting_->fetch_add(kRingWatcher, std::memory_order_seq_cst);
    return {watch_, watch_->load(std::memory_order_seq_cst)};
  }
  void Disarm() override {
    waiting_->fetch_sub(kRingWatcher, std::memory_order_seq_cst);
  }
  FutexWaitItem Refresh() override {
    return {watch_, watch_->load(std::memory_order_seq_cst)};
  }

  bool Ready() override {
    SlotWord blocker;
    RingCore::Status s =
        writable_ ? writer_.Poll(&blocker) : reader_.Poll(&blocker);
    if (s != RingCore::Status::kWouldBlock) return true;
    // A slot held (WRITING/READING) by another process, or an empty ring
    // that closes when its writers are gone, needs a look now and then:
    // nobody else may ever wake us for it. The common case (a free slot
    // nobody holds) takes no lock.
    const bool held = blocker.held() && blocker.pid() != CachedPid();
    const bool writers_gone_check =
        !writable_ && blocker.is(SlotPhase::kEmpty) &&
        reader_.core().data()->close_on_writers_gone.load(
            std::memory_order_relaxed) != 0;
    if (!held && !writers_gone_check) {
      clock_.Clear();
      return false;
    }
    if (clock_.Due(blocker.raw(), 0, RingCore::kLivenessCheckInterval)) {
      bool writers_gone = false;
      const bool retry = writable_ ? writer_.CheckBlocker(blocker)
                                   : reader_.CheckBlocker(blocker,
                                                          &writers_gone);
      if (writers_gone) return true;
      if (retry) {
        s = writable_ ? writer_.Poll(&blocker) : reader_.Poll(&blocker);
        if (s != RingCore::Status::kWouldBlock) return true;
      }
    }
    return false;
  }

  Deadline Recheck() const override { return clock_.Recheck(); }

 private:
  std::shared_ptr<const void> keep_;
  RingWriter writer_;  // Poll/CheckBlocker only: never claims or registers
  RingReader reader_;
  bool writable_;
  std::atomic<uint32_t>* waiting_;
  std::atomic<uint32_t>* watch_;
  BlockerClock clock_;
};

class FdWaitHook final : public WaitHook {
 public:
  FdWaitHook(int fd, const void* object, Kind kind)
      : WaitHook(object, kind), fd_(fd) {}
  int fd() const override { return fd_; }
  bool Ready() override {
    if (fd_ < 0) return false;
    pollfd p{fd_, POLLIN, 0};
    int rc;
    do {
      rc = ::poll(&p, 1, 0);
    } while (rc < 0 && errno == EINTR);
    // POLLNVAL (closed under us), POLLERR, POLLHUP: ready, so that the
    // owner's next call reports it.
    return rc > 0;
  }

 private:
  int fd_;
};

class ConnectionWaitHook final : public WaitHook {
 public:
  explicit ConnectionWaitHook(const Connection& c)
      : WaitHook(&c, Kind::kReadable),
        conn_(const_cast<Connection*>(&c)),
        fd_(c.closed() || !c.readable() ? -1 : c.fileno()) {}
  int fd() const override { return fd_; }
  bool Ready() override {
    if (fd_ < 0 || conn_->closed()) return false;
    try {
      return conn_->poll(Deadline::Now());  // buffered bytes count too
    } catch (const Error&) {
      return true;  // recv reports it
    }
  }

 private:
  Connection* conn_;
  int fd_;
};

class EventWaitHook final : public WaitHook {
 public:
  EventWaitHook(const Event& e, std::atomic<uint32_t>* word,
                std::atomic<uint32_t>* sleepers)
      : WaitHook(&e, Kind::kSet), word_(word), sleepers_(sleepers) {}
  bool futex_based() const override { return true; }
  FutexWaitItem Arm() override {
    // Event's own protocol (event.h): raise `sleepers` (written only when
    // down), then read the word; set() wakes all on the word when it finds
    // the flag raised.
    if (sleepers_->load(std::memory_order_seq_cst) == 0) {
      sleepers_->store(1, std::memory_order_seq_cst);
    }
    return {word_, word_->load(std::memory_order_seq_cst)};
  }
  bool Ready() override {
    return (word_->load(std::memory_order_acquire) & 1) != 0;
  }

 private:
  std::atomic<uint32_t>* word_;
  std::atomic<uint32_t>* sleepers_;
};

class TimerWaitHook final : public WaitHook {
 public:
  explicit TimerWaitHook(const Timer& t)
      : WaitHook(nullptr, Kind::kTimer),
        due_ns_(t.first().when().time_since_epoch().count()),
        period_ns_(t.period_ns()) {}
  bool Ready() override {
    return Clock::now().time_since_epoch().count() >=
           due_ns_.load(std::memory_order_acquire);
  }
  Deadline Recheck() const override {
    return Deadline(Clock::time_point(
        Clock::duration(due_ns_.load(std::memory_order_acquire))));
  }
  void Reported() override {
    if (period_ns_ <= 0) return;
    const int64_t now = Clock::now().time_since_epoch().count();
    int64_t next = due_ns_.load(std::memory_order_relaxed) + period_ns_;
    if (next <= now) next = now + period_ns_;
    due_ns_.store(next, std::memory_order_release);
  }

 private:
  std::atomic<int64_t> due_ns_;
  int64_t period_ns_;
};

// Ready(), with a throwing check counting as ready (see wait_hook.h).
bool CheckReady(WaitHook& hook) {
  try {
    return hook.Ready();
  } catch (const Error&) {
    return true;
  }
}

void CloseFd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

}  // namespace

WaitHookPtr MakeRingWaitHook(std::shared_ptr<const void> keep,
                             const RingCore& ring, bool writable,
                             const void* object) {
  return std::make_shared<RingWaitHook>(std::move(keep), ring, writable,
                                        object);
}

WaitHookPtr MakeFdWaitHook(int fd, const void* object, WaitHook::Kind kind) {
  return std::make_shared<FdWaitHook>(fd, object, kind);
}

WaitHookPtr MakeConnectionWaitHook(const Connection& c) {
  return std::make_shared<ConnectionWaitHook>(c);
}

WaitHookPtr MakeTimerWaitHook(const Timer& t) {
  return std::make_shared<TimerWaitHook>(t);
}

WaitHookPtr WaitAccess::EventHook(const Event& e) {
  auto& ev = const_cast<Event&>(e);
  return std::make_shared<EventWaitHook>(e, &ev.word_, &ev.sleepers_);
}

}  // namespace internal

Timer Timer::Every(Timeout period) {
  if (period.count() <= 0) {
    throw ValueError("Timer::Every: the period must be positive");
  }
  const int64_t p = period.infinite() ? internal::kMaxNanos / 2 : period.count();
  return Timer(Deadline(Timeout(std::chrono::nanoseconds(p))), p);
}

// ---------------------------------------------------------------------------
// WaitSet.

namespace {

constexpr std::size_t kMaxFutexObjects = internal::kFutexWaitManyMax - 1;

using internal::CloseFd;
using internal::FutexWaitItem;
using internal::WaitHook;
using internal::WaitHookPtr;

Deadline EarliestRecheck(const std::vector<WaitHookPtr>& hooks,
                         Deadline until) {
  for (const WaitHookPtr& h : hooks) until = Deadline::Min(until, h->Recheck());
  return until;
}

}  // namespace

struct WaitSet::Impl {
  std::vector<Waitable> entries;
  std::vector<Waitable> ready;
  // Hooks by kind (snapshots rebuilt on add/remove).
  std::vector<WaitHookPtr> futex_hooks;
  std::vector<WaitHookPtr> timer_hooks;
  std::vector<WaitHookPtr> fd_hooks;  // Recheck() read by the caller only
  std::vector<FutexWaitItem> items;  // scratch

  // Descriptors: an epoll instance holding every fd object's fd (counted:
  // the same fd may be in the set twice) and the helper's eventfd.
  pid_t owner = 0;
  int epfd = -1;
  int efd = -1;
  std::map<int, int> fd_refs;
  bool fd_mode = false;  // fd() was asked for

  // The helper thread (see wait.h): sleeps on the futex objects (and
  // timers) and writes `efd` when one is ready. `ctl` is its futex word:
  // bumped for every change (arm, new snapshot, stop).
  std::mutex mu;
  std::atomic<uint32_t> ctl{0};
  bool armed = false;
  bool stop = false;
  std::vector<WaitHookPtr> helper_hooks;  // futex + timer hooks, under mu
  std::thread* helper = nullptr;          // leaked in a forked child

  ~Impl() {
    StopHelper();
    CloseFd(epfd);
    CloseFd(efd);
  }

  void Rebuild() {
    futex_hooks.clear();
    timer_hooks.clear();
    fd_hooks.clear();
    for (const Waitable& w : entries) {
      const WaitHookPtr& h = w.hook();
      if (h->futex_based()) {
        futex_hooks.push_back(h);
      } else if (h->fd() >= 0) {
        fd_hooks.push_back(h);
      } else {
        timer_hooks.push_back(h);
      }
    }
    if (helper != nullptr) {
      std::lock_guard<std::mutex> lock(mu);
      helper_hooks = futex_hooks;
      helper_hooks.insert(helper_hooks.end(), timer_hooks.begin(),
                          timer_hooks.end());
      ctl.fetch_add(1, std::memory_order_seq_cst);
    }
    if (helper != nullptr) internal::FutexWake(&ctl, INT_MAX);
  }

  void CheckFork() {
    const pid_t me = internal::CachedPid();
    if (owner == me) return;
    if (owner != 0) {
      // A forked child: the helper thread did not come along, and the epoll
      // instance is shared with the parent. Start afresh.
      helper = nullptr;  // leaked on purpose: it runs in the parent only
      CloseFd(epfd);
      CloseFd(efd);
      fd_refs.clear();
      armed = false;
      stop = false;
      // The parent's helper may have held it at the fork.
      new (&mu) std::mutex;
    }
    owner = me;
  }

  void EnsureEpoll() {
    if (epfd >= 0) return;
    epfd = ::epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) ThrowSystemError("WaitSet: epoll_create1", errno);
    for (const Waitable& w : entries) AddFd(w.hook()->fd());
  }

  void AddFd(int fd) {
    if (fd < 0 || epfd < 0) return;
    if (fd_refs[fd]++ > 0) return;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (::epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
      const int err = errno;
      if (--fd_refs[fd] == 0) fd_refs.erase(fd);
      ThrowSystemError("WaitSet: epoll_ctl(ADD, " + std::to_string(fd) + ")",
                       err);
    }
  }

  void RemoveFd(int fd) {
    if (fd < 0 || epfd < 0) return;
    auto it = fd_refs.find(fd);
    if (it == fd_refs.end()) return;
    if (--it->second > 0) return;
    fd_refs.erase(it);
    // EBADF/ENOENT: the owner closed it already (epoll dropped it).
    ::epoll_ctl(epfd, EPOLL_CTL_DEL, fd, nullptr);
  }

  // --- the helper thread -------------------------------------------------

  void StartHelper() {
    if (helper != nullptr) return;
    EnsureEpoll();
    if (efd < 0) {
      efd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
      if (efd < 0) ThrowSystemError("WaitSet: eventfd", errno);
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.fd = efd;
      if (::epoll_ctl(epfd, EPOLL_CTL_ADD, efd, &ev) != 0) {
        ThrowSystemError("WaitSet: epoll_ctl(ADD eventfd)", errno);
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      helper_hooks = futex_hooks;
      helper_hooks.insert(helper_hooks.end(), timer_hooks.begin(),
                          timer_hooks.end());
      stop = false;
      armed = false;
    }
    helper = new std::thread([this] { HelperLoop(); });
  }

  void StopHelper() {
    if (helper == nullptr) return;
    {
      std::lock_guard<std::mutex> lock(mu);
      stop = true;
      ctl.fetch_add(1, std::memory_order_seq_cst);
    }
    internal::FutexWake(&ctl, INT_MAX);
    helper->join();
    delete helper;
    helper = nullptr;
  }

  // Empties the eventfd and asks the helper for the next signal.
  void Rearm() {
    if (helper == nullptr) return;
    {
      // Under the lock the helper signals under: a signal is either drained
      // here or belongs to the new round (never a stale one).
      std::lock_guard<std::mutex> lock(mu);
      uint64_t v;
      while (::read(efd, &v, sizeof v) > 0) {
      }
      armed = true;
      ctl.fetch_add(1, std::memory_order_seq_cst);
    }
    internal::FutexWake(&ctl, INT_MAX);
  }

  void HelperLoop() {
    std::vector<WaitHookPtr> hooks;
    std::vector<FutexWaitItem> helper_items;
    for (;;) {
      uint32_t c;
      bool run;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (stop) return;
        c = ctl.load(std::memory_order_seq_cst);
        run = armed;
        if (run) hooks = helper_hooks;
      }
      if (!run) {
        internal::FutexWait(&ctl, c, Deadline::Infinite());
        continue;
      }
      helper_items.clear();
      for (const WaitHookPtr& h : hooks) {
        if (h->futex_based()) helper_items.push_back(h->Arm());
      }
      helper_items.push_back({&ctl, c});
      bool any = false;
      for (const WaitHookPtr& h : hooks) {
        if (internal::CheckReady(*h)) {
          any = true;
          break;
        }
      }
      if (!any) {
        internal::FutexWaitMany(helper_items,
                                EarliestRecheck(hooks, Deadline::Infinite()));
        // Woken or a recheck is due: check again, armed.
        for (const WaitHookPtr& h : hooks) {
          if (h->futex_based()) h->Disarm();
        }
        continue;
      }
      for (const WaitHookPtr& h : hooks) {
        if (h->futex_based()) h->Disarm();
      }
      std::lock_guard<std::mutex> lock(mu);
      // Re-armed or changed meanwhile (ctl moved): this round is stale;
      // check again for the current one instead of signalling.
      if (ctl.load(std::memory_order_seq_cst) != c) continue;
      armed = false;
      const uint64_t one = 1;
      ssize_t rc = ::write(efd, &one, sizeof one);
      (void)rc;  // EAGAIN only at 2^64-1 unread signals
    }
  }

  // --- waiting -------------------------------------------------------------

  // Every entry that is ready now, in order (futex hooks may or may not be
  // armed).
  void Collect() {
    ready.clear();
    for (const Waitable& w : entries) {
      if (internal::CheckReady(*w.hook())) ready.push_back(w);
    }
  }

  void Report() {
    for (const Waitable& w : ready) w.hook()->Reported();
  }

  // Futex objects and timers only: the caller sleeps in futex_waitv.
  // Armed once; after a wake-up the check runs still armed and, if nothing
  // is ready (a spurious or stale wake-up), the words are refreshed (read
  // before the next check, as arming does) and it sleeps again.
  void WaitDirect(const Deadline& deadline) {
    items.clear();
    struct DisarmAll {  // also when a wait throws
      std::vector<WaitHookPtr>& hooks;
      std::size_t armed = 0;
      ~DisarmAll() {
        for (std::size_t i = 0; i < armed; ++i) hooks[i]->Disarm();
      }
    } disarm{futex_hooks};
    for (const WaitHookPtr& h : futex_hooks) {
      items.push_back(h->Arm());
      ++disarm.armed;
    }
    for (;;) {
      Collect();
      if (!ready.empty() || deadline.expired()) break;
      Deadline slice = EarliestRecheck(futex_hooks, deadline);
      slice = EarliestRecheck(timer_hooks, slice);
      internal::FutexWaitMany(items, slice);
      for (std::size_t i = 0; i < futex_hooks.size(); ++i) {
        items[i] = futex_hooks[i]->Refresh();
      }
    }
  }

  // With descriptors: the caller sleeps in epoll (ppoll on the epoll fd),
  // the helper covers the futex objects.
  void WaitEpoll(const Deadline& deadline) {
    EnsureEpoll();
    if (!futex_hooks.empty()) StartHelper();
    for (;;) {
      Rearm();
      Collect();
      if (!ready.empty() || deadline.expired()) return;
      // Timers, and descriptor objects that keep time of their own (a
      // Listener's handshake timeouts).
      const Deadline slice =
          EarliestRecheck(fd_hooks, EarliestRecheck(timer_hooks, deadline));
      pollfd p{epfd, POLLIN, 0};
      timespec ts;
      timespec* tsp = nullptr;
      if (!slice.infinite()) {
        const int64_t ns = std::max<int64_t>(
            0, std::chrono::duration_cast<std::chrono::nanoseconds>(
                   slice.remaining())
                   .count());
        ts.tv_sec = static_cast<time_t>(ns / 1000000000);
        ts.tv_nsec = static_cast<long>(ns % 1000000000);
        tsp = &ts;
      }
      if (::ppoll(&p, 1, tsp, nullptr) < 0 && errno != EINTR) {
        ThrowSystemError("WaitSet: ppoll", errno);
      }
    }
  }

  // Puts the helper to rest (unregistered from every object) until the
  // next Rearm: between two waits nobody waits, so nobody should be woken.
  void Park() {
    if (helper == nullptr) return;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!armed) return;  // it signalled and disarmed already
      armed = false;
      ctl.fetch_add(1, std::memory_order_seq_cst);
    }
    internal::FutexWake(&ctl, INT_MAX);
  }

  void Wait(const Deadline& deadline) {
    CheckFork();
    if (fd_hooks.empty()) {
      WaitDirect(deadline);
    } else {
      WaitEpoll(deadline);
      if (!fd_mode) Park();
    }
    Report();
    if (fd_mode) {
      if (helper == nullptr && !helper_hooks_needed()) {
        // Descriptors only: epoll itself is the signal.
      } else {
        StartHelper();
        Rearm();
      }
    }
  }

  bool helper_hooks_needed() const {
    return !futex_hooks.empty() || !timer_hooks.empty();
  }
};

WaitSet::WaitSet() : impl_(std::make_unique<Impl>()) {
  impl_->owner = internal::CachedPid();
}
WaitSet::~WaitSet() = default;
WaitSet::WaitSet(WaitSet&&) noexcept = default;
WaitSet& WaitSet::operator=(WaitSet&&) noexcept = default;

void WaitSet::add(const Waitable& w) {
  Impl& m = *impl_;
  m.CheckFork();
  if (w.hook()->futex_based() && m.futex_hooks.size() >= kMaxFutexObjects) {
    throw ValueError("WaitSet: more than " +
                     std::to_string(kMaxFutexObjects) +
                     " queues, channels and events in one set");
  }
  m.AddFd(w.hook()->fd());
  m.entries.push_back(w);
  m.Rebuild();
  if (m.fd_mode && m.helper == nullptr && m.helper_hooks_needed()) {
    m.StartHelper();
    m.Rearm();
  }
}

std::size_t WaitSet::remove(const Waitable& w) {
  return RemoveIf([&](const Waitable& e) { return e == w; });
}

std::size_t WaitSet::RemoveObject(const void* object) {
  if (object == nullptr) return 0;
  return RemoveIf([&](const Waitable& e) { return e.is(object); });
}

template <class Pred>
std::size_t WaitSet::RemoveIf(Pred pred) {
  Impl& m = *impl_;
  m.CheckFork();
  std::size_t n = 0;
  for (auto it = m.entries.begin(); it != m.entries.end();) {
    if (pred(*it)) {
      m.RemoveFd(it->hook()->fd());
      it = m.entries.erase(it);
      ++n;
    } else {
      ++it;
    }
  }
  if (n > 0) m.Rebuild();
  return n;
}

std::size_t WaitSet::size() const { return impl_->entries.size(); }

const std::vector<Waitable>& WaitSet::wait(const Deadline& deadline) {
  impl_->Wait(deadline);
  return impl_->ready;
}

int WaitSet::fd() {
  Impl& m = *impl_;
  m.CheckFork();
  m.EnsureEpoll();
  if (!m.fd_mode) {
    m.fd_mode = true;
    if (m.helper_hooks_needed()) {
      m.StartHelper();
      m.Rearm();
    }
  }
  return m.epfd;
}

std::vector<Waitable> wait(std::span<const Waitable> objects,
                           const Deadline& deadline) {
  WaitSet set;
  for (const Waitable& w : objects) set.add(w);
  return set.wait(deadline);
}

}  // namespace shoal
