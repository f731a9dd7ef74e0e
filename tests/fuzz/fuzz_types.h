// Types shared by the fuzz targets and the seed generator.
#ifndef SHOAL_TESTS_FUZZ_FUZZ_TYPES_H_
#define SHOAL_TESTS_FUZZ_FUZZ_TYPES_H_

#include <cstdint>

#include "shoal/ipc/layout.h"
#include "shoal/ipc/queue.h"

namespace shoal::fuzz {

struct RegionFuzzPayload {
  uint64_t a;
  uint64_t b;
};

inline RegionLayout RegionFuzzLayout() {
  return LayoutOf<RegionFuzzPayload>("fuzz", 1);
}

inline QueueOptions QueueFuzzOptions() {
  QueueOptions options;
  options.maxsize = 4;
  options.inline_bytes = 32;
  options.heap_bytes = 4096;
  options.region.kind = RegionKind::kAnonymous;
  return options;
}

}  // namespace shoal::fuzz

#endif  // SHOAL_TESTS_FUZZ_FUZZ_TYPES_H_
