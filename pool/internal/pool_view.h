// Copyright 2026 The shoal Authors.
//
// pool_view.h: the process-local handle on a pool's shared region
// (pool_shared.h), used by the parent (engine.h) and by workers
// (worker.h) alike.
//
// Create() lays the region out and constructs everything in it; Attach()
// validates a region another process made (magic, version, every offset and
// size against the mapping) and throws shoal::InvalidRegion otherwise, so a
// worker pointed at garbage exits with a message instead of crashing.
#ifndef SHOAL_POOL_INTERNAL_POOL_VIEW_H_
#define SHOAL_POOL_INTERNAL_POOL_VIEW_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>

#include "shoal/ipc/internal/block_heap.h"
#include "shoal/pool/internal/pool_shared.h"
#include "shoal/pool/internal/task_ring.h"

namespace shoal::internal {

struct PoolGeometry {
  // What a segment may describe: Attach refuses more (InvalidRegion), and
  // Pool's options are checked against the same numbers (ValueError).
  static constexpr uint32_t kMaxWorkers = 4096;
  static constexpr uint32_t kMaxSlots = 1u << 20;
  static constexpr uint32_t kMaxInline = 1u << 20;
  static constexpr uint64_t kMaxInitBytes = uint64_t{1} << 30;

  uint32_t workers = 1;
  uint32_t slots = 1024;
  uint32_t in_inline = 192;
  uint32_t out_inline = 192;
  uint64_t init_bytes = 0;
  uint64_t heap_bytes = uint64_t{256} << 20;
};

class PoolView {
 public:
  PoolView() = default;

  // Bytes of payload for `g` (all sections, 64-byte aligned).
  static std::size_t BytesFor(const PoolGeometry& g);
  static PoolView Create(std::byte* mem, std::size_t bytes,
                         const PoolGeometry& g);
  static PoolView Attach(std::byte* mem, std::size_t bytes);

  PoolShared* shared() const { return shared_; }
  uint32_t workers() const { return workers_; }
  uint32_t slots() const { return slots_; }
  uint32_t in_inline() const { return shared_->in_inline; }
  uint32_t out_inline() const { return shared_->out_inline; }

  // Range-checked: throw InvalidRegion for an index out of range.
  WorkerStatus& status(uint32_t w) const;
  TaskSlot& slot(uint32_t i) const;
  std::byte* slot_in(uint32_t i) const;
  std::byte* slot_out(uint32_t i) const;

  TaskRing& ring() { return ring_; }
  BlockHeap& heap() { return heap_; }
  std::byte* init_area() const { return base_ + shared_->init_offset; }
  std::byte* init_error_area() const {
    return base_ + shared_->init_error_offset;
  }

  // The task's payload / result bytes, validated against the slot and heap
  // geometry (throws InvalidRegion on nonsense).
  std::span<const std::byte> Input(uint32_t i);
  std::span<const std::byte> Output(uint32_t i);
  // Frees the heap block `block` holds, if any, and clears it (at most once:
  // SharedBlockRef::Take). Never throws: a corrupt reference, as a peer may
  // have written it, leaks its block.
  void FreeBlock(SharedBlockRef& block) noexcept;

  // Moves slot `i` from (gen, from) to (gen, to) keeping its flags; on
  // success wakes sleepers (WAITER) and tells the handler (NOTIFY). Returns
  // false when the slot is no longer (gen, from).
  bool Complete(uint32_t i, uint32_t gen, uint32_t from, uint32_t to);
  // Marks slot `i` in the notify bitmap and wakes the handler if it sleeps.
  void Notify(uint32_t i);
  // Collects and clears the notify bitmap: calls fn(slot) for each bit.
  template <class Fn>
  void DrainNotify(Fn&& fn) {
    for (uint32_t w = 0; w < notify_words_; ++w) {
      if (notify_[w].load(std::memory_order_relaxed) == 0) continue;
      uint64_t bits = notify_[w].exchange(0, std::memory_order_acq_rel);
      while (bits != 0) {
        const int b = __builtin_ctzll(bits);
        bits &= bits - 1;
        const uint32_t slot = w * 64 + static_cast<uint32_t>(b);
        if (slot < slots_) fn(slot);
      }
    }
  }
  // Wakes the handler thread (for parent-local events).
  void KickHandler();

 private:
  // Where a payload or result recorded as (where, size, block) is, checked
  // against the slot's inline area and the heap.
  std::span<const std::byte> Resolve(uint32_t where, uint64_t size,
                                     const SharedBlockRef& block,
                                     std::span<std::byte> inline_area,
                                     const char* what) const;

  std::byte* base_ = nullptr;
  PoolShared* shared_ = nullptr;
  std::byte* slots_base_ = nullptr;
  WorkerStatus* status_ = nullptr;
  std::atomic<uint64_t>* notify_ = nullptr;
  uint32_t notify_words_ = 0;
  uint32_t workers_ = 0;
  uint32_t slots_ = 0;
  uint32_t stride_ = 0;
  TaskRing ring_;
  BlockHeap heap_;
};

}  // namespace shoal::internal

#endif  // SHOAL_POOL_INTERNAL_POOL_VIEW_H_
