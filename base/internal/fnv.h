// Copyright 2026 The shoal Authors.
//
// fnv.h: the 64-bit FNV-1a hash shoal uses for layout hashes, region header
// checksums and module identities (constexpr, no dependencies).
#ifndef SHOAL_BASE_INTERNAL_FNV_H_
#define SHOAL_BASE_INTERNAL_FNV_H_

#include <cstdint>
#include <string_view>

namespace shoal::internal {

// FNV-1a, 64 bit. Not cryptographic: it detects mistakes (wrong type, wrong
// build), not attackers (a region is only openable by its owner's uid).
inline constexpr uint64_t kFnvOffset = 14695981039346656037ull;
inline constexpr uint64_t kFnvPrime = 1099511628211ull;

constexpr uint64_t Fnv1a64(std::string_view bytes, uint64_t h = kFnvOffset) {
  for (char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= kFnvPrime;
  }
  return h;
}

constexpr uint64_t Fnv1a64(uint64_t value, uint64_t h) {
  for (int i = 0; i < 8; ++i) {
    h ^= (value >> (8 * i)) & 0xff;
    h *= kFnvPrime;
  }
  return h;
}

}  // namespace shoal::internal

#endif  // SHOAL_BASE_INTERNAL_FNV_H_
