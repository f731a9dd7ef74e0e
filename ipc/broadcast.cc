// Copyright 2026 The shoal Authors.
#include "shoal/ipc/broadcast.h"

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

}  // namespace shoal::internal
