// Copyright 2026 The shoal Authors.
#include "shoal/ipc/broadcast.h"

#include <atomic>
#include <memory>
#include <utility>

namespace shoal::internal {

std::shared_ptr<BroadcastCore> BroadcastCore::Create(
    std::size_t block_bytes, const RegionLayout& layout,
    const BroadcastOptions& options) {
  const std::size_t bytes = BroadcastRing::BytesFor(
      options.slots, block_bytes, options.max_subscribers);
  if (options.history >= options.slots) {
    throw ValueError("Broadcast: history (" + std::to_string(options.history) +
                     ") must be smaller than slots (" +
                     std::to_string(options.slots) + ")");
  }
  if (options.region.kind == RegionKind::kNamed) {
    SweepStale(layout.type_name.substr(0, layout.type_name.find('<') + 1));
  }
  Region region = Region::Create(bytes, layout, options.region);
  BroadcastRing::Create(region.payload(), bytes, options.slots, block_bytes,
                        options.max_subscribers, options.history);
  region.PublishReady();
  return Attach(std::move(region), 1);
}

std::shared_ptr<BroadcastCore> BroadcastCore::Attach(Region region,
                                                     std::size_t element_size) {
  std::shared_ptr<BroadcastCore> core(new BroadcastCore);
  core->region_ = std::move(region);
  core->ring_ = BroadcastRing::Attach(core->region_.payload(),
                                      core->region_.payload_size());
  if (core->ring_.block_bytes() % element_size != 0) {
    throw InvalidRegion(core->region_.description() + ": broadcast blocks of " +
                        std::to_string(core->ring_.block_bytes()) +
                        " bytes are not whole elements of " +
                        std::to_string(element_size) +
                        " bytes: shared memory corrupt");
  }
  core->publisher_ = BroadcastWriter(core->ring_);
  return core;
}

namespace {

// A futex hook on one subscriber (wait_hook.h): registers in the ring's
// readers_waiting and sleeps on items_seq (BroadcastWatch). A slot at the
// cursor held by another process's writer is checked for liveness after
// kLivenessCheckInterval, as a blocked receive does.
class SubscriberWaitHook final : public WaitHook {
 public:
  SubscriberWaitHook(const BroadcastSubscription& sub, const void* object)
      : WaitHook(object, Kind::kReadable),
        core_(sub.core),
        kept_(sub.kept),
        watch_(sub.reader) {}

  bool futex_based() const override { return true; }
  FutexWaitItem Arm() override {
    watch_.waiters()->fetch_add(1, std::memory_order_seq_cst);
    return Refresh();
  }
  void Disarm() override {
    watch_.waiters()->fetch_sub(1, std::memory_order_seq_cst);
  }
  FutexWaitItem Refresh() override {
    return {watch_.seq(), watch_.seq()->load(std::memory_order_seq_cst)};
  }

  bool Ready() override {
    if (kept_->load(std::memory_order_relaxed)) return true;
    BroadcastBlocker blocker;
    if (watch_.Poll(&blocker) != BroadcastRing::Status::kWouldBlock) {
      return true;
    }
    if (blocker.kind != BroadcastBlocker::kWriter ||
        blocker.state.pid() == CachedPid()) {
      clock_.Clear();
      return false;
    }
    if (clock_.Due(blocker.seq, blocker.state.raw(),
                   BroadcastRing::kLivenessCheckInterval) &&
        watch_.CheckBlocker(blocker)) {
      return watch_.Poll(&blocker) != BroadcastRing::Status::kWouldBlock;
    }
    return false;
  }
  Deadline Recheck() const override { return clock_.Recheck(); }

 private:
  std::shared_ptr<BroadcastCore> core_;  // keeps the mapping
  std::shared_ptr<std::atomic<bool>> kept_;
  BroadcastWatch watch_;
  BlockerClock clock_;
};

}  // namespace

WaitHookPtr MakeSubscriberWaitHook(const BroadcastSubscription& sub,
                                   const void* object) {
  return std::make_shared<SubscriberWaitHook>(sub, object);
}

}  // namespace shoal::internal
