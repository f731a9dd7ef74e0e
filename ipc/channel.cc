#include "ipc/channel.h"

namespace shoal::internal {

std::shared_ptr<ChannelCore> ChannelCore::Create(std::size_t block_bytes,
                                                 uint32_t slots,
                                                 const RegionLayout& layout,
                                                 const RegionOptions& options) {
  if (slots == 0) throw ValueError("Channel: slots must be >= 1");
  const std::size_t bytes = SlotRing::BytesFor(slots, block_bytes);
  Region region = Region::Create(bytes, layout, options);
  SlotRing::Create(region.payload(), bytes, slots, block_bytes);
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
