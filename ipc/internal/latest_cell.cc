// Copyright 2026 The shoal Authors.
#include "shoal/ipc/internal/latest_cell.h"

#include <sched.h>

#include <chrono>
#include <climits>
#include <new>
#include <utility>

#include "shoal/base/errors.h"
#include "shoal/base/internal/futex.h"

namespace shoal::internal {
namespace {

// A dead writer can miss its FUTEX_WAKE (killed between publishing and
// waking); sleepers re-check at least this often.
constexpr auto kWaitSlice = std::chrono::milliseconds(100);
// "Never written" marker of buffer 1 before the first publication (odd, so
// never a complete version's seq).
constexpr uint64_t kNeverWritten = ~uint64_t{0};

}  // namespace

void LatestCell::Construct(void* at, uint64_t size, const void* initial) {
  auto* d = ::new (at) LatestCellData();
  d->version.store(0, std::memory_order_relaxed);
  d->version_low.store(0, std::memory_order_relaxed);
  d->waiters.store(0, std::memory_order_relaxed);
  d->writer_deaths.store(0, std::memory_order_relaxed);
  d->value_size = size;
  d->stride = LatestStride(size);
  auto* buffers = static_cast<unsigned char*>(at) + sizeof(LatestCellData);
  auto* b0 = reinterpret_cast<std::atomic<uint64_t>*>(buffers);
  auto* b1 = reinterpret_cast<std::atomic<uint64_t>*>(buffers + d->stride);
  ::new (b0) std::atomic<uint64_t>(0);
  ::new (b1) std::atomic<uint64_t>(kNeverWritten);
  const uint64_t first = LatestDataOffset(size) / 8;
  const uint64_t words = (size + 7) / 8;
  for (uint64_t i = 0; i < words; ++i) {
    ::new (b0 + first + i) std::atomic<uint64_t>(0);
    ::new (b1 + first + i) std::atomic<uint64_t>(0);
  }
  CopyWordsIn(b0 + first, initial, size);
}

LatestCell LatestCell::Attach(void* at, uint64_t available,
                              uint64_t expected_size, std::string what) {
  if (expected_size == 0 || expected_size > kMaxLatestValueSize) {
    throw ValueError(what + ": a value of " + std::to_string(expected_size) +
                     " bytes (must be 1 to " +
                     std::to_string(kMaxLatestValueSize) + ")");
  }
  const uint64_t need = LatestCellBytes(expected_size);
  if (available < need) {
    throw InvalidRegion(what + ": " + std::to_string(available) +
                        " bytes, too small for a cell of " +
                        std::to_string(need) + " bytes");
  }
  if (reinterpret_cast<uintptr_t>(at) % kCacheLine != 0) {
    throw InvalidRegion(what + ": the cell is not 64-byte aligned");
  }
  auto* d = static_cast<LatestCellData*>(at);
  // Both immutable after construction; compared, never used as read.
  const uint64_t size = d->value_size;
  const uint64_t stride = d->stride;
  if (size != expected_size || stride != LatestStride(expected_size)) {
    throw InvalidRegion(what + ": the cell holds values of " +
                        std::to_string(size) + " bytes (stride " +
                        std::to_string(stride) + "), expected " +
                        std::to_string(expected_size) + " (stride " +
                        std::to_string(LatestStride(expected_size)) +
                        "): shared memory corrupt");
  }
  LatestCell c;
  c.data_ = d;
  c.buffers_ = static_cast<unsigned char*>(at) + sizeof(LatestCellData);
  c.size_ = expected_size;
  c.stride_ = LatestStride(expected_size);
  c.data_offset_ = LatestDataOffset(expected_size);
  c.what_ = std::move(what);
  return c;
}

uint64_t LatestCell::ReadSlow(void* out, std::size_t n,
                              const Deadline& deadline) const {
  for (uint32_t attempt = 1;; ++attempt) {
    const uint64_t v = data_->version.load(std::memory_order_acquire);
    const std::atomic<uint64_t>* seq = Seq(v);
    const uint64_t s1 = seq->load(std::memory_order_acquire);
    if (s1 == 2 * v) {
      CopyWordsOut(Data(seq, data_offset_), out, n);
      std::atomic_thread_fence(std::memory_order_acquire);
      if (seq->load(std::memory_order_relaxed) == s1) return v;
    } else if (data_->version.load(std::memory_order_acquire) == v) {
      // s1 was loaded with acquire: had a newer writer stored it, its
      // publication of v + 1 would be visible now (see the header).
      throw InvalidRegion(
          what_ + ": the published copy of version " + std::to_string(v) +
          " has sequence " + std::to_string(s1) + " (expected " +
          std::to_string(2 * v) + "): shared memory corrupt");
    }
    // Overtaken by writers (or a peer keeps scribbling): try again, and
    // let a preempted writer run now and then.
    if (attempt % 64 == 0) {
      if (deadline.expired()) {
        throw TimeoutError(what_ +
                           ": no consistent copy before the deadline (writers "
                           "republish faster than one copy takes)");
      }
      sched_yield();
    }
  }
}

LatestCell::WriterGuard::WriterGuard(LatestCell& c, const Deadline& deadline)
    : c_(c) {
  LockStatus s = c.data_->writer_lock.acquire_status(deadline);
  if (s == LockStatus::kTimedOut) {
    throw TimeoutError(c.what_ +
                       ": another writer held the lock until the deadline");
  }
  if (s == LockStatus::kOwnerDied) {
    // A writer died mid-publication. Nothing to repair: it wrote only the
    // unpublished buffer, or had published already (see the header).
    c.data_->writer_deaths.fetch_add(1, std::memory_order_relaxed);
    c.data_->writer_lock.make_consistent();
  }
}

LatestCell::WriterGuard::~WriterGuard() { c_.data_->writer_lock.release(); }

uint64_t LatestCell::PublishLocked(const void* in) {
  const uint64_t next = data_->version.load(std::memory_order_relaxed) + 1;
  std::atomic<uint64_t>* seq = SeqMut(next);
  // Release: a reader that sees this odd seq also sees `next - 1`
  // published (the corruption test in ReadSlow depends on it).
  seq->store(2 * next - 1, std::memory_order_release);
  std::atomic_thread_fence(std::memory_order_release);
  CopyWordsIn(seq + data_offset_ / 8, in, size_);
  seq->store(2 * next, std::memory_order_release);
  // seq_cst: with the waiter's store of the `waiters` flag (Dekker), either
  // the waiter sees the new version or we see its flag. The flag is cleared
  // by the waking writer, so a waiter killed while asleep costs at most one
  // extra wake-up, not one on every publication.
  data_->version.store(next, std::memory_order_seq_cst);
  data_->version_low.store(static_cast<uint32_t>(next),
                           std::memory_order_seq_cst);
  if (data_->waiters.load(std::memory_order_seq_cst) != 0 &&
      data_->waiters.exchange(0, std::memory_order_seq_cst) != 0) {
    FutexWake(&data_->version_low, INT_MAX);
  }
  return next;
}

uint64_t LatestCell::Publish(const void* in, const Deadline& deadline) {
  WriterGuard g(*this, deadline);
  return PublishLocked(in);
}

uint64_t LatestCell::WaitNewer(uint64_t seen, const Deadline& deadline) const {
  for (;;) {
    uint64_t v = data_->version.load(std::memory_order_acquire);
    if (v != seen) return v;
    if (deadline.expired()) return v;
    data_->waiters.store(1, std::memory_order_seq_cst);
    v = data_->version.load(std::memory_order_seq_cst);
    if (v == seen) {
      FutexWait(&data_->version_low, static_cast<uint32_t>(seen),
                Deadline::Min(deadline, Deadline(kWaitSlice)));
    }
  }
}

}  // namespace shoal::internal
