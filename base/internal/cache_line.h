// Copyright 2026 The shoal Authors.
//
// cache_line.h: the one padding constant every shared layout uses.
//
// Hot words that different processes write (a lock word, a semaphore count,
// a ring index) are placed on their own 64-byte line so that a write by one
// process does not invalidate its neighbours' lines (false sharing).
//
// Why a fixed constant and not std::hardware_destructive_interference_size:
// a shared layout must be byte-for-byte identical in every process that maps
// it, whatever compiler flags (-march, -mtune) each binary was built with;
// the standard constant may differ between translation units and GCC warns
// about exactly that (-Winterference-size).
#ifndef SHOAL_BASE_INTERNAL_CACHE_LINE_H_
#define SHOAL_BASE_INTERNAL_CACHE_LINE_H_

#include <cstddef>

namespace shoal::internal {

inline constexpr std::size_t kCacheLine = 64;

}  // namespace shoal::internal

#endif  // SHOAL_BASE_INTERNAL_CACHE_LINE_H_
