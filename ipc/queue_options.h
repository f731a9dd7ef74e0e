// Copyright 2026 The shoal Authors.
//
// queue_options.h: shoal::QueueOptions, how a Queue, SimpleQueue or
// JoinableQueue (ipc/queue.h) is built.
//
//   shoal::Queue<std::string> q(shoal::QueueOptions{
//       .maxsize = 1000,
//       .region = {.kind = shoal::RegionKind::kNamed, .name = "jobs"}});
//
// Every field has a usable default; `shoal::Queue<T> q(n)` is
// `QueueOptions{.maxsize = n}`. The options fix the queue's shared layout at
// creation: processes that open it later (by name or ref) get the creator's.
#ifndef SHOAL_IPC_QUEUE_OPTIONS_H_
#define SHOAL_IPC_QUEUE_OPTIONS_H_

#include <cstddef>
#include <cstdint>

#include "shoal/ipc/region.h"

namespace shoal {

struct QueueOptions {
  // Most items the queue holds; put() blocks (or fails with Full) beyond it.
  // 0 picks kDefaultMaxsize: shared memory is fixed-size, so unlike Python's
  // Queue() an unbounded queue does not exist.
  std::size_t maxsize = 0;
  // Bytes of an item that travel inside a ring slot; larger items go through
  // the heap. 0 picks a default from the item type (its size when fixed and
  // small, else 96).
  std::size_t inline_bytes = 0;
  // Shared heap for items larger than inline_bytes. The pages are only
  // touched (and only then cost memory) when large items flow.
  uint64_t heap_bytes = uint64_t{64} << 20;
  // Where the queue lives: memfd (default; passable to other processes),
  // anonymous (fork only) or named (openable by name by unrelated programs).
  RegionOptions region{};
  // When true, a reader blocked on an empty queue gets shoal::Closed once
  // every process that ever put into it has gone (exited or died, or
  // destroyed its last handle), instead of waiting for a writer that will
  // never come. Off by default, as in Python: with producers that run one
  // after another, "no writer left" can be true between two of them.
  bool close_when_writers_gone = false;
  // Declares that one process puts (single_producer) and/or one process gets
  // (single_consumer): that side then keeps its ring index in its handle
  // and claims slots without touching the shared index (a
  // single-producer/single-consumer fast path). The first process to put
  // (get) becomes the producer (consumer); another live process that puts
  // (gets) gets shoal::RuntimeError, and the call puts (takes) nothing. Once
  // that process has died or exited, the next one takes its place. Crash
  // guarantees are those of any queue. One thread per side: several
  // threads of the one process stay correct, without the fast path.
  bool single_producer = false;
  bool single_consumer = false;

  static constexpr std::size_t kDefaultMaxsize = 65536;
};

}  // namespace shoal

#endif  // SHOAL_IPC_QUEUE_OPTIONS_H_
