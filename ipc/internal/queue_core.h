// Copyright 2026 The shoal Authors.
//
// queue_core.h: the untyped engine under Queue<T>, SimpleQueue<T> and
// JoinableQueue<T>: one region holding a control block, a ring
// (ring_core.h) and a BlockHeap. Queue<T> adds the codec on top.
//
// Payload layout (offsets from the region payload, all checked on attach):
//   [QueueShared][ring: control + capacity slots][BlockHeap]
//
// A message that fits a slot's inline bytes is encoded straight into the
// slot. A larger one is encoded straight into a heap block *before* a slot
// is claimed (so a writer never holds a slot while it waits for heap space,
// which could deadlock against readers), and only the block's offset travels
// through the slot. The queue is the ring's SlotReclaimer: it frees the heap
// blocks of released and repaired slots, and takes items lost with a dead
// process off JoinableQueue's unfinished count.
#ifndef SHOAL_IPC_INTERNAL_QUEUE_CORE_H_
#define SHOAL_IPC_INTERNAL_QUEUE_CORE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <type_traits>

#include "absl/functional/function_ref.h"
#include "shoal/base/deadline.h"
#include "shoal/ipc/internal/block_heap.h"
#include "shoal/ipc/internal/ring_core.h"
#include "shoal/ipc/queue_options.h"
#include "shoal/ipc/region.h"

namespace shoal::internal {

inline constexpr uint32_t kQueueLayoutVersion = 1;
// Slot flag: the item is counted in JoinableQueue's unfinished tasks.
inline constexpr uint32_t kSlotCounted = kSlotUser0;

struct QueueShared {
  uint32_t version;
  uint32_t reserved;
  uint64_t maxsize;
  uint64_t ring_offset;
  uint64_t ring_bytes;
  uint64_t heap_offset;
  uint64_t heap_bytes;
  alignas(64) std::atomic<uint64_t> unfinished;  // JoinableQueue
  std::atomic<uint32_t> join_seq;
  std::atomic<uint32_t> join_waiters;
};
static_assert(std::is_standard_layout_v<QueueShared>);

class QueueCore final : private SlotReclaimer {
 public:
  enum class Result { kOk, kTimedOut, kClosed };
  using WriteFn = absl::FunctionRef<void(std::span<std::byte>)>;
  using ReadFn = absl::FunctionRef<void(std::span<const std::byte>)>;
  // Batches: item i's encoded size, its encoding into `dst`, its bytes.
  using SizeAtFn = absl::FunctionRef<std::size_t(std::size_t)>;
  using WriteAtFn = absl::FunctionRef<void(std::size_t, std::span<std::byte>)>;
  using ReadAtFn =
      absl::FunctionRef<void(std::size_t, std::span<const std::byte>)>;
  // The most slots one batch claims (the rest of a larger batch follows in
  // further claims).
  static constexpr uint32_t kMaxBatch = 256;

  // Creates a queue region laid out for `options`.
  static std::shared_ptr<QueueCore> Create(const QueueOptions& options,
                                           std::size_t default_inline,
                                           const RegionLayout& layout);
  // Attaches to an existing, validated region.
  static std::shared_ptr<QueueCore> Attach(Region region);

  // Puts an item of `size` encoded bytes that `write` produces. `counted`
  // adds it to the unfinished-task count (JoinableQueue). Exceptions thrown
  // by `write` propagate after the claimed space is returned.
  Result Put(std::size_t size, WriteFn write, const Deadline& deadline,
             bool counted);
  // Takes the next item and hands its bytes to `read`. The item is consumed
  // even if `read` throws (the exception propagates).
  Result Get(ReadFn read, const Deadline& deadline);

  // Puts items 0..n-1 in order, claiming up to kMaxBatch slots at a time and
  // publishing each claim with one wake-up; items that need the heap go one
  // by one (Put). *done is how many went in: n on kOk, fewer when the
  // deadline passed (kTimedOut) or the queue closed (kClosed) first. If
  // `write` throws for item i, the items before it are published, i and the
  // rest of its claim are skipped, and the exception propagates (*done = i).
  Result PutMany(std::size_t n, SizeAtFn size, WriteAtFn write,
                 const Deadline& deadline, bool counted, std::size_t* done);
  // Takes between 1 and `max` items (waiting for the first until the
  // deadline) and hands item i's bytes to read(i, bytes); *done is the count.
  // The items are consumed even if `read` throws (then *done is the index of
  // the item that threw, and the exception propagates).
  Result GetMany(std::size_t max, ReadAtFn read, const Deadline& deadline,
                 std::size_t* done);
  // The same for items whose encoding is their `item_bytes` raw bytes
  // (trivially copyable T with the memcpy codec): copied straight between
  // `src`/`dst` (n / max consecutive items) and the slots, no callback per
  // item. An item of another size in the queue is a CodecError (consumed).
  Result PutManyRaw(std::size_t n, std::size_t item_bytes,
                    const std::byte* src, const Deadline& deadline,
                    bool counted, std::size_t* done);
  Result GetManyRaw(std::size_t max, std::size_t item_bytes, std::byte* dst,
                    const Deadline& deadline, std::size_t* done);

  std::size_t qsize() const { return ring().size(); }
  std::size_t maxsize() const { return ring().capacity(); }
  std::size_t inline_capacity() const { return ring().inline_capacity(); }
  uint64_t heap_capacity() const { return heap_.capacity(); }
  void Close() { writer_.core().Close(); }
  bool closed() const { return ring().closed(); }
  uint64_t lost() const { return ring().lost(); }

  // JoinableQueue.
  void TaskDone();
  bool Join(const Deadline& deadline);
  uint64_t unfinished() const;

  const Region& region() const { return region_; }
  const RingCore& ring() const { return writer_.core(); }

  QueueCore(const QueueCore&) = delete;
  QueueCore& operator=(const QueueCore&) = delete;
  // This process's last handle is going: it stops counting as a writer.
  ~QueueCore() { writer_.Detach(); }

 private:
  QueueCore() = default;
  void Init();
  // SlotReclaimer.
  void FreeBlock(BlockRef block) noexcept override;
  void ItemLost(uint32_t flags) noexcept override;
  void Uncount();
  // GetMany's and GetManyRaw's common part: claims up to `max` slots (one
  // wait for the first), calls visit(i, claim) for the i-th item among
  // them (skipped and lost slots are passed over), releases the batch
  // whatever happens. *done counts the items visit() returned from.
  template <class Visit>
  Result VisitBatch(std::size_t max, const Deadline& deadline,
                    std::size_t* done, Visit&& visit);

  Region region_;
  QueueShared* shared_ = nullptr;
  RingWriter writer_;
  RingReader reader_;
  BlockHeap heap_;
};

}  // namespace shoal::internal

#endif  // SHOAL_IPC_INTERNAL_QUEUE_CORE_H_
