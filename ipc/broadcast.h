// Copyright 2026 The shoal Authors.
//
// broadcast.h: Broadcast<T>, publish/subscribe of blocks of T between
// processes through shared memory: every subscriber sees every block, read
// in place (zero-copy) or copied out.
//
//   shoal::Broadcast<double> bus(/*max_elements=*/4096,
//       {.slots = 8, .history = 4,
//        .region = {.kind = shoal::RegionKind::kNamed, .name = "imu"}});
//   // publisher (any process, any number of them):
//   auto block = bus.loan(4096);       // a slot of shared memory, yours
//   fill(block.span());
//   block.publish();                   // every subscriber sees it
//   // subscriber (an unrelated process, joining at any time):
//   auto sub = shoal::Broadcast<double>::Open("imu").subscribe(
//       {.when_behind = shoal::WhenBehind::kOverwrite, .history = 4});
//   auto v = sub.receive(std::chrono::seconds(1));   // a view, in place
//   use(v.span(), v.missed_before());  // blocks this subscriber missed
//
// Contract
//   A Broadcast is a ring of `slots` blocks, each up to `max_elements`
//   values of a trivially copyable T, and a table of up to `max_subscribers`
//   subscribers (256 by default, up to 65,536), in one shared region. Any
//   number of processes publish; blocks get consecutive sequence numbers in
//   the order their loans were taken. Every subscriber receives every block
//   published after it joined, in sequence order, unless it falls behind
//   with WhenBehind::kOverwrite (below). A block's slot is reused only when
//   every subscriber that still wants it has released it.
//
//   Zero-copy: loan(n) claims a slot and returns a Loan whose data() points
//   into shared memory; fill it and publish() (or publish(k), k <= n). A
//   Loan destroyed unpublished becomes a skipped sequence number that
//   subscribers never see. Subscriber::receive() returns a View of the next
//   block, read in place; the block is pinned for this subscriber until the
//   View is destroyed or release()d (a pinned block is never overwritten,
//   whatever the policy: hold views briefly). Copy API: send(span) copies
//   in; recv() returns a std::vector<T>; recv(span) copies into the caller's
//   buffer (BufferTooShort, carrying the size needed, when it does not fit;
//   the block is kept for the next call).
//
//   Subscribers join with subscribe() on any handle, in any process that
//   opened the broadcast (by name or ref), at any time, and leave when their
//   Subscriber (and its last View) is destroyed, or with leave(). A
//   subscriber may ask for `history`: it then starts with up to that many of
//   the most recently published blocks (at most BroadcastOptions::history,
//   fewer if fewer were published, or if publishers overwrite them while
//   it joins).
//
//   When a subscriber falls a whole ring behind, its WhenBehind policy says
//   what happens:
//     kBlockWriter  publishers wait for it (loan/send block, bounded by
//                   their deadline: TimeoutError, or false from the try_
//                   forms). Nothing is lost.
//     kOverwrite    publishers go on; the blocks it had not reached are
//                   overwritten, and the subscriber is told: missed()
//                   counts them and View::missed_before() says how many went
//                   right before this block. (A sequence number whose loan
//                   was abandoned can be counted there too: it is gone
//                   before anyone knows it held nothing.)
//   For each subscriber, delivered() + missed() + lost() counts every
//   sequence number from where it started to its cursor, less abandoned
//   loans it stepped over.
//
//   Blocking: every blocking call has a timed form (TimeoutError) and a try_
//   form (nullopt / false). close(): publishers then get shoal::Closed;
//   subscribers receive what was published, then get Closed.
//
// Process death
//   A publisher killed while holding a Loan costs that one sequence number:
//   a subscriber or publisher waiting on it checks the pid after ~50 ms
//   (kLivenessCheckInterval) and marks it lost; each subscriber counts it in
//   lost(), the broadcast once in lost(). A subscriber killed at any point
//   (holding views, or with blocks unread under kBlockWriter) is evicted by
//   the first publisher it blocks, within the same interval: its cursor and
//   pins are freed, evicted() counts it, and publishing goes on. A
//   subscriber is identified by pid, start time and pid namespace, so a
//   reused pid is never mistaken for it. A subscriber that is merely
//   stopped (SIGSTOP) is not dead: under kBlockWriter publishers wait for it
//   until their deadline (use kOverwrite for consumers that may stall).
//
// Waiting on many things: a Subscriber can be passed to shoal::wait and
// WaitSet (ipc/wait.h) with queues, connections, listeners...; it is ready
// when receive() would return or throw at once. A waiter costs publishers
// one FUTEX_WAKE per publish while it sleeps (as a receive() asleep does)
// and nothing when nobody waits; a publisher that dies holding the block at
// the subscriber's cursor is found by the waiter after ~50 ms, as by a
// blocked receive(); a waiter killed while it waits leaves its registration
// behind (publishers then issue a FUTEX_WAKE per publish nobody needs).
//
// Corruption: the geometry is validated when the region is opened, every
// size and flag of a block before it is handed out, and every slot index is
// computed, never read. A peer that writes garbage makes calls throw
// InvalidRegion or time out at their deadline; never a crash or an
// out-of-bounds access (tests/fuzz/broadcast_fuzz.cc).
//
// Algorithm and layout: ipc/internal/broadcast_ring.h (slots with a pin
// bitmap, one cursor per subscriber, a lock-free claim like the ring core's).
//
// Performance (bench/broadcast_bench.cc, bench/RESULTS.md "## broadcast"):
// a loan/publish is a CAS, an exchange and a check of the pins (plus a scan
// of the block-the-writer cursors about once a lap); a receive/release is
// two atomic read-modify-writes on the slot's header and a store of the
// cursor. Nothing is copied on the zero-copy path: one subscriber receives
// as fast as a Channel reader; N subscribers each need CPU time to read
// (4 subscribers of 1 MiB blocks on 2 CPUs: 0.58x a Channel reader each).
// 64 B blocks to 4 subscribers: 26x iceoryx's publish/subscribe, same run.
//
// Threads: a Broadcast handle publishes from one thread at a time (it
// caches the subscribers' cursors); copy the handle for another thread
// (copies are cheap and share the ring). A Subscriber is one subscriber:
// one thread at a time. Loans and Views may move between threads.
// A Subscriber belongs to the process that subscribed (a forked child
// subscribes itself).
#ifndef SHOAL_IPC_BROADCAST_H_
#define SHOAL_IPC_BROADCAST_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
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
#include "shoal/ipc/internal/broadcast_ring.h"
#include "shoal/ipc/internal/ref_codec.h"
#include "shoal/ipc/internal/wait_hook.h"
#include "shoal/ipc/layout.h"
#include "shoal/ipc/region.h"

namespace shoal {

// How a broadcast is built.
struct BroadcastOptions {
  // Blocks in the ring: how far the fastest publisher may run ahead of the
  // slowest block-the-writer subscriber, plus the history.
  uint32_t slots = 8;
  // Most blocks a late joiner may ask to receive first (< slots).
  uint32_t history = 0;
  // Size of the subscriber table (1 to 65,536).
  uint32_t max_subscribers = 256;
  RegionOptions region{};
};

// What happens when a subscriber falls a whole ring behind.
enum class WhenBehind {
  kBlockWriter,  // publishers wait for it (bounded by their deadlines)
  kOverwrite,    // publishers go on; it is told what it missed
};

struct SubscribeOptions {
  WhenBehind when_behind = WhenBehind::kBlockWriter;
  // Start with up to this many of the latest blocks (<= the history the
  // broadcast was created with).
  uint32_t history = 0;
};

namespace internal {

// The untyped part: the region and its ring.
class BroadcastCore {
 public:
  static std::shared_ptr<BroadcastCore> Create(std::size_t block_bytes,
                                               const RegionLayout& layout,
                                               const BroadcastOptions& options);
  static std::shared_ptr<BroadcastCore> Attach(Region region,
                                               std::size_t element_size);

  BroadcastRing& ring() { return ring_; }
  const BroadcastRing& ring() const { return ring_; }
  // Publish/Abandon use no per-handle state: one for every Loan.
  BroadcastWriter& publisher() { return publisher_; }
  const Region& region() const { return region_; }

  BroadcastCore(const BroadcastCore&) = delete;
  BroadcastCore& operator=(const BroadcastCore&) = delete;

 private:
  BroadcastCore() = default;
  Region region_;
  BroadcastRing ring_;
  BroadcastWriter publisher_;
};

// One subscriber's process-local state, shared by its Views.
struct BroadcastSubscription {
  BroadcastSubscription(std::shared_ptr<BroadcastCore> c, BroadcastPolicy p,
                        uint32_t history)
      : core(std::move(c)), reader(core->ring(), p, history) {}
  std::shared_ptr<BroadcastCore> core;
  BroadcastReader reader;
  uint64_t missed_reported = 0;
  // A block recv(span) kept for the next call (so a wait reports ready).
  std::shared_ptr<std::atomic<bool>> kept =
      std::make_shared<std::atomic<bool>>(false);
};

// A Subscriber for shoal::wait / WaitSet (ipc/wait.h): ready when its
// receive would return at once (see BroadcastWatch). Keeps the mapping, not
// the subscription, alive: a subscriber destroyed while a set still holds
// it leaves as usual (and reads as ready).
WaitHookPtr MakeSubscriberWaitHook(const BroadcastSubscription& sub,
                                   const void* object);

}  // namespace internal

template <class T>
class Broadcast {
  static_assert(std::is_trivially_copyable_v<T>,
                "shoal::Broadcast<T> hands blocks of T to other processes as "
                "raw bytes, so T must be trivially copyable");
  static_assert(!internal::HasRawAddress<T>(),
                "shoal::Broadcast<T>: T holds a raw pointer or a view, which "
                "means nothing in another process");
  static_assert(alignof(T) <= 64, "Broadcast<T>: alignof(T) must be <= 64");

 public:
  using value_type = T;

  // A block loaned to a publisher. Move-only. Unpublished at destruction:
  // the sequence number is skipped.
  class Loan {
   public:
    Loan() = default;
    Loan(Loan&& o) noexcept { *this = std::move(o); }
    Loan& operator=(Loan&& o) noexcept {
      if (this != &o) {
        Abandon();
        core_ = std::move(o.core_);
        claim_ = o.claim_;
        size_ = o.size_;
        o.core_.reset();
      }
      return *this;
    }
    ~Loan() { Abandon(); }

    T* data() const { return reinterpret_cast<T*>(claim_.data); }
    std::size_t size() const { return size_; }
    std::span<T> span() const { return {data(), size_}; }
    T* begin() const { return data(); }
    T* end() const { return data() + size_; }
    T& operator[](std::size_t i) const { return data()[i]; }
    // The block's sequence number (0, 1, 2, ... across all publishers).
    uint64_t seq() const { return claim_.seq; }

    // Makes the first `n` elements (default: all) visible to subscribers.
    void publish() { publish(size_); }
    void publish(std::size_t n) {
      if (!core_) throw ValueError("Broadcast::Loan::publish: nothing loaned");
      if (n > size_) {
        throw ValueError("Broadcast::Loan::publish: " + std::to_string(n) +
                         " elements exceed the loan of " +
                         std::to_string(size_));
      }
      core_->publisher().Publish(claim_, static_cast<uint32_t>(n * sizeof(T)));
      core_.reset();
    }
    explicit operator bool() const { return core_ != nullptr; }

   private:
    friend class Broadcast;
    void Abandon() {
      if (core_) core_->publisher().Abandon(claim_);
      core_.reset();
    }
    std::shared_ptr<internal::BroadcastCore> core_;
    internal::BroadcastClaim claim_;
    std::size_t size_ = 0;
  };

  // A received block, read in place; pinned until destroyed or release()d.
  class View {
   public:
    View() = default;
    View(View&& o) noexcept { *this = std::move(o); }
    View& operator=(View&& o) noexcept {
      if (this != &o) {
        release();
        sub_ = std::move(o.sub_);
        claim_ = o.claim_;
        missed_before_ = o.missed_before_;
        o.sub_.reset();
      }
      return *this;
    }
    ~View() { release(); }

    const T* data() const { return reinterpret_cast<const T*>(claim_.data); }
    std::size_t size() const { return claim_.size / sizeof(T); }
    std::span<const T> span() const { return {data(), size()}; }
    const T* begin() const { return data(); }
    const T* end() const { return data() + size(); }
    const T& operator[](std::size_t i) const { return data()[i]; }
    uint64_t seq() const { return claim_.seq; }
    // Blocks this subscriber missed (overwritten) right before this one.
    uint64_t missed_before() const { return missed_before_; }
    explicit operator bool() const { return sub_ != nullptr; }

    void release() {
      if (sub_) sub_->reader.Release(claim_);
      sub_.reset();
    }

   private:
    friend class Broadcast;
    std::shared_ptr<internal::BroadcastSubscription> sub_;
    internal::BroadcastClaim claim_;
    uint64_t missed_before_ = 0;
  };

  // One subscriber: its cursor, policy and counts. Move-only; leaves when it
  // and its last View are gone (or at leave()).
  class Subscriber {
   public:
    Subscriber() = default;
    Subscriber(Subscriber&&) noexcept = default;
    Subscriber& operator=(Subscriber&&) noexcept = default;

    View receive() { return *TryReceive(Deadline::Infinite(), true); }
    View receive(const Deadline& deadline) {
      return *TryReceive(deadline, true);
    }
    std::optional<View> try_receive(
        const Deadline& deadline = Deadline::Now()) {
      return TryReceive(deadline, false);
    }
    std::vector<T> recv(const Deadline& deadline = Deadline()) {
      View v = receive(deadline);
      return std::vector<T>(v.begin(), v.end());
    }
    // Copies the next block into `out`; returns its element count.
    std::size_t recv(std::span<T> out, const Deadline& deadline = Deadline()) {
      View v = receive(deadline);
      if (v.size() > out.size()) {
        const std::size_t needed = v.size();
        pending_ = std::move(v);  // kept for the next receive
        sub_->kept->store(true, std::memory_order_relaxed);
        throw BufferTooShort("Broadcast.recv: block of " +
                                 std::to_string(needed) +
                                 " elements does not fit in " +
                                 std::to_string(out.size()),
                             needed);
      }
      if (v.size() > 0) std::memcpy(out.data(), v.data(), v.size() * sizeof(T));
      return v.size();
    }

    // Blocks overwritten before this subscriber reached them (kOverwrite).
    uint64_t missed() const { return sub_->reader.missed(); }
    // Blocks whose publisher died before publishing them.
    uint64_t lost() const { return sub_->reader.lost(); }
    // Blocks received.
    uint64_t delivered() const { return sub_->reader.delivered(); }
    // The sequence number of the next block it will receive.
    uint64_t cursor() const { return sub_->reader.cursor(); }
    // Leaves now, instead of when the last handle goes. Views still held
    // are unpinned (their blocks may be overwritten): release them first.
    void leave() {
      pending_.reset();
      if (sub_) sub_->kept->store(false, std::memory_order_relaxed);
      if (sub_) sub_->reader.Leave();
    }
    explicit operator bool() const { return sub_ != nullptr; }

    // For shoal::wait and WaitSet (ipc/wait.h): readable when receive()
    // would return at once -- a block is published at its cursor, it was
    // lapped, the broadcast is closed and drained, or it left (receive
    // then reports that). Found by argument-dependent lookup.
    friend internal::WaitHookPtr MakeWaitHook(const Subscriber& s) {
      if (!s.sub_) throw ValueError("Broadcast::Subscriber: empty handle");
      return internal::MakeSubscriberWaitHook(*s.sub_, &s);
    }

   private:
    friend class Broadcast;
    std::optional<View> TryReceive(const Deadline& deadline, bool throwing) {
      if (!sub_) throw ValueError("Broadcast::Subscriber: empty handle");
      if (pending_) {
        std::optional<View> v = std::move(pending_);
        pending_.reset();
        sub_->kept->store(false, std::memory_order_relaxed);
        return v;
      }
      View v;
      using S = internal::BroadcastRing::Status;
      const S s = sub_->reader.Claim(&v.claim_, deadline);
      if (s == S::kOk) {
        v.sub_ = sub_;
        v.missed_before_ = sub_->reader.missed() - sub_->missed_reported;
        sub_->missed_reported = sub_->reader.missed();
        if (v.claim_.size % sizeof(T) != 0) {
          throw InvalidRegion(
              sub_->core->region().description() + ": broadcast block of " +
              std::to_string(v.claim_.size) +
              " bytes is not a whole number of elements: shared memory "
              "corrupt");
        }
        return v;
      }
      if (!throwing) return std::nullopt;
      if (s == S::kClosed) throw Closed("Broadcast: closed and drained");
      throw TimeoutError(
          "Broadcast.receive: nothing published before the deadline");
    }
    std::shared_ptr<internal::BroadcastSubscription> sub_;
    std::optional<View> pending_;
  };

  // A broadcast of `slots` blocks of up to `max_elements` values each.
  explicit Broadcast(std::size_t max_elements,
                     const BroadcastOptions& options = {})
      : Broadcast(internal::BroadcastCore::Create(BlockBytes(max_elements),
                                                  Layout(), options)) {}

  // Opens a named broadcast (created with region.kind == kNamed) or a ref.
  static Broadcast Open(std::string_view name, const OpenOptions& options = {}) {
    return Broadcast(internal::BroadcastCore::Attach(
        Region::OpenNamed(name, Layout(), options), sizeof(T)));
  }
  static Broadcast Open(const RegionRef& ref, const OpenOptions& options = {}) {
    return Broadcast(internal::BroadcastCore::Attach(
        Region::Open(ref, Layout(), options), sizeof(T)));
  }

  // --- publishing ---
  Loan loan(std::size_t n) { return *TryLoan(n, Deadline::Infinite(), true); }
  Loan loan(std::size_t n, const Deadline& deadline) {
    return *TryLoan(n, deadline, true);
  }
  std::optional<Loan> try_loan(std::size_t n,
                               const Deadline& deadline = Deadline::Now()) {
    return TryLoan(n, deadline, false);
  }
  void send(std::span<const T> data, const Deadline& deadline = Deadline()) {
    Loan w = loan(data.size(), deadline);
    if (!data.empty()) std::memcpy(w.data(), data.data(), data.size_bytes());
    w.publish();
  }
  bool try_send(std::span<const T> data,
                const Deadline& deadline = Deadline::Now()) {
    std::optional<Loan> w = try_loan(data.size(), deadline);
    if (!w) return false;
    if (!data.empty()) std::memcpy(w->data(), data.data(), data.size_bytes());
    w->publish();
    return true;
  }

  // --- subscribing ---
  // Joins as a new subscriber. Throws RuntimeError when every entry of the
  // table is taken by a live process (dead ones are evicted first).
  Subscriber subscribe(const SubscribeOptions& options = {}) {
    Subscriber s;
    s.sub_ = std::make_shared<internal::BroadcastSubscription>(
        core_, options.when_behind == WhenBehind::kOverwrite
                   ? internal::BroadcastPolicy::kOverwrite
                   : internal::BroadcastPolicy::kBlockWriter,
        options.history);
    return s;
  }

  void close() { core_->ring().Close(); }
  bool closed() const { return core_->ring().closed(); }
  // Sequence numbers taken so far (published, being written, or skipped).
  uint64_t published() const { return core_->ring().published(); }
  // Blocks lost because their publisher died before publishing.
  uint64_t lost() const { return core_->ring().lost(); }
  // Subscribers evicted because their process died.
  uint64_t evicted() const { return core_->ring().evicted(); }
  // Subscribers now joined (dead ones count until evicted).
  uint32_t subscribers() const { return core_->ring().active_subscribers(); }
  // Evicts every subscriber whose process is proven dead now (publishers do
  // it by themselves for those that block them). Returns how many.
  std::size_t evict_dead() { return core_->ring().EvictDead(); }

  std::size_t max_elements() const { return max_elements_; }
  uint32_t slots() const { return core_->ring().capacity(); }
  uint32_t history() const { return core_->ring().history(); }
  uint32_t max_subscribers() const { return core_->ring().max_subscribers(); }
  const Region& region() const { return core_->region(); }
  RegionRef ref() const { return core_->region().ref(); }

  static RegionLayout Layout() { return LayoutOf<Broadcast<T>>("broadcast", 1); }

 private:
  explicit Broadcast(std::shared_ptr<internal::BroadcastCore> core)
      : core_(std::move(core)),
        writer_(core_->ring()),
        max_elements_(core_->ring().block_bytes() / sizeof(T)) {}

  static std::size_t BlockBytes(std::size_t max_elements) {
    if (max_elements == 0 ||
        max_elements > (std::size_t{1} << 31) / sizeof(T)) {
      throw ValueError(
          "Broadcast: max_elements must be in [1, 2^31 / sizeof(T)]");
    }
    return max_elements * sizeof(T);
  }

  std::optional<Loan> TryLoan(std::size_t n, const Deadline& deadline,
                              bool throwing) {
    if (n > max_elements_) {
      throw ValueError("Broadcast.loan: " + std::to_string(n) +
                       " elements exceed the block size of " +
                       std::to_string(max_elements_));
    }
    Loan w;
    using S = internal::BroadcastRing::Status;
    const S s = writer_.Claim(&w.claim_, deadline);
    if (s == S::kOk) {
      w.core_ = core_;
      w.size_ = n;
      return w;
    }
    if (!throwing) return std::nullopt;
    if (s == S::kClosed) throw Closed("Broadcast: closed");
    throw TimeoutError(
        "Broadcast.loan: a subscriber still needed the oldest block at the "
        "deadline");
  }

  std::shared_ptr<internal::BroadcastCore> core_;
  internal::BroadcastWriter writer_;
  std::size_t max_elements_;
};

// A Broadcast travels to other processes as its region's ref.
template <class T>
struct CodecTraits<Broadcast<T>> : internal::RefHandleCodec<Broadcast<T>> {};

}  // namespace shoal

#endif  // SHOAL_IPC_BROADCAST_H_
