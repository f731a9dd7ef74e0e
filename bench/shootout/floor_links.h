// Copyright 2026 The shoal Authors.
//
// floor_links.h: the floors of the shoot-out, as links (see links.h for the
// link interface). A floor is what the hardware allows for a workload, built
// the simplest fast way with nothing a real method needs (no crash safety,
// no sleeping, one producer and one consumer): a method that beats its floor
// means the floor is wrong, and the report says so.
//
//   floor.spin         round trips: a one-slot ring per direction, both sides
//                      spin; the message is copied in and copied out.
//   floor.spsc         streams: a single-producer single-consumer ring in
//                      shared memory with cached indices (each side keeps
//                      its last view of the other's index and reads the
//                      shared one only when that view says full or empty,
//                      as in rigtorp's SPSCQueue), publishing every item;
//                      copied in and out; the ring holds at most 2 MiB,
//                      so large messages stay in cache as a reused block
//                      does. At large sizes it is the cross-process copy
//                      floor: every copying method moves the bytes at least
//                      into shared memory and out again.
//   floor.spsc.batch   the same ring publishing its index every 64 items
//                      (fewer when the ring holds fewer; the end-of-repeat
//                      marker and a full or empty ring publish at once):
//                      the floor for methods that batch.
//   floor.loan         the zero-copy floor: the same ring of blocks, the
//                      writer stamps the block in place and publishes it,
//                      the reader checks the stamps in place and releases
//                      it; what loan-style methods (shoal.channel.loan,
//                      iceoryx) are measured against.
//   ref.futex          a reference, not a floor: the one-slot ring with
//                      FUTEX_WAIT / FUTEX_WAKE on every hand-over (what a
//                      sleeping peer costs; methods with a waiter flag do
//                      better).
//
// Written by hand: a floor must be the bare algorithm, so no library queue
// (Boost.Lockfree's spsc_queue works on process-local memory and element
// types, not on a byte ring shared by two processes).
#ifndef SHOAL_BENCH_SHOOTOUT_FLOOR_LINKS_H_
#define SHOAL_BENCH_SHOOTOUT_FLOOR_LINKS_H_

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <new>

#include "bench/bench_util.h"
#include "bench/shootout/links.h"

namespace shoal::shootout {

// The SPSC ring of the floors. kBatch: publish the write (and read) index
// every kBatch items; kCopy: copy the message in and out (false: stamp and
// check in place, the zero-copy floor).
template <uint32_t kBatch, bool kCopy>
class SpscRingLink : public LinkBase {
 public:
  explicit SpscRingLink(const Spec& s)
      : buf_(s),
        depth_(s.round_trip ? 1 : RingDepth(s)),
        batch_(std::max<uint32_t>(1, std::min<uint32_t>(kBatch, depth_ / 2))),
        // Items packed as a user's array would be (8 B items share cache
        // lines, as in rigtorp's ring); 64 B and larger start a line each.
        stride_(s.size < 64 ? (s.size + 7) / 8 * 8 : (s.size + 63) / 64 * 64) {
    bytes_ = kSlots + 2 * stride_ * depth_;
    mem_ = static_cast<char*>(bench::MapShared(bytes_));
    for (int d = 0; d < 2; ++d) new (ctl(d)) Ctl();
    // Touch the slots once: a floor should not pay first-touch page faults.
    std::memset(mem_ + kSlots, 0, 2 * stride_ * depth_);
  }
  ~SpscRingLink() { munmap(mem_, bytes_); }

  void Send(int dir, uint64_t seq) {
    Ctl* c = ctl(dir);
    Side& me = side_[dir];
    if (me.pos - me.cached_other >= depth_) {
      PollWait w;
      for (;;) {
        me.cached_other = c->head.load(std::memory_order_acquire);
        if (me.pos - me.cached_other < depth_) break;
        Publish(c->tail, me);  // the reader may wait for what we hold back
        w.Wait();
      }
    }
    char* slot = Slot(dir, me.pos);
    if constexpr (kCopy) {
      buf_.StampOut(seq);
      CopyBytes(slot, buf_.out.data(), buf_.bytes);
    } else {
      bench::Stamp(reinterpret_cast<uint64_t*>(slot), buf_.words, seq);
    }
    ++me.pos;
    if (me.pos - me.published >= batch_ || IsControl(seq)) Publish(c->tail, me);
  }

  uint64_t Recv(int dir) {
    Ctl* c = ctl(dir);
    Side& me = side_[2 + dir];
    if (me.pos == me.cached_other) {
      PollWait w;
      for (;;) {
        me.cached_other = c->tail.load(std::memory_order_acquire);
        if (me.pos != me.cached_other) break;
        Publish(c->head, me);  // the writer may wait for room we hold back
        w.Wait();
      }
    }
    const char* slot = Slot(dir, me.pos);
    uint64_t got;
    if constexpr (kCopy) {
      CopyBytes(buf_.in.data(), slot, buf_.bytes);
      got = buf_.CheckIn(buf_.bytes);
    } else {
      got = bench::Check(reinterpret_cast<const uint64_t*>(slot), buf_.words);
    }
    ++me.pos;
    if (me.pos - me.published >= batch_ || IsControl(got)) Publish(c->head, me);
    return got;
  }

 private:
  struct Ctl {
    alignas(64) std::atomic<uint32_t> head{0};  // written by the reader
    alignas(64) std::atomic<uint32_t> tail{0};  // written by the writer
  };
  // One side's process-local state: its own index, the last value of it it
  // published, and its cached view of the other side's index.
  struct Side {
    uint32_t pos = 0, published = 0, cached_other = 0;
  };
  // A copying ring holds at most kRingBytes (but two slots at least): a
  // method that reuses one hot block (shoal's heap, a kernel socket
  // buffer) keeps its bytes in L2, and a floor that cycled through
  // DepthFor()'s 16 MiB of 1 MiB slots ran from L3 and memory instead:
  // shoal's Queue streamed 1 MiB at 1.7x that "floor". The zero-copy floor
  // keeps the whole depth: it touches only the stamped words.
  static constexpr std::size_t kRingBytes = std::size_t{2} << 20;
  static uint32_t RingDepth(const Spec& s) {
    if (!kCopy) return static_cast<uint32_t>(s.depth);
    return static_cast<uint32_t>(std::clamp<std::size_t>(
        kRingBytes / std::max<std::size_t>(s.size, 1), 2, s.depth));
  }
  // The slots start on a page of their own, as a heap block or a kernel
  // buffer would: a slot 256 bytes into a page copies to and from the
  // 16-byte-aligned user buffers with every page of source and destination
  // at nearly the same offset (4 KiB aliasing), which slowed the floor's
  // memcpy at 64 KiB and above below what socketpair achieved.
  static constexpr std::size_t kSlots = 4096;
  static_assert(2 * sizeof(Ctl) <= kSlots);
  static void Publish(std::atomic<uint32_t>& index, Side& me) {
    if (me.published != me.pos) {
      index.store(me.pos, std::memory_order_release);
      me.published = me.pos;
    }
  }
  static void CopyBytes(void* dst, const void* src, std::size_t n) {
    if (n == 8) {  // one word: what a ring of uint64_t would do
      uint64_t v;
      std::memcpy(&v, src, 8);
      std::memcpy(dst, &v, 8);
    } else {
      std::memcpy(dst, src, n);
    }
  }
  Ctl* ctl(int d) { return reinterpret_cast<Ctl*>(mem_ + d * sizeof(Ctl)); }
  char* Slot(int d, uint32_t i) {
    return mem_ + kSlots + (d * depth_ + i % depth_) * stride_;
  }

  Buffers buf_;
  uint32_t depth_, batch_;
  std::size_t stride_, bytes_ = 0;
  char* mem_ = nullptr;
  Side side_[4];  // writer of direction 0, 1; reader of direction 0, 1
};

using FloorSpinLink = SpscRingLink<1, true>;        // floor.spin (rtt)
using FloorSpscLink = SpscRingLink<1, true>;        // floor.spsc (stream)
using FloorSpscBatchLink = SpscRingLink<64, true>;  // floor.spsc.batch
using FloorLoanLink = SpscRingLink<1, false>;       // floor.loan

// ref.futex: a ring of fixed-size slots per direction, copy in and out,
// FUTEX_WAIT / FUTEX_WAKE on every hand-over (the cost when the peer
// sleeps). A reference, not a floor.
class FutexRingLink : public LinkBase {
 public:
  explicit FutexRingLink(const Spec& s)
      : buf_(s), depth_(s.round_trip ? 1 : static_cast<uint32_t>(s.depth)) {
    stride_ = (s.size + 63) / 64 * 64;
    bytes_ = sizeof(Ctl) * 2 + 2 * stride_ * depth_;
    mem_ = static_cast<char*>(bench::MapShared(bytes_));
    for (int d = 0; d < 2; ++d) new (ctl(d)) Ctl();
  }
  ~FutexRingLink() { munmap(mem_, bytes_); }

  void Send(int dir, uint64_t seq) {
    Ctl* c = ctl(dir);
    const uint32_t t = c->tail.load(std::memory_order_relaxed);
    for (;;) {
      const uint32_t h = c->head.load(std::memory_order_acquire);
      if (t - h < depth_) break;
      bench::FutexWaitRaw(&c->head, h);
    }
    buf_.StampOut(seq);
    std::memcpy(slot(dir, t), buf_.out.data(), buf_.bytes);
    c->tail.store(t + 1, std::memory_order_release);
    bench::FutexWakeRaw(&c->tail);
  }
  uint64_t Recv(int dir) {
    Ctl* c = ctl(dir);
    const uint32_t h = c->head.load(std::memory_order_relaxed);
    for (;;) {
      const uint32_t t = c->tail.load(std::memory_order_acquire);
      if (t != h) break;
      bench::FutexWaitRaw(&c->tail, t);
    }
    std::memcpy(buf_.in.data(), slot(dir, h), buf_.bytes);
    c->head.store(h + 1, std::memory_order_release);
    bench::FutexWakeRaw(&c->head);
    return buf_.CheckIn(buf_.bytes);
  }

 private:
  struct Ctl {
    alignas(64) std::atomic<uint32_t> head{0};
    alignas(64) std::atomic<uint32_t> tail{0};
  };
  Ctl* ctl(int d) { return reinterpret_cast<Ctl*>(mem_ + d * sizeof(Ctl)); }
  char* slot(int d, uint32_t i) {
    return mem_ + 2 * sizeof(Ctl) + (d * depth_ + i % depth_) * stride_;
  }

  Buffers buf_;
  uint32_t depth_;
  std::size_t stride_ = 0, bytes_ = 0;
  char* mem_ = nullptr;
};

}  // namespace shoal::shootout

#endif  // SHOAL_BENCH_SHOOTOUT_FLOOR_LINKS_H_
