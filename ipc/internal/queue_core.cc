#include "shoal/ipc/internal/queue_core.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <new>
#include <string>

#include "shoal/base/errors.h"
#include "shoal/base/internal/futex.h"

namespace shoal::internal {
namespace {

uint64_t RoundUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

// Gives a claimed batch back however the reading ends.
struct ReleaseBatchOnExit {
  RingReader& reader;
  const RingBatch& batch;
  ~ReleaseBatchOnExit() {
    try {
      reader.ReleaseBatch(batch);
    } catch (...) {
      // Only a corrupt ring can throw here; the read already reported it.
    }
  }
};

// memcpy of one raw item: the common small sizes as fixed-size copies (a
// register move, not a library call).
inline void CopyItem(std::byte* dst, const std::byte* src, std::size_t n) {
  switch (n) {
    case 4:
      std::memcpy(dst, src, 4);
      return;
    case 8:
      std::memcpy(dst, src, 8);
      return;
    case 16:
      std::memcpy(dst, src, 16);
      return;
    default:
      std::memcpy(dst, src, n);
  }
}

}  // namespace

std::shared_ptr<QueueCore> QueueCore::Create(const QueueOptions& options,
                                             std::size_t default_inline,
                                             const RegionLayout& layout) {
  std::size_t maxsize =
      options.maxsize == 0 ? QueueOptions::kDefaultMaxsize : options.maxsize;
  if (maxsize > (std::size_t{1} << 31)) {
    throw ValueError("Queue: maxsize " + std::to_string(maxsize) +
                     " is too large (at most 2^31)");
  }
  std::size_t inline_bytes =
      options.inline_bytes == 0 ? default_inline : options.inline_bytes;
  const uint64_t ring_offset = RoundUp(sizeof(QueueShared), 64);
  const uint64_t ring_bytes =
      RingCore::BytesFor(static_cast<uint32_t>(maxsize), inline_bytes);
  const uint64_t heap_offset = RoundUp(ring_offset + ring_bytes, 64);
  const uint64_t heap_bytes =
      options.heap_bytes == 0 ? 0 : BlockHeap::BytesFor(options.heap_bytes);
  if (options.region.kind == RegionKind::kNamed) {
    // Named queues outlive a creator that was killed: clear those of our
    // kind first, so /dev/shm never fills with dead queues.
    SweepStale(layout.type_name.substr(0, layout.type_name.find('<') + 1));
  }
  // The control block and the ring are reserved now; the heap's data as it
  // grows (BlockHeap), since most queues use a small part of it.
  Region region = Region::Create(
      heap_offset + heap_bytes, layout, options.region,
      heap_offset + (heap_bytes - std::min<uint64_t>(heap_bytes,
                                                     options.heap_bytes)));

  auto* shared = new (region.payload()) QueueShared;
  shared->version = kQueueLayoutVersion;
  shared->reserved = 0;
  shared->maxsize = maxsize;
  shared->ring_offset = ring_offset;
  shared->ring_bytes = ring_bytes;
  shared->heap_offset = heap_offset;
  shared->heap_bytes = heap_bytes;
  shared->unfinished.store(0, std::memory_order_relaxed);
  shared->join_seq.store(0, std::memory_order_relaxed);
  shared->join_waiters.store(0, std::memory_order_relaxed);
  RingCore ring = RingCore::Create(region.payload() + ring_offset, ring_bytes,
                                   static_cast<uint32_t>(maxsize), inline_bytes);
  ring.set_close_on_writers_gone(options.close_when_writers_gone);
  ring.set_single_sides(options.single_producer, options.single_consumer);
  if (heap_bytes > 0) {
    BlockHeap::Create(region.payload() + heap_offset, heap_bytes,
                      options.heap_bytes);
  }
  region.PublishReady();
  return Attach(std::move(region));
}

std::shared_ptr<QueueCore> QueueCore::Attach(Region region) {
  std::shared_ptr<QueueCore> core(new QueueCore);
  core->region_ = std::move(region);
  core->Init();
  return core;
}

void QueueCore::Init() {
  shared_ = region_.at<QueueShared>(0);
  const std::string where = region_.description();
  if (shared_->version != kQueueLayoutVersion) {
    throw InvalidRegion(where + ": queue layout version " +
                        std::to_string(shared_->version) + ", expected " +
                        std::to_string(kQueueLayoutVersion));
  }
  const uint64_t size = region_.payload_size();
  const uint64_t ro = shared_->ring_offset, rb = shared_->ring_bytes;
  const uint64_t ho = shared_->heap_offset, hb = shared_->heap_bytes;
  if (ro < sizeof(QueueShared) || ro % 64 != 0 || ro > size ||
      rb > size - ro || ho < ro + rb || ho % 64 != 0 || ho > size ||
      hb > size - ho) {
    throw InvalidRegion(where + ": corrupt queue layout (ring " +
                        std::to_string(ro) + "+" + std::to_string(rb) +
                        ", heap " + std::to_string(ho) + "+" +
                        std::to_string(hb) + ", payload " +
                        std::to_string(size) + ")");
  }
  RingCore ring = RingCore::Attach(region_.payload() + ro, rb,
                                   RingOptions{.reclaimer = this});
  if (ring.capacity() != shared_->maxsize) {
    throw InvalidRegion(where + ": queue maxsize and ring capacity differ");
  }
  if (hb > 0) heap_ = BlockHeap::Attach(region_.payload() + ho, hb);
  writer_ = RingWriter(ring);
  reader_ = RingReader(ring);
}

void QueueCore::FreeBlock(BlockRef block) noexcept {
  if (!heap_.valid()) return;
  try {
    heap_.Free(block);
  } catch (...) {
    // A corrupt block reference (or heap lock): releasing a slot must not
    // throw (it runs from destructors); the block leaks, and whoever reads
    // the slot's payload gets the InvalidRegion from resolving it.
  }
}

void QueueCore::ItemLost(uint32_t flags) noexcept {
  // A counted item that a dead process took with it will never see its
  // task_done(): take it off the count so join() does not wait for it.
  if (flags & kSlotCounted) Uncount();
}

QueueCore::Result QueueCore::Put(std::size_t size, WriteFn write,
                                 const Deadline& deadline, bool counted) {
  if (ring().closed()) return Result::kClosed;
  using Status = RingWriter::Status;
  RingClaim claim;
  if (size <= ring().inline_capacity()) {
    Status s = writer_.Claim(&claim, deadline);
    if (s == Status::kClosed) return Result::kClosed;
    if (s != Status::kOk) return Result::kTimedOut;
    try {
      write(std::span<std::byte>(claim.data, size));
    } catch (...) {
      writer_.Abandon(claim);
      throw;
    }
    if (counted) {
      shared_->unfinished.fetch_add(1, std::memory_order_relaxed);
      claim.slot->flags.store(kSlotCounted, std::memory_order_relaxed);
    }
    writer_.Publish(claim, static_cast<uint32_t>(size), kSlotInline);
    return Result::kOk;
  }
  if (!heap_.valid()) {
    throw ValueError("Queue.put: item of " + std::to_string(size) +
                     " bytes exceeds the slot size (" +
                     std::to_string(ring().inline_capacity()) +
                     ") and the queue has no heap");
  }
  // Claim the slot first and fill the heap block while holding it: a reader
  // waiting for this slot then sees a live writer at work and keeps spinning
  // through the copy instead of sleeping (ring_core.h, "Held slots"). Only
  // with heap space at hand: a writer must never hold a slot while it waits
  // for heap space (the blocks it waits for may sit behind its slot).
  std::optional<uint64_t> block;
  Status s;
  if (size <= heap_.capacity()) {  // (larger: ValueError below, unclaimed)
    s = writer_.Claim(&claim, deadline);
    if (s == Status::kClosed) return Result::kClosed;
    if (s != Status::kOk) return Result::kTimedOut;
    try {
      block = heap_.Allocate(size, Deadline::Now());
    } catch (...) {
      writer_.Abandon(claim);
      throw;
    }
    if (block) {
      claim.slot->block.Record(*block, size);  // freed if this process dies
      writer_.Announce(claim);
      try {
        write(std::span<std::byte>(heap_.At(*block, size), size));
      } catch (...) {
        writer_.Abandon(claim);  // frees the block
        throw;
      }
      if (counted) {
        shared_->unfinished.fetch_add(1, std::memory_order_relaxed);
        claim.slot->flags.store(kSlotCounted, std::memory_order_relaxed);
      }
      writer_.Publish(claim, 0, kSlotBlock);
      return Result::kOk;
    }
    // The heap is full (or its lock busy): give the slot back and wait for
    // space without holding one.
    writer_.Abandon(claim);
  }
  block = heap_.Allocate(size, deadline);
  if (!block) return Result::kTimedOut;
  try {
    write(std::span<std::byte>(heap_.At(*block, size), size));
  } catch (...) {
    heap_.Free(*block, size);
    throw;
  }
  try {
    s = writer_.Claim(&claim, deadline);
  } catch (...) {
    heap_.Free(*block, size);
    throw;
  }
  if (s != Status::kOk) {
    heap_.Free(*block, size);
    return s == Status::kClosed ? Result::kClosed : Result::kTimedOut;
  }
  claim.slot->block.Record(*block, size);
  if (counted) {
    shared_->unfinished.fetch_add(1, std::memory_order_relaxed);
    claim.slot->flags.store(kSlotCounted, std::memory_order_relaxed);
  }
  writer_.Publish(claim, 0, kSlotBlock);
  return Result::kOk;
}

QueueCore::Result QueueCore::PutMany(std::size_t n, SizeAtFn size,
                                     WriteAtFn write,
                                     const Deadline& deadline, bool counted,
                                     std::size_t* done) {
  using Status = RingWriter::Status;
  *done = 0;
  if (ring().closed()) return Result::kClosed;
  const std::size_t inline_cap = ring().inline_capacity();
  uint32_t sizes[kMaxBatch];
  std::size_t i = 0;
  while (i < n) {
    // The next run of items that fit a slot each (one claim covers them;
    // sizes first, so that no claimed slot goes unused).
    std::size_t run = 0;
    while (run < kMaxBatch && i + run < n) {
      const std::size_t sz = size(i + run);
      if (sz > inline_cap) break;
      sizes[run++] = static_cast<uint32_t>(sz);
    }
    if (run == 0) {
      const std::size_t item = i;
      Result r = Put(
          size(i), [&](std::span<std::byte> dst) { write(item, dst); },
          deadline, counted);
      if (r != Result::kOk) return r;
      *done = ++i;
      continue;
    }
    RingBatch batch;
    Status s = writer_.ClaimBatch(static_cast<uint32_t>(run), &batch, deadline);
    if (s == Status::kClosed) return Result::kClosed;
    if (s != Status::kOk) return Result::kTimedOut;
    RingClaim claim = ring().ClaimAt(batch.first);
    uint32_t filled = 0;
    try {
      for (; filled < batch.count; ++filled) {
        if (filled > 0) claim = ring().NextClaim(claim);
        write(i + filled, std::span<std::byte>(claim.data, sizes[filled]));
        if (counted) {
          claim.slot->flags.store(kSlotCounted, std::memory_order_relaxed);
        }
      }
    } catch (...) {
      if (counted) {
        shared_->unfinished.fetch_add(filled, std::memory_order_relaxed);
      }
      // The items before the one that threw go out; it and the rest of the
      // claim are skipped.
      writer_.PublishBatch(batch, std::span<const uint32_t>(sizes, filled));
      *done = i + filled;
      throw;
    }
    if (counted) {
      shared_->unfinished.fetch_add(filled, std::memory_order_relaxed);
    }
    writer_.PublishBatch(batch, std::span<const uint32_t>(sizes, filled));
    i += filled;
    *done = i;
  }
  return Result::kOk;
}

QueueCore::Result QueueCore::Get(ReadFn read, const Deadline& deadline) {
  using Status = RingReader::Status;
  RingClaim claim;
  Status s = reader_.Claim(&claim, deadline);
  if (s == Status::kClosed) return Result::kClosed;
  if (s != Status::kOk) return Result::kTimedOut;
  struct ReleaseOnExit {
    RingReader& reader;
    const RingClaim& claim;
    ~ReleaseOnExit() {
      try {
        reader.Release(claim);
      } catch (...) {
        // Only a corrupt ring can throw here; the read already reported it.
      }
    }
  } release{reader_, claim};
  read(reader_.PayloadOf(claim).Resolve(
      ring().InlineArea(claim), heap_.data(),
      [&] { return region_.description() + ": queue slot"; }));
  return Result::kOk;
}

template <class Visit>
QueueCore::Result QueueCore::VisitBatch(std::size_t max,
                                        const Deadline& deadline,
                                        std::size_t* done, Visit&& visit) {
  using Status = RingReader::Status;
  *done = 0;
  if (max == 0) return Result::kOk;
  RingBatch batch;
  // A batch can be all skips and losses after its first slot only, so the
  // first claim always brings at least one item.
  const Status s = reader_.ClaimBatch(
      static_cast<uint32_t>(std::min<std::size_t>(max, kMaxBatch)), &batch,
      deadline);
  if (s == Status::kClosed) return Result::kClosed;
  if (s != Status::kOk) return Result::kTimedOut;
  ReleaseBatchOnExit release{reader_, batch};
  RingClaim claim = ring().ClaimAt(batch.first);
  std::size_t got = 0;
  for (uint32_t k = 0; k < batch.count; ++k) {
    if (k > 0) claim = ring().NextClaim(claim);
    if (!RingReader::IsItem(claim)) continue;
    *done = got;
    visit(got, claim);
    ++got;
  }
  *done = got;
  return Result::kOk;
}

QueueCore::Result QueueCore::GetMany(std::size_t max, ReadAtFn read,
                                     const Deadline& deadline,
                                     std::size_t* done) {
  return VisitBatch(max, deadline, done, [&](std::size_t i, RingClaim claim) {
    read(i, reader_.PayloadOf(claim).Resolve(
                ring().InlineArea(claim), heap_.data(),
                [&] { return region_.description() + ": queue slot"; }));
  });
}

QueueCore::Result QueueCore::PutManyRaw(std::size_t n, std::size_t item_bytes,
                                        const std::byte* src,
                                        const Deadline& deadline, bool counted,
                                        std::size_t* done) {
  using Status = RingWriter::Status;
  if (item_bytes > ring().inline_capacity()) {
    return PutMany(
        n, [&](std::size_t) { return item_bytes; },
        [&](std::size_t i, std::span<std::byte> dst) {
          std::memcpy(dst.data(), src + i * item_bytes, item_bytes);
        },
        deadline, counted, done);
  }
  *done = 0;
  if (ring().closed()) return Result::kClosed;
  std::size_t i = 0;
  while (i < n) {
    RingBatch batch;
    Status s = writer_.ClaimBatch(
        static_cast<uint32_t>(std::min<std::size_t>(n - i, kMaxBatch)), &batch,
        deadline);
    if (s == Status::kClosed) return Result::kClosed;
    if (s != Status::kOk) return Result::kTimedOut;
    RingClaim claim = ring().ClaimAt(batch.first);
    for (uint32_t k = 0; k < batch.count; ++k) {
      if (k > 0) claim = ring().NextClaim(claim);
      CopyItem(claim.data, src + (i + k) * item_bytes, item_bytes);
      if (counted) {
        claim.slot->flags.store(kSlotCounted, std::memory_order_relaxed);
      }
    }
    if (counted) {
      shared_->unfinished.fetch_add(batch.count, std::memory_order_relaxed);
    }
    writer_.PublishBatch(batch, batch.count,
                         static_cast<uint32_t>(item_bytes));
    i += batch.count;
    *done = i;
  }
  return Result::kOk;
}

QueueCore::Result QueueCore::GetManyRaw(std::size_t max,
                                        std::size_t item_bytes,
                                        std::byte* dst,
                                        const Deadline& deadline,
                                        std::size_t* done) {
  return VisitBatch(max, deadline, done, [&](std::size_t i, RingClaim claim) {
    const BlockRef payload = reader_.PayloadOf(claim);
    if (!payload.is_inline() || payload.length() != item_bytes) [[unlikely]] {
      throw CodecError(region_.description() + ": an item of " +
                       payload.Describe() + " where " +
                       std::to_string(item_bytes) + " bytes were expected");
    }
    CopyItem(dst + i * item_bytes, claim.data, item_bytes);
  });
}

void QueueCore::Uncount() {
  uint64_t n = shared_->unfinished.load(std::memory_order_relaxed);
  while (n > 0 && !shared_->unfinished.compare_exchange_weak(
                      n, n - 1, std::memory_order_seq_cst)) {
  }
  if (n == 1) {
    shared_->join_seq.fetch_add(1, std::memory_order_seq_cst);
    if (shared_->join_waiters.load(std::memory_order_seq_cst) > 0) {
      FutexWake(&shared_->join_seq, INT_MAX);
    }
  }
}

void QueueCore::TaskDone() {
  uint64_t n = shared_->unfinished.load(std::memory_order_relaxed);
  do {
    if (n == 0) {
      throw ValueError("JoinableQueue.task_done: called more times than "
                       "there were items placed in the queue");
    }
  } while (!shared_->unfinished.compare_exchange_weak(
      n, n - 1, std::memory_order_seq_cst));
  if (n == 1) {
    shared_->join_seq.fetch_add(1, std::memory_order_seq_cst);
    if (shared_->join_waiters.load(std::memory_order_seq_cst) > 0) {
      FutexWake(&shared_->join_seq, INT_MAX);
    }
  }
}

bool QueueCore::Join(const Deadline& deadline) {
  for (;;) {
    if (shared_->unfinished.load(std::memory_order_seq_cst) == 0) return true;
    shared_->join_waiters.fetch_add(1, std::memory_order_seq_cst);
    const uint32_t seq = shared_->join_seq.load(std::memory_order_seq_cst);
    if (shared_->unfinished.load(std::memory_order_seq_cst) == 0) {
      shared_->join_waiters.fetch_sub(1, std::memory_order_seq_cst);
      return true;
    }
    if (deadline.expired()) {
      shared_->join_waiters.fetch_sub(1, std::memory_order_seq_cst);
      return false;
    }
    FutexWait(&shared_->join_seq, seq, deadline);
    shared_->join_waiters.fetch_sub(1, std::memory_order_seq_cst);
  }
}

uint64_t QueueCore::unfinished() const {
  return shared_->unfinished.load(std::memory_order_relaxed);
}

}  // namespace shoal::internal
