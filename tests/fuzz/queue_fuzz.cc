// Fuzz target: a queue whose shared bytes (ring control block, slot states,
// sizes, flags, block offsets, payloads, heap bitmap) hold arbitrary data,
// as a buggy or hostile peer could leave them. The heap's lock is kept
// intact (a garbage robust mutex is the kernel's business). Contract: every
// non-blocking operation returns a value, a shoal error (InvalidRegion,
// CodecError, ...), or "empty/full"; never a crash, an out-of-bounds access
// or a hang.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "shoal/base/deadline.h"
#include "shoal/base/errors.h"
#include "shoal/ipc/internal/block_heap.h"
#include "shoal/ipc/internal/queue_core.h"
#include "shoal/ipc/queue.h"
#include "tests/fuzz/fuzz_types.h"

namespace {

// Overwrites [dst, dst + n) with the input, cycling through it.
void Fill(std::byte* dst, size_t n, const uint8_t*& data, size_t& size) {
  for (size_t i = 0; i < n && size > 0; ++i, ++data, --size) {
    dst[i] = static_cast<std::byte>(*data);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace shoal;
  Queue<std::string> q(fuzz::QueueFuzzOptions());
  q.put("seed item");
  q.put(std::string(100, 'x'));  // through the heap

  std::byte* base = q.region().payload();
  auto* qs = q.region().at<internal::QueueShared>(0);
  // The ring: control block and slots.
  Fill(base + qs->ring_offset, qs->ring_bytes, data, size);
  // The heap, except its control block (which holds the robust lock).
  const size_t heap_header = sizeof(internal::BlockHeapShared);
  if (qs->heap_bytes > heap_header) {
    Fill(base + qs->heap_offset + heap_header, qs->heap_bytes - heap_header,
         data, size);
  }

  try {
    Queue<std::string> other = Queue<std::string>::Open(q.ref());
    for (int i = 0; i < 16; ++i) {
      try {
        switch (i % 4) {
          case 0:
          case 1:
            (void)other.try_get(Deadline::Now());
            break;
          case 2:
            (void)other.try_put(std::string(i * 20, 'y'), Deadline::Now());
            break;
          default:
            (void)other.qsize();
            (void)other.lost();
            break;
        }
      } catch (const Error&) {
      }
    }
  } catch (const Error&) {
  }
  return 0;
}
