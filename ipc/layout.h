// Copyright 2026 The shoal Authors.
//
// layout.h: compile-time identity of the types that live in shared memory.
//
// Contract
//   `shoal::internal::TypeName<T>()` is a constexpr, human-readable name of T
//   taken from GCC's __PRETTY_FUNCTION__ and cleaned ("std::string" rather
//   than "std::__cxx11::basic_string<char>"). It is meant for messages and for
//   region headers, not for program logic: it is not guaranteed to be stable
//   across compilers or compiler versions.
//
//   `shoal::internal::LayoutHash<T>(kind, version)` is a constexpr 64-bit
//   FNV-1a hash over TypeName<T>(), `kind`, sizeof(T), alignof(T) and
//   `version`. A region's header carries the hash of the structure that lives
//   in it, and attaching compares it with the hash the opener expects, so a
//   `Queue<int>` region opened as a `Queue<std::string>` is refused (see
//   region.h). `kind` separates two structures built over the same T (a
//   Value<int> and an Array<int>); `version` is bumped whenever the shared
//   layout of a structure changes without its C++ type changing.
//
//   Both binaries must be built by the same compiler from the same sources for
//   the hashes to agree: shoal regions connect processes of one program (or of
//   one build), never different builds.
//
// Cost: everything here is evaluated at compile time.
#ifndef SHOAL_IPC_LAYOUT_H_
#define SHOAL_IPC_LAYOUT_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "shoal/base/internal/fnv.h"

namespace shoal {
namespace internal {

namespace type_name_detail {

// The raw "[with T = ...]" text GCC (and Clang) put in __PRETTY_FUNCTION__.
// Returning const char* (not string_view) keeps a second "; X = ..." clause
// out of the text.
template <class T>
constexpr const char* Raw() {
  return __PRETTY_FUNCTION__;
}

constexpr std::string_view Extract(std::string_view pretty) {
  constexpr std::string_view kMarker = "T = ";
  size_t begin = pretty.find(kMarker);
  if (begin == std::string_view::npos) return pretty;
  begin += kMarker.size();
  size_t end = pretty.rfind(']');
  if (end == std::string_view::npos || end < begin) end = pretty.size();
  return pretty.substr(begin, end - begin);
}

// (from, to) replacements applied left to right at every position.
struct Rewrite {
  std::string_view from;
  std::string_view to;
};
inline constexpr Rewrite kRewrites[] = {
    {"std::__cxx11::", "std::"},
    {"std::basic_string<char>", "std::string"},
    {"std::basic_string_view<char>", "std::string_view"},
    {" >", ">"},
};

template <size_t N>
struct FixedString {
  std::array<char, N + 1> data{};
  size_t size = 0;
};

// Copies `in` to `out` (up to `cap` chars) applying kRewrites; returns the
// length of the result.
constexpr size_t CleanInto(std::string_view in, char* out, size_t cap) {
  size_t n = 0;
  size_t i = 0;
  while (i < in.size()) {
    bool matched = false;
    for (const Rewrite& r : kRewrites) {
      if (in.substr(i, r.from.size()) == r.from) {
        for (char c : r.to) {
          if (n < cap) out[n] = c;
          ++n;
        }
        i += r.from.size();
        matched = true;
        break;
      }
    }
    if (!matched) {
      if (n < cap) out[n] = in[i];
      ++n;
      ++i;
    }
  }
  return n;
}

template <class T>
struct Holder {
  static constexpr std::string_view kRaw = Extract(Raw<T>());
  static constexpr auto Compute() {
    // Two passes reach the fixed point for the rules above ("__cxx11::" must
    // go before "basic_string<char>" can match).
    std::array<char, kRaw.size() + 1> a{};
    size_t n = CleanInto(kRaw, a.data(), a.size());
    std::array<char, kRaw.size() + 1> b{};
    size_t m = CleanInto(std::string_view(a.data(), n), b.data(), b.size());
    FixedString<kRaw.size()> out;
    for (size_t k = 0; k < m; ++k) out.data[k] = b[k];
    out.size = m;
    return out;
  }
  static constexpr auto kValue = Compute();
};

}  // namespace type_name_detail

// A readable name of T, e.g. "shoal::Queue<std::string>". constexpr; the
// view points to static storage.
template <class T>
constexpr std::string_view TypeName() {
  using H = type_name_detail::Holder<T>;
  return std::string_view(H::kValue.data.data(), H::kValue.size);
}

// The layout hash of a type given by its TypeName(), size and alignment:
// LayoutHash<T> below, for callers that know the type only at run time
// (the Python module builds std::array<double, N> for any N).
constexpr uint64_t LayoutHashOf(std::string_view type_name,
                                std::string_view kind, uint64_t size,
                                uint64_t align, uint32_t version) {
  uint64_t h = Fnv1a64(type_name);
  h = Fnv1a64(std::string_view("\0", 1), h);  // separator: name|kind
  h = Fnv1a64(kind, h);
  h = Fnv1a64(size, h);
  h = Fnv1a64(align, h);
  h = Fnv1a64(static_cast<uint64_t>(version), h);
  return h;
}

// The layout hash a region header carries for a structure of type T.
template <class T>
constexpr uint64_t LayoutHash(std::string_view kind = {},
                              uint32_t version = 1) {
  return LayoutHashOf(TypeName<T>(), kind, sizeof(T), alignof(T), version);
}

}  // namespace internal

// What a region holds, as its creator declares it and as an opener expects
// it: the layout hash and the type name that goes into messages. `type_name`
// must stay valid for the duration of the call it is passed to (LayoutOf<T>
// returns a view of static storage).
struct RegionLayout {
  uint64_t hash = 0;
  std::string_view type_name;
};

// The RegionLayout of a structure of type T (see LayoutHash for kind/version).
template <class T>
constexpr RegionLayout LayoutOf(std::string_view kind = {},
                                uint32_t version = 1) {
  return RegionLayout{internal::LayoutHash<T>(kind, version),
                      internal::TypeName<T>()};
}

}  // namespace shoal

#endif  // SHOAL_IPC_LAYOUT_H_
