// Copyright 2026 The shoal Authors.
//
// codec_cereal.h: cereal archives over CodecWriter / CodecReader, for user
// classes with `template <class Archive> void serialize(Archive&)`.
//
// Why not cereal's BinaryInputArchive: it trusts every size it reads. A
// garbage `std::string` length of 2^60 would reach `str.resize()` and either
// throw bad_alloc or (with overcommit) fault in terabytes. These archives
// check every size tag against the bytes that remain, validate bools, bound
// the nesting depth, and read from a span (no std::istream, no copy).
//
// The wire format is the same as cereal's binary archive: sizes are uint64,
// values native-endian, no names.
//
// Included by ipc/codec.h; use that.
#ifndef SHOAL_IPC_INTERNAL_CODEC_CEREAL_H_
#define SHOAL_IPC_INTERNAL_CODEC_CEREAL_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>

#include "cereal/cereal.hpp"
// The std types a serialize() member most often touches, so users need not
// include cereal's headers themselves.
#include "cereal/types/array.hpp"
#include "cereal/types/chrono.hpp"
#include "cereal/types/complex.hpp"
#include "cereal/types/deque.hpp"
#include "cereal/types/list.hpp"
#include "cereal/types/map.hpp"
#include "cereal/types/optional.hpp"
#include "cereal/types/set.hpp"
#include "cereal/types/string.hpp"
#include "cereal/types/tuple.hpp"
#include "cereal/types/unordered_map.hpp"
#include "cereal/types/unordered_set.hpp"
#include "cereal/types/utility.hpp"
#include "cereal/types/variant.hpp"
#include "cereal/types/vector.hpp"
#include "shoal/ipc/internal/codec_io.h"

namespace shoal::internal {

// Writes to a CodecWriter, or only counts bytes when constructed without one
// (that is how EncodedSize measures a cereal type).
class CodecOutputArchive
    : public cereal::OutputArchive<CodecOutputArchive,
                                   cereal::AllowEmptyClassElision> {
 public:
  CodecOutputArchive()
      : cereal::OutputArchive<CodecOutputArchive,
                              cereal::AllowEmptyClassElision>(this) {}
  explicit CodecOutputArchive(CodecWriter& w) : CodecOutputArchive() {
    writer_ = &w;
  }

  void saveBinary(const void* data, std::size_t size) {
    if (writer_ != nullptr) {
      writer_->Write(data, size);
    } else {
      count_ += size;
    }
  }
  std::size_t count() const { return count_; }

 private:
  CodecWriter* writer_ = nullptr;
  std::size_t count_ = 0;
};

class CodecInputArchive
    : public cereal::InputArchive<CodecInputArchive,
                                  cereal::AllowEmptyClassElision> {
 public:
  explicit CodecInputArchive(CodecReader& r)
      : cereal::InputArchive<CodecInputArchive, cereal::AllowEmptyClassElision>(
            this),
        reader_(r) {}

  void loadBinary(void* data, std::size_t size) {
    reader_.ReadInto(data, size);
  }
  CodecReader& reader() { return reader_; }

  void Enter() {
    if (++depth_ > kMaxDecodeDepth) {
      reader_.Fail("cereal nesting is deeper than the codec allows");
    }
  }
  void Leave() { --depth_; }

 private:
  CodecReader& reader_;
  int depth_ = 0;
};

// Arithmetic values: their bytes. A bool must be 0 or 1 (loading any other
// byte into a bool is undefined behaviour).
template <class T>
std::enable_if_t<std::is_arithmetic_v<T>> CEREAL_SAVE_FUNCTION_NAME(
    CodecOutputArchive& ar, const T& t) {
  ar.saveBinary(std::addressof(t), sizeof(t));
}
template <class T>
std::enable_if_t<std::is_arithmetic_v<T>> CEREAL_LOAD_FUNCTION_NAME(
    CodecInputArchive& ar, T& t) {
  if constexpr (std::is_same_v<T, bool>) {
    unsigned char b;
    ar.loadBinary(&b, 1);
    if (b > 1) ar.reader().Fail("a bool byte is neither 0 nor 1");
    t = b != 0;
  } else {
    ar.loadBinary(std::addressof(t), sizeof(t));
  }
}

template <class T>
void CEREAL_SAVE_FUNCTION_NAME(CodecOutputArchive& ar,
                               const cereal::NameValuePair<T>& t) {
  ar(t.value);
}
template <class T>
void CEREAL_LOAD_FUNCTION_NAME(CodecInputArchive& ar,
                               cereal::NameValuePair<T>& t) {
  ar(t.value);
}

template <class T>
void CEREAL_SAVE_FUNCTION_NAME(CodecOutputArchive& ar,
                               const cereal::SizeTag<T>& t) {
  uint64_t n = static_cast<uint64_t>(t.size);
  ar.saveBinary(&n, sizeof(n));
}
// The check that makes garbage harmless: a container cannot claim more
// elements than there are bytes left, so the resize() cereal does next
// allocates at most (bytes left) x sizeof(element). The price: a cereal
// container of elements that serialize to nothing (empty structs) cannot hold
// more elements than the bytes that follow its size; such data fails to
// decode with CodecError rather than being accepted.
template <class T>
void CEREAL_LOAD_FUNCTION_NAME(CodecInputArchive& ar, cereal::SizeTag<T>& t) {
  CodecReader& r = ar.reader();
  uint64_t n = r.ReadRaw<uint64_t>();
  if (n > r.remaining()) r.Fail(DecodeLengthMessage(n, 1, r.remaining()));
  t.size = static_cast<std::remove_reference_t<decltype(t.size)>>(n);
}

template <class T>
void CEREAL_SAVE_FUNCTION_NAME(CodecOutputArchive& ar,
                               const cereal::BinaryData<T>& bd) {
  ar.saveBinary(bd.data, static_cast<std::size_t>(bd.size));
}
template <class T>
void CEREAL_LOAD_FUNCTION_NAME(CodecInputArchive& ar,
                               cereal::BinaryData<T>& bd) {
  ar.loadBinary(bd.data, static_cast<std::size_t>(bd.size));
}

// Called by cereal around every value it loads: bounds the recursion that a
// recursive user type would otherwise let the data control.
template <class T>
void prologue(CodecInputArchive& ar, const T&) {
  ar.Enter();
}
template <class T>
void epilogue(CodecInputArchive& ar, const T&) {
  ar.Leave();
}

// True for classes that asked for cereal through a MEMBER: serialize(), or
// save() + load() (versioned forms included), and that cereal can then save
// and load with these archives. Members only, on purpose: cereal's own
// non-member functions for std containers accept any element type, so
// checking mere serializability would route std::vector<int*> to cereal.
template <class T, class Out = CodecOutputArchive, class In = CodecInputArchive>
inline constexpr bool kHasCerealMember =
    cereal::traits::has_member_serialize<T, Out>::value ||
    cereal::traits::has_member_versioned_serialize<T, Out>::value ||
    ((cereal::traits::has_member_save<T, Out>::value ||
      cereal::traits::has_member_versioned_save<T, Out>::value) &&
     (cereal::traits::has_member_load<T, In>::value ||
      cereal::traits::has_member_versioned_load<T, In>::value));

template <class T>
inline constexpr bool kCerealSerializable = [] {
  if constexpr (std::is_class_v<T>) {
    if constexpr (kHasCerealMember<T>) {
      return cereal::traits::is_output_serializable<
                 T, CodecOutputArchive>::value &&
             cereal::traits::is_input_serializable<T, CodecInputArchive>::value;
    }
  }
  return false;
}();

}  // namespace shoal::internal

CEREAL_REGISTER_ARCHIVE(shoal::internal::CodecOutputArchive)
CEREAL_REGISTER_ARCHIVE(shoal::internal::CodecInputArchive)
CEREAL_SETUP_ARCHIVE_TRAITS(shoal::internal::CodecInputArchive,
                            shoal::internal::CodecOutputArchive)

#endif  // SHOAL_IPC_INTERNAL_CODEC_CEREAL_H_
