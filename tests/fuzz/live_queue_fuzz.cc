// Fuzz target: a hostile peer that writes into a LIVE queue between the
// operations of a real writer and a real reader (two handles, as two
// processes have), instead of a queue whose bytes are garbage from the
// start (queue_fuzz). The input is a script: each step either runs an
// operation (put or get, inline or through the heap, non-blocking or timed)
// or overwrites a few bytes anywhere in the queue's shared memory: the
// ring's indices, slot words, sizes, flags and block references, the spin
// policies, the writer table, the heap's geometry copy, bitmap and counters,
// and the heap lock's word.
//
// Contract checked: every operation returns (a value, empty/full/closed) or
// throws a shoal error (InvalidRegion, CodecError, ...), never crashes, and
// returns within kBound of its deadline whatever was written (and so does a
// WaitSet waiting on the queue's two sides) (aborts
// otherwise, which libFuzzer reports). Left out: the bytes of the heap
// lock's pthread_mutex_t after its lock word (kind, owner, robust-list
// links): glibc follows those as pointers, which no validation by shoal can
// make safe (RELIABILITY.md).
#include <pthread.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "shoal/base/deadline.h"
#include "shoal/base/errors.h"
#include "shoal/ipc/internal/block_heap.h"
#include "shoal/ipc/internal/queue_core.h"
#include "shoal/ipc/queue.h"
#include "shoal/ipc/wait.h"
#include "tests/fuzz/fuzz_types.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kBound = std::chrono::seconds(2);

class Script {
 public:
  Script(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool done() const { return size_ == 0; }
  uint8_t Byte() {
    if (size_ == 0) return 0;
    --size_;
    return *data_++;
  }
  uint32_t Bytes(int n) {
    uint32_t v = 0;
    for (int i = 0; i < n; ++i) v = v << 8 | Byte();
    return v;
  }

 private:
  const uint8_t* data_;
  size_t size_;
};

template <class Fn>
void Bounded(const char* what, Fn&& fn) {
  const auto start = Clock::now();
  try {
    fn();
  } catch (const shoal::Error&) {
  }
  if (Clock::now() - start > kBound) {
    std::fprintf(stderr, "live_queue_fuzz: %s took longer than its bound\n",
                 what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace shoal;
  using namespace std::chrono_literals;
  Queue<std::string> writer(fuzz::QueueFuzzOptions());
  std::optional<Queue<std::string>> reader;
  try {
    reader.emplace(Queue<std::string>::Open(writer.ref()));
  } catch (const Error&) {
    return 0;
  }
  writer.put("seed");
  writer.put(std::string(100, 'h'));  // through the heap

  std::byte* base = writer.region().payload();
  const uint64_t payload = writer.region().payload_size();
  const auto* qs = writer.region().at<internal::QueueShared>(0);
  // The heap lock's pthread_mutex_t past its first word (see above).
  const uint64_t lock_at =
      qs->heap_offset + offsetof(internal::BlockHeapShared, lock);
  const uint64_t guard_begin = lock_at + sizeof(int);
  const uint64_t guard_end = lock_at + sizeof(pthread_mutex_t);

  Script s(data, size);
  for (int step = 0; step < 64 && !s.done(); ++step) {
    const uint8_t op = s.Byte();
    const size_t len = (op >> 4) * 12;  // 0..180: inline or heap items
    switch (op & 7) {
      case 0:
      case 1:
        Bounded("try_put", [&] { (void)writer.try_put(std::string(len, 'p')); });
        break;
      case 2:
        Bounded("put(1ms)", [&] {
          (void)writer.try_put(std::string(len, 'q'), Deadline(1ms));
        });
        break;
      case 3:
        Bounded("try_get", [&] { (void)reader->try_get(); });
        break;
      case 4:
        Bounded("get(1ms)", [&] { (void)reader->try_get(Deadline(1ms)); });
        break;
      case 5:
      case 6: {
        // The hostile peer: a few bytes at an offset anywhere in the queue.
        const uint64_t at = s.Bytes(2) % payload;
        const int n = s.Byte() % 16 + 1;
        for (int i = 0; i < n && at + i < payload; ++i) {
          const uint8_t b = s.Byte();
          if (at + i >= guard_begin && at + i < guard_end) continue;
          base[at + i] = static_cast<std::byte>(b);
        }
        break;
      }
      default:
        Bounded("inspect/reopen", [&] {
          (void)reader->qsize();
          (void)reader->lost();
          if (op & 0x40) {
            // A waiter on both sides (ipc/wait.h): polls, arms, sleeps
            // briefly, repairs, within its bound.
            shoal::WaitSet set;
            set.add(*reader);
            set.add(shoal::writable(writer));
            (void)set.wait(Deadline(1ms));
          }
          if (op & 0x80) reader.emplace(Queue<std::string>::Open(writer.ref()));
        });
        break;
    }
  }
  return 0;
}
