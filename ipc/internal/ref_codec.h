// Copyright 2026 The shoal Authors.
//
// ref_codec.h: the codec for shoal handles (Queue, Channel, Value, Array...):
// a handle travels as its region's RegionRef, and decoding opens the region
// (H::Open(ref)), so a handle passed to a task or a child process works
// there. Decoding may throw InvalidRegion or SystemError (the region is gone,
// or held by a process that is gone) besides CodecError.
#ifndef SHOAL_IPC_INTERNAL_REF_CODEC_H_
#define SHOAL_IPC_INTERNAL_REF_CODEC_H_

#include <cstddef>

#include "shoal/ipc/codec.h"
#include "shoal/ipc/region.h"

namespace shoal::internal {

template <class H>
struct RefHandleCodec {
  static constexpr size_t kMinSize = sizeof(RegionRef);
  static size_t Size(const H&) { return sizeof(RegionRef); }
  static void Encode(const H& h, CodecWriter& w) { w.WriteRaw(h.ref()); }
  static H Decode(CodecReader& r) { return H::Open(r.ReadRaw<RegionRef>()); }
};

}  // namespace shoal::internal

#endif  // SHOAL_IPC_INTERNAL_REF_CODEC_H_
