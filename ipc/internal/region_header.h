// Copyright 2026 The shoal Authors.
//
// region_header.h: the 256-byte header at offset 0 of every shoal region.
//
// Layout (offsets in bytes; native endianness; one machine only):
//
//     0  magic[8]            "SHOALRGN"; written last by the creator, so an
//                            all-zero magic means "being created"
//     8  version             kRegionLayoutVersion
//    12  header_size         sizeof(RegionHeader) == 256
//    16  total_size          header + payload, bytes; the file/mapping size
//    24  layout_hash         LayoutHash of the payload's structure
//    32  creator_pid
//    36  kind                RegionKind of the creating call
//    40  creator_start_time  /proc/<pid>/stat field 22 (clock ticks since
//                            boot): with the pid it names the creator across
//                            pid reuse
//    48  id[2]               128 random bits: tells a region from a later one
//                            created under the same name
//    64  type_name[128]      NUL-terminated, truncated, for messages and tools
//   192  creator_pid_ns      inode of the creator's pid namespace
//                            (/proc/self/ns/pid): which numbering
//                            creator_pid is in; 0 = unknown (older regions)
//   200  reserved[40]        zero
//   240  checksum            FNV-1a 64 over bytes [0, 240)
//   248  init_state          kInitConstructing -> kInitReady | kInitFailed,
//                            the only field that changes after creation (so
//                            it is outside the checksum)
//   252  init_waiters        openers sleeping on init_state (futex); the
//                            creator wakes them only when non-zero
//
// Why a version separate from the checksum: a future header layout may
// checksum differently; the version is checked first so such a region is
// reported as "version 2, expected 1" rather than as corrupt.
#ifndef SHOAL_IPC_INTERNAL_REGION_HEADER_H_
#define SHOAL_IPC_INTERNAL_REGION_HEADER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <type_traits>

#include "shoal/ipc/layout.h"

namespace shoal::internal {

inline constexpr char kRegionMagic[8] = {'S', 'H', 'O', 'A',
                                         'L', 'R', 'G', 'N'};
inline constexpr uint32_t kRegionLayoutVersion = 1;
inline constexpr size_t kRegionTypeNameSize = 128;

inline constexpr uint32_t kInitConstructing = 0;
inline constexpr uint32_t kInitReady = 1;
inline constexpr uint32_t kInitFailed = 2;

struct alignas(64) RegionHeader {
  char magic[8];
  uint32_t version;
  uint32_t header_size;
  uint64_t total_size;
  uint64_t layout_hash;
  int32_t creator_pid;
  uint32_t kind;
  uint64_t creator_start_time;
  uint64_t id[2];
  char type_name[kRegionTypeNameSize];
  uint64_t creator_pid_ns;
  char reserved[40];
  uint64_t checksum;
  std::atomic<uint32_t> init_state;
  std::atomic<uint32_t> init_waiters;
};

static_assert(std::is_standard_layout_v<RegionHeader>);
static_assert(sizeof(RegionHeader) == 256);
static_assert(offsetof(RegionHeader, type_name) == 64);
static_assert(offsetof(RegionHeader, creator_pid_ns) == 192);
static_assert(offsetof(RegionHeader, checksum) == 240);
static_assert(offsetof(RegionHeader, init_state) == 248);
static_assert(std::atomic<uint32_t>::is_always_lock_free);

inline constexpr size_t kRegionHeaderSize = sizeof(RegionHeader);
inline constexpr size_t kRegionChecksummedBytes =
    offsetof(RegionHeader, checksum);

// FNV-1a 64 over the immutable part of the header.
inline uint64_t RegionHeaderChecksum(const RegionHeader& h) {
  return Fnv1a64(std::string_view(reinterpret_cast<const char*>(&h),
                                  kRegionChecksummedBytes));
}

// The type name as a view, bounded by the array even without a NUL.
inline std::string_view RegionHeaderTypeName(const RegionHeader& h) {
  return std::string_view(h.type_name,
                          strnlen(h.type_name, kRegionTypeNameSize));
}

}  // namespace shoal::internal

#endif  // SHOAL_IPC_INTERNAL_REGION_HEADER_H_
