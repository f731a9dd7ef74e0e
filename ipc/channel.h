// Copyright 2026 The shoal Authors.
//
// channel.h: Channel<T>, blocks of T handed between processes through shared
// memory, with a zero-copy loan API. FloatChannel = Channel<double> (the
// "FloatChannel" pattern of Python's multiprocessing: blocks of doubles).
//
//   shoal::FloatChannel ch(/*max_elements=*/100000);        // 2 slots
//   // writer (any process):
//   auto w = ch.loan(100000);          // a slot of shared memory, yours
//   std::iota(w.begin(), w.end(), 0.0);
//   w.publish();                       // readers see it; nothing copied
//   // reader (any process):
//   auto r = ch.receive();             // a view into the same slot
//   double sum = std::accumulate(r.begin(), r.end(), 0.0);
//   // r's destructor hands the slot back to writers
//
// Contract
//   A Channel is a ring of `slots` fixed-size blocks, each holding up to
//   `max_elements` values of a trivially copyable T, in one shared region.
//   Blocks go first-in first-out. Any number of writers and readers (in any
//   processes holding the handle) may use it; each block goes to exactly one
//   reader.
//
//   Zero-copy API: loan(n) claims a free block and returns a Loan whose
//   data() points into shared memory; fill it, then publish() (or publish(k)
//   with k <= n elements). A Loan destroyed unpublished is given back as a
//   skipped block (readers never see it). receive() returns a View of the
//   next published block; the block returns to the writers when the View is
//   destroyed or release()d. Nothing is copied on this path.
//
//   Batches: loan_many(k, n) claims up to k free blocks at once (at least
//   one, blocking like loan for the first) as a LoanBatch; publish() makes
//   them visible with one wake-up. receive_many(k) takes up to k published
//   blocks as a ViewBatch, given back together. A process killed holding a
//   batch loses its blocks, each counted by lost().
//
//   Copy API: send(span) copies into a block and publishes; recv() returns a
//   std::vector<T>; recv(span) copies into the caller's buffer and returns
//   the element count (shoal::BufferTooShort carrying the needed size when it
//   does not fit; the block is then kept for the next recv/receive of this
//   handle).
//
//   Blocking: loan/send block only while every slot is in use (published and
//   unread, or loaned); receive/recv block while nothing is published. Every
//   blocking call has a timed form (TimeoutError) and a try_ form (nullopt /
//   false). close(): writers then fail with shoal::Closed; readers drain the
//   published blocks, then get Closed.
//
// Process death: a writer killed while holding a Loan, or a reader killed
// holding a View, costs that one block: survivors reclaim the slot within
// ~50 ms (the pid in the slot is gone) and lost() counts it. Nobody blocks on
// a dead process.
//
// Performance (bench/channel_bench.cc, bench/RESULTS.md): a loan/publish or
// receive/release pair is a few atomic operations, independent of the block
// size; the copy API costs one memcpy of the block on each side.
#ifndef SHOAL_IPC_CHANNEL_H_
#define SHOAL_IPC_CHANNEL_H_

#include <algorithm>
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
#include "shoal/ipc/internal/ref_codec.h"
#include "shoal/ipc/internal/ring_core.h"
#include "shoal/ipc/layout.h"
#include "shoal/ipc/region.h"

namespace shoal {

// How a channel is built (the short constructor covers the common case).
struct ChannelOptions {
  uint32_t slots = 2;
  RegionOptions region{};
  // When true, a reader blocked on an empty channel gets shoal::Closed once
  // every process that ever loaned or sent on it has gone (exited, died, or
  // destroyed its last handle). Off by default (see QueueOptions).
  bool close_when_writers_gone = false;
};

namespace internal {

struct WaitAccess;  // ipc/wait.h

// The untyped part: a region holding one ring (ring_core.h) with big
// slots; blocks are always inline, so nothing needs freeing.
class ChannelCore {
 public:
  static std::shared_ptr<ChannelCore> Create(std::size_t block_bytes,
                                             const RegionLayout& layout,
                                             const ChannelOptions& options);
  static std::shared_ptr<ChannelCore> Attach(Region region);

  RingWriter& writer() { return writer_; }
  RingReader& reader() { return reader_; }
  const RingCore& ring() const { return writer_.core(); }
  const Region& region() const { return region_; }
  std::size_t block_bytes() const { return ring().inline_capacity(); }
  void Close() { writer_.core().Close(); }

  // The bytes of a received block, validated (its size read from shared
  // memory must be a whole number of `element_size` elements within the
  // block); throws InvalidRegion.
  std::span<const std::byte> Received(const RingClaim& claim,
                                      std::size_t element_size) const;

  ChannelCore(const ChannelCore&) = delete;
  ChannelCore& operator=(const ChannelCore&) = delete;
  // This process's last handle is going: it stops counting as a writer.
  ~ChannelCore() { writer_.Detach(); }

 private:
  ChannelCore() = default;
  Region region_;
  RingWriter writer_;
  RingReader reader_;
};

}  // namespace internal

template <class T>
class Channel {
  static_assert(std::is_trivially_copyable_v<T>,
                "shoal::Channel<T> hands over blocks of T in shared memory as "
                "raw bytes, so T must be trivially copyable: numbers, enums, "
                "and structs or std::arrays of them. For other types use a "
                "Queue<T>, which encodes values");
  static_assert(!internal::HasRawAddress<T>(),
                "shoal::Channel<T>: T holds a raw pointer or a view "
                "(std::string_view, std::span), which means nothing in "
                "another process; send the data or an offset instead");
  static_assert(alignof(T) <= 32, "Channel<T>: alignof(T) must be <= 32");

 public:
  using value_type = T;

  // A block loaned to a writer. Move-only. Unpublished at destruction: the
  // block is skipped (readers never see it).
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

    // Makes the first `n` elements (default: all) visible to readers.
    void publish() { publish(size_); }
    void publish(std::size_t n) {
      if (!core_) throw ValueError("Channel::Loan::publish: nothing loaned");
      if (n > size_) {
        throw ValueError("Channel::Loan::publish: " + std::to_string(n) +
                         " elements exceed the loan of " +
                         std::to_string(size_));
      }
      core_->writer().Publish(claim_, static_cast<uint32_t>(n * sizeof(T)));
      core_.reset();
    }
    explicit operator bool() const { return core_ != nullptr; }

   private:
    friend class Channel;
    void Abandon() {
      if (core_) core_->writer().Abandon(claim_);
      core_.reset();
    }
    std::shared_ptr<internal::ChannelCore> core_;
    internal::RingClaim claim_;
    std::size_t size_ = 0;
  };

  // A received block, read in place. Move-only; releases the block to the
  // writers when destroyed or release()d.
  class View {
   public:
    View() = default;
    View(View&& o) noexcept { *this = std::move(o); }
    View& operator=(View&& o) noexcept {
      if (this != &o) {
        release();
        core_ = std::move(o.core_);
        claim_ = o.claim_;
        size_ = o.size_;
        o.core_.reset();
      }
      return *this;
    }
    ~View() { release(); }

    const T* data() const { return reinterpret_cast<const T*>(claim_.data); }
    std::size_t size() const { return size_; }
    std::span<const T> span() const { return {data(), size_}; }
    const T* begin() const { return data(); }
    const T* end() const { return data() + size_; }
    const T& operator[](std::size_t i) const { return data()[i]; }
    explicit operator bool() const { return core_ != nullptr; }

    void release() {
      if (core_) core_->reader().Release(claim_);
      core_.reset();
    }

   private:
    friend class Channel;
    std::shared_ptr<internal::ChannelCore> core_;
    internal::RingClaim claim_;
    std::size_t size_ = 0;
  };

  // Up to `count` blocks loaned together (loan_many). Move-only. Blocks not
  // published at destruction are skipped.
  class LoanBatch {
   public:
    LoanBatch() = default;
    LoanBatch(LoanBatch&& o) noexcept { *this = std::move(o); }
    LoanBatch& operator=(LoanBatch&& o) noexcept {
      if (this != &o) {
        Abandon();
        core_ = std::move(o.core_);
        batch_ = o.batch_;
        size_ = o.size_;
        blocks_ = std::move(o.blocks_);
        o.core_.reset();
      }
      return *this;
    }
    ~LoanBatch() { Abandon(); }

    // Blocks in the batch (1..count asked for).
    std::size_t count() const { return blocks_.size(); }
    // Elements per block.
    std::size_t size() const { return size_; }
    std::span<T> block(std::size_t i) const {
      return {reinterpret_cast<T*>(blocks_.at(i)), size_};
    }
    // Publishes the first `blocks` blocks (default: all), `size()` elements
    // each, with one wake-up; the others are skipped.
    void publish() { publish(count()); }
    void publish(std::size_t blocks) {
      if (!core_) throw ValueError("Channel::LoanBatch::publish: nothing loaned");
      if (blocks > count()) {
        throw ValueError("Channel::LoanBatch::publish: " +
                         std::to_string(blocks) + " blocks exceed the batch of " +
                         std::to_string(count()));
      }
      std::vector<uint32_t> sizes(blocks,
                                  static_cast<uint32_t>(size_ * sizeof(T)));
      core_->writer().PublishBatch(batch_, sizes);
      core_.reset();
    }
    explicit operator bool() const { return core_ != nullptr; }

   private:
    friend class Channel;
    void Abandon() {
      if (core_) core_->writer().PublishBatch(batch_, {});
      core_.reset();
    }
    std::shared_ptr<internal::ChannelCore> core_;
    internal::RingBatch batch_;
    std::size_t size_ = 0;
    std::vector<std::byte*> blocks_;
  };

  // Up to `count` received blocks, read in place (receive_many). Move-only;
  // gives every block back when destroyed or release()d.
  class ViewBatch {
   public:
    ViewBatch() = default;
    ViewBatch(ViewBatch&& o) noexcept { *this = std::move(o); }
    ViewBatch& operator=(ViewBatch&& o) noexcept {
      if (this != &o) {
        release();
        core_ = std::move(o.core_);
        batch_ = o.batch_;
        blocks_ = std::move(o.blocks_);
        o.core_.reset();
      }
      return *this;
    }
    ~ViewBatch() { release(); }

    std::size_t count() const { return blocks_.size(); }
    std::span<const T> block(std::size_t i) const { return blocks_.at(i); }
    explicit operator bool() const { return core_ != nullptr; }
    void release() {
      if (core_) core_->reader().ReleaseBatch(batch_);
      core_.reset();
      blocks_.clear();
    }

   private:
    friend class Channel;
    std::shared_ptr<internal::ChannelCore> core_;
    internal::RingBatch batch_;
    std::vector<std::span<const T>> blocks_;
  };

  // A channel of `slots` blocks of up to `max_elements` values each.
  explicit Channel(std::size_t max_elements, uint32_t slots = 2,
                   const RegionOptions& region = {})
      : Channel(max_elements, ChannelOptions{.slots = slots, .region = region}) {}
  Channel(std::size_t max_elements, const ChannelOptions& options)
      : core_(internal::ChannelCore::Create(BlockBytes(max_elements), Layout(),
                                            options)),
        max_elements_(max_elements) {}

  // Opens a named channel (created with region.kind == kNamed) or a ref.
  static Channel Open(std::string_view name, const OpenOptions& options = {}) {
    return Channel(internal::ChannelCore::Attach(
        Region::OpenNamed(name, Layout(), options)));
  }
  static Channel Open(const RegionRef& ref, const OpenOptions& options = {}) {
    return Channel(
        internal::ChannelCore::Attach(Region::Open(ref, Layout(), options)));
  }

  // --- zero-copy ---
  Loan loan(std::size_t n) { return *TryLoan(n, Deadline::Infinite(), true); }
  Loan loan(std::size_t n, const Deadline& deadline) {
    return *TryLoan(n, deadline, true);
  }
  std::optional<Loan> try_loan(std::size_t n,
                               const Deadline& deadline = Deadline::Now()) {
    return TryLoan(n, deadline, false);
  }

  View receive() { return *TryReceive(Deadline::Infinite(), true); }
  View receive(const Deadline& deadline) { return *TryReceive(deadline, true); }
  std::optional<View> try_receive(const Deadline& deadline = Deadline::Now()) {
    return TryReceive(deadline, false);
  }

  // --- zero-copy batches ---
  // Between 1 and `count` free blocks of `n` elements each, claimed at once
  // (blocking until the first is free; TimeoutError / Closed as loan).
  LoanBatch loan_many(std::size_t count, std::size_t n,
                      const Deadline& deadline = Deadline::Infinite()) {
    if (n > max_elements_) {
      throw ValueError("Channel.loan_many: " + std::to_string(n) +
                       " elements exceed the block size of " +
                       std::to_string(max_elements_));
    }
    LoanBatch b;
    using S = internal::RingWriter::Status;
    S s = core_->writer().ClaimBatch(BatchMax(count), &b.batch_, deadline);
    if (s == S::kClosed) throw Closed("Channel: closed");
    if (s != S::kOk) {
      throw TimeoutError("Channel.loan_many: every slot still in use at the deadline");
    }
    b.core_ = core_;
    b.size_ = n;
    b.blocks_.reserve(b.batch_.count);
    internal::RingClaim c = core_->ring().ClaimAt(b.batch_.first);
    for (uint32_t i = 0; i < b.batch_.count; ++i) {
      if (i > 0) c = core_->ring().NextClaim(c);
      b.blocks_.push_back(c.data);
    }
    return b;
  }
  // Between 1 and `count` published blocks, taken at once (TimeoutError /
  // Closed as receive).
  ViewBatch receive_many(std::size_t count,
                         const Deadline& deadline = Deadline::Infinite()) {
    ViewBatch v;
    using S = internal::RingReader::Status;
    S s = core_->reader().ClaimBatch(BatchMax(count), &v.batch_, deadline);
    if (s == S::kClosed) throw Closed("Channel: closed and drained");
    if (s != S::kOk) {
      throw TimeoutError("Channel.receive_many: nothing published before the deadline");
    }
    v.core_ = core_;
    v.blocks_.reserve(v.batch_.count);
    internal::RingClaim c = core_->ring().ClaimAt(v.batch_.first);
    for (uint32_t i = 0; i < v.batch_.count; ++i) {
      if (i > 0) c = core_->ring().NextClaim(c);
      if (!internal::RingReader::IsItem(c)) continue;
      const auto bytes = core_->Received(c, sizeof(T));
      v.blocks_.emplace_back(reinterpret_cast<const T*>(bytes.data()),
                             bytes.size() / sizeof(T));
    }
    return v;
  }

  // --- copying ---
  void send(std::span<const T> data, const Deadline& deadline = Deadline()) {
    Loan w = loan(data.size(), deadline);
    core_->writer().Announce(w.claim_);  // a reader may watch the copy
    if (!data.empty()) std::memcpy(w.data(), data.data(), data.size_bytes());
    w.publish();
  }
  bool try_send(std::span<const T> data,
                const Deadline& deadline = Deadline::Now()) {
    std::optional<Loan> w = try_loan(data.size(), deadline);
    if (!w) return false;
    core_->writer().Announce(w->claim_);
    if (!data.empty()) std::memcpy(w->data(), data.data(), data.size_bytes());
    w->publish();
    return true;
  }
  std::vector<T> recv(const Deadline& deadline = Deadline()) {
    View v = receive(deadline);
    return std::vector<T>(v.begin(), v.end());
  }
  // Copies the next block into `out`; returns its element count.
  std::size_t recv(std::span<T> out, const Deadline& deadline = Deadline()) {
    View v = receive(deadline);
    if (v.size() > out.size()) {
      std::size_t needed = v.size();
      pending_ = std::move(v);  // kept for the next receive of this handle
      throw BufferTooShort("Channel.recv: block of " + std::to_string(needed) +
                               " elements does not fit in " +
                               std::to_string(out.size()),
                           needed);
    }
    if (v.size() > 0) std::memcpy(out.data(), v.data(), v.size() * sizeof(T));
    return v.size();
  }

  void close() { core_->Close(); }
  bool closed() const { return core_->ring().closed(); }
  // Blocks lost because the process holding them died.
  uint64_t lost() const { return core_->ring().lost(); }
  // Published blocks not yet received (approximate while others operate).
  std::size_t qsize() const { return core_->ring().size(); }
  std::size_t max_elements() const { return max_elements_; }
  uint32_t slots() const { return core_->ring().capacity(); }
  const Region& region() const { return core_->region(); }
  RegionRef ref() const { return core_->region().ref(); }

  // Version 2: the ring core with its writer and reader registries.
  static RegionLayout Layout() { return LayoutOf<Channel<T>>("channel", 2); }

 private:
  friend struct internal::WaitAccess;
  explicit Channel(std::shared_ptr<internal::ChannelCore> core)
      : core_(std::move(core)),
        max_elements_(core_->block_bytes() / sizeof(T)) {}

  uint32_t BatchMax(std::size_t count) const {
    if (count == 0) throw ValueError("Channel: a batch of 0 blocks");
    return static_cast<uint32_t>(std::min<std::size_t>(count, slots()));
  }

  static std::size_t BlockBytes(std::size_t max_elements) {
    if (max_elements == 0 || max_elements > (std::size_t{1} << 31) / sizeof(T)) {
      throw ValueError("Channel: max_elements must be in [1, 2^31 / sizeof(T)]");
    }
    return max_elements * sizeof(T);
  }

  std::optional<Loan> TryLoan(std::size_t n, const Deadline& deadline,
                              bool throwing) {
    if (n > max_elements_) {
      throw ValueError("Channel.loan: " + std::to_string(n) +
                       " elements exceed the block size of " +
                       std::to_string(max_elements_));
    }
    Loan w;
    using S = internal::RingWriter::Status;
    S s = core_->writer().Claim(&w.claim_, deadline);
    if (s == S::kOk) {
      w.core_ = core_;
      w.size_ = n;
      return w;
    }
    if (!throwing) return std::nullopt;
    if (s == S::kClosed) throw Closed("Channel: closed");
    throw TimeoutError("Channel.loan: every slot still in use at the deadline");
  }

  std::optional<View> TryReceive(const Deadline& deadline, bool throwing) {
    if (pending_) return std::move(pending_);
    View v;
    using S = internal::RingReader::Status;
    S s = core_->reader().Claim(&v.claim_, deadline);
    if (s == S::kOk) {
      v.core_ = core_;
      v.size_ = core_->Received(v.claim_, sizeof(T)).size() / sizeof(T);
      return v;
    }
    if (!throwing) return std::nullopt;
    if (s == S::kClosed) throw Closed("Channel: closed and drained");
    throw TimeoutError("Channel.receive: nothing published before the deadline");
  }

  std::shared_ptr<internal::ChannelCore> core_;
  std::size_t max_elements_;
  std::optional<View> pending_;
};

using FloatChannel = Channel<double>;

// A Channel travels to other processes as its region's ref.
template <class T>
struct CodecTraits<Channel<T>> : internal::RefHandleCodec<Channel<T>> {};

}  // namespace shoal

#endif  // SHOAL_IPC_CHANNEL_H_
