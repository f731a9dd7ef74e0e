// Copyright 2026 The shoal Authors.
//
// fanout.h: one writer process to N subscriber processes, each of which
// receives every block: shoal::Broadcast (zero-copy loans), iceoryx's
// publish/subscribe, and a single-reader shoal::Channel as the reference.
// Shared by the shoot-out's "fanout" workload (RunFanOut) and
// bench/broadcast_bench.cc, so both measure the same loops.
//
// The work per block is the same in every row: the writer loans a block of
// `words` 64-bit words in shared memory and stamps it in place (bench::Stamp:
// word 0, one word per 4 KiB page and the last word carry the sequence
// number), and every subscriber checks all those words in place
// (bench::Check) before it releases the block; a wrong stamp or a block out
// of order counts as bad. A subscriber acknowledges every kFanOutAckEvery-th
// block in a cache line of its own; the writer stops its clock when every
// subscriber acknowledged the last block, so blocks in flight never count.
// Every ring is kFanOutDepth blocks deep (Broadcast slots, Channel slots,
// iceoryx subscriber queues), and nothing may be missed: Broadcast
// subscribers block the writer (WhenBehind::kBlockWriter), iceoryx runs
// WAIT_FOR_CONSUMER + BLOCK_PRODUCER.
#ifndef SHOAL_BENCH_SHOOTOUT_FANOUT_H_
#define SHOAL_BENCH_SHOOTOUT_FANOUT_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "bench/bench_util.h"
#include "bench/shootout/shootout.h"
#include "iceoryx_posh/popo/untyped_publisher.hpp"
#include "shoal/ipc/broadcast.h"
#include "shoal/ipc/channel.h"

namespace shoal::shootout {

inline constexpr uint64_t kFanOutAckEvery = 64;
inline constexpr uint32_t kFanOutDepth = 8;
inline constexpr int kFanOutMaxSubs = 16;

// In shared memory (bench::NewShared): what the subscribers tell the writer.
struct FanOutCtl {
  struct alignas(64) PerReader {
    std::atomic<uint64_t> acked{0};  // blocks received, every 64th
    std::atomic<uint32_t> ready{0};  // can receive (subscribed)
    std::atomic<uint32_t> done{0};   // saw the end (closed / stop marker)
    std::atomic<int32_t> pid{0};     // its process, for CpuNs
  };
  PerReader reader[kFanOutMaxSubs];
  alignas(64) std::atomic<uint64_t> bad{0};
  // On-CPU time of the writer and every subscriber summed over the measured
  // repeats, and those repeats' wall time: their ratio is how many CPUs the
  // case kept busy (a rate limited by the CPUs, or by waiting).
  std::atomic<uint64_t> cpu_ns{0};
  std::atomic<uint64_t> wall_ns{0};

  // Subscriber k (in its own process) can receive.
  void MarkReady(int k);
  // The writer's own on-CPU nanoseconds plus those of subscribers 0..subs-1.
  uint64_t CpuNs(int subs) const;

  void Ack(int k, uint64_t received) {
    if (received % kFanOutAckEvery == 0) {
      reader[k].acked.store(received, std::memory_order_release);
    }
  }
  // Bounded waits of the writer: false when `until_ns` (bench::NowNs) passed
  // or *abort became non-zero first.
  bool WaitReady(int subs, uint64_t until_ns, const std::atomic<uint32_t>* abort) const;
  bool WaitAcked(int subs, uint64_t n, uint64_t until_ns,
                 const std::atomic<uint32_t>* abort) const;
  bool WaitDone(int subs, uint64_t until_ns, const std::atomic<uint32_t>* abort) const;
};

using StampFn = void (*)(uint64_t*, std::size_t, uint64_t);
using CheckFn = uint64_t (*)(const uint64_t*, std::size_t);

// Subscriber k's loop: marks itself ready, then receives, checks in place
// with `check`, releases and acknowledges every block until the writer
// closes (shoal) or sends bench::kStopSeq (iceoryx); then sets done.
void ReceiveBroadcast(shoal::Broadcast<uint64_t>& bus, std::size_t words,
                      FanOutCtl* ctl, int k, CheckFn check = bench::Check);
void ReceiveChannel(shoal::Channel<uint64_t>& ch, std::size_t words, FanOutCtl* ctl,
                    int k, CheckFn check = bench::Check);
// iceoryx: starts this process's runtime (`name`), subscribes to `service`
// (queue kFanOutDepth, BLOCK_PRODUCER); poll: busy-polls take() (PollWait),
// else waits in a WaitSet. Waits at most 30 s for the subscription.
void ReceiveIceoryx(const std::string& name, const std::string& service,
                    std::size_t words, bool poll, FanOutCtl* ctl, int k,
                    CheckFn check = bench::Check);

// The writer's side of a Broadcast<uint64_t> or a Channel<uint64_t>: loan,
// stamp in place, publish.
template <class Writer>
void PublishLoaned(Writer& writer, std::size_t words, uint64_t seq,
                   StampFn stamp = bench::Stamp) {
  auto w = writer.loan(words);
  stamp(w.data(), words, seq);
  w.publish();
}
// iceoryx: starts this process's runtime (`name`) and offers `service`
// (WAIT_FOR_CONSUMER).
class IceoryxFanOutPublisher {
 public:
  IceoryxFanOutPublisher(const std::string& name, const std::string& service);
  // Retries loan() (yielding) while every chunk is in use.
  void Publish(std::size_t words, uint64_t seq, StampFn stamp = bench::Stamp);

 private:
  std::optional<iox::popo::UntypedPublisher> pub_;
};

// The shoot-out's fan-out case: method shoal.broadcast.loan, iceoryx,
// iceoryx.poll (1 writer -> `subs` subscribers) or shoal.channel.loan
// (1 -> 1). Samples: blocks per second that EACH subscriber receives (all
// receive all). `tag` makes the iceoryx service and runtime names unique.
Outcome RunFanOut(const Config& cfg, const std::string& method, std::size_t size,
                  int subs, const std::string& tag);

}  // namespace shoal::shootout

#endif  // SHOAL_BENCH_SHOOTOUT_FANOUT_H_
