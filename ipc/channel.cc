#include "shoal/ipc/channel.h"

namespace shoal::internal {

std::shared_ptr<ChannelCore> ChannelCore::Create(std::size_t block_bytes,
                                                 const RegionLayout& layout,
                                                 const ChannelOptions& options) {
  if (options.slots == 0) throw ValueError("Channel: slots must be >= 1");
  const std::size_t bytes = RingCore::BytesFor(options.slots, block_bytes);
  if (options.region.kind == RegionKind::kNamed) {
    SweepStale(layout.type_name.substr(0, layout.type_name.find('<') + 1));
  }
  Region region = Region::Create(bytes, layout, options.region);
  RingCore ring = RingCore::Create(region.payload(), bytes, options.slots,
                                   block_bytes);
  ring.set_close_on_writers_gone(options.close_when_writers_gone);
  region.PublishReady();
  return Attach(std::move(region));
}

std::shared_ptr<ChannelCore> ChannelCore::Attach(Region region) {
  std::shared_ptr<ChannelCore> core(new ChannelCore);
  core->region_ = std::move(region);
  const RingCore ring =
      RingCore::Attach(core->region_.payload(), core->region_.payload_size());
  core->writer_ = RingWriter(ring);
  core->reader_ = RingReader(ring);
  return core;
}

std::span<const std::byte> ChannelCore::Received(
    const RingClaim& claim, std::size_t element_size) const {
  const std::span<const std::byte> bytes = reader_.PayloadOf(claim).Resolve(
      ring().InlineArea(claim), {},
      [&] { return region_.description() + ": channel slot"; });
  if (bytes.size() % element_size != 0) {
    throw InvalidRegion(region_.description() + ": channel block of " +
                        std::to_string(bytes.size()) +
                        " bytes is not a whole number of elements: shared "
                        "memory corrupt");
  }
  return bytes;
}

}  // namespace shoal::internal
