// Fuzz target: attaching to a region (ipc/region.h) whose file holds
// arbitrary bytes. Contract: Region::FromFd either validates the header and
// returns a usable region, or throws shoal::InvalidRegion (or SystemError);
// never a crash, never a read outside the file, never a long wait.
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>

#include "shoal/base/errors.h"
#include "shoal/ipc/layout.h"
#include "shoal/ipc/region.h"
#include "tests/fuzz/fuzz_types.h"

using shoal::fuzz::RegionFuzzPayload;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  int fd = memfd_create("shoal-region-fuzz", MFD_CLOEXEC);
  if (fd < 0) return 0;
  size_t off = 0;
  while (off < size) {
    ssize_t n = write(fd, data + off, size - off);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  try {
    shoal::OpenOptions options;
    options.init_timeout = std::chrono::milliseconds(0);
    shoal::Region r = shoal::Region::FromFd(
        fd, shoal::fuzz::RegionFuzzLayout(), options);
    // A region that validated: its payload is inside the mapping.
    volatile uint64_t sink = 0;
    if (r.payload_size() >= sizeof(RegionFuzzPayload)) {
      sink = r.at<RegionFuzzPayload>(0)->a;
    }
    (void)sink;
    (void)r.ref();
  } catch (const shoal::Error&) {
  }
  close(fd);
  return 0;
}
