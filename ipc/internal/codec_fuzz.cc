// Copyright 2026 The shoal Authors.
#include "shoal/ipc/internal/codec_fuzz.h"

#include "shoal/ipc/codec.h"

namespace shoal::internal {

absl::Status FuzzDecode(std::span<const std::byte> bytes) {
  absl::StatusOr<FuzzComposite> v = TryDecode<FuzzComposite>(bytes);
  if (!v.ok()) return v.status();
  // Whatever decodes re-encodes to the same number of bytes and decodes
  // again. (Not byte-identical: unordered_map order may differ, and values
  // are not compared because NaN != NaN.)
  std::string again = Encode(*v);
  if (again.size() != bytes.size()) {
    return absl::InternalError("re-encoding changed the size");
  }
  absl::StatusOr<FuzzComposite> back = TryDecode<FuzzComposite>(again);
  if (!back.ok()) {
    return absl::InternalError("a re-encoded value does not decode");
  }
  return absl::OkStatus();
}

}  // namespace shoal::internal
