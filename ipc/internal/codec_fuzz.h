// Copyright 2026 The shoal Authors.
//
// codec_fuzz.h: an entry point for fuzzing the codec's decoder.
//
// FuzzDecode(bytes) decodes `bytes` as FuzzComposite, a fixed type that
// exercises every built-in codec path (lengths, memcpy arrays, bools,
// optionals, variant indices, maps with duplicate-key checks, vector<bool>,
// and a cereal class). A fuzzer calls it with arbitrary bytes; the contract
// under test is "returns (ok or an error status), never crashes, never reads
// out of bounds, never allocates far beyond the input's size". When the
// bytes decode, it also re-encodes the value and checks that the encoding
// has the input's size and decodes again (anything else is a codec bug,
// reported as Internal).
//
//   extern "C" int LLVMFuzzerTestOneInput(const uint8_t* d, size_t n) {
//     shoal::internal::FuzzDecode(std::as_bytes(std::span(d, n)));
//     return 0;
//   }
#ifndef SHOAL_IPC_INTERNAL_CODEC_FUZZ_H_
#define SHOAL_IPC_INTERNAL_CODEC_FUZZ_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"

namespace shoal::internal {

// A user class that goes through cereal.
struct FuzzRecord {
  std::string name;
  std::vector<int32_t> values;
  std::optional<double> weight;
  bool flag = false;
  std::map<std::string, std::vector<std::string>> tags;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(name, values, weight, flag, tags);
  }
  bool operator==(const FuzzRecord&) const = default;
};

using FuzzComposite = std::tuple<
    std::vector<std::map<std::string,
                         std::optional<std::variant<int64_t, std::string,
                                                    double, std::monostate>>>>,
    std::pair<bool, std::array<uint16_t, 3>>, std::set<int32_t>,
    std::vector<bool>, std::unordered_map<uint32_t, std::vector<double>>,
    std::multimap<int8_t, std::string>, std::vector<FuzzRecord>,
    std::array<std::optional<std::string>, 2>, std::string>;

// Decodes `bytes` as FuzzComposite; see the file comment.
absl::Status FuzzDecode(std::span<const std::byte> bytes);

}  // namespace shoal::internal

#endif  // SHOAL_IPC_INTERNAL_CODEC_FUZZ_H_
