// Copyright 2026 The shoal Authors.
//
// block_ref.h: where a payload in shared memory lives, as a value type (in
// the spirit of iceoryx's RelativePointer), and the atomic pair that records
// a heap block in a slot.
//
//   BlockRef        none; `length` bytes inline (in the slot that carries the
//                   reference); or `length` bytes at `offset` in a heap.
//                   Resolve() turns it into bytes only after checking it
//                   against the memory it must lie in: a reference read from
//                   shared memory that points outside its region gives
//                   shoal::InvalidRegion, never an out-of-bounds access.
//
//   SharedBlockRef  a heap block held by a slot (a queue slot, a task's input
//                   or result), in shared memory as (offset + 1, length), with
//                   0 meaning none. The writer records the block right after
//                   allocating it and before filling it, so whoever repairs
//                   the slot after a process died still frees it; Take() hands
//                   it out exactly once (it clears the word first and frees
//                   second: a process that dies in between leaks the block,
//                   but nothing is ever freed twice).
//
// These are the only code in shoal that knows the "offset + 1, 0 = none"
// encoding.
#ifndef SHOAL_IPC_INTERNAL_BLOCK_REF_H_
#define SHOAL_IPC_INTERNAL_BLOCK_REF_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

namespace shoal::internal {

class BlockRef {
 public:
  enum class Kind : uint32_t { kNone, kInline, kHeap };

  // None.
  constexpr BlockRef() = default;
  static constexpr BlockRef None() { return BlockRef(); }
  static constexpr BlockRef Inline(uint64_t length) {
    return BlockRef(Kind::kInline, 0, length);
  }
  static constexpr BlockRef Heap(uint64_t offset, uint64_t length) {
    return BlockRef(Kind::kHeap, offset, length);
  }

  constexpr Kind kind() const { return kind_; }
  constexpr bool is_none() const { return kind_ == Kind::kNone; }
  constexpr bool is_inline() const { return kind_ == Kind::kInline; }
  constexpr bool is_heap() const { return kind_ == Kind::kHeap; }
  constexpr uint64_t offset() const { return offset_; }
  constexpr uint64_t length() const { return length_; }

  // Whether the bytes lie inside an area of `size` bytes: an inline
  // reference's length fits it, a heap reference's [offset, offset + length)
  // does (overflow-safe). None fits nothing.
  constexpr bool FitsIn(uint64_t size) const {
    switch (kind_) {
      case Kind::kInline:
        return length_ <= size;
      case Kind::kHeap:
        return offset_ <= size && length_ <= size - offset_;
      default:
        return false;
    }
  }

  // The bytes this reference names: at the start of `inline_area` for an
  // inline reference, at `offset` in `heap` for a heap one. Throws
  // shoal::InvalidRegion ("<context>: ...: shared memory corrupt") when it
  // is none or does not fit; `context` is a string or a callable returning
  // one, called only then (it may build a costly message).
  template <class Context>
  std::span<std::byte> Resolve(std::span<std::byte> inline_area,
                               std::span<std::byte> heap,
                               Context&& context) const {
    const std::span<std::byte> area = is_heap() ? heap : inline_area;
    if (!FitsIn(area.size())) [[unlikely]] {
      if constexpr (std::is_invocable_v<Context>) {
        ThrowUnresolvable(context(), area.size());
      } else {
        ThrowUnresolvable(std::string_view(context), area.size());
      }
    }
    return area.subspan(static_cast<std::size_t>(offset_),
                        static_cast<std::size_t>(length_));
  }

  // "none", "64 inline bytes", "a heap block of 64 bytes at offset 4096".
  std::string Describe() const;

  friend constexpr bool operator==(const BlockRef&,
                                   const BlockRef&) = default;

 private:
  constexpr BlockRef(Kind kind, uint64_t offset, uint64_t length)
      : kind_(kind), offset_(offset), length_(length) {}
  [[noreturn]] void ThrowUnresolvable(std::string_view context,
                                      uint64_t area_size) const;

  Kind kind_ = Kind::kNone;
  uint64_t offset_ = 0;
  uint64_t length_ = 0;
};

// A heap block held by a slot, in shared memory. Zero bytes are "none".
class SharedBlockRef {
 public:
  // None (for initializing a slot nobody else sees yet).
  void Clear() {
    ref_.store(0, std::memory_order_relaxed);
    length_.store(0, std::memory_order_relaxed);
  }
  // Records a block that was just allocated (and not yet filled).
  void Record(uint64_t offset, uint64_t length) {
    length_.store(length, std::memory_order_relaxed);
    ref_.store(offset + 1, std::memory_order_release);
  }
  // The recorded block (heap), or none. Read from shared memory: resolve it
  // (BlockRef::Resolve or BlockHeap) before touching its bytes.
  BlockRef Load() const {
    const uint64_t ref = ref_.load(std::memory_order_acquire);
    if (ref == 0) return BlockRef::None();
    return BlockRef::Heap(ref - 1, length_.load(std::memory_order_relaxed));
  }
  // Clears the record and returns what it held: the caller frees it.
  BlockRef Take() {
    if (ref_.load(std::memory_order_relaxed) == 0) return BlockRef::None();
    const uint64_t ref = ref_.exchange(0, std::memory_order_acq_rel);
    if (ref == 0) return BlockRef::None();
    return BlockRef::Heap(ref - 1, length_.load(std::memory_order_relaxed));
  }

 private:
  std::atomic<uint64_t> ref_;  // offset + 1; 0 = none
  std::atomic<uint64_t> length_;
};

static_assert(std::is_trivially_copyable_v<BlockRef>);
static_assert(std::is_standard_layout_v<SharedBlockRef>);
static_assert(sizeof(SharedBlockRef) == 16);
static_assert(std::atomic<uint64_t>::is_always_lock_free);

}  // namespace shoal::internal

#endif  // SHOAL_IPC_INTERNAL_BLOCK_REF_H_
