// Copyright 2026 The shoal Authors.
#include "shoal/ipc/internal/block_ref.h"

#include "shoal/base/errors.h"

namespace shoal::internal {

std::string BlockRef::Describe() const {
  switch (kind_) {
    case Kind::kInline:
      return std::to_string(length_) + " inline bytes";
    case Kind::kHeap:
      return "a heap block of " + std::to_string(length_) +
             " bytes at offset " + std::to_string(offset_);
    default:
      return "no block";
  }
}

void BlockRef::ThrowUnresolvable(std::string_view context,
                                 uint64_t area_size) const {
  std::string where;
  switch (kind_) {
    case Kind::kInline:
      where = " exceed the slot's " + std::to_string(area_size) + " bytes";
      break;
    case Kind::kHeap:
      where = area_size == 0 ? " but there is no heap"
                             : " outside the heap of " +
                                   std::to_string(area_size) + " bytes";
      break;
    default:
      where = " where a payload must be";
      break;
  }
  throw InvalidRegion(std::string(context) + " names " + Describe() + where +
                      ": shared memory corrupt");
}

}  // namespace shoal::internal
