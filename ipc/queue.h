// Copyright 2026 The shoal Authors.
//
// queue.h: Queue<T>, SimpleQueue<T> and JoinableQueue<T>: Python's
// multiprocessing queues, over shared memory.
//
//   shoal::Queue<std::string> q(/*maxsize=*/100);
//   if (fork() == 0) { q.put("hello"); _exit(0); }
//   std::string s = q.get();                        // "hello"
//
// Contract
//   A multi-producer, multi-consumer, bounded FIFO shared by every process
//   that holds a handle: the creator, its fork()ed children, any process that
//   opens it by name (QueueOptions::region) or by ref(). Items are typed
//   through the codec (ipc/codec.h): trivially copyable types by memcpy, std
//   containers built in, user classes through cereal. Handles are cheap to
//   copy; all copies name the same queue.
//
//   Calls, with Python's semantics:
//     put(item)              blocks while full
//     put(item, timeout)     shoal::Full when still full at the deadline
//     put_nowait(item)       shoal::Full at once when full
//     get()                  blocks while empty
//     get(timeout)           shoal::Empty when still empty at the deadline
//     get_nowait()           shoal::Empty at once when empty
//     try_put / try_get      bool / std::optional, never Full/Empty/Closed
//     put_many(items)        a batch (span or random-access range), in
//                            order; returns how many went in
//     get_many(max)          1..max items as a std::vector (or into a span),
//                            Empty/Closed as get()
//     put_encoded /          the item's codec bytes, written or read in
//       get_encoded          place (for bindings); QueueStatus, no throw
//     qsize, empty, full     approximate while others operate (as in Python)
//     close()                see below
//
//   Shutdown. Two recipes work:
//     * sentinels: each producer puts one sentinel value per consumer;
//     * close(): afterwards every put() throws shoal::Closed, and readers
//       get what is left, then shoal::Closed instead of blocking. close() is
//       queue-wide (unlike Python's, which concerns one process's feeder
//       thread) and wakes every sleeper at once.
//
//   Sizes. maxsize is fixed at creation (shared memory does not grow; 0
//   means QueueOptions::kDefaultMaxsize). An item whose encoding fits the
//   slot's inline bytes is encoded straight into the slot. A larger one is
//   encoded straight into the queue's shared heap (QueueOptions::heap_bytes)
//   and only its offset travels: no truncation, no silent drop. An item
//   larger than the whole heap is refused with shoal::ValueError at put(),
//   and the caller keeps it.
//
// Process death
//   A process killed inside put() or get() loses at most the one item it
//   was moving; survivors notice within ~50 ms (the pid in the slot is gone)
//   and carry on; lost() counts such items. A process killed while holding a
//   heap block it had not yet published leaks that block (not the queue).
//   A dead process never leaves the queue blocked.
//
// Stopped and hostile peers
//   Every timed call returns within its deadline (plus scheduling noise)
//   whatever another process does: a peer stopped (SIGSTOP) inside put() or
//   get(), or while it holds the heap's lock, delays only the calls that need
//   what it holds, and those give Full/Empty at their deadline; get() never
//   waits for the heap's lock (freeing a block takes no lock), and items
//   that fit a slot never touch the heap. A peer that writes garbage into
//   the queue's shared memory can lose or corrupt items, but every field
//   that decides an index, a length, an offset, a kind or a time is checked
//   before use: the others get InvalidRegion or CodecError, or their
//   timeout, never a crash, an abort or an unbounded wait (a shared spin
//   policy asking for more than 10 ms of spinning is ignored). Not covered:
//   the heap lock's pthread_mutex_t is glibc's: a peer that overwrites its
//   kind or robust-list links is not caught (RELIABILITY.md).
//
//   Single producer / single consumer. QueueOptions::single_producer and
//   single_consumer declare that one process puts and one gets; each side
//   then keeps its ring position in its handle (cached indices) and never
//   touches the shared index on its fast path. A second live process on a
//   declared side gets shoal::RuntimeError (its call moves nothing); once
//   the first has exited or died the next one takes its place.
//
//   Batches. put_many claims up to 256 consecutive slots at once (as many as
//   are free), fills them and publishes them with one index update and one
//   wake-up decision; get_many takes up to `max` published items the same
//   way. Items keep their order; batches of several producers interleave
//   batch by batch. An item too large for a slot goes through the heap on
//   its own, in its place in the order. A process killed inside put_many
//   loses at most the items it had claimed and not yet published (its
//   current batch), a process killed inside get_many the items it had
//   claimed and not yet returned; lost() counts each one, exactly, and
//   nobody waits on a dead batch for more than ~50 ms.
//
// Performance (bench/queue_bench.cc; bench/RESULTS.md): a put or get is one
// CAS on the slot, one on the index and one exchange to publish, plus the
// copy; no system call unless the other side sleeps. A caller that would
// block first spins briefly, then sleeps on a futex; a caller waiting for a
// slot another live process is filling (a large item being copied: put()
// claims the slot before it copies into the heap) keeps spinning, yielding,
// for up to 2 ms. A batch costs one CAS per slot and
// one index update, one exchange and one wake-up decision per batch.
//
// Errors: Full, Empty, Closed (see above); ValueError (item too large);
// RuntimeError (a second producer or consumer on a declared single side);
// CodecError when the bytes do not decode as T (the item is consumed);
// InvalidRegion when the shared memory is corrupt or not a Queue<T>.
#ifndef SHOAL_IPC_QUEUE_H_
#define SHOAL_IPC_QUEUE_H_

#include <cstddef>
#include <algorithm>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "shoal/base/deadline.h"
#include "shoal/base/errors.h"
#include "shoal/ipc/codec.h"
#include "shoal/ipc/internal/queue_core.h"
#include "shoal/ipc/internal/ref_codec.h"
#include "shoal/ipc/layout.h"
#include "shoal/ipc/queue_options.h"
#include "shoal/ipc/region.h"

namespace shoal {

// What put_encoded()/get_encoded() report instead of throwing.
enum class QueueStatus { kOk, kTimedOut, kClosed };

namespace internal {

struct WaitAccess;  // ipc/wait.h

template <class T>
constexpr std::size_t DefaultInlineBytes() {
  if constexpr (std::is_trivially_copyable_v<T> && sizeof(T) <= 224) {
    return sizeof(T) < 32 ? 32 : sizeof(T);
  } else {
    return 96;
  }
}

// The typed layer shared by the three queue classes.
template <class T, class Derived>
class QueueBase {
  // One compile error that says what T needs, not the codec's from below.
  static_assert(CheckEncodable<T>());

 public:
  using value_type = T;

  // Copies the encoded item into the queue, blocking while it is full.
  void put(const T& item) { DoPut(item, Deadline::Infinite(), true); }
  // Throws Full if there is still no room at the deadline.
  void put(const T& item, const Deadline& deadline) {
    DoPut(item, deadline, true);
  }
  void put_nowait(const T& item) { DoPut(item, Deadline::Now(), true); }
  // False when full (after waiting up to `deadline`) or closed.
  bool try_put(const T& item, const Deadline& deadline = Deadline::Now()) {
    return DoPut(item, deadline, false);
  }

  T get() { return *DoGet(Deadline::Infinite(), true); }
  // Throws Empty if still empty at the deadline.
  T get(const Deadline& deadline) { return *DoGet(deadline, true); }
  T get_nowait() { return *DoGet(Deadline::Now(), true); }
  // nullopt when empty (after waiting up to `deadline`) or closed and
  // drained.
  std::optional<T> try_get(const Deadline& deadline = Deadline::Now()) {
    return DoGet(deadline, false);
  }

  // --- batches ---
  //
  // Puts the items in order, blocking while the queue is full, until all
  // are in or the deadline passes; returns how many went in (the first
  // ones). Throws Closed if the queue is closed before any went in (after
  // that, a close ends the call early: fewer than all), ValueError for an
  // item larger than the heap (the ones before it are in).
  std::size_t put_many(std::span<const T> items,
                       const Deadline& deadline = Deadline::Infinite()) {
    if constexpr (internal::kIsRaw<T>) {
      // The encoding is the bytes: one memcpy per item, no codec calls.
      std::size_t done = 0;
      QueueCore::Result r = core_->PutManyRaw(
          items.size(), sizeof(T),
          reinterpret_cast<const std::byte*>(items.data()), deadline,
          Derived::kCounted, &done);
      if (r == QueueCore::Result::kClosed && done == 0 && !items.empty()) {
        throw Closed("Queue.put_many: the queue is closed");
      }
      return done;
    } else {
      return PutMany(
          items.size(), [&](std::size_t i) -> const T& { return items[i]; },
          deadline);
    }
  }
  template <std::random_access_iterator It>
  std::size_t put_many(It first, It last,
                       const Deadline& deadline = Deadline::Infinite()) {
    return PutMany(static_cast<std::size_t>(last - first),
                   [&](std::size_t i) -> decltype(auto) { return first[i]; },
                   deadline);
  }

  // Takes between 1 and `max` items, in order: whatever is published when
  // the first arrives, up to max. Throws Empty if nothing came before the
  // deadline, Closed when closed and drained (as get()).
  std::vector<T> get_many(std::size_t max,
                          const Deadline& deadline = Deadline::Infinite()) {
    std::vector<T> out;
    out.reserve(std::min<std::size_t>(max, internal::QueueCore::kMaxBatch));
    GetMany(max, deadline, true,
            [&](std::size_t, std::span<const std::byte> bytes) {
              out.push_back(QuietDecode<T>(bytes));
            });
    return out;
  }
  // The same into `out` (1..out.size() items); returns the count.
  std::size_t get_many(std::span<T> out,
                       const Deadline& deadline = Deadline::Infinite()) {
    return GetManyInto(out, deadline, true);
  }
  // 0 instead of Empty / Closed.
  std::size_t try_get_many(std::span<T> out,
                           const Deadline& deadline = Deadline::Now()) {
    return GetManyInto(out, deadline, false);
  }

  // --- encoded bytes, for bindings to other languages ---
  //
  // The item as its codec encoding (the bytes Decode<T> reads; for
  // std::string and std::vector<std::byte>: a uint64 length, then the
  // bytes). put_encoded() has `write(std::span<std::byte> dst)` produce
  // exactly `size` encoded bytes straight in shared memory; get_encoded()
  // hands the next item's encoded bytes to `read(std::span<const std::byte>)`,
  // valid only during the call (the item is consumed even if `read` throws).
  // They let a binding assemble an item from several pieces, or read one,
  // without building a T: the Python module puts pickles and numpy buffers
  // into a Queue<std::string> with one copy. Bytes that do not decode as a T
  // make a typed reader's get() throw CodecError.
  // Blocking, timeouts and close() as put/get, but reported, not thrown:
  // kOk, kTimedOut (full / empty at the deadline) or kClosed. ValueError
  // (item larger than the heap) and exceptions of write/read still throw.
  template <class Write>
  QueueStatus put_encoded(std::size_t size, Write&& write,
                          const Deadline& deadline = Deadline::Infinite()) {
    return Status(core_->Put(
        size, [&](std::span<std::byte> dst) { write(dst); }, deadline,
        Derived::kCounted));
  }
  template <class Read>
  QueueStatus get_encoded(Read&& read,
                          const Deadline& deadline = Deadline::Infinite()) {
    return Status(core_->Get(
        [&](std::span<const std::byte> bytes) { read(bytes); }, deadline));
  }

  // Batches of encoded items: put_many_encoded() has size_at(i) give item
  // i's encoded size and write_at(i, dst) produce it (n items, in order);
  // get_many_encoded() hands item i's bytes to read_at(i, bytes) (1..max
  // items). *done is how many moved (fewer than n: kTimedOut / kClosed).
  // Batching, order and crash guarantees as put_many/get_many.
  template <class SizeAt, class WriteAt>
  QueueStatus put_many_encoded(std::size_t n, SizeAt&& size_at,
                               WriteAt&& write_at, std::size_t* done,
                               const Deadline& deadline = Deadline::Infinite()) {
    return Status(core_->PutMany(
        n, [&](std::size_t i) -> std::size_t { return size_at(i); },
        [&](std::size_t i, std::span<std::byte> dst) { write_at(i, dst); },
        deadline, Derived::kCounted, done));
  }
  template <class ReadAt>
  QueueStatus get_many_encoded(std::size_t max, ReadAt&& read_at,
                               std::size_t* done,
                               const Deadline& deadline = Deadline::Infinite()) {
    return Status(core_->GetMany(
        max,
        [&](std::size_t i, std::span<const std::byte> bytes) {
          read_at(i, bytes);
        },
        deadline, done));
  }

  std::size_t qsize() const { return core_->qsize(); }
  bool empty() const { return core_->qsize() == 0; }
  bool full() const { return core_->qsize() >= core_->maxsize(); }
  std::size_t maxsize() const { return core_->maxsize(); }
  void close() { core_->Close(); }
  bool closed() const { return core_->closed(); }
  // Items lost because the process moving them died.
  uint64_t lost() const { return core_->lost(); }

  // Where the queue lives; ref() lets another process open it.
  const Region& region() const { return core_->region(); }
  RegionRef ref() const { return core_->region().ref(); }
  std::size_t inline_capacity() const { return core_->inline_capacity(); }
  uint64_t heap_capacity() const { return core_->heap_capacity(); }

  // Version 2: the ring core with its writer and reader registries. 3: a
  // declared single producer/consumer (RingData::single_sides) moves its
  // index with plain stores; a build that ignores the declaration would
  // move it with CASes at the same time, so it must not attach.
  static RegionLayout Layout() { return LayoutOf<Derived>("queue", 3); }

 protected:
  QueueBase() = default;
  explicit QueueBase(std::shared_ptr<QueueCore> core)
      : core_(std::move(core)) {}

  static std::shared_ptr<QueueCore> Make(const QueueOptions& options) {
    return QueueCore::Create(options, DefaultInlineBytes<T>(), Layout());
  }
  static std::shared_ptr<QueueCore> OpenByName(std::string_view name,
                                               const OpenOptions& options) {
    return QueueCore::Attach(Region::OpenNamed(name, Layout(), options));
  }
  static std::shared_ptr<QueueCore> OpenByRef(const RegionRef& ref,
                                              const OpenOptions& options) {
    return QueueCore::Attach(Region::Open(ref, Layout(), options));
  }

  bool DoPut(const T& item, const Deadline& deadline, bool throwing) {
    const std::size_t size = QuietEncodedSize(item);
    QueueCore::Result r = core_->Put(
        size, [&](std::span<std::byte> dst) { QuietEncodeTo(item, dst); },
        deadline, Derived::kCounted);
    if (r == QueueCore::Result::kOk) return true;
    if (!throwing) return false;
    if (r == QueueCore::Result::kClosed) {
      throw Closed("Queue.put: the queue is closed");
    }
    throw Full("Queue.put: the queue is full");
  }

  std::optional<T> DoGet(const Deadline& deadline, bool throwing) {
    std::optional<T> out;
    QueueCore::Result r = core_->Get(
        [&](std::span<const std::byte> bytes) { out.emplace(QuietDecode<T>(bytes)); },
        deadline);
    if (r == QueueCore::Result::kOk || !throwing) return out;
    if (r == QueueCore::Result::kClosed) {
      throw Closed("Queue.get: the queue is closed and drained");
    }
    throw Empty("Queue.get: the queue is empty");
  }

  template <class ItemAt>
  std::size_t PutMany(std::size_t n, ItemAt item_at,
                      const Deadline& deadline) {
    std::size_t done = 0;
    QueueCore::Result r = core_->PutMany(
        n, [&](std::size_t i) { return QuietEncodedSize<T>(item_at(i)); },
        [&](std::size_t i, std::span<std::byte> dst) {
          QuietEncodeTo<T>(item_at(i), dst);
        },
        deadline, Derived::kCounted, &done);
    if (r == QueueCore::Result::kClosed && done == 0 && n > 0) {
      throw Closed("Queue.put_many: the queue is closed");
    }
    return done;
  }

  template <class Store>
  std::size_t GetMany(std::size_t max, const Deadline& deadline,
                      bool throwing, Store&& store) {
    std::size_t done = 0;
    QueueCore::Result r = core_->GetMany(max, store, deadline, &done);
    if (r == QueueCore::Result::kOk || !throwing) return done;
    if (r == QueueCore::Result::kClosed) {
      throw Closed("Queue.get_many: the queue is closed and drained");
    }
    throw Empty("Queue.get_many: the queue is empty");
  }

  std::size_t GetManyInto(std::span<T> out, const Deadline& deadline,
                          bool throwing) {
    if constexpr (internal::kIsRaw<T>) {
      std::size_t done = 0;
      QueueCore::Result r = core_->GetManyRaw(
          out.size(), sizeof(T), reinterpret_cast<std::byte*>(out.data()),
          deadline, &done);
      if (r == QueueCore::Result::kOk || !throwing) return done;
      if (r == QueueCore::Result::kClosed) {
        throw Closed("Queue.get_many: the queue is closed and drained");
      }
      throw Empty("Queue.get_many: the queue is empty");
    }
    return GetMany(out.size(), deadline, throwing,
                   [&](std::size_t i, std::span<const std::byte> bytes) {
                     out[i] = QuietDecode<T>(bytes);
                   });
  }

  static QueueStatus Status(QueueCore::Result r) {
    if (r == QueueCore::Result::kOk) return QueueStatus::kOk;
    if (r == QueueCore::Result::kClosed) return QueueStatus::kClosed;
    return QueueStatus::kTimedOut;
  }

  std::shared_ptr<QueueCore> core_;

 private:
  friend struct WaitAccess;
};

}  // namespace internal

// Python's multiprocessing.Queue. See the file comment.
template <class T>
class Queue : public internal::QueueBase<T, Queue<T>> {
  using Base = internal::QueueBase<T, Queue<T>>;

 public:
  static constexpr bool kCounted = false;

  // A new queue holding at most `maxsize` items (0: the default).
  explicit Queue(std::size_t maxsize = 0)
      : Base(Base::Make(QueueOptions{.maxsize = maxsize})) {}
  explicit Queue(const QueueOptions& options) : Base(Base::Make(options)) {}

  // Opens a named queue another program created with
  // QueueOptions::region.kind = RegionKind::kNamed. Throws InvalidRegion if
  // it is not a Queue<T> (the message names both types).
  static Queue Open(std::string_view name, const OpenOptions& options = {}) {
    return Queue(Base::OpenByName(name, options));
  }
  // Opens the queue `ref` names (see Region::Open).
  static Queue Open(const RegionRef& ref, const OpenOptions& options = {}) {
    return Queue(Base::OpenByRef(ref, options));
  }

 private:
  explicit Queue(std::shared_ptr<internal::QueueCore> core)
      : Base(std::move(core)) {}
};

// Python's multiprocessing.SimpleQueue: put, get, empty, close. The same
// engine as Queue; the narrow interface is the point.
template <class T>
class SimpleQueue {
 public:
  explicit SimpleQueue(std::size_t maxsize = 0) : q_(maxsize) {}
  explicit SimpleQueue(const QueueOptions& options) : q_(options) {}
  static SimpleQueue Open(std::string_view name,
                          const OpenOptions& options = {}) {
    return SimpleQueue(Queue<T>::Open(name, options));
  }
  static SimpleQueue Open(const RegionRef& ref,
                          const OpenOptions& options = {}) {
    return SimpleQueue(Queue<T>::Open(ref, options));
  }

  void put(const T& item) { q_.put(item); }
  T get() { return q_.get(); }
  bool empty() const { return q_.empty(); }
  void close() { q_.close(); }
  const Region& region() const { return q_.region(); }
  RegionRef ref() const { return q_.ref(); }

 private:
  friend struct internal::WaitAccess;
  explicit SimpleQueue(Queue<T> q) : q_(std::move(q)) {}
  Queue<T> q_;
};

// Python's multiprocessing.JoinableQueue: a Queue whose consumers call
// task_done() once per item they finish, and whose join() waits until every
// item put so far is done.
//
// task_done() more times than items were put throws shoal::ValueError (the
// count is unchanged). An item lost with a dead process (see Queue) is taken
// off the count, so join() does not wait for it; an item a consumer had
// already received when it died is not (nobody can know it will never be
// finished): give join() a timeout when consumers may die.
template <class T>
class JoinableQueue : public internal::QueueBase<T, JoinableQueue<T>> {
  using Base = internal::QueueBase<T, JoinableQueue<T>>;

 public:
  static constexpr bool kCounted = true;

  explicit JoinableQueue(std::size_t maxsize = 0)
      : Base(Base::Make(QueueOptions{.maxsize = maxsize})) {}
  explicit JoinableQueue(const QueueOptions& options)
      : Base(Base::Make(options)) {}
  static JoinableQueue Open(std::string_view name,
                            const OpenOptions& options = {}) {
    return JoinableQueue(Base::OpenByName(name, options));
  }
  static JoinableQueue Open(const RegionRef& ref,
                            const OpenOptions& options = {}) {
    return JoinableQueue(Base::OpenByRef(ref, options));
  }

  void task_done() { this->core_->TaskDone(); }
  // Blocks until every item put so far has had its task_done().
  void join() { this->core_->Join(Deadline::Infinite()); }
  // False if items are still unfinished at the deadline.
  bool join(const Deadline& deadline) { return this->core_->Join(deadline); }
  // Items put and not yet task_done().
  uint64_t unfinished_tasks() const { return this->core_->unfinished(); }

 private:
  explicit JoinableQueue(std::shared_ptr<internal::QueueCore> core)
      : Base(std::move(core)) {}
};

// Queues travel to other processes (Process arguments, pool tasks) as their
// region's ref; the far side opens the same queue.
template <class T>
struct CodecTraits<Queue<T>> : internal::RefHandleCodec<Queue<T>> {};
template <class T>
struct CodecTraits<SimpleQueue<T>> : internal::RefHandleCodec<SimpleQueue<T>> {};
template <class T>
struct CodecTraits<JoinableQueue<T>>
    : internal::RefHandleCodec<JoinableQueue<T>> {};

}  // namespace shoal

#endif  // SHOAL_IPC_QUEUE_H_
