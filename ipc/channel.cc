#include "shoal/ipc/channel.h"

namespace shoal::internal {

std::shared_ptr<ChannelCore> ChannelCore::Create(std::size_t block_bytes,
                                                 const RegionLayout& layout,
                                                 const ChannelOptions& options) {
  if (options.slots == 0) throw ValueError("Channel: slots must be >= 1");
  const std::size_t bytes = SlotRing::BytesFor(options.slots, block_bytes);
  if (options.region.kind == RegionKind::kNamed) {
    SweepStale(layout.type_name.substr(0, layout.type_name.find('<') + 1));
  }
  Region region = Region::Create(bytes, layout, options.region);
  SlotRing ring = SlotRing::Create(region.payload(), bytes, options.slots,
                                   block_bytes);
  ring.set_close_on_writers_gone(options.close_when_writers_gone);
  region.PublishReady();
  return Attach(std::move(region));
}

std::shared_ptr<ChannelCore> ChannelCore::Attach(Region region) {
  std::shared_ptr<ChannelCore> core(new ChannelCore);
  core->region_ = std::move(region);
  core->ring_ = SlotRing::Attach(core->region_.payload(),
                                 core->region_.payload_size());
  return core;
}

}  // namespace shoal::internal
