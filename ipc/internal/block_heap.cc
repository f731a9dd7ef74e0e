#include "shoal/ipc/internal/block_heap.h"

#include <algorithm>
#include <climits>
#include <new>
#include <string>

#include "shoal/base/errors.h"
#include "shoal/base/internal/futex.h"
#include "shoal/ipc/region.h"

namespace shoal::internal {
namespace {

constexpr uint64_t kAlign = 64;
constexpr uint64_t kMaxHeapBytes = uint64_t{1} << 40;
// The heap's memory is reserved in steps of this much (see ReserveLocked).
constexpr uint64_t kReserveStep = uint64_t{1} << 20;

uint64_t RoundUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

uint64_t BitmapWords(uint64_t blocks) { return (blocks + 63) / 64; }

// Calls fn(word, mask) for the bitmap words of blocks [start, start + n).
template <class Fn>
void ForEachWordOfRun(uint64_t start, uint64_t n, Fn fn) {
  for (uint64_t b = start; b < start + n;) {
    const unsigned bit = static_cast<unsigned>(b % 64);
    const uint64_t take = std::min<uint64_t>(64 - bit, start + n - b);
    const uint64_t mask =
        (take == 64 ? ~uint64_t{0} : ((uint64_t{1} << take) - 1)) << bit;
    fn(b / 64, mask);
    b += take;
  }
}

uint64_t HeaderBytes() { return RoundUp(sizeof(BlockHeapShared), kAlign); }

}  // namespace

std::size_t BlockHeap::BytesFor(uint64_t data_bytes, uint64_t block_size) {
  if (block_size < 64 || (block_size & (block_size - 1)) != 0) {
    throw ValueError("block heap: block size must be a power of two >= 64");
  }
  if (data_bytes > kMaxHeapBytes) {
    throw ValueError("block heap: " + std::to_string(data_bytes) +
                     " bytes is too large");
  }
  uint64_t blocks = RoundUp(data_bytes, block_size) / block_size;
  return HeaderBytes() + RoundUp(BitmapWords(blocks) * 8, kAlign) +
         blocks * block_size;
}

BlockHeap BlockHeap::Create(void* mem, std::size_t bytes, uint64_t data_bytes,
                            uint64_t block_size) {
  if (bytes < BytesFor(data_bytes, block_size) ||
      reinterpret_cast<uintptr_t>(mem) % kAlign != 0) {
    throw ValueError("block heap: memory too small or misaligned");
  }
  auto* shared = new (mem) BlockHeapShared;
  uint64_t blocks = RoundUp(data_bytes, block_size) / block_size;
  shared->block_size = block_size;
  shared->blocks = blocks;
  shared->bitmap_offset = HeaderBytes();
  shared->data_offset =
      HeaderBytes() + RoundUp(BitmapWords(blocks) * 8, kAlign);
  shared->total_bytes = shared->data_offset + blocks * block_size;
  shared->used_blocks.store(0, std::memory_order_relaxed);
  shared->free_seq.store(0, std::memory_order_relaxed);
  shared->waiters.store(0, std::memory_order_relaxed);
  shared->reserved_bytes = 0;
  auto* bitmap = reinterpret_cast<std::atomic<uint64_t>*>(
      static_cast<std::byte*>(mem) + shared->bitmap_offset);
  for (uint64_t i = 0; i < BitmapWords(blocks); ++i) {
    new (&bitmap[i]) std::atomic<uint64_t>(0);
  }
  std::atomic_thread_fence(std::memory_order_release);
  return Attach(mem, bytes);
}

BlockHeap BlockHeap::Attach(void* mem, std::size_t bytes) {
  if (mem == nullptr || reinterpret_cast<uintptr_t>(mem) % kAlign != 0 ||
      bytes < sizeof(BlockHeapShared)) {
    throw InvalidRegion("block heap: memory too small or misaligned");
  }
  auto* shared = static_cast<BlockHeapShared*>(mem);
  const uint64_t bs = shared->block_size;
  const uint64_t blocks = shared->blocks;
  const bool geometry_ok =
      bs >= 64 && (bs & (bs - 1)) == 0 && blocks <= kMaxHeapBytes / bs &&
      shared->bitmap_offset == HeaderBytes() &&
      shared->data_offset ==
          HeaderBytes() + RoundUp(BitmapWords(blocks) * 8, kAlign) &&
      shared->total_bytes == shared->data_offset + blocks * bs &&
      shared->total_bytes <= bytes;
  if (!geometry_ok) {
    throw InvalidRegion("block heap: corrupt geometry (block size " +
                        std::to_string(bs) + ", " + std::to_string(blocks) +
                        " blocks, " + std::to_string(bytes) +
                        " bytes available)");
  }
  BlockHeap heap;
  heap.shared_ = shared;
  heap.bitmap_ = reinterpret_cast<std::atomic<uint64_t>*>(
      static_cast<std::byte*>(mem) + shared->bitmap_offset);
  heap.data_ = static_cast<std::byte*>(mem) + shared->data_offset;
  heap.blocks_ = blocks;
  heap.block_size_ = bs;
  return heap;
}

uint64_t BlockHeap::BlocksFor(uint64_t len) const {
  uint64_t n = (len + block_size_ - 1) / block_size_;
  return n == 0 ? 1 : n;
}

bool BlockHeap::Lock(const Deadline& deadline) {
  // A holder that died mid-update left at most a few bits set: blocks
  // leaked, never a broken structure. Carry on.
  switch (shared_->lock.acquire_status(deadline)) {
    case LockStatus::kOwnerDied:
      shared_->lock.make_consistent();
      return true;
    case LockStatus::kAcquired:
      return true;
    default:
      return false;
  }
}

void BlockHeap::Unlock() {
  try {
    shared_->lock.release();
  } catch (const Error&) {
    // Only a peer that overwrote the lock's owner makes release refuse.
    throw InvalidRegion("block heap: its lock was overwritten while held: "
                        "shared memory corrupt");
  }
}

std::optional<uint64_t> BlockHeap::TryAllocateLocked(uint64_t nblocks) {
  // First fit from the start of the heap: a queue's messages then keep
  // reusing the same few blocks, whose pages are already mapped and whose
  // lines are warm in cache, and the heap's resident size stays at its peak
  // use instead of growing to its whole capacity (next fit walks all of it).
  // Runs of full words are skipped 64 blocks at a time.
  uint64_t i = 0;
  const uint64_t end = blocks_;
  uint64_t run = 0, start = 0;
  while (i < end) {
    const uint64_t word = bitmap_[i / 64].load(std::memory_order_acquire);
    const unsigned bit = static_cast<unsigned>(i % 64);
    if (bit == 0 && word == ~uint64_t{0}) {
      run = 0;
      i += 64;
      continue;
    }
    if (bit == 0 && word == 0 && i + 64 <= end) {
      if (run == 0) start = i;
      run += 64;
      i += 64;
      if (run >= nblocks) break;
      continue;
    }
    if ((word >> bit) & 1) {
      run = 0;
    } else {
      if (run == 0) start = i;
      ++run;
    }
    ++i;
    if (run >= nblocks) break;
  }
  if (run < nblocks) return std::nullopt;
  ForEachWordOfRun(start, nblocks, [&](uint64_t w, uint64_t mask) {
    bitmap_[w].fetch_or(mask, std::memory_order_relaxed);
  });
  shared_->used_blocks.fetch_add(nblocks, std::memory_order_relaxed);
  return start;
}

std::optional<uint64_t> BlockHeap::Allocate(uint64_t len,
                                            const Deadline& deadline) {
  const uint64_t nblocks = BlocksFor(len);
  if (nblocks > blocks_) {
    throw ValueError("message of " + std::to_string(len) +
                     " bytes exceeds the queue's heap of " +
                     std::to_string(capacity()) +
                     " bytes; create the queue with a larger heap_bytes");
  }
  for (;;) {
    const uint32_t seq = shared_->free_seq.load(std::memory_order_seq_cst);
    // A lock holder that stopped (SIGSTOP) must not hold us past our
    // deadline; a try still waits out a holder that is merely busy.
    Deadline lock_by = deadline;
    if (!deadline.infinite()) {
      lock_by = Deadline(std::max(deadline.when(),
                                  Deadline::Clock::now() + kTryLockGrace));
    }
    if (!Lock(lock_by)) return std::nullopt;
    std::optional<uint64_t> start;
    try {
      start = TryAllocateLocked(nblocks);
      if (start) ReserveLocked(*start + nblocks);
    } catch (...) {
      // No memory behind the blocks: give them back, allocate nothing.
      if (start) ClearRun(*start, nblocks);
      Unlock();
      throw;
    }
    Unlock();
    if (start) return *start * block_size_;
    if (deadline.expired()) return std::nullopt;
    shared_->waiters.fetch_add(1, std::memory_order_seq_cst);
    if (shared_->free_seq.load(std::memory_order_seq_cst) == seq) {
      FutexWait(&shared_->free_seq, seq, deadline);
    }
    shared_->waiters.fetch_sub(1, std::memory_order_seq_cst);
  }
}

void BlockHeap::Free(uint64_t offset, uint64_t len) {
  if (offset % block_size_ != 0 || offset / block_size_ >= blocks_ ||
      BlocksFor(len) > blocks_ - offset / block_size_) {
    throw InvalidRegion("block heap: free of a bad range (offset " +
                        std::to_string(offset) + ", " + std::to_string(len) +
                        " bytes): shared memory corrupt");
  }
  // No lock: see the file comment (a stopped lock holder must not stall the
  // readers that free blocks).
  ClearRun(offset / block_size_, BlocksFor(len));
  shared_->free_seq.fetch_add(1, std::memory_order_seq_cst);
  if (shared_->waiters.load(std::memory_order_seq_cst) > 0) {
    FutexWake(&shared_->free_seq, INT_MAX);
  }
}

void BlockHeap::ClearRun(uint64_t start, uint64_t nblocks) {
  // Release: the freer's reads of the block happen before its next owner's
  // writes (the allocator reads the bitmap with acquire).
  ForEachWordOfRun(start, nblocks, [&](uint64_t w, uint64_t mask) {
    bitmap_[w].fetch_and(~mask, std::memory_order_release);
  });
  shared_->used_blocks.fetch_sub(nblocks, std::memory_order_relaxed);
}

void BlockHeap::ReserveLocked(uint64_t end_block) {
  const uint64_t cap = capacity();
  const uint64_t end = end_block * block_size_;
  const uint64_t mark = std::min(shared_->reserved_bytes, cap);
  if (end <= mark) return;
  // A step at a time past what is needed, so that a heap growing by small
  // items does not make a system call for each; when memory is that short,
  // just what is needed (and the error, if even that is not there, says so).
  uint64_t want = std::min(cap, RoundUp(end, kReserveStep));
  try {
    ReserveBacking(data_ + mark, want - mark, "a heap");
  } catch (const SystemError&) {
    want = std::min(cap, RoundUp(end, 4096));
    ReserveBacking(data_ + mark, want - mark, "a heap");
  }
  shared_->reserved_bytes = want;
}

std::byte* BlockHeap::At(uint64_t offset, uint64_t len) const {
  return BlockRef::Heap(offset, len).Resolve({}, data(), "block heap").data();
}

uint64_t BlockHeap::used() const {
  // A shared counter: a peer may have written anything there.
  return std::min(shared_->used_blocks.load(std::memory_order_relaxed),
                  blocks_) *
         block_size_;
}

}  // namespace shoal::internal
