// Copyright 2026 The shoal Authors.
//
// The codec's cold paths: building error messages and throwing.
#include "shoal/ipc/codec.h"

#include <string>
#include <string_view>

#include "shoal/base/errors.h"

namespace shoal::internal {

void ThrowEncodeOverflow(size_t need, size_t offset, size_t size) {
  throw SerializationError(
      "codec: the destination is too small: " + std::to_string(need) +
      " more bytes needed at offset " + std::to_string(offset) + " of " +
      std::to_string(size) +
      " (the span is shorter than EncodedSize, or a CodecTraits' Size() "
      "under-reports what its Encode() writes)");
}

void ThrowDecodeError(std::string_view type, std::string_view why,
                      size_t offset, size_t size) {
  std::string msg = "codec: cannot decode ";
  msg += type.empty() ? std::string_view("value") : type;
  msg += ": ";
  msg += why;
  msg += " (at byte offset " + std::to_string(offset) + " of " +
         std::to_string(size) + ")";
  throw CodecError(msg);
}

std::string DecodeTruncatedMessage(size_t need, size_t left) {
  return "truncated input: " + std::to_string(need) + " bytes needed, " +
         std::to_string(left) + " left";
}

std::string DecodeLengthMessage(uint64_t count, size_t min_bytes, size_t left) {
  if (min_bytes == 0) {
    return "length " + std::to_string(count) + " exceeds the limit of " +
           std::to_string(kMaxZeroSizeElements) +
           " for elements that may encode to zero bytes";
  }
  return "length " + std::to_string(count) + " needs at least " +
         std::to_string(min_bytes) + " bytes per element but only " +
         std::to_string(left) + " bytes are left";
}

}  // namespace shoal::internal
