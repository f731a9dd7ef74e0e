// Fuzz target: the codec's decoder (ipc/codec.h) on arbitrary bytes.
// Contract: an error status or a value, never a crash, an out-of-bounds read
// or an allocation far beyond the input; a decoded value re-encodes to the
// same size (FuzzDecode reports anything else as Internal, which aborts).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "absl/status/status.h"
#include "shoal/ipc/internal/codec_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::Status s = shoal::internal::FuzzDecode(
      std::as_bytes(std::span<const uint8_t>(data, size)));
  if (s.code() == absl::StatusCode::kInternal) std::abort();
  return 0;
}
