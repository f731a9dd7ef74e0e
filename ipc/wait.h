// Copyright 2026 The shoal Authors.
//
// wait.h: wait on many things at once -- shoal::wait and shoal::WaitSet.
//
// Contract
//   Python's multiprocessing.connection.wait(object_list, timeout) for
//   everything shoal has: shoal::wait(objects, deadline) returns the ready
//   subset of `objects`, in the order given, waiting up to `deadline` for at
//   least one; empty when the deadline passes first (Python's []).
//
//     shoal::Waitable tick = shoal::Timer::Every(std::chrono::seconds(1));
//     for (const shoal::Waitable& r : shoal::wait({jobs, results, conn, tick},
//                                                 std::chrono::seconds(5))) {
//       if (r.is(jobs)) handle(jobs.try_get());   // may be empty: see below
//       else if (r == tick) heartbeat();
//     }
//
//   What can be waited on, and when it is ready:
//     Queue, SimpleQueue, JoinableQueue, Channel   readable: a get()/receive()
//         would not block now (an item is published at the head, or the
//         queue is closed and drained); writable(q): a put()/loan() would
//         not block (a free slot, or closed).
//     Connection (reference or pointer)            a recv() would not block:
//         a message is waiting, or EOF / the peer is gone (recv throws).
//     Process (pool/process.h)                     the process has ended
//         (its pidfd sentinel); ReadableFd(p.sentinel()) is the same.
//     Event                                        the flag is set.
//     Timer                                        its time has come
//         (Timer::At / After: from then on; Timer::Every: once per period,
//         each report moves it to the next period).
//     Broadcast<T>::Subscriber (ipc/broadcast.h)   a receive() would not
//         block: a block is published at its cursor, or receive reports
//         something at once (it was lapped, it left, closed and drained).
//     Listener (ipc/listener.h)                    accept() would return or
//         throw at once: a client finished its handshake (the wait moves
//         the handshakes as accept() does), or one was refused
//         (AuthenticationError), or the listener is closed.
//     ReadableFd(fd)                               `fd` is readable (a
//         socket, an eventfd...).
//   Readiness is a snapshot, as with select(): with several consumers of one
//   queue another may take the item first, so follow a wait with try_get()
//   (or get with a timeout), never an unbounded get(). An object whose
//   shared memory a peer corrupted is reported ready; its next operation
//   throws shoal::InvalidRegion. A ring slot held by a process that died is
//   repaired by the waiter after about 50 ms, as a blocked get() would.
//
// WaitSet
//   The same for loops that wait on the same objects many times: add() and
//   remove() once, wait() as often as needed (nothing is registered per
//   call). One thread at a time may use a WaitSet; it is process-local (a
//   forked child makes its own).
//
// Integrating with an event loop (epoll, Boost.Asio, libuv)
//   WaitSet::fd() is a descriptor (an epoll instance) to add to your loop
//   for POLLIN/EPOLLIN, level-triggered. It is readable exactly when, since
//   the last wait()/poll() on the set, one of its descriptor objects is
//   readable or a helper thread of the set found a futex object (queue,
//   channel, event) or timer ready. When it fires, call poll() (wait()
//   without waiting): it returns the ready objects and re-arms the fd. If an
//   object is still ready after poll() (you did not drain it), the fd becomes
//   readable again at once, like a level-triggered socket. The helper thread
//   (one per set, started by the first fd() call, or by a wait() on a set
//   that mixes descriptors with futex objects) sleeps in futex_waitv; it
//   reads shared memory and wakes nobody.
//
// Algorithm and cost
//   Every waker in shoal already decides with one load whether anybody
//   sleeps (a waiter count beside its futex word). A waiter on many objects
//   registers in each object's count as a watcher (queues, channels: ring
//   watchers, ring_core.h; events: the sleepers flag), checks each, and, if
//   none is ready, sleeps on all their futex words at once with
//   futex_waitv(2). So an item put into a queue nobody waits on costs no
//   system call, and an item put into a watched queue costs one FUTEX_WAKE.
//   Sets of futex objects only (plus timers) wait in the caller's thread;
//   sets with descriptors wait in epoll in the caller's thread while the
//   helper thread covers the futex objects (one more thread hop). Kernels
//   without futex_waitv (before 5.16, or refused by seccomp) get a correct
//   fallback with one thread per object per wait (slow, see
//   base/internal/futex.h). Waking on one of 64 queues: see
//   bench/wait_bench.cc and bench/RESULTS.md.
//   Limits: at most 127 futex objects (queues, channels, events) per set
//   (futex_waitv's 128 words, one kept for the helper); descriptors and
//   timers are unlimited. ValueError beyond.
//
//   A watched Broadcast subscriber costs its publishers one FUTEX_WAKE per
//   publish while somebody waits (as a subscriber asleep in receive()
//   does); a watched Listener costs one epoll instance of its own.
//
// When a process dies: a waiter killed while it waits leaves its watcher
// registration behind (like any sleeper): wakers of those objects keep
// issuing one FUTEX_WAKE per wake-up that nobody needs; nothing blocks.
// A peer that dies holding what a waited-on object needs (a ring slot, a
// broadcast block being published) is detected by the waiter after about
// 50 ms, which repairs it as a blocked get()/receive() would.
#ifndef SHOAL_IPC_WAIT_H_
#define SHOAL_IPC_WAIT_H_

#include <chrono>
#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <vector>

#include "shoal/base/deadline.h"
#include "shoal/base/errors.h"
#include "shoal/ipc/channel.h"
#include "shoal/ipc/connection.h"
#include "shoal/ipc/internal/wait_hook.h"
#include "shoal/ipc/queue.h"
#include "shoal/sync/event.h"

namespace shoal {

// A descriptor to wait on for readability (Python's wait takes ints too).
// The caller keeps it open while it is waited on.
struct ReadableFd {
  int fd = -1;
};

// A time to wake up at (Timer::At / After), or a period (Timer::Every).
class Timer {
 public:
  static Timer At(Deadline when) { return Timer(when, 0); }
  static Timer After(Timeout delay) { return Timer(Deadline(delay), 0); }
  // Ready once per `period` (the first time after one period); a report
  // that comes late moves it to the next period from now (no burst).
  static Timer Every(Timeout period);

  Deadline first() const { return first_; }
  int64_t period_ns() const { return period_ns_; }

 private:
  Timer(Deadline first, int64_t period_ns)
      : first_(first), period_ns_(period_ns) {}
  Deadline first_;
  int64_t period_ns_;
};

// The writable side of a queue or channel, for wait: shoal::writable(q).
template <class Q>
struct Writable {
  const Q* object;
};
template <class Q>
Writable<Q> writable(const Q& q) {
  return Writable<Q>{&q};
}

namespace internal {

// Reaches the cores of the handles (friend of each).
struct WaitAccess {
  template <class T, class D>
  static WaitHookPtr Queue(const QueueBase<T, D>& q, const void* object,
                           bool write) {
    return MakeRingWaitHook(q.core_, q.core_->ring(), write, object);
  }
  template <class T>
  static WaitHookPtr Simple(const SimpleQueue<T>& q, const void* object,
                            bool write) {
    return Queue(q.q_, object, write);
  }
  template <class T>
  static WaitHookPtr Chan(const Channel<T>& c, const void* object,
                          bool write) {
    return MakeRingWaitHook(c.core_, c.core_->ring(), write, object);
  }
  static WaitHookPtr EventHook(const Event& e);
};

WaitHookPtr MakeConnectionWaitHook(const Connection& c);
WaitHookPtr MakeTimerWaitHook(const Timer& t);

}  // namespace internal

// MakeWaitHook overloads: how each type is waited on (the extension point,
// internal/wait_hook.h). Found by argument-dependent lookup.
template <class T>
internal::WaitHookPtr MakeWaitHook(const Queue<T>& q) {
  return internal::WaitAccess::Queue(q, &q, false);
}
template <class T>
internal::WaitHookPtr MakeWaitHook(const JoinableQueue<T>& q) {
  return internal::WaitAccess::Queue(q, &q, false);
}
template <class T>
internal::WaitHookPtr MakeWaitHook(const SimpleQueue<T>& q) {
  return internal::WaitAccess::Simple(q, &q, false);
}
template <class T>
internal::WaitHookPtr MakeWaitHook(const Channel<T>& c) {
  return internal::WaitAccess::Chan(c, &c, false);
}
template <class T>
internal::WaitHookPtr MakeWaitHook(const Writable<Queue<T>>& w) {
  return internal::WaitAccess::Queue(*w.object, w.object, true);
}
template <class T>
internal::WaitHookPtr MakeWaitHook(const Writable<JoinableQueue<T>>& w) {
  return internal::WaitAccess::Queue(*w.object, w.object, true);
}
template <class T>
internal::WaitHookPtr MakeWaitHook(const Writable<SimpleQueue<T>>& w) {
  return internal::WaitAccess::Simple(*w.object, w.object, true);
}
template <class T>
internal::WaitHookPtr MakeWaitHook(const Writable<Channel<T>>& w) {
  return internal::WaitAccess::Chan(*w.object, w.object, true);
}
inline internal::WaitHookPtr MakeWaitHook(const Connection& c) {
  return internal::MakeConnectionWaitHook(c);
}
inline internal::WaitHookPtr MakeWaitHook(const Event& e) {
  return internal::WaitAccess::EventHook(e);
}
inline internal::WaitHookPtr MakeWaitHook(const Timer& t) {
  return internal::MakeTimerWaitHook(t);
}
inline internal::WaitHookPtr MakeWaitHook(const ReadableFd& f) {
  return internal::MakeFdWaitHook(f.fd, nullptr,
                                  internal::WaitHook::Kind::kReadable);
}

// Types shoal::wait takes: those with a MakeWaitHook.
template <class T>
concept WaitableObject = requires(const T& t) {
  { MakeWaitHook(t) } -> std::convertible_to<internal::WaitHookPtr>;
};

// One entry of a wait: an object and what to wait for. Cheap to copy
// (copies share the registration). Compare a ready entry with the object
// (r.is(q)) or with the Waitable you passed (r == tick).
class Waitable {
 public:
  using Kind = internal::WaitHook::Kind;

  template <WaitableObject T>
  Waitable(const T& object)  // NOLINT: implicit by design
      : hook_(MakeWaitHook(object)) {}
  template <WaitableObject T>
  Waitable(T* object)  // NOLINT: implicit by design
      : hook_(object != nullptr
                  ? MakeWaitHook(*object)
                  : throw ValueError("shoal::wait: a null object")) {}
  explicit Waitable(internal::WaitHookPtr hook) : hook_(std::move(hook)) {}

  // Whether this entry is about `object` (the handle passed in).
  bool is(const void* object) const { return hook_->object() == object; }
  template <class T>
  bool is(const T& object) const {
    return is(static_cast<const void*>(&object));
  }
  Kind kind() const { return hook_->kind(); }
  // The descriptor of a descriptor object (-1 for others).
  int fd() const { return hook_->fd(); }

  friend bool operator==(const Waitable& a, const Waitable& b) {
    return a.hook_ == b.hook_;
  }

  const internal::WaitHookPtr& hook() const { return hook_; }

 private:
  internal::WaitHookPtr hook_;
};

class WaitSet {
 public:
  WaitSet();
  ~WaitSet();
  WaitSet(WaitSet&&) noexcept;
  WaitSet& operator=(WaitSet&&) noexcept;
  WaitSet(const WaitSet&) = delete;
  WaitSet& operator=(const WaitSet&) = delete;

  // Adds an entry (the same object may be added twice; it is then reported
  // twice). Throws ValueError past 127 futex objects.
  void add(const Waitable& w);
  // Removes the entry `w` (compared as ==) or every entry about `object`.
  // Returns how many went.
  std::size_t remove(const Waitable& w);
  template <class T>
  std::size_t remove_object(const T& object) {
    return RemoveObject(static_cast<const void*>(&object));
  }
  std::size_t size() const;

  // The ready entries, in the order added, waiting up to `deadline` for one;
  // empty at the deadline. Valid until the next call on the set. Returns
  // within `deadline` whatever the objects' peers do.
  const std::vector<Waitable>& wait(const Deadline& deadline = Deadline());
  // wait() that does not wait (and re-arms fd()).
  const std::vector<Waitable>& poll() { return wait(Deadline::Now()); }

  // A descriptor that is readable while something in the set may be ready
  // (see the file comment). Owned by the set.
  int fd();

 private:
  struct Impl;
  std::size_t RemoveObject(const void* object);
  template <class Pred>
  std::size_t RemoveIf(Pred pred);
  std::unique_ptr<Impl> impl_;
};

// The ready subset of `objects` (see the file comment).
std::vector<Waitable> wait(std::span<const Waitable> objects,
                           const Deadline& deadline = Deadline());
inline std::vector<Waitable> wait(std::initializer_list<Waitable> objects,
                                  const Deadline& deadline = Deadline()) {
  return wait(std::span<const Waitable>(objects.begin(), objects.size()),
              deadline);
}

}  // namespace shoal

#endif  // SHOAL_IPC_WAIT_H_
