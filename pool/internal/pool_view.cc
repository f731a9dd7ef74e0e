#include "shoal/pool/internal/pool_view.h"

#include <climits>
#include <new>
#include <string>

#include "shoal/base/errors.h"
#include "shoal/base/internal/futex.h"

namespace shoal::internal {
namespace {

constexpr uint64_t RoundUp(uint64_t v, uint64_t a = kCacheLine) {
  return (v + a - 1) / a * a;
}

uint32_t NextPow2(uint64_t v) {
  uint32_t p = 64;
  while (p < v) p <<= 1;
  return p;
}

constexpr uint32_t kMaxWorkers = PoolGeometry::kMaxWorkers;
constexpr uint32_t kMaxSlots = PoolGeometry::kMaxSlots;
constexpr uint32_t kMaxInline = PoolGeometry::kMaxInline;
constexpr uint64_t kMaxInitBytes = PoolGeometry::kMaxInitBytes;

struct Layout {
  uint32_t stride;
  uint32_t ring_capacity;
  uint64_t status_offset, slots_offset, notify_offset, notify_words;
  uint64_t ring_offset, ring_bytes, init_offset, init_error_offset;
  uint64_t heap_offset, heap_total, total;
};

Layout Compute(const PoolGeometry& g) {
  Layout l{};
  l.stride = static_cast<uint32_t>(
      RoundUp(RoundUp(sizeof(TaskSlot)) + g.in_inline + g.out_inline));
  l.ring_capacity = NextPow2(2 * uint64_t{g.slots} + 2 * uint64_t{g.workers});
  uint64_t off = RoundUp(sizeof(PoolShared));
  l.status_offset = off;
  off += uint64_t{g.workers} * sizeof(WorkerStatus);
  l.slots_offset = off = RoundUp(off);
  off += uint64_t{g.slots} * l.stride;
  l.notify_offset = off = RoundUp(off);
  l.notify_words = (g.slots + 63) / 64;
  off += l.notify_words * 8;
  l.ring_offset = off = RoundUp(off);
  l.ring_bytes = TaskRing::BytesFor(l.ring_capacity);
  off += l.ring_bytes;
  l.init_offset = off = RoundUp(off);
  off += g.init_bytes;
  l.init_error_offset = off = RoundUp(off);
  off += kInitErrorCapacity;
  l.heap_offset = off = RoundUp(off);
  l.heap_total = BlockHeap::BytesFor(g.heap_bytes);
  off += l.heap_total;
  l.total = RoundUp(off);
  return l;
}

void CheckGeometry(const PoolGeometry& g) {
  if (g.workers == 0 || g.workers > kMaxWorkers || g.slots == 0 ||
      g.slots > kMaxSlots || g.in_inline > kMaxInline ||
      g.out_inline > kMaxInline || g.init_bytes > kMaxInitBytes) {
    throw InvalidRegion("pool region: absurd geometry (" +
                        std::to_string(g.workers) + " workers, " +
                        std::to_string(g.slots) + " slots)");
  }
}

}  // namespace

std::size_t PoolView::BytesFor(const PoolGeometry& g) {
  CheckGeometry(g);
  return Compute(g).total;
}

PoolView PoolView::Create(std::byte* mem, std::size_t bytes,
                          const PoolGeometry& g) {
  CheckGeometry(g);
  const Layout l = Compute(g);
  if (bytes < l.total || reinterpret_cast<uintptr_t>(mem) % kCacheLine != 0) {
    throw ValueError("pool region: memory too small or misaligned");
  }
  auto* s = new (mem) PoolShared;
  s->magic = kPoolMagic;
  s->version = kPoolLayoutVersion;
  s->workers = g.workers;
  s->slots = g.slots;
  s->slot_stride = l.stride;
  s->in_inline = g.in_inline;
  s->out_inline = g.out_inline;
  s->status_offset = l.status_offset;
  s->slots_offset = l.slots_offset;
  s->notify_offset = l.notify_offset;
  s->ring_offset = l.ring_offset;
  s->ring_bytes = l.ring_bytes;
  s->init_offset = l.init_offset;
  s->init_bytes = g.init_bytes;
  s->init_error_offset = l.init_error_offset;
  s->heap_offset = l.heap_offset;
  s->heap_bytes = g.heap_bytes;
  s->total_bytes = l.total;
  s->max_tasks_per_child = 0;
  s->max_memory_per_child = 0;
  s->parent_pid = 0;
  s->has_initializer = 0;
  s->init_invoker = CodeRef{};
  s->init_size = 0;
  s->init_error_state.store(0, std::memory_order_relaxed);
  s->init_error_size = 0;
  s->notify_seq.store(0, std::memory_order_relaxed);
  s->handler_waiting.store(0, std::memory_order_relaxed);
  s->sweep_requested.store(0, std::memory_order_relaxed);
  s->result_spin.Init();
  for (uint32_t w = 0; w < g.workers; ++w) {
    auto* st = new (mem + l.status_offset + w * sizeof(WorkerStatus))
        WorkerStatus;
    st->pid.store(0, std::memory_order_relaxed);
    st->life.store(kWorkerEmpty, std::memory_order_relaxed);
    st->current.store(0, std::memory_order_relaxed);
    st->started_ns.store(0, std::memory_order_relaxed);
    st->tasks_done.store(0, std::memory_order_relaxed);
    st->incarnation.store(0, std::memory_order_relaxed);
    st->exit_reason.store(kExitNone, std::memory_order_relaxed);
  }
  for (uint32_t i = 0; i < g.slots; ++i) {
    auto* t = new (mem + l.slots_offset + uint64_t{i} * l.stride) TaskSlot;
    t->state.store(MakeSlotState(1, 0, kPhaseFree), std::memory_order_relaxed);
    t->in_block.Clear();
    t->out_block.Clear();
  }
  for (uint64_t w = 0; w < l.notify_words; ++w) {
    new (mem + l.notify_offset + w * 8) std::atomic<uint64_t>(0);
  }
  TaskRing::Create(mem + l.ring_offset, l.ring_bytes, l.ring_capacity);
  BlockHeap::Create(mem + l.heap_offset, l.heap_total, g.heap_bytes);
  std::atomic_thread_fence(std::memory_order_release);
  return Attach(mem, bytes);
}

PoolView PoolView::Attach(std::byte* mem, std::size_t bytes) {
  if (mem == nullptr || reinterpret_cast<uintptr_t>(mem) % kCacheLine != 0 ||
      bytes < sizeof(PoolShared)) {
    throw InvalidRegion("pool region: too small or misaligned");
  }
  auto* s = reinterpret_cast<PoolShared*>(mem);
  if (s->magic != kPoolMagic) {
    throw InvalidRegion("pool region: bad magic (not a shoal pool)");
  }
  if (s->version != kPoolLayoutVersion) {
    throw InvalidRegion("pool region: layout version " +
                        std::to_string(s->version) + ", expected " +
                        std::to_string(kPoolLayoutVersion));
  }
  PoolGeometry g;
  g.workers = s->workers;
  g.slots = s->slots;
  g.in_inline = s->in_inline;
  g.out_inline = s->out_inline;
  g.init_bytes = s->init_bytes;
  g.heap_bytes = s->heap_bytes;
  CheckGeometry(g);
  const Layout l = Compute(g);
  if (s->slot_stride != l.stride || s->status_offset != l.status_offset ||
      s->slots_offset != l.slots_offset ||
      s->notify_offset != l.notify_offset || s->ring_offset != l.ring_offset ||
      s->ring_bytes != l.ring_bytes || s->init_offset != l.init_offset ||
      s->init_error_offset != l.init_error_offset ||
      s->heap_offset != l.heap_offset || s->total_bytes != l.total ||
      l.total > bytes || s->init_size > s->init_bytes ||
      s->init_error_size > kInitErrorCapacity) {
    throw InvalidRegion("pool region: corrupt layout (offsets do not match "
                        "the geometry, or larger than the mapping)");
  }
  PoolView v;
  v.base_ = mem;
  v.shared_ = s;
  v.status_ = reinterpret_cast<WorkerStatus*>(mem + l.status_offset);
  v.slots_base_ = mem + l.slots_offset;
  v.notify_ = reinterpret_cast<std::atomic<uint64_t>*>(mem + l.notify_offset);
  v.notify_words_ = static_cast<uint32_t>(l.notify_words);
  v.workers_ = g.workers;
  v.slots_ = g.slots;
  v.stride_ = l.stride;
  v.ring_ = TaskRing::Attach(mem + l.ring_offset, l.ring_bytes);
  v.heap_ = BlockHeap::Attach(mem + l.heap_offset, l.heap_total);
  return v;
}

WorkerStatus& PoolView::status(uint32_t w) const {
  if (w >= workers_) {
    throw InvalidRegion("pool region: worker index " + std::to_string(w) +
                        " out of range");
  }
  return status_[w];
}

TaskSlot& PoolView::slot(uint32_t i) const {
  if (i >= slots_) {
    throw InvalidRegion("pool region: task slot " + std::to_string(i) +
                        " out of range");
  }
  return *reinterpret_cast<TaskSlot*>(slots_base_ + uint64_t{i} * stride_);
}

std::byte* PoolView::slot_in(uint32_t i) const {
  return reinterpret_cast<std::byte*>(&slot(i)) + RoundUp(sizeof(TaskSlot));
}

std::byte* PoolView::slot_out(uint32_t i) const {
  return slot_in(i) + shared_->in_inline;
}

std::span<const std::byte> PoolView::Resolve(uint32_t where, uint64_t size,
                                             const SharedBlockRef& block,
                                             std::span<std::byte> inline_area,
                                             const char* what) const {
  // Read from shared memory: the kind, the size and the block reference all
  // decide what we touch, so each is checked (BlockRef::Resolve throws
  // InvalidRegion for none and for bytes outside their area).
  BlockRef ref;
  if (where == kWhereInline) {
    ref = BlockRef::Inline(size);
  } else if (where == kWhereHeap) {
    const BlockRef b = block.Load();
    if (b.is_heap() && size <= b.length()) ref = BlockRef::Heap(b.offset(), size);
  }
  return ref.Resolve(inline_area, heap_.data(), what);
}

std::span<const std::byte> PoolView::Input(uint32_t i) {
  TaskSlot& t = slot(i);
  return Resolve(t.in_where, t.in_size, t.in_block,
                 {slot_in(i), shared_->in_inline}, "pool region: task payload");
}

std::span<const std::byte> PoolView::Output(uint32_t i) {
  TaskSlot& t = slot(i);
  return Resolve(t.out_where, t.out_size, t.out_block,
                 {slot_out(i), shared_->out_inline}, "pool region: task result");
}

void PoolView::FreeBlock(SharedBlockRef& block) noexcept {
  try {
    heap_.Free(block.Take());
  } catch (...) {
    // A corrupt reference: the block leaks (see the header).
  }
}

bool PoolView::Complete(uint32_t i, uint32_t gen, uint32_t from, uint32_t to) {
  TaskSlot& t = slot(i);
  uint32_t s = t.state.load(std::memory_order_acquire);
  for (;;) {
    if (GenOf(s) != gen || PhaseOf(s) != from) return false;
    const uint32_t next = WithPhase(s, to);
    if (t.state.compare_exchange_weak(s, next, std::memory_order_seq_cst)) {
      break;
    }
  }
  if ((s & kFlagWaiter) != 0) FutexWake(&t.state, INT_MAX);
  if ((s & kFlagNotify) != 0) Notify(i);
  return true;
}

void PoolView::Notify(uint32_t i) {
  notify_[i / 64].fetch_or(uint64_t{1} << (i % 64), std::memory_order_seq_cst);
  KickHandler();
}

void PoolView::KickHandler() {
  shared_->notify_seq.fetch_add(1, std::memory_order_seq_cst);
  if (shared_->handler_waiting.load(std::memory_order_seq_cst) != 0) {
    FutexWake(&shared_->notify_seq, 1);
  }
}

}  // namespace shoal::internal
