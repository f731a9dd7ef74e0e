// Copyright 2026 The shoal Authors.
//
// latest_cell.h: one latest-value cell in shared memory, the engine under
// Latest<T> (ipc/latest.h) and each key of a Blackboard (ipc/blackboard.h).
//
// Layout (offsets from the cell, which is 64-byte aligned):
//
//     0  writer_lock     shoal::Lock (robust): writers take turns
//    64  version         publications so far; the value of version v is in
//                        buffer v % 2                      (readers' line)
//   128  version_low     low 32 bits of version, the futex word of
//                        wait_newer(); waiters (a flag: someone sleeps;
//                        cleared by the writer that wakes them),
//                        writer_deaths; value_size
//                        and stride, written once at construction
//   192  buffer 0, then buffer 1 at 192 + stride: each a seq word and the
//        value (at +8 when it fits the rest of the line, else at +64),
//        padded to a multiple of 64 bytes
//
// Algorithm: a double buffer with a seqlock per buffer. A writer (holding
// the lock) writes version v + 1 into the buffer readers are NOT directed
// to: seq = 2(v+1) - 1 (odd: being written), the words, seq = 2(v+1)
// (complete), and only then version = v + 1 (one store publishes it).
// A reader loads version v, checks that buffer v % 2 has seq == 2v, copies
// the words, and checks seq again. So:
//   * readers never wait for writers and never write shared memory;
//   * a reader retries only when two publications overtook its copy;
//   * a writer killed at ANY instruction leaves version pointing at a
//     complete buffer: it only ever wrote the unpublished one (or had
//     already published). The next writer gets OwnerDied from the robust
//     lock, which needs no repair here (counted in writer_deaths), and
//     overwrites the unpublished buffer.
//   * corruption is detected, not waited out: buffer v % 2 can only hold
//     anything but seq == 2v after a newer version was published (the
//     writer's seq stores are release stores that follow its, or its
//     predecessor's, version store), so "seq != 2v and version still v"
//     is a corrupt cell: InvalidRegion.
// Memory ordering: the seqlock of Boehm's "Can seqlocks get along with
// programming language memory models?": the value is copied between an
// acquire load of seq and an acquire fence (reader), and between a release
// store of the odd seq plus a release fence and a release store of the even
// seq (writer). The copies are plain memcpy (a copy that raced is thrown
// away); under ThreadSanitizer they are relaxed atomic word copies, so TSan
// checks the protocol (see CopyWordsOut).
#ifndef SHOAL_IPC_INTERNAL_LATEST_CELL_H_
#define SHOAL_IPC_INTERNAL_LATEST_CELL_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

#include "shoal/base/deadline.h"
#include "shoal/base/internal/cache_line.h"
#include "shoal/sync/lock.h"

namespace shoal::internal {

// Largest value a cell holds. Values are copied on every read and write; a
// seqlock suits small, frequently read state (use a Channel for bulk data).
inline constexpr uint64_t kMaxLatestValueSize = uint64_t{1} << 20;

struct alignas(kCacheLine) LatestCellData {
  Lock writer_lock;
  alignas(kCacheLine) std::atomic<uint64_t> version;
  alignas(kCacheLine) std::atomic<uint32_t> version_low;
  std::atomic<uint32_t> waiters;
  std::atomic<uint64_t> writer_deaths;
  uint64_t value_size;
  uint64_t stride;
};
static_assert(std::is_standard_layout_v<LatestCellData>);
static_assert(offsetof(LatestCellData, version) == 64);
static_assert(offsetof(LatestCellData, version_low) == 128);
static_assert(sizeof(LatestCellData) == 192);
static_assert(std::atomic<uint64_t>::is_always_lock_free);
static_assert(std::atomic<uint32_t>::is_always_lock_free);
static_assert(sizeof(std::atomic<uint64_t>) == 8);

// Where a buffer's value starts, after its seq word: right after it for
// values that then fit the same cache line (one line per read), at the next
// line for larger ones (aligned copies).
constexpr uint64_t LatestDataOffset(uint64_t size) {
  return size <= kCacheLine - 8 ? 8 : kCacheLine;
}
// Bytes between the two buffers for a value of `size` bytes.
constexpr uint64_t LatestStride(uint64_t size) {
  const uint64_t bytes = LatestDataOffset(size) + (size + 7) / 8 * 8;
  return (bytes + kCacheLine - 1) / kCacheLine * kCacheLine;
}
// Bytes of a whole cell (a multiple of 64).
constexpr uint64_t LatestCellBytes(uint64_t size) {
  return sizeof(LatestCellData) + 2 * LatestStride(size);
}

// Copies `n` bytes of a buffer's words out / in (n known at compile time in
// the typed paths).
//
// Reading: the seqlock discards any copy that raced with a writer, so the
// copy itself may be a plain memcpy (what every seqlock does in practice,
// at memcpy speed: see bench/RESULTS.md "## latest"), bracketed by the
// acquire load of seq and an acquire fence, which are compiler barriers as
// well. Under ThreadSanitizer, which would report that benign race, the copy
// is done with relaxed atomic loads of each word instead, so TSan checks the
// protocol itself.
inline void CopyWordsOut(const std::atomic<uint64_t>* words, void* out,
                         std::size_t n) {
#if defined(__SANITIZE_THREAD__)
  auto* o = static_cast<unsigned char*>(out);
  const std::size_t full = n / 8;
  for (std::size_t i = 0; i < full; ++i) {
    const uint64_t w = words[i].load(std::memory_order_relaxed);
    std::memcpy(o + 8 * i, &w, 8);
  }
  if (n % 8 != 0) {
    const uint64_t w = words[full].load(std::memory_order_relaxed);
    std::memcpy(o + 8 * full, &w, n % 8);
  }
#else
  std::memcpy(out, static_cast<const void*>(words), n);
#endif
}
// Writing: the same, mirrored: a plain memcpy between the odd seq store and
// its release fence, and the release store of the even seq (relaxed atomic
// stores under TSan).
inline void CopyWordsIn(std::atomic<uint64_t>* words, const void* in,
                        std::size_t n) {
#if defined(__SANITIZE_THREAD__)
  const auto* p = static_cast<const unsigned char*>(in);
  const std::size_t full = n / 8;
  for (std::size_t i = 0; i < full; ++i) {
    uint64_t w;
    std::memcpy(&w, p + 8 * i, 8);
    words[i].store(w, std::memory_order_relaxed);
  }
  if (n % 8 != 0) {
    uint64_t w = 0;
    std::memcpy(&w, p + 8 * full, n % 8);
    words[full].store(w, std::memory_order_relaxed);
  }
#else
  std::memcpy(static_cast<void*>(words), in, n);
#endif
}

// The process-local view of one cell. Copyable; valid while its region is
// mapped. Every field that decides an address was validated by Attach, and
// is kept here rather than re-read from shared memory.
class LatestCell {
 public:
  LatestCell() = default;

  // Builds a cell at `at` (zeroed, 64-byte aligned, LatestCellBytes(size)
  // bytes) whose version 0 is `initial` (`size` bytes).
  static void Construct(void* at, uint64_t size, const void* initial);
  // Checks the cell at `at` (`available` bytes) against a value of
  // `expected_size` bytes. Throws InvalidRegion naming `what`.
  static LatestCell Attach(void* at, uint64_t available, uint64_t expected_size,
                           std::string what);

  // The newest value into `out` (`N` == value size). Returns its version.
  // Never blocks a writer; retries while writers overtake the copy, until
  // `deadline` (TimeoutError). Throws InvalidRegion on a corrupt cell.
  template <std::size_t N>
  uint64_t Read(void* out, const Deadline& deadline) const {
    const uint64_t v = data_->version.load(std::memory_order_acquire);
    const std::atomic<uint64_t>* seq = Seq(v);
    const uint64_t s1 = seq->load(std::memory_order_acquire);
    if (s1 == 2 * v) [[likely]] {
      CopyWordsOut(Data(seq, LatestDataOffset(N)), out, N);
      std::atomic_thread_fence(std::memory_order_acquire);
      if (seq->load(std::memory_order_relaxed) == s1) return v;
    }
    return ReadSlow(out, N, deadline);
  }
  // The same with a size known only at run time.
  uint64_t ReadBytes(void* out, const Deadline& deadline) const {
    return ReadSlow(out, size_, deadline);
  }

  // Publishes `size` bytes at `in` as the next version (returned). Waits for
  // the writer lock until `deadline` (TimeoutError). `update`, when set,
  // first gets the current value in `scratch` (size bytes) to modify: a
  // read-modify-write under the writer lock.
  uint64_t Publish(const void* in, const Deadline& deadline);
  template <class Fn>
  uint64_t Update(void* scratch, Fn&& fn, const Deadline& deadline) {
    WriterGuard g(*this, deadline);
    const uint64_t v = data_->version.load(std::memory_order_relaxed);
    // Writers are excluded and the published buffer is only rewritten by a
    // writer: this copy cannot tear.
    CopyWordsOut(Data(Seq(v), data_offset_), scratch, size_);
    fn(scratch);
    return PublishLocked(scratch);
  }

  uint64_t version() const {
    return data_->version.load(std::memory_order_acquire);
  }
  // Blocks until version() != seen or `deadline`; returns version().
  uint64_t WaitNewer(uint64_t seen, const Deadline& deadline) const;
  uint64_t writer_deaths() const {
    return data_->writer_deaths.load(std::memory_order_relaxed);
  }
  uint64_t size() const { return size_; }
  explicit operator bool() const { return data_ != nullptr; }

 private:
  class WriterGuard {
   public:
    WriterGuard(LatestCell& c, const Deadline& deadline);
    ~WriterGuard();
    WriterGuard(const WriterGuard&) = delete;
    WriterGuard& operator=(const WriterGuard&) = delete;

   private:
    LatestCell& c_;
  };

  const std::atomic<uint64_t>* Seq(uint64_t version) const {
    return reinterpret_cast<const std::atomic<uint64_t>*>(
        buffers_ + (version & 1) * stride_);
  }
  static const std::atomic<uint64_t>* Data(const std::atomic<uint64_t>* seq,
                                          uint64_t offset) {
    return reinterpret_cast<const std::atomic<uint64_t>*>(
        reinterpret_cast<const unsigned char*>(seq) + offset);
  }
  std::atomic<uint64_t>* SeqMut(uint64_t version) {
    return reinterpret_cast<std::atomic<uint64_t>*>(buffers_ +
                                                    (version & 1) * stride_);
  }
  uint64_t ReadSlow(void* out, std::size_t n, const Deadline& deadline) const;
  uint64_t PublishLocked(const void* in);

  LatestCellData* data_ = nullptr;
  unsigned char* buffers_ = nullptr;
  uint64_t size_ = 0;
  uint64_t stride_ = 0;
  uint64_t data_offset_ = 0;
  std::string what_;  // for messages: "Latest<int> in memfd region ..."
};

}  // namespace shoal::internal

#endif  // SHOAL_IPC_INTERNAL_LATEST_CELL_H_
