// Copyright 2026 The shoal Authors.
//
// block_heap.h: the shared heap that holds queue messages too large for a
// ring slot. Only an offset into it travels through the ring.
//
// Why by hand: Boost.Interprocess's allocators (rbtree_best_fit and friends)
// keep their free lists in linked nodes; a process killed half-way through an
// allocation leaves the tree broken, and their mutex is not robust. This heap
// is a bitmap of fixed-size blocks: an allocation searches and marks it under
// a robust shoal::Lock, a free clears its bits with atomic word operations
// and takes no lock (an allocator only sets bits it saw clear, a free only
// clears bits of its own block, so the two never race on a bit). Each update
// is a handful of word stores: a process killed in the middle of one leaves
// at worst a few blocks marked used (leaked until the queue is destroyed),
// never a structure that crashes or hangs the survivors.
//
// Algorithm: first-fit search for a run of free blocks, skipping full bitmap
// words 64 blocks at a time. First fit keeps a queue's traffic on the same
// few blocks (pages already faulted in, lines warm in cache) and the heap's
// resident size at its peak use. Allocation waits (futex, bounded by a
// Deadline) when the heap is full; a request larger than the whole heap fails
// at once.
//
// Memory: the data area's memory is reserved (allocated in the region's
// file) as the heap grows, in steps of 1 MiB past the highest block ever
// allocated; an allocation that cannot get its memory (a full /dev/shm)
// throws SystemError(ENOSPC) and allocates nothing. First fit keeps that
// watermark at the heap's peak use.
//
// Stopped and hostile peers. A peer stopped (SIGSTOP) while it holds the lock
// delays allocations only: Allocate waits for the lock no longer than its
// deadline (a try, with an expired deadline, waits at most kTryLockGrace for
// a busy lock) and then reports "no room"; frees, and so every get() of a
// queue and every collected task, never wait for it. A peer that writes
// garbage into the heap's shared words can make allocations fail or time out
// (bitmap, lock word), or leak or double-book blocks, but never make a caller
// read or write outside the heap: the geometry is validated once (Attach) and
// kept in the handle, and every offset handed in (Free, At) is checked
// against it. (A peer that raises the reserve watermark only skips the
// reservation: the ENOSPC protection, not memory safety.)
//
// Cost: one uncontended lock round trip (~20 ns) plus a short bitmap scan per
// allocation, one atomic per bitmap word per free; negligible next to copying
// a message that did not fit in a slot. Plus one fallocate(2) per MiB of
// growth.
#ifndef SHOAL_IPC_INTERNAL_BLOCK_HEAP_H_
#define SHOAL_IPC_INTERNAL_BLOCK_HEAP_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <type_traits>

#include "shoal/base/deadline.h"
#include "shoal/ipc/internal/block_ref.h"
#include "shoal/sync/lock.h"

namespace shoal::internal {

struct BlockHeapShared {
  uint64_t block_size;     // bytes per block, a power of two >= 64
  uint64_t blocks;         // number of blocks
  uint64_t bitmap_offset;  // from this struct; one bit per block, 1 = used
  uint64_t data_offset;    // from this struct, 64-byte aligned
  uint64_t total_bytes;    // this struct + bitmap + data
  Lock lock;
  alignas(64) std::atomic<uint64_t> used_blocks;
  std::atomic<uint32_t> free_seq;
  std::atomic<uint32_t> waiters;
  // Bytes at the start of the data area whose memory is reserved in the
  // region's file (a watermark, moved under `lock`). An allocation that ends
  // past it reserves more first (ReserveBacking), so a full /dev/shm is an
  // error at allocation, never SIGBUS at a later touch. Read clamped to the
  // capacity.
  uint64_t reserved_bytes;
};
static_assert(std::is_standard_layout_v<BlockHeapShared>);
static_assert(offsetof(BlockHeapShared, lock) == 64);

class BlockHeap {
 public:
  static constexpr uint64_t kDefaultBlockSize = 256;

  BlockHeap() = default;

  // Bytes of shared memory for a heap of at least `data_bytes` of data.
  static std::size_t BytesFor(uint64_t data_bytes,
                              uint64_t block_size = kDefaultBlockSize);
  static BlockHeap Create(void* mem, std::size_t bytes, uint64_t data_bytes,
                          uint64_t block_size = kDefaultBlockSize);
  // Validates the geometry against `bytes`; throws shoal::InvalidRegion.
  static BlockHeap Attach(void* mem, std::size_t bytes);

  // A try (an expired deadline) still waits this long for a lock that is
  // merely busy, so that try_put does not fail spuriously while another
  // process allocates.
  static constexpr auto kTryLockGrace = std::chrono::milliseconds(2);

  // Allocates room for `len` bytes, waiting for space (and for the lock)
  // until `deadline`. Returns the block offset, or nullopt on timeout. Throws ValueError when
  // `len` exceeds the whole heap, SystemError (ENOSPC) when the memory for
  // it cannot be reserved.
  std::optional<uint64_t> Allocate(uint64_t len, const Deadline& deadline);
  // Lock-free. Throws InvalidRegion for a range outside the heap or not on
  // a block boundary (a corrupt reference read from shared memory).
  void Free(uint64_t offset, uint64_t len);
  // Frees a heap reference (as SharedBlockRef::Take returns it); none is a
  // no-op.
  void Free(BlockRef block) {
    if (block.is_heap()) Free(block.offset(), block.length());
  }

  // The bytes of an allocation; throws InvalidRegion when [offset, offset +
  // len) is not inside the heap (a corrupt offset read from shared memory).
  std::byte* At(uint64_t offset, uint64_t len) const;
  // All of the heap's data: what heap BlockRefs are resolved against
  // (empty for a handle without a heap).
  std::span<std::byte> data() const {
    return {data_, static_cast<std::size_t>(capacity())};
  }

  uint64_t capacity() const { return blocks_ * block_size_; }
  uint64_t used() const;
  bool valid() const { return shared_ != nullptr; }

 private:
  // Under the lock: finds and marks a run; returns its first block.
  std::optional<uint64_t> TryAllocateLocked(uint64_t nblocks);
  // Under the lock: makes sure blocks [0, end) have their memory reserved.
  void ReserveLocked(uint64_t end_block);
  // Marks blocks [start, start + nblocks) free (no lock needed).
  void ClearRun(uint64_t start, uint64_t nblocks);
  // Takes the lock by `deadline` (repairing after a dead holder).
  bool Lock(const Deadline& deadline);
  void Unlock();
  uint64_t BlocksFor(uint64_t len) const;

  BlockHeapShared* shared_ = nullptr;
  std::atomic<uint64_t>* bitmap_ = nullptr;
  std::byte* data_ = nullptr;
  uint64_t blocks_ = 0;
  uint64_t block_size_ = 0;
};

}  // namespace shoal::internal

#endif  // SHOAL_IPC_INTERNAL_BLOCK_HEAP_H_
